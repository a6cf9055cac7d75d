"""What the fault tests share: a steady load of clients behind a load balancer's
behaviour, and the accounting of every generation a client heard of against the rows
the metrics store holds."""

import asyncio
import itertools
import time
from collections import Counter
from dataclasses import dataclass, field

import httpx

from tests.integration.harness import RunningStack, run_cli

MODEL = "deepseek/deepseek-chat-v3-0324"  # served by several providers


@dataclass
class Outcome:
    marker: str
    gateway: str
    stream: bool
    start: float
    end: float = 0.0
    status: int = 0  # 0: no HTTP answer
    generation_id: str | None = None
    ok: bool = False  # a 200 whose completion (or stream) finished without an error
    error: str = ""


@dataclass
class Load:
    """Requests at a steady `rate` per second (open loop: a slow answer does not slow the
    load), one in `stream_every` streamed, spread over the gateways a load balancer
    would send to: those whose /readyz answers 200 (polled every 0.1 s, as a balancer's
    health check), and another one when a connection is refused (a request never sent
    is safe to send elsewhere)."""

    gateways: list[str]  # API base URLs
    key: str
    rate: float = 60.0
    stream_every: int = 4
    outcomes: list[Outcome] = field(default_factory=list)
    ready: dict[str, bool] = field(default_factory=dict)
    resent: int = 0  # requests refused at connect by one gateway and sent to another

    async def run(self, stop: asyncio.Event) -> None:
        headers = {"authorization": f"Bearer {self.key}"}
        clients = {
            url: httpx.AsyncClient(base_url=url, headers=headers, timeout=30)
            for url in self.gateways
        }
        self.ready = dict.fromkeys(self.gateways, True)
        watching = asyncio.create_task(self._watch_readiness())
        running: set[asyncio.Task] = set()
        turn = itertools.count()
        try:
            began = time.monotonic()
            for n in itertools.count():
                if stop.is_set():
                    break
                await asyncio.sleep(max(0.0, began + n / self.rate - time.monotonic()))
                task = asyncio.create_task(self._one(clients, n, next(turn)))
                running.add(task)
                task.add_done_callback(running.discard)
            if running:
                await asyncio.wait(running)
        finally:
            watching.cancel()
            for client in clients.values():
                await client.aclose()

    async def _watch_readiness(self) -> None:
        async with httpx.AsyncClient(timeout=1) as client:
            while True:
                for url in self.gateways:
                    try:
                        answer = await client.get(url.removesuffix("/api/v1") + "/readyz")
                        self.ready[url] = answer.status_code == 200
                    except httpx.HTTPError:
                        self.ready[url] = False
                await asyncio.sleep(0.1)

    def _pick(self, turn: int, avoid: set[str]) -> str:
        candidates = [u for u in self.gateways if self.ready.get(u) and u not in avoid]
        candidates = candidates or [u for u in self.gateways if u not in avoid] or self.gateways
        return candidates[turn % len(candidates)]

    async def _one(self, clients: dict[str, httpx.AsyncClient], n: int, turn: int) -> None:
        stream = n % self.stream_every == 0
        marker = f"r{n}"
        outcome = Outcome(marker, "", stream, time.monotonic())
        self.outcomes.append(outcome)
        body = {"model": MODEL, "messages": [{"role": "user", "content": f"load {marker}"}]}
        refused: set[str] = set()
        while True:
            url = self._pick(turn, refused)
            outcome.gateway = url
            try:
                await _send(clients[url], body, stream, outcome)
                break
            except httpx.ConnectError:
                refused.add(url)
                if len(refused) == len(self.gateways):
                    outcome.error = "every gateway refused the connection"
                    break
                self.resent += 1
            except httpx.HTTPError as exc:
                outcome.error = f"{type(exc).__name__}: {exc}"
                break
        outcome.end = time.monotonic()

    def failed(self) -> list[Outcome]:
        return [o for o in self.outcomes if not o.ok]


async def _send(client: httpx.AsyncClient, body: dict, stream: bool, outcome: Outcome) -> None:
    if stream:
        async with client.stream(
            "POST", "/chat/completions", json={**body, "stream": True}
        ) as response:
            outcome.status = response.status_code
            outcome.generation_id = response.headers.get("x-generation-id")
            text = (await response.aread()).decode()
            outcome.ok = outcome.status == 200 and text.endswith("data: [DONE]\n\n")
            outcome.ok = outcome.ok and '"finish_reason":"error"' not in text
            if not outcome.ok:
                outcome.error = text[-300:]
    else:
        response = await client.post("/chat/completions", json=body)
        outcome.status = response.status_code
        outcome.generation_id = response.headers.get("x-generation-id")
        outcome.ok = outcome.status == 200 and bool(
            response.json()["choices"][0]["message"]["content"]
        )
        if not outcome.ok:
            outcome.error = response.text[:300]


def stored_ids(stack: RunningStack, account: str, final: bool = True) -> Counter:
    """generation id -> rows in the metrics store answering `veil sql` (FINAL: as every
    query of veil's reads them; without: the raw rows, before merges)."""
    query = (
        f"SELECT generation_id, status FROM generations {'FINAL' if final else ''} "
        f"WHERE account_id = '{account}'"
    )
    result = run_cli(stack, "sql", query, "--format", "csv")
    assert result.returncode == 0, result.stderr
    return Counter(line.split(",")[0].strip('"') for line in result.stdout.splitlines()[1:])


async def account_rows(
    stack: RunningStack, account: str, outcomes: list[Outcome], within: float = 60
) -> dict:
    """Every generation a client got a 200 for against the account's rows, once they have
    all landed (or `within` s passed): what is missing, what is there twice, and any
    row of a generation no client heard of."""
    answered = {o.generation_id for o in outcomes if o.status == 200 and o.generation_id}
    told = {o.generation_id for o in outcomes if o.generation_id}
    deadline = time.monotonic() + within
    while True:
        rows = await asyncio.to_thread(stored_ids, stack, account)
        if answered <= set(rows) or time.monotonic() > deadline:
            break
        await asyncio.sleep(1)
    return {
        "requests": len(outcomes),
        "answered_200": len(answered),
        "other_answers": len(told - answered),
        "rows": sum(rows.values()),
        "missing": sorted(answered - set(rows)),
        "duplicated": sorted(g for g, n in rows.items() if n > 1),
        "unknown": sorted(set(rows) - told),
    }
