"""Upstream adapters, one per API style; the module name is the catalog's `api`."""

from veil.dispatcher.upstreams import anthropic, openai
from veil.dispatcher.upstreams.base import Adapter, UpstreamError

ADAPTERS: dict[str, Adapter] = {"openai": openai, "anthropic": anthropic}


def adapter_for(api: str) -> Adapter:
    try:
        return ADAPTERS[api]
    except KeyError:
        # A catalog naming an API style this build cannot speak: try the next endpoint.
        raise UpstreamError(f"no adapter for API style {api!r}", status=None) from None
