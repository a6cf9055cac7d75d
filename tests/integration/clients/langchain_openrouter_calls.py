"""Calls veil through langchain-openrouter and prints what LangChain made of the answers.

Run with the interpreter of the clients' own environment (`./dev test` builds it):
langchain-openrouter pins an older `openrouter` SDK and pydantic than veil's, so it cannot
share veil's environment. Usage: python langchain_openrouter_calls.py BASE_URL KEY CALL MODEL
where CALL is invoke | stream | tools | structured. Prints one JSON object.
"""

import json
import sys

from langchain_openrouter import ChatOpenRouter


def main(base_url: str, key: str, call: str, model: str) -> dict:
    chat = ChatOpenRouter(model=model, api_key=key, base_url=base_url, max_retries=0)
    prompt = [("user", "Say hello to the LangChain test")]
    if call == "invoke":
        message = chat.invoke(prompt)
        return {
            "content": message.content,
            "usage": message.usage_metadata,
            "id": message.id,
            "finish_reason": message.response_metadata.get("finish_reason"),
        }
    if call == "stream":
        chunks = list(chat.stream(prompt))
        return {
            "content": "".join(str(c.content) for c in chunks),
            "chunks": len(chunks),
            "usage": next((c.usage_metadata for c in chunks if c.usage_metadata), None),
        }
    if call == "tools":

        def get_weather(city: str) -> str:
            """The weather in a city."""
            return "sunny"

        message = chat.bind_tools([get_weather]).invoke(prompt)
        return {"tool_calls": [{"name": c["name"], "args": c["args"]} for c in message.tool_calls]}
    if call == "structured":
        schema = {
            "title": "Greeting",
            "type": "object",
            "properties": {"greeting": {"type": "string"}},
            "required": ["greeting"],
        }
        return {"parsed": chat.with_structured_output(schema, method="json_schema").invoke(prompt)}
    raise SystemExit(f"unknown call {call!r}")


if __name__ == "__main__":
    print(json.dumps(main(*sys.argv[1:5]), default=str))
