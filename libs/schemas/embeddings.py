"""POST /embeddings: OpenAI's request shape, with OpenRouter's `models` and `provider`.

Routed like a chat request (the same privacy routing, to embedding models only); the
texts reach only the endpoint that serves them."""

from typing import Any, Literal

from pydantic import BaseModel, ConfigDict, Field, field_validator

from veil.schemas.chat import ModelChoice, ProviderPreferences, RoutingSummary

MAX_INPUTS = 2048  # OpenAI's limit on the items of one request

# An input: one text, a batch of texts, one text as token ids, or a batch of those.
EmbeddingInput = str | list[str] | list[int] | list[list[int]]


class EmbeddingsRequest(ModelChoice):
    # Errors never echo the input: a document must not reach a log line.
    model_config = ConfigDict(extra="allow", hide_input_in_errors=True)

    input: EmbeddingInput = Field(description="a text, or a list of up to 2048 (or token ids)")
    dimensions: int | None = Field(
        default=None, ge=1, description="the length of each vector (models that can shorten)"
    )
    encoding_format: Literal["float", "base64"] | None = Field(
        default=None, description="floats, or base64 of little-endian float32s"
    )
    provider: ProviderPreferences | None = None

    @field_validator("input")
    @classmethod
    def _some_input(cls, value: EmbeddingInput) -> EmbeddingInput:
        if isinstance(value, str):
            if not value:
                raise ValueError("input must not be empty")
            return value
        if not value:
            raise ValueError("input must list at least one text")
        if len(value) > MAX_INPUTS:
            raise ValueError(f"input lists more than {MAX_INPUTS} items")
        if any(item == "" or item == [] for item in value):
            raise ValueError("input must not contain an empty item")
        return value

    @property
    def parameters(self) -> set[str]:
        """Parameters the request sets, for `provider.require_parameters`."""
        declared = {f for f in self.model_fields_set if getattr(self, f) is not None}
        extra = {k for k, v in (self.model_extra or {}).items() if v is not None}
        return (declared | extra) - {"model", "models", "provider", "input"}

    def routing_summary(self) -> RoutingSummary:
        # A provider that cannot shorten vectors would answer with the wrong length, or
        # refuse: `dimensions` is a capability, not a parameter to drop.
        needed = frozenset({"dimensions"} if self.dimensions is not None else ())
        return RoutingSummary.model_construct(
            model=self.model,
            models=self.models,
            stream=False,
            provider=self.provider,
            parameters=frozenset(self.parameters),
            required_capabilities=needed,
            api_type="embeddings",
        )


def input_texts(body: dict[str, Any]) -> list[str] | None:
    """The texts of an embeddings body, or None when it is token ids (no text to read)."""
    value = body.get("input")
    if isinstance(value, str):
        return [value]
    if isinstance(value, list) and all(isinstance(item, str) for item in value):
        return value
    return None


class Embedding(BaseModel):
    object: Literal["embedding"] = "embedding"
    index: int
    embedding: list[float] | str
