"""Anthropic Messages API wire format, as pydantic models: both edges typed."""

from collections.abc import Callable
from typing import Annotated, Any, Literal

from pydantic import BaseModel, ConfigDict, Discriminator, Field, Tag, ValidationError

from veil.schemas.errors import validation_problems


class TextBlock(BaseModel):
    type: Literal["text"] = "text"
    text: str
    cache_control: dict[str, Any] | None = None


class Base64Source(BaseModel):
    type: Literal["base64"] = "base64"
    media_type: str
    data: str


class UrlSource(BaseModel):
    type: Literal["url"] = "url"
    url: str


class ImageBlock(BaseModel):
    type: Literal["image"] = "image"
    source: Base64Source | UrlSource
    cache_control: dict[str, Any] | None = None


class ToolUseBlock(BaseModel):
    type: Literal["tool_use"] = "tool_use"
    id: str
    name: str
    input: dict[str, Any]


class ToolResultBlock(BaseModel):
    type: Literal["tool_result"] = "tool_result"
    tool_use_id: str = Field(description="the id of the tool_use block this answers")
    content: str | list[TextBlock | ImageBlock]


RequestBlock = TextBlock | ImageBlock | ToolUseBlock | ToolResultBlock


class WireMessage(BaseModel):
    role: Literal["user", "assistant"]
    content: list[RequestBlock]


class WireTool(BaseModel):
    name: str
    description: str | None = None
    input_schema: dict[str, Any] = Field(description="JSON Schema of the tool's input object")


class ToolChoice(BaseModel):
    type: Literal["auto", "any", "tool", "none"]
    name: str | None = Field(default=None, description="set when type is 'tool'")


class Metadata(BaseModel):
    user_id: str | None = Field(default=None, description="an opaque id of the end user")


class MessagesRequest(BaseModel):
    """The body of `POST /v1/messages`; unknown fields are a bug in the translation."""

    model_config = ConfigDict(extra="forbid")

    model: str
    max_tokens: int = Field(ge=1)
    messages: list[WireMessage]
    system: str | None = None
    stream: bool = False
    temperature: float | None = Field(default=None, ge=0, le=1)
    top_p: float | None = None
    top_k: int | None = None
    stop_sequences: list[str] | None = None
    tools: list[WireTool] | None = None
    tool_choice: ToolChoice | None = None
    metadata: Metadata | None = None


class OtherBlock(BaseModel):
    """A block veil does not translate (thinking, server tools, ...)."""

    type: str


def _kind_among(*known: str) -> Callable[[Any], str]:
    """Discriminate on `type`, sending types added to the API later to "other"."""

    def kind(value: Any) -> str:
        name = value.get("type") if isinstance(value, dict) else getattr(value, "type", None)
        return name if name in known else "other"

    return kind


ResponseBlock = Annotated[
    Annotated[TextBlock, Tag("text")]
    | Annotated[ToolUseBlock, Tag("tool_use")]
    | Annotated[OtherBlock, Tag("other")],
    Discriminator(_kind_among("text", "tool_use")),
]


class WireUsage(BaseModel):
    input_tokens: int | None = None
    output_tokens: int | None = None
    cache_creation_input_tokens: int | None = None
    cache_read_input_tokens: int | None = None

    @property
    def prompt_tokens(self) -> int:
        """Every input token is a prompt token, whether written to or read from the cache."""
        return (
            (self.input_tokens or 0)
            + (self.cache_creation_input_tokens or 0)
            + (self.cache_read_input_tokens or 0)
        )


class MessagesResponse(BaseModel):
    """A Message, as returned whole or announced by `message_start` (then without content)."""

    id: str
    model: str
    content: list[ResponseBlock]
    stop_reason: str | None = None
    usage: WireUsage | None = None


class MessageStart(BaseModel):
    message: MessagesResponse


class ContentBlockStart(BaseModel):
    index: int
    content_block: ResponseBlock


class TextDelta(BaseModel):
    type: Literal["text_delta"]
    text: str


class InputJsonDelta(BaseModel):
    type: Literal["input_json_delta"]
    partial_json: str


class OtherDelta(BaseModel):
    """thinking_delta, signature_delta, citations_delta: not translated."""

    type: str


class ContentBlockDelta(BaseModel):
    index: int
    delta: Annotated[
        Annotated[TextDelta, Tag("text_delta")]
        | Annotated[InputJsonDelta, Tag("input_json_delta")]
        | Annotated[OtherDelta, Tag("other")],
        Discriminator(_kind_among("text_delta", "input_json_delta")),
    ]


class StopInfo(BaseModel):
    stop_reason: str | None = None


class MessageDelta(BaseModel):
    delta: StopInfo
    usage: WireUsage | None = Field(default=None, description="cumulative counts so far")


class MessageStop(BaseModel):
    pass


class ErrorDetail(BaseModel):
    type: str
    message: str


class ErrorEvent(BaseModel):
    error: ErrorDetail


def problems(exc: ValidationError) -> str:
    """What failed to validate, for an error message (never the values)."""
    return validation_problems(exc.errors(include_url=False, include_input=False))


# Anthropic's stop reasons, with the canonical (OpenAI) finish_reason each becomes: the
# upstream adapter reads answers by it, the Messages surface writes them back by it.
FINISH_REASONS = {
    "end_turn": "stop",
    "stop_sequence": "stop",
    "pause_turn": "stop",
    "max_tokens": "length",
    "model_context_window_exceeded": "length",
    "tool_use": "tool_calls",
    "refusal": "content_filter",
}
