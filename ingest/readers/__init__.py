"""Input readers shared by ingest and eval: ``files`` turns a file (or dataset) into rows that
know where they are, ``fields`` checks values strictly, ``formats`` reads each input format's
row into a typed row. A new input format goes in ``formats`` (and, for a new file type, a
reader in ``files``)."""

from ingest.readers.files import Row, Source, file_rows, input_files, open_source, read_datasets, \
    read_jsonl, read_parquet
from ingest.readers.formats import FIELDS, REQUIRED, Columns, ProblemRow, SolutionRow, StepGold, \
    detect, gpt3, is_gpt3_row, prm800k, problem, processbench, solution, step_ratings

__all__ = ["FIELDS", "REQUIRED", "Columns", "ProblemRow", "Row", "SolutionRow", "Source", "StepGold",
           "detect", "file_rows", "gpt3", "input_files", "is_gpt3_row", "open_source", "prm800k",
           "problem", "processbench", "read_datasets", "read_jsonl", "read_parquet", "solution",
           "step_ratings"]
