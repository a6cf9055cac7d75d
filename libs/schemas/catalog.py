"""The catalog: providers with their data policy, models and the endpoints serving them."""

import re
from datetime import date
from decimal import Decimal
from typing import Literal

from pydantic import BaseModel, ConfigDict, Field, field_validator, model_validator

SLUG_RE = re.compile(r"^[a-z0-9][a-z0-9-]*$")
MODEL_ID_RE = re.compile(r"^[a-z0-9][a-z0-9._-]*/[a-z0-9][a-z0-9._-]*(:[a-z0-9-]+)?$")
Quantization = Literal["int4", "int8", "fp4", "fp6", "fp8", "fp16", "bf16", "fp32", "unknown"]
ApiStyle = Literal["openai", "anthropic"]
# OpenRouter's modality names (its API lists the same values).
InputModality = Literal["text", "image", "file", "audio", "video"]
OutputModality = Literal["text", "image", "audio", "embeddings"]
COUNTRY_RE = re.compile(r"^[A-Z]{2}$")


class DataPolicy(BaseModel):
    """A provider's data handling, as its terms state it; None where unknown."""

    model_config = ConfigDict(frozen=True)

    training: bool | None = Field(description="May the provider train on prompts?")
    retains_prompts: bool | None = Field(description="Does the provider keep prompts?")
    retention_days: int | None = Field(default=None, description="How long, when known")

    @property
    def may_train(self) -> bool:
        """Unknown counts as training (docs/privacy.md, invariant 3)."""
        return self.training is not False

    @property
    def zero_retention(self) -> bool:
        """Zero data retention: keeps nothing and trains on nothing; unknown is not ZDR."""
        return self.retains_prompts is False and self.training is False


class Provider(BaseModel):
    model_config = ConfigDict(frozen=True, extra="forbid")

    slug: str
    name: str
    data_policy: DataPolicy
    api: ApiStyle = "openai"
    base_url: str | None = Field(default=None, description="null: not callable until configured")
    api_key_env: str | None = None
    headers: dict[str, str] = Field(
        default_factory=dict, description="extra static headers the provider needs"
    )
    query: dict[str, str] = Field(
        default_factory=dict, description="extra query parameters (e.g. Azure's api-version)"
    )
    auth_header: str = Field(
        default="authorization", description="'authorization' (Bearer), 'api-key' or 'x-api-key'"
    )
    privacy_policy_url: str | None = Field(default=None, description="null: not known")
    terms_of_service_url: str | None = Field(default=None, description="null: not known")
    status_page_url: str | None = Field(default=None, description="null: not known")
    headquarters: str | None = Field(
        default=None, description="ISO 3166-1 alpha-2 country of the provider's headquarters"
    )
    datacenters: tuple[str, ...] | None = Field(
        default=None,
        description="ISO 3166-1 alpha-2 countries where the provider processes requests "
        "(null: not known for sure); an endpoint may state its own",
    )
    location_sources: tuple[str, ...] = Field(
        default=(),
        description="public pages that state the headquarters and datacenters given here",
    )

    @field_validator("slug")
    @classmethod
    def _slug(cls, slug: str) -> str:
        if not SLUG_RE.match(slug):
            raise ValueError(f"provider slug {slug!r} must match {SLUG_RE.pattern}")
        return slug

    @field_validator("privacy_policy_url", "terms_of_service_url", "status_page_url")
    @classmethod
    def _https(cls, url: str | None) -> str | None:
        if url is not None and not url.startswith("https://"):
            raise ValueError(f"{url!r} must be an https:// URL")
        return url

    @field_validator("headquarters")
    @classmethod
    def _country(cls, country: str | None) -> str | None:
        if country is not None and not COUNTRY_RE.match(country):
            raise ValueError(f"{country!r} must be a two-letter ISO country code")
        return country

    @field_validator("datacenters")
    @classmethod
    def _countries(cls, countries: tuple[str, ...] | None) -> tuple[str, ...] | None:
        return _country_codes(countries)

    @field_validator("location_sources")
    @classmethod
    def _sources(cls, urls: tuple[str, ...]) -> tuple[str, ...]:
        for url in urls:
            if not url.startswith("https://"):
                raise ValueError(f"{url!r} must be an https:// URL")
        return urls


def _country_codes(countries: tuple[str, ...] | None) -> tuple[str, ...] | None:
    if countries is None:
        return None
    if not countries:
        raise ValueError("datacenters: null when not known, never an empty list")
    for country in countries:
        if not COUNTRY_RE.match(country):
            raise ValueError(f"{country!r} must be a two-letter ISO country code")
    return tuple(sorted(set(countries)))


class Pricing(BaseModel):
    """USD per token, as decimal strings in the file (OpenRouter's convention)."""

    model_config = ConfigDict(frozen=True)

    prompt: Decimal
    completion: Decimal

    @field_validator("prompt", "completion")
    @classmethod
    def _non_negative(cls, value: Decimal) -> Decimal:
        if value < 0:
            raise ValueError("price must not be negative")
        return value

    def as_strings(self) -> dict[str, str]:
        """As the API writes prices: decimal strings, no exponent, no trailing zeros."""
        return {
            "prompt": format(self.prompt.normalize(), "f"),
            "completion": format(self.completion.normalize(), "f"),
        }


