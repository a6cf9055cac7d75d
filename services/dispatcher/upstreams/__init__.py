"""Upstream adapters, one module per API style; the module name is the catalog's `api`."""

from types import ModuleType

from veil.dispatcher.upstreams import openai

ADAPTERS: dict[str, ModuleType] = {"openai": openai}


def adapter_for(api: str) -> ModuleType:
    return ADAPTERS[api]
