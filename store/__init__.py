"""The lake: append-only Parquet tables with a DuckDB catalog of views (see ``store.lake``)."""

from store.catalog import CatalogError
from store.lake import Lake, QueryError, ReadOnlyError, default_root

__all__ = ["CatalogError", "Lake", "QueryError", "ReadOnlyError", "default_root"]
