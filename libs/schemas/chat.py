"""The chat-completions request: OpenAI's body plus OpenRouter's `models` and `provider`.

Fields veil does not interpret are kept (extra="allow") and passed through upstream.
"""

from decimal import Decimal
from typing import Any, Literal

from pydantic import BaseModel, ConfigDict, Field, StrictBool, field_validator, model_validator

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
        "session_id",
        "trace",
        "debug",
    }
)


class Message(BaseModel):
    model_config = ConfigDict(extra="allow", hide_input_in_errors=True)

    role: Literal["system", "developer", "user", "assistant", "tool", "function"]
    content: str | list[dict[str, Any]] | None = None


def content_texts(content: Any) -> list[str]:
    """The text of a message's `content` as OpenAI's wire writes it: the string itself,
    or the `text` of each part of type "text" (images, audio and files carry none).
    Takes the parsed model's content or the raw JSON's alike."""
    if isinstance(content, str):
        return [content]
    if isinstance(content, list):
        return [
            part["text"]
            for part in content
            if isinstance(part, dict)
            and part.get("type") == "text"
            and isinstance(part.get("text"), str)
        ]
    return []


class MaxPrice(BaseModel):
    """Upper bounds on price: USD per million tokens for `prompt` and `completion`, USD per
    request, image or audio unit for the others (OpenRouter's units)."""

    model_config = ConfigDict(extra="forbid")

    prompt: Decimal | None = None
    completion: Decimal | None = None
    request: Decimal | None = None
    image: Decimal | None = None
    audio: Decimal | None = None


Sort = Literal["price", "throughput", "latency"]
# Model-id suffixes that are routing shortcuts, not catalog variants (`:free` is a variant).
ROUTING_SUFFIXES: dict[str, Sort] = {":nitro": "throughput", ":floor": "price"}


class SortConfig(BaseModel):
    """`provider.sort` in its object form."""

    model_config = ConfigDict(extra="forbid")

    by: Sort | None = None
    partition: Literal["model", "none"] | None = Field(
        default=None,
        description='"model" (default): each model\'s endpoints stay together, fallback models '
        'stay fallbacks; "none": the endpoints of every model are sorted together',
    )


class PercentileCutoffs(BaseModel):
    """Cutoffs per percentile; every cutoff given must be met for an endpoint to be preferred."""

    model_config = ConfigDict(extra="forbid")

    p50: float | None = None
    p75: float | None = None
    p90: float | None = None
    p99: float | None = None


def _nulls_as_unset(model: type[BaseModel], data: Any) -> Any:
    """Drop declared fields sent as null, so that they take their defaults. Undeclared keys
    are kept, null or not, for extra="forbid" to name them."""
    if not isinstance(data, dict):
        return data
    return {k: v for k, v in data.items() if v is not None or k not in model.model_fields}


class ProviderPreferences(BaseModel):
    """OpenRouter's `provider` object: per-request routing constraints.

    A field sent as null is not set. An unknown field is an error, never ignored: a
    misspelt privacy constraint must not silently route more widely.
    """

    model_config = ConfigDict(extra="forbid")

    order: list[str] | None = Field(
        default=None,
        description="providers to try first, in order; a `slug/quantization` tag names only "
        "that provider's endpoints of that quantization (also in `only` and `ignore`)",
    )
    # Strict booleans: "yes", "false" or 0 are refused, not guessed at (a routing
    # constraint read the wrong way would route more widely).
    allow_fallbacks: StrictBool = True
    require_parameters: StrictBool = False
    data_collection: Literal["allow", "deny"] = "allow"
    zdr: StrictBool | None = None
    only: list[str] | None = None
    ignore: list[str] | None = None
    quantizations: list[str] | None = None
    sort: Sort | SortConfig | None = None
    max_price: MaxPrice | None = None
    preferred_max_latency: float | PercentileCutoffs | None = Field(
        default=None, description="seconds to first token; a number is the p50 cutoff"
    )
    preferred_min_throughput: float | PercentileCutoffs | None = Field(
        default=None, description="output tokens per second; a number is the p50 cutoff"
    )
    enforce_distillable_text: StrictBool | None = Field(
        default=None, description="only models whose authors allow distilling their output"
    )
    data_region: str | None = Field(
        default=None,
        description="veil's: only endpoints that process the request within this region "
        "(a catalog region: eu, us, uk, ...); narrows the account's, never widens it",
    )
    options: dict[str, dict[str, Any]] | None = Field(
        default=None, description="provider-specific options keyed by provider slug"
    )

    @model_validator(mode="before")
    @classmethod
    def _nulls(cls, data: Any) -> Any:
        return _nulls_as_unset(cls, data)

    @property
    def sort_by(self) -> Sort | None:
        return self.sort.by if isinstance(self.sort, SortConfig) else self.sort

    @property
    def sort_partition(self) -> Literal["model", "none"]:
        if isinstance(self.sort, SortConfig) and self.sort.partition is not None:
            return self.sort.partition
        return "model"


