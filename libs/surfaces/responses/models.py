"""The body of a Responses API request as veil takes it: the stateless subset of `POST
/responses` (see `request` for what is served, what is refused and why). Types veil does
not translate are taken as "other" (an item, part, tool or tool choice), for `request`
to refuse by name.
"""

from collections.abc import Callable
from typing import Annotated, Any, Literal

from pydantic import BaseModel, ConfigDict, Discriminator, Field, StrictBool, Tag


def _kind_among(*known: str, default: str | None = None) -> Callable[[Any], str]:
    """Discriminate on `type` (or `default` when it is missing), sending the types veil
    does not translate to "other", to be refused by name."""

    def kind(value: Any) -> str:
        if isinstance(value, dict):
            name = value.get("type", default)
        else:
            name = getattr(value, "type", default)
        return name if name in known else "other"

    return kind


class _Part(BaseModel):
    """Fields veil does not read (an output part's `annotations`, `logprobs`) are ignored:
    a client sends the previous response's output back as it got it."""

    model_config = ConfigDict(extra="ignore", hide_input_in_errors=True)


class InputText(_Part):
    type: Literal["input_text"]
    text: str


class OutputText(_Part):
    type: Literal["output_text"]
    text: str


class InputImage(_Part):
    type: Literal["input_image"]
    image_url: str | None = Field(default=None, description="a URL or a data: URL")
    file_id: str | None = Field(default=None, description="refused: veil stores no files")
    detail: str | None = None


class InputFile(_Part):
    type: Literal["input_file"]
    file_data: str | None = Field(default=None, description="a data: URL of the file")
    filename: str | None = None
    file_id: str | None = Field(default=None, description="refused: veil stores no files")
    file_url: str | None = Field(default=None, description="refused: not fetched by veil")


class OtherPart(_Part):
    """A content part veil does not translate (input_audio, refusal, ...)."""

    type: str


ContentPart = Annotated[
    Annotated[InputText, Tag("input_text")]
    | Annotated[OutputText, Tag("output_text")]
    | Annotated[InputImage, Tag("input_image")]
    | Annotated[InputFile, Tag("input_file")]
    | Annotated[OtherPart, Tag("other")],
    Discriminator(_kind_among("input_text", "output_text", "input_image", "input_file")),
]

Role = Literal["user", "assistant", "system", "developer"]


class MessageItem(_Part):
    """A message, with or without `type: "message"` (the SDK's EasyInputMessage)."""

    type: Literal["message"] = "message"
    role: Role
    content: str | list[ContentPart]


class FunctionCallItem(_Part):
    """A function call the model made earlier: part of an assistant message."""

    type: Literal["function_call"]
    call_id: str
    name: str
    arguments: str


class FunctionCallOutputItem(_Part):
    """The client's answer to a function call: a `tool` message."""

    type: Literal["function_call_output"]
    call_id: str
    output: str | list[ContentPart]


class OtherItem(_Part):
    """An input item veil does not translate (reasoning, item_reference, hosted tool calls)."""

    type: str


InputItem = Annotated[
    Annotated[MessageItem, Tag("message")]
    | Annotated[FunctionCallItem, Tag("function_call")]
    | Annotated[FunctionCallOutputItem, Tag("function_call_output")]
    | Annotated[OtherItem, Tag("other")],
    Discriminator(
        _kind_among("message", "function_call", "function_call_output", default="message")
    ),
]


class FunctionTool(_Part):
    type: Literal["function"]
    name: str
    description: str | None = None
    parameters: dict[str, Any] | None = None
    strict: bool | None = None


class OtherTool(_Part):
    """A hosted tool (web_search, file_search, code_interpreter, mcp, ...): refused."""

    type: str


Tool = Annotated[
    Annotated[FunctionTool, Tag("function")] | Annotated[OtherTool, Tag("other")],
    Discriminator(_kind_among("function")),
]


class FunctionChoice(_Part):
    type: Literal["function"]
    name: str


class OtherChoice(_Part):
    """allowed_tools, a hosted tool, custom, mcp: refused."""

    type: str


ToolChoice = (
    Literal["none", "auto", "required"]
    | Annotated[
        Annotated[FunctionChoice, Tag("function")] | Annotated[OtherChoice, Tag("other")],
        Discriminator(_kind_among("function")),
    ]
)


class TextFormat(_Part):
    type: Literal["text", "json_object", "json_schema"]
    name: str | None = None
    json_schema: dict[str, Any] | None = Field(default=None, alias="schema")
    description: str | None = None
    strict: bool | None = None


class TextConfig(_Part):
    format: TextFormat | None = None
    verbosity: Literal["low", "medium", "high"] | None = None


class ReasoningConfig(_Part):
    effort: str | None = None
    summary: str | None = Field(default=None, description="ignored: veil returns no summary")


class ResponsesRequest(BaseModel):
    """The stateless subset of `POST /responses`; any other field is refused by name."""

    model_config = ConfigDict(extra="forbid", hide_input_in_errors=True)

    model: str | None = None
    models: list[str] | None = Field(default=None, description="OpenRouter's fallback models")
    provider: dict[str, Any] | None = Field(
        default=None, description="OpenRouter's routing preferences, checked as chat's"
    )
    input: str | list[InputItem]
    instructions: str | None = None
    tools: list[Tool] | None = None
    tool_choice: ToolChoice | None = None
    parallel_tool_calls: StrictBool | None = None
    max_output_tokens: int | None = Field(default=None, ge=1)
    temperature: float | None = Field(default=None, ge=0, le=2)
    top_p: float | None = Field(default=None, ge=0, le=1)
    stream: StrictBool | None = None
    stream_options: dict[str, Any] | None = Field(default=None, description="ignored")
    user: str | None = None
    metadata: dict[str, str] | None = Field(default=None, description="never sent upstream")
    text: TextConfig | None = None
    reasoning: ReasoningConfig | None = None
    store: StrictBool | None = Field(default=None, description="reported by wants_storage")
    include: list[str] | None = None
    truncation: Literal["auto", "disabled"] | None = None
    # Stateful: declared so a null is accepted; any other value is refused.
    previous_response_id: str | None = None
    conversation: Any = None
    background: StrictBool | None = None
    prompt: Any = None
