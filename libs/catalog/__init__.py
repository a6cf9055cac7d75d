"""The catalog of providers and models, and the loader that validates it."""

from veil.catalog.loader import (
    DEFAULT_CATALOG,
    CatalogError,
    CatalogIndex,
    load_catalog,
)

__all__ = ["DEFAULT_CATALOG", "CatalogError", "CatalogIndex", "load_catalog"]
