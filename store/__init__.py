"""The lake: append-only Parquet tables with a DuckDB catalog of views (see ``store.lake``)."""

from store.catalog import CatalogError
from store.lake import Lake, default_root
from store.read_only import QueryError, ReadOnlyError

__all__ = ["CatalogError", "Lake", "QueryError", "ReadOnlyError", "default_root"]
