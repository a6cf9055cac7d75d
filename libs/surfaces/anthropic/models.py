"""The body of a Messages API request as veil takes it (see `request` for what each
field becomes): strict models, so that an unknown field or a block veil does not
translate is refused by name rather than dropped.
"""

from typing import Annotated, Any, Literal

from pydantic import BaseModel, ConfigDict, Field, StrictBool, field_validator, model_validator


class _Strict(BaseModel):
    # Errors never echo the input: a prompt must not reach a log line.
    model_config = ConfigDict(extra="forbid", hide_input_in_errors=True)


class TextIn(_Strict):
    type: Literal["text"]
    text: str
    cache_control: dict[str, Any] | None = None
    citations: None = Field(default=None, description="only null: citations need documents")


class Base64SourceIn(_Strict):
    type: Literal["base64"]
    media_type: str
    data: str


class UrlSourceIn(_Strict):
    type: Literal["url"]
    url: str


class ImageIn(_Strict):
    type: Literal["image"]
    source: Annotated[Base64SourceIn | UrlSourceIn, Field(discriminator="type")]
    cache_control: dict[str, Any] | None = None


class ToolUseIn(_Strict):
    type: Literal["tool_use"]
    id: str
    name: str
    input: dict[str, Any]
    cache_control: dict[str, Any] | None = None  # no place for it on a tool call: dropped


ResultPart = Annotated[TextIn | ImageIn, Field(discriminator="type")]
RESULT_TYPES = ("text", "image")


def _blocks_of(value: Any, known: tuple[str, ...]) -> Any:
    """A content field as blocks: a string is one text block (none when empty); a block
    of a type veil does not take is named."""
    if isinstance(value, str):
        return [{"type": "text", "text": value}] if value else []
    if isinstance(value, list):
        for block in value:
            kind = block.get("type") if isinstance(block, dict) else None
            if isinstance(kind, str) and kind not in known:
                raise ValueError(
                    f"content blocks of type {kind!r} are not supported here "
                    f"(veil takes {', '.join(known)})"
                )
    return value


class ToolResultIn(_Strict):
    type: Literal["tool_result"]
    tool_use_id: str
    content: list[ResultPart] = Field(
        default_factory=list, description="a string is one text block"
    )
    is_error: StrictBool | None = None
    cache_control: dict[str, Any] | None = None

    @field_validator("content", mode="before")
    @classmethod
    def _blocks(cls, value: Any) -> Any:
        return _blocks_of(value, RESULT_TYPES)


BlockIn = Annotated[TextIn | ImageIn | ToolUseIn | ToolResultIn, Field(discriminator="type")]
BLOCK_TYPES = ("text", "image", "tool_use", "tool_result")


class MessageIn(_Strict):
    role: Literal["user", "assistant"]
    content: list[BlockIn]

    @field_validator("content", mode="before")
    @classmethod
    def _blocks(cls, value: Any) -> Any:
        if isinstance(value, str):
            return [{"type": "text", "text": value}]  # even empty: the turn is kept
        return _blocks_of(value, BLOCK_TYPES)


class ToolIn(_Strict):
    type: Literal["custom"] | None = None
    name: str = Field(min_length=1)
    description: str | None = None
    input_schema: dict[str, Any]
    strict: StrictBool | None = None
    cache_control: dict[str, Any] | None = None  # no place for it on an OpenAI tool: dropped

    @model_validator(mode="before")
    @classmethod
    def _custom_only(cls, data: Any) -> Any:
        kind = data.get("type") if isinstance(data, dict) else None
        if kind is not None and kind != "custom":
            raise ValueError(
                f"tools of type {kind!r} (Anthropic's server tools) are not supported; "
                "only custom tools with an input_schema"
            )
        return data


class ToolChoiceAuto(_Strict):
    type: Literal["auto"]
    disable_parallel_tool_use: StrictBool | None = None


class ToolChoiceAny(_Strict):
    type: Literal["any"]
    disable_parallel_tool_use: StrictBool | None = None


class ToolChoiceTool(_Strict):
    type: Literal["tool"]
    name: str
    disable_parallel_tool_use: StrictBool | None = None


class ToolChoiceNone(_Strict):
    type: Literal["none"]


ToolChoiceIn = Annotated[
    ToolChoiceAuto | ToolChoiceAny | ToolChoiceTool | ToolChoiceNone, Field(discriminator="type")
]


class MetadataIn(_Strict):
    user_id: str | None = None


class MessagesBody(_Strict):
    """The body of `POST /api/v1/messages` as veil takes it: Anthropic's fields veil can
    translate, plus OpenRouter's `models` (fallbacks) and `provider` (routing
    preferences, validated with the canonical request)."""

    model: str | None = None
    models: list[str] | None = None
    provider: dict[str, Any] | None = None
    max_tokens: int = Field(ge=1)
    messages: list[MessageIn] = Field(min_length=1)
    system: list[TextIn] | None = None  # a string is one text block
    stream: StrictBool = False
    temperature: float | None = Field(default=None, ge=0, le=1)
    top_p: float | None = Field(default=None, ge=0, le=1)
    top_k: int | None = Field(default=None, ge=0)
    stop_sequences: list[str] | None = None
    tools: list[ToolIn] | None = None
    tool_choice: ToolChoiceIn | None = None
    metadata: MetadataIn | None = None

    @field_validator("system", mode="before")
    @classmethod
    def _system_text(cls, value: Any) -> Any:
        return _blocks_of(value, ("text",))

    @field_validator("stream", mode="before")
    @classmethod
    def _stream_null_is_false(cls, value: Any) -> Any:
        return False if value is None else value

    @model_validator(mode="after")
    def _some_model(self) -> "MessagesBody":
        if not self.model and not self.models:
            raise ValueError("either `model` or `models` is required")
        return self
