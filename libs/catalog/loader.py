"""Load and validate a catalog file; index it for the hot path."""

import hashlib
from dataclasses import dataclass, field
from functools import partial
from pathlib import Path

import orjson
import yaml
from pydantic import ValidationError

from veil.schemas.catalog import Catalog, Endpoint, Model, Provider
from veil.schemas.errors import validation_problems

DEFAULT_CATALOG = Path(__file__).with_name("default.yaml")


class CatalogError(ValueError):
    """The catalog file is unusable; the message names the bad entry."""


def _entry_name(raw: dict, loc: tuple) -> str:
    """Turn a pydantic error location into 'models[3] (openai/gpt-4o).endpoints[1]'."""
    parts: list[str] = []
    node: object = raw
    for step in loc:
        if isinstance(step, int) and isinstance(node, list):
            node = node[step] if step < len(node) else None
            label = ""
            if isinstance(node, dict):
                label = node.get("id") or node.get("slug") or node.get("provider") or ""
            parts[-1] += f"[{step}]" + (f" ({label})" if label else "")
        else:
            parts.append(str(step))
            node = node.get(step) if isinstance(node, dict) else None
    return ".".join(parts)


def load_catalog(path: Path | None = None) -> Catalog:
    path = path or DEFAULT_CATALOG
    try:
        raw = yaml.safe_load(path.read_text())
    except (OSError, yaml.YAMLError) as exc:
        raise CatalogError(f"cannot read catalog {path}: {exc}") from exc
    if not isinstance(raw, dict):
        raise CatalogError(f"catalog {path}: expected a mapping with providers and models")
    try:
        return Catalog.model_validate(raw)
    except ValidationError as exc:
        problems = validation_problems(exc.errors(), limit=10, where=partial(_entry_name, raw))
        raise CatalogError(f"invalid catalog {path}: {problems}") from exc


@dataclass
class CatalogIndex:
    """Lookups the services need per request, built once at start-up."""

    catalog: Catalog
    providers: dict[str, Provider] = field(init=False)
    models: dict[str, Model] = field(init=False)
    endpoints: dict[tuple[str, str], Endpoint] = field(init=False)
    # Every way a request or a setting may name a provider (slug or display name, in
    # lower case) -> its slug.
    provider_names: dict[str, str] = field(init=False)
    # The catalog's version: SHA-256 of its canonical JSON (a policy snapshot names it).
    version: str = field(init=False)

    def __post_init__(self) -> None:
        self.providers = {p.slug: p for p in self.catalog.providers}
        self.models = {m.id: m for m in self.catalog.models}
        self.endpoints = {(m.id, e.provider): e for m in self.catalog.models for e in m.endpoints}
        self.provider_names = {p.name.lower(): p.slug for p in self.catalog.providers}
        self.provider_names.update({p.slug.lower(): p.slug for p in self.catalog.providers})
        encoded = orjson.dumps(self.catalog.model_dump(mode="json"), option=orjson.OPT_SORT_KEYS)
        self.version = hashlib.sha256(encoded).hexdigest()

    def provider_slug(self, name: str) -> str | None:
        """The slug of the provider `name` names (its slug or display name, any case)."""
        return self.provider_names.get(name.strip().lower())

    @classmethod
    def load(cls, path: Path | None = None) -> "CatalogIndex":
        return cls(load_catalog(path))
