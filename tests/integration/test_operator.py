"""What an operator sees of a running stack: probes, Prometheus metrics, JSON logs and
`veil status`, each against real processes."""

import asyncio
import importlib.metadata
import json
import signal
import time

import httpx
import pytest

from tests.integration.harness import RunningStack, run_cli
from tests.integration.test_metrics import eventually
from veil.launcher.supervisor import free_port
from veil.schemas.subjects import SERVICES

MODEL = "meta-llama/llama-3.1-8b-instruct"
SECRET_PROMPT = "operator-view-secret-prompt"


@pytest.fixture(scope="module")
def observed(tmp_path_factory):
    """A stack logging JSON, metrics serving /metrics on a port of its own."""
    stack = RunningStack(tmp_path_factory.mktemp("operator"), {"VEIL_LOG_FORMAT": "json"})
    stack.metrics_port = free_port()
    stack.service_env["metrics"] = {"VEIL_METRICS_PORT": str(stack.metrics_port)}
    stack.start()
    yield stack
    stack.stop()


def page(url: str) -> str:
    return httpx.get(url, timeout=5).text


def scrape(url: str) -> dict[str, float]:
    """Prometheus text format: sample (name with labels) -> value."""
    samples = {}
    for line in page(url).splitlines():
        if line and not line.startswith("#"):
            name, value = line.rsplit(" ", 1)
            samples[name] = float(value)
    return samples


async def chat(stack: RunningStack, key: str, **extra) -> httpx.Response:
    async with httpx.AsyncClient(base_url=stack.api, timeout=30) as client:
        return await client.post(
            "/chat/completions",
            headers={"authorization": f"Bearer {key}"},
            json={"model": MODEL, "messages": [{"role": "user", "content": SECRET_PROMPT}]} | extra,
        )


def test_probes_for_load_balancers(observed):
    assert httpx.get(f"{observed.url}/healthz").json() == {"ok": True}
    ready = httpx.get(f"{observed.url}/readyz")
    assert ready.status_code == 200
    assert ready.json() == {
        "ready": True,
        "checks": {"accepting": True, "bus": True, "policy": True, "dispatcher": True},
    }
    # not API endpoints: absent from the OpenAPI document the SDK tests read
    paths = httpx.get(f"{observed.url}/openapi.json").json()["paths"]
    assert not {"/healthz", "/readyz", "/metrics"} & set(paths)


async def test_gateway_and_metrics_export_what_they_saw(observed):
    account = await asyncio.to_thread(observed.new_account, "scraped")
    served = await chat(observed, account.key)
    assert served.status_code == 200
    provider = served.headers["x-veil-provider"]
    refused = await chat(observed, "sk-veil-not-a-key")
    assert refused.status_code == 401

    gateway = scrape(f"{observed.url}/metrics")
    assert gateway[f'veil_requests_total{{provider="{provider}",status="200"}}'] >= 1
    assert gateway['veil_requests_total{provider="",status="401"}'] >= 1
    assert gateway["veil_requests_in_flight"] == 0
    assert gateway["veil_bus_connected"] == 1
    assert 0 < gateway["veil_bus_rtt_seconds"] < 1
    assert 'veil_process_info{replica="' in "\n".join(gateway)

    metrics_url = f"http://127.0.0.1:{observed.metrics_port}/metrics"
    generation = served.headers["x-generation-id"]
    await account.generation(generation)  # its row has landed

    def counted():
        samples = scrape(metrics_url)
        key = f'veil_generations_total{{provider="{provider}",status="ok"}}'
        return samples.get(key, 0) >= 1 and samples

    samples = await eventually(counted, limit=15)
    assert samples, scrape(metrics_url)
    assert samples[f'veil_upstream_latency_seconds_count{{provider="{provider}"}}'] >= 1
    assert samples['veil_clickhouse_insert_rows_count{event="GenerationEvent"}'] >= 1
    assert samples["veil_dead_letters_total"] == 0
    lag = await eventually(
        lambda: (s := scrape(metrics_url)).get('veil_consumer_lag{durable="metrics"}') == 0 and s,
        limit=15,
    )
    assert lag, "the metrics consumer's lag was never exported"
    # labels name statuses and providers, never an account, a key or a prompt
    for text in (page(f"{observed.url}/metrics"), page(metrics_url)):
        assert account.id not in text
        assert account.key not in text
        assert SECRET_PROMPT not in text
        assert generation not in text


async def test_json_logs_name_service_replica_and_generation_never_content(observed):
    account = await asyncio.to_thread(observed.new_account, "logged")
    async with observed.simulator() as sim:
        await sim.add(provider="*", chunk_delay_ms=200, completion_tokens=50, times=1)
    async with httpx.AsyncClient(base_url=observed.api, timeout=30) as client:
        messages = [{"role": "user", "content": SECRET_PROMPT}]
        body = {"model": MODEL, "stream": True, "messages": messages}
        headers = {"authorization": f"Bearer {account.key}"}
        async with client.stream(
            "POST", "/chat/completions", headers=headers, json=body
        ) as response:
            generation = response.headers["x-generation-id"]
            async for line in response.aiter_lines():
                if line.startswith("data: {"):
                    break  # the client leaves mid-stream: the dispatcher logs the cancel

    def cancel_logged():
        for line in observed.log("dispatcher").splitlines():
            entry = json.loads(line)
            if entry.get("generation_id") == generation:
                return entry
        return None

    entry = await eventually(cancel_logged, limit=15)
    assert entry, observed.log("dispatcher")[-2000:]
    assert entry["service"] == "dispatcher"
    assert ":" in entry["replica"]
    for service in SERVICES:
        lines = observed.log(service).splitlines()
        assert lines, service
        for line in lines:
            parsed = json.loads(line)  # every line is one JSON object
            assert parsed["service"] == service, line
            assert parsed["level"], line
        assert SECRET_PROMPT not in observed.log(service)


def test_veil_status_lists_every_replica_and_the_consumers(observed):
    result = run_cli(observed, "status", "--format", "json")
    assert result.returncode == 0, result.stderr
    status = json.loads(result.stdout)
    assert sorted(r["service"] for r in status["replicas"]) == sorted(SERVICES)
    version = importlib.metadata.version("veil")  # pyproject.toml's
    assert all(r["version"] == version and r["ok"] for r in status["replicas"])
    durables = {c["durable"] for c in status["consumers"]}
    assert {"metrics", "metrics-verdicts", "metrics-content"} <= durables
    table = run_cli(observed, "status")
    assert table.returncode == 0
    assert table.stdout.splitlines()[2].split() == [
        "SERVICE", "REPLICA", "VERSION", "UP", "HEALTH", "DETAIL"
    ]  # fmt: skip


@pytest.mark.slow
def test_readyz_and_status_report_a_missing_dispatcher(tmp_path):
    stack = RunningStack(tmp_path).start()
    try:
        stack.kill("dispatcher", signal.SIGTERM)
        deadline = time.monotonic() + 10
        while httpx.get(f"{stack.url}/readyz").status_code != 503:
            assert time.monotonic() < deadline
            time.sleep(0.2)
        ready = httpx.get(f"{stack.url}/readyz").json()
        assert ready["checks"] == {
            "accepting": True,
            "bus": True,
            "policy": True,
            "dispatcher": False,
        }
        assert httpx.get(f"{stack.url}/healthz").status_code == 200  # alive, not ready
        result = run_cli(stack, "status")
        assert result.returncode == 1
        rows = [line.split() for line in result.stdout.splitlines()]
        assert ["dispatcher", "-", "-", "-", "MISSING", "no", "replica", "answers"] in rows
    finally:
        stack.stop()