class Hints(BaseModel):
    """Catalog estimates used for sorting until live statistics exist."""

    model_config = ConfigDict(frozen=True)

    latency_ms: float | None = None
    throughput_tps: float | None = None


class Endpoint(BaseModel):
    model_config = ConfigDict(frozen=True, extra="forbid")

    provider: str
    upstream_model: str
    pricing: Pricing
    quantization: Quantization | None = None
    context_length: int | None = None
    max_completion_tokens: int | None = None
    supported_parameters: tuple[str, ...] = ()
    hints: Hints = Hints()
    datacenters: tuple[str, ...] | None = Field(
        default=None,
        description="where this endpoint processes requests, when it differs from its "
        "provider's datacenters (null: the provider's)",
    )
    location_sources: tuple[str, ...] = ()

    @field_validator("datacenters")
    @classmethod
    def _countries(cls, countries: tuple[str, ...] | None) -> tuple[str, ...] | None:
        return _country_codes(countries)


class Model(BaseModel):
    model_config = ConfigDict(frozen=True, extra="forbid")

    id: str
    name: str
    context_length: int
    endpoints: tuple[Endpoint, ...]
    description: str | None = None
    created: date | None = Field(
        default=None, description="release date; the API shows it as a unix timestamp"
    )
    input_modalities: tuple[InputModality, ...] = ("text",)
    output_modalities: tuple[OutputModality, ...] = ("text",)
    tokenizer: str | None = Field(
        default=None, description="OpenRouter's tokenizer group: Llama3, Qwen, GPT, Claude, ..."
    )
    instruct_type: str | None = Field(
        default=None, description="prompt format of open-weight models: llama3, chatml, ..."
    )

    @field_validator("id")
    @classmethod
    def _id(cls, model_id: str) -> str:
        if not MODEL_ID_RE.match(model_id):
            raise ValueError(f"model id {model_id!r} must look like author/slug[:variant]")
        return model_id

    @field_validator("input_modalities", "output_modalities")
    @classmethod
    def _some_modality(cls, modalities: tuple[str, ...]) -> tuple[str, ...]:
        # A chat model writes text; an embedding model writes embeddings (only).
        if not modalities or not {"text", "embeddings"} & set(modalities):
            raise ValueError("a model reads text and writes text or embeddings: list them")
        if len(set(modalities)) != len(modalities):
            raise ValueError("a modality is listed twice")
        return modalities

    @property
    def is_embedding(self) -> bool:
        """An embedding model, served by /embeddings rather than the chat surfaces."""
        return "embeddings" in self.output_modalities

    @property
    def is_free(self) -> bool:
        """A ":free" id is governed by the free-model training setting."""
        return self.id.endswith(":free")

    @property
    def supported_parameters(self) -> list[str]:
        seen: dict[str, None] = {}
        for endpoint in self.endpoints:
            seen.update(dict.fromkeys(endpoint.supported_parameters))
        return list(seen)


class Catalog(BaseModel):
    model_config = ConfigDict(frozen=True, extra="forbid")

    providers: tuple[Provider, ...]
    models: tuple[Model, ...]
    regions: dict[str, tuple[str, ...]] = Field(
        default_factory=dict,
        description="named sets of countries a data region may be (eu, us, uk, ...)",
    )

    @field_validator("regions")
    @classmethod
    def _regions(cls, regions: dict[str, tuple[str, ...]]) -> dict[str, tuple[str, ...]]:
        for name, countries in regions.items():
            if not SLUG_RE.match(name):
                raise ValueError(f"region name {name!r} must match {SLUG_RE.pattern}")
            _country_codes(countries)
        return {name: tuple(sorted(set(countries))) for name, countries in regions.items()}

    @model_validator(mode="after")
    def _references(self) -> "Catalog":
        slugs = [p.slug for p in self.providers]
        duplicated = {s for s in slugs if slugs.count(s) > 1}
        if duplicated:
            raise ValueError(f"duplicate provider slugs: {sorted(duplicated)}")
        ids = [m.id for m in self.models]
        duplicated = {i for i in ids if ids.count(i) > 1}
        if duplicated:
            raise ValueError(f"duplicate model ids: {sorted(duplicated)}")
        known = set(slugs)
        for model in self.models:
            served_by = [e.provider for e in model.endpoints]
            twice = sorted({p for p in served_by if served_by.count(p) > 1})
            if twice:
                raise ValueError(f"model {model.id!r} lists provider(s) {twice} more than once")
            for endpoint in model.endpoints:
                if endpoint.provider not in known:
                    raise ValueError(
                        f"model {model.id!r}: endpoint provider {endpoint.provider!r} "
                        "is not a provider of the catalog"
                    )
        return self
