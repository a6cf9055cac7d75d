"""Upstream adapters, one module per API style; the module name is the catalog's `api`."""

from types import ModuleType

from veil.dispatcher.upstreams import anthropic, openai
from veil.dispatcher.upstreams.base import UpstreamError

ADAPTERS: dict[str, ModuleType] = {"openai": openai, "anthropic": anthropic}


def adapter_for(api: str) -> ModuleType:
    try:
        return ADAPTERS[api]
    except KeyError:
        # A catalog naming an API style this build cannot speak: try the next endpoint.
        raise UpstreamError(f"no adapter for API style {api!r}", status=None) from None
