"""langchain-openrouter, the LangChain integration built on OpenRouter's SDK, against a
running stack: invoke, stream, tool calls and structured output.

It pins an older `openrouter` SDK (and pydantic) than veil's, so it runs from the
clients' own environment, which `./dev test` builds and names in VEIL_CLIENTS_PYTHON.
"""

import json
import os
import subprocess
from pathlib import Path

import pytest

SCRIPT = Path(__file__).with_name("clients") / "langchain_openrouter_calls.py"
CLIENTS_PYTHON = os.environ.get("VEIL_CLIENTS_PYTHON")
MODEL = "openai/gpt-4o-mini"  # its endpoints declare tools and structured outputs

pytestmark = pytest.mark.skipif(
    not CLIENTS_PYTHON,
    reason="VEIL_CLIENTS_PYTHON is unset: run through ./dev test, which builds the "
    "clients' environment with langchain-openrouter",
)


def langchain(stack, account, call: str) -> dict:
    done = subprocess.run(
        [CLIENTS_PYTHON, str(SCRIPT), stack.api, account.key, call, MODEL],
        capture_output=True,
        text=True,
        timeout=120,
    )
    assert done.returncode == 0, done.stderr[-3000:]
    return json.loads(done.stdout)


async def test_invoke(stack, account, sim):
    answer = langchain(stack, account, "invoke")
    assert answer["content"].startswith("Simulated reply from ")
    assert answer["finish_reason"] == "stop"
    assert answer["usage"]["output_tokens"] == 12


async def test_stream(stack, account, sim):
    answer = langchain(stack, account, "stream")
    assert answer["content"].startswith("Simulated reply from ")
    assert answer["chunks"] > 2
    assert answer["usage"]["output_tokens"] == 12


async def test_tool_calls(stack, account, sim):
    await sim.add(provider="*", tool_call={"name": "get_weather", "arguments": {"city": "Paris"}})
    answer = langchain(stack, account, "tools")
    assert answer["tool_calls"] == [{"name": "get_weather", "args": {"city": "Paris"}}]
    [received] = await sim.requests()
    assert [t["function"]["name"] for t in received.body["tools"]] == ["get_weather"]


async def test_structured_output(stack, account, sim):
    await sim.add(provider="*", reply_text='{"greeting": "hello"}')
    answer = langchain(stack, account, "structured")
    assert answer["parsed"] == {"greeting": "hello"}
    [received] = await sim.requests()
    assert received.body["response_format"]["type"] == "json_schema"
