"""The chat-completions request: OpenAI's body plus OpenRouter's `models` and `provider`.

Fields veil does not interpret are kept (extra="allow") and passed through upstream.
"""

from decimal import Decimal
from typing import Any, Literal

from pydantic import BaseModel, ConfigDict, Field, model_validator

# Request fields that are not sampling parameters: never checked by require_parameters.
NON_PARAMETER_FIELDS = frozenset(
    {
        "model",
        "models",
        "messages",
        "provider",
        "stream",
        "stream_options",
        "user",
        "route",
        "transforms",
        "usage",
        "metadata",
    }
)


class Message(BaseModel):
    model_config = ConfigDict(extra="allow", hide_input_in_errors=True)

    role: Literal["system", "developer", "user", "assistant", "tool", "function"]
    content: str | list[dict[str, Any]] | None = None


class MaxPrice(BaseModel):
    """Upper bound on price, in USD per million tokens."""

    model_config = ConfigDict(extra="forbid")

    prompt: Decimal | None = None
    completion: Decimal | None = None


class ProviderPreferences(BaseModel):
    """OpenRouter's `provider` object: per-request routing constraints."""

    model_config = ConfigDict(extra="forbid")

    order: list[str] | None = Field(default=None, description="providers to try first, in order")
    allow_fallbacks: bool = True
    require_parameters: bool = False
    data_collection: Literal["allow", "deny"] = "allow"
    zdr: bool | None = None
    only: list[str] | None = None
    ignore: list[str] | None = None
    quantizations: list[str] | None = None
    sort: Literal["price", "throughput", "latency"] | None = None
    max_price: MaxPrice | None = None


class ChatRequest(BaseModel):
    # Errors never echo the input: a prompt must not reach a log line (invariant 1).
    model_config = ConfigDict(extra="allow", hide_input_in_errors=True)

    model: str | None = None
    models: list[str] | None = Field(default=None, description="fallback models, in order")
    messages: list[Message] = Field(min_length=1)
    stream: bool = False
    provider: ProviderPreferences | None = None
    max_tokens: int | None = Field(default=None, ge=1)

    @model_validator(mode="after")
    def _some_model(self) -> "ChatRequest":
        if not self.model and not self.models:
            raise ValueError("either `model` or `models` is required")
        return self

    @property
    def candidate_models(self) -> list[str]:
        """The primary model, then the `models` fallbacks, without repeats."""
        ordered = ([self.model] if self.model else []) + list(self.models or [])
        return list(dict.fromkeys(ordered))

    @property
    def parameters(self) -> set[str]:
        """Parameters the request sets, for `provider.require_parameters`."""
        fields = set(self.model_fields_set) | set(self.model_extra or {})
        return {f for f in fields if f not in NON_PARAMETER_FIELDS}

    def upstream_body(self) -> dict[str, Any]:
        """The body without veil's routing fields; the upstream adapter adds the provider's
        model id and the stream switches."""
        body = self.model_dump(exclude={"models", "provider", "model", "stream"}, mode="json")
        # A declared field left at None means "not given" (the bus does not keep track of
        # unset fields); the client's own extra fields are passed on as they came.
        return {
            key: value
            for key, value in body.items()
            if value is not None or key not in type(self).model_fields
        }