def split_routing_suffix(model_id: str) -> tuple[str, Sort | None]:
    """`author/slug:nitro` -> (`author/slug`, "throughput"); other ids are returned as is."""
    for suffix, sort in ROUTING_SUFFIXES.items():
        if model_id.endswith(suffix):
            return model_id[: -len(suffix)], sort
    return model_id, None


# The API surfaces a request may come in by (OpenRouter's `api_type` of a generation).
ApiType = Literal["completions", "messages", "responses", "embeddings"]


class ModelChoice(BaseModel):
    """The model a request asks for, then its fallbacks: where routing starts."""

    model: str | None = Field(
        default=None, description="a catalog id, optionally with a `:nitro` or `:floor` suffix"
    )
    models: list[str] | None = Field(default=None, description="fallback models, in order")

    @model_validator(mode="after")
    def _some_model(self) -> "ModelChoice":
        if not self.model and not self.models:
            raise ValueError("either `model` or `models` is required")
        return self

    @property
    def requested_models(self) -> list[str]:
        """The primary model, then the `models` fallbacks, as written (suffixes kept)."""
        return ([self.model] if self.model else []) + list(self.models or [])

    @property
    def candidate_models(self) -> list[str]:
        """The catalog ids of the primary model then the `models` fallbacks, routing
        suffixes removed, without repeats."""
        ordered = [split_routing_suffix(m)[0] for m in self.requested_models]
        return list(dict.fromkeys(ordered))

    @property
    def suffix_sorts(self) -> dict[str, Sort]:
        """The sort a `:nitro` or `:floor` suffix asks for, by catalog id (first one wins)."""
        sorts: dict[str, Sort] = {}
        for written in self.requested_models:
            model_id, sort = split_routing_suffix(written)
            if sort is not None:
                sorts.setdefault(model_id, sort)
        return sorts


class ChatRequest(ModelChoice):
    # Errors never echo the input: a prompt must not reach a log line.
    model_config = ConfigDict(extra="allow", hide_input_in_errors=True)

    messages: list[Message] = Field(min_length=1)
    stream: StrictBool = False  # "yes" is a 400, not true; null is false
    provider: ProviderPreferences | None = None
    max_tokens: int | None = Field(default=None, ge=1)

    @field_validator("stream", mode="before")
    @classmethod
    def _stream_null_is_false(cls, value: Any) -> Any:
        return False if value is None else value

    @property
    def parameters(self) -> set[str]:
        """Parameters the request sets, for `provider.require_parameters` (null is unset)."""
        declared = {f for f in self.model_fields_set if getattr(self, f) is not None}
        extra = {k for k, v in (self.model_extra or {}).items() if v is not None}
        return {f for f in declared | extra if f not in NON_PARAMETER_FIELDS}

    @property
    def required_capabilities(self) -> frozenset[str]:
        """What an endpoint must list in `supported_parameters` to serve this request at
        all, `require_parameters` or not: tool calling and structured output are not
        parameters a provider can drop without changing what the client gets back."""
        extra = self.model_extra or {}
        needed = set()
        if extra.get("tools") or extra.get("tool_choice") is not None:
            needed.add("tools")
        response_format = extra.get("response_format")
        kind = response_format.get("type") if isinstance(response_format, dict) else None
        if kind in ("json_object", "json_schema"):
            needed.add("response_format")
        if kind == "json_schema":
            # OpenRouter lists JSON-schema support apart from JSON mode.
            needed.add("structured_outputs")
        return frozenset(needed)

    def routing_summary(self, api_type: "ApiType" = "completions") -> "RoutingSummary":
        """What routing reads of this (validated) request, for the bus; `api_type`: the
        surface it came in by (the chat request is then its canonical form)."""
        return RoutingSummary.model_construct(
            model=self.model,
            models=self.models,
            stream=self.stream,
            provider=self.provider,
            parameters=frozenset(self.parameters),
            required_capabilities=self.required_capabilities,
            api_type=api_type,
        )


class RoutingSummary(ModelChoice):
    """Everything routing reads of a chat request, computed once by the gateway from the
    validated `ChatRequest`: the policy service decides from this alone, so its cost does
    not grow with the conversation. Offers the attributes of `ChatRequest` that routing
    uses, under the same names."""

    model_config = ConfigDict(extra="forbid")

    stream: bool = False
    provider: ProviderPreferences | None = None
    parameters: frozenset[str] = Field(
        default=frozenset(), description="`ChatRequest.parameters`: for require_parameters"
    )
    api_type: "ApiType" = Field(
        default="completions",
        description="the API surface the request came in by; embeddings route to embedding "
        "models, every other surface to chat models",
    )
    required_capabilities: frozenset[str] = Field(
        default=frozenset(), description="`ChatRequest.required_capabilities`"
    )


# veil's own routing fields: never sent to a provider (the adapter sets model and stream).
ROUTING_FIELDS = frozenset({"model", "models", "provider", "stream"})


def upstream_body(request: dict[str, Any]) -> dict[str, Any]:
    """The body for a provider from a validated request as the client sent it (parsed
    JSON): without veil's routing fields or top-level nulls (null is "not set", as
    `ChatRequest.parameters` reads it); the client's other fields pass on as they came."""
    return {k: v for k, v in request.items() if v is not None and k not in ROUTING_FIELDS}
