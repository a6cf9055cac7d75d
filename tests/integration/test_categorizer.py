"""Categorization against running stacks: the local classifier by default, the
zero-retention model path through veil itself (VEIL_CATEGORIZER_MODEL), anonymity on
the whole bus, and no backlog of content when the categorizer is down."""

import asyncio
import json
import secrets
import time

import nats
import pytest

from tests.integration.harness import RunningStack, run_cli, wait_for
from veil.bus import unpack
from veil.catalog import CatalogIndex
from veil.categorizer.model_client import SYSTEM_PROMPT
from veil.schemas import subjects
from veil.schemas.categories import CATEGORIES, CATEGORIZER_ACCOUNT
from veil.schemas.messages import CategoryObservation, HealthReply, RequestEnvelope, RoutedRequest

MODEL = "meta-llama/llama-3.1-8b-instruct"
# Its cheapest endpoint (deepseek) retains prompts and trains on them; gmicloud's
# retention is unknown; the others are zero-retention. Routed by price alone, a
# classification request would go to deepseek.
ZDR_MODEL = "deepseek/deepseek-chat-v3-0324"
NO_ZDR_MODEL = "x-ai/grok-2-1212"  # one provider, which retains prompts
K = 5
INDEX = CatalogIndex.load()

# Prompts of clear categories that are not in the corpus.
LABELLED = {
    "my django migration fails with 'relation already exists', how do I fix it": ("programming"),
    "Is my landlord allowed to keep the whole deposit for a small carpet stain?": "legal",
    "Translate 'the invoice is attached' into German and Italian": "translation",
    "should I put my savings into an index fund or pay off my car loan first": "finance",
}


def observations(stack: RunningStack) -> dict[str, int]:
    """category -> observations stored, over every model and hour."""
    result = run_cli(
        stack,
        "sql",
        "SELECT category, sum(observations) AS n FROM category_observations GROUP BY category",
        "--format",
        "json",
    )
    assert result.returncode == 0, result.stderr
    return {row["category"]: int(row["n"]) for row in json.loads(result.stdout or "[]")}


async def health(stack: RunningStack) -> dict:
    bus = await nats.connect(stack.nats_url)
    try:
        reply = await bus.request(subjects.health_subject("categorizer"), b"{}", timeout=5)
    finally:
        await bus.close()
    return HealthReply.model_validate_json(reply.data).detail


async def ask(account, text: str, **extra) -> str:
    done = await account.openai().chat.completions.create(
        model=MODEL, messages=[{"role": "user", "content": text}], **extra
    )
    return done.id


def zdr(provider: str) -> bool:
    policy = INDEX.providers[provider].data_policy
    return policy.retains_prompts is False and policy.training is False


def classification_requests(recorded) -> list:
    return [
        r for r in recorded if (r.body.get("messages") or [{}])[0].get("content") == SYSTEM_PROMPT
    ]


async def answer_classifications(sim, model: str, **scenario) -> None:
    """The simulator answers the classification model's requests (at every endpoint)
    with `scenario`; other models keep their ordinary answers."""
    for endpoint in INDEX.models[model].endpoints:
        await sim.add(provider=endpoint.provider, model=endpoint.upstream_model, **scenario)


# -- the local classifier ----------------------------------------------------------


async def test_veil_classifies_locally_by_default_and_keeps_no_backlog(make_stack):
    stack = make_stack(VEIL_SAMPLE_RATE="1")
    account = stack.new_account("categories")
    for text in LABELLED:
        await ask(account, text)
    expected = {c: list(LABELLED.values()).count(c) for c in set(LABELLED.values())}

    async def classified() -> bool:
        return observations(stack) == expected

    await wait_for(classified)
    detail = await health(stack)
    assert detail["classifier"] == "local"
    assert detail["received"] == len(LABELLED)
    assert detail["fallbacks"] == {}

    # The categorizer is down: samples are published on core NATS and nobody keeps them.
    stack.kill("categorizer")
    for _ in range(5):
        await ask(account, "Can you explain what a Roth IRA is?")
    stack.start_process("categorizer")
    stack.wait_ready()
    await asyncio.sleep(2)  # anything queued anywhere would have arrived by now
    assert (await health(stack))["received"] == 0
    assert observations(stack) == expected

    await ask(account, "What is the capital of Peru?")

    async def one_more() -> bool:
        return sum(observations(stack).values()) == len(LABELLED) + 1

    await wait_for(one_more)


# -- the zero-retention model path ---------------------------------------------------


@pytest.fixture(scope="module")
def model_stack(tmp_path_factory):
    stack = RunningStack(
        tmp_path_factory.mktemp("categorizer-model"),
        {
            "VEIL_SAMPLE_RATE": "1",
            "VEIL_CATEGORIZER_MODEL": ZDR_MODEL,
            "VEIL_CATEGORIZER_TIMEOUT": "2",
            "VEIL_K_ANONYMITY": str(K),
        },
    ).start()
    yield stack
    stack.stop()


@pytest.fixture
async def model_sim(model_stack):
    control = model_stack.simulator()
    await control.reset()
    yield control
    await control.reset()
    await control.aclose()


async def test_the_model_decides_through_zero_retention_endpoints_only(model_stack, model_sim):
    stack, sim = model_stack, model_sim
    account = stack.new_account("zdr-path")
    before = await health(stack)
    await answer_classifications(sim, ZDR_MODEL, reply_text="legal")
    # The cheapest zero-retention endpoint fails: the fallback must stay zero-retention.
    await sim.add(provider="deepinfra", model="deepseek-ai/DeepSeek-V3-0324", status=500)
    marker = secrets.token_hex(6)
    user_value = "user-" + secrets.token_hex(6)
    texts = [f"{t} ({marker}-{i})" for i, t in enumerate(LABELLED)]
    ids = [await ask(account, t, user=user_value) for t in texts]

    async def all_answered() -> bool:
        return (await health(stack))["classified_by_model"] - before["classified_by_model"] == 4

    await wait_for(all_answered)

    # The model's answer ("legal"), not the local classifier's, was recorded.
    async def stored() -> bool:
        return observations(stack).get("legal", 0) >= len(texts)

    await wait_for(stored)

    recorded = classification_requests(await sim.requests())
    assert {r.provider for r in recorded} >= {"deepinfra"}  # tried first, failed
    assert all(zdr(r.provider) for r in recorded), [r.provider for r in recorded]
    served = [r for r in recorded if r.provider != "deepinfra"]
    assert len(served) == len(texts)
    samples = sorted(r.body["messages"][1]["content"] for r in served)
    assert samples == sorted(texts)
    for request in recorded:
        body = request.body
        # Nothing but the fixed prompt and the sample, and the call's own settings.
        assert [m["role"] for m in body["messages"]] == ["system", "user"]
        assert set(body) <= {"model", "messages", "max_tokens", "temperature", "stream",
                             "stream_options"}  # fmt: skip
        raw = json.dumps(body)
        for identifier in (account.id, account.key, user_value, *ids):
            assert identifier not in raw

    # Its cost is recorded under the categorizer's account, its content nowhere.
    async def billed() -> bool:
        result = run_cli(
            stack,
            "sql",
            "SELECT count() AS n, sum(total_cost) AS cost, max(logged) AS logged "
            f"FROM generations FINAL WHERE account_id = '{CATEGORIZER_ACCOUNT}' "
            f"AND status = 'ok' AND model = '{ZDR_MODEL}'",
            "--format",
            "json",
        )
        rows = json.loads(result.stdout or "[]")
        return bool(rows) and int(rows[0]["n"]) >= len(texts)

    await wait_for(billed)
    result = run_cli(
        stack,
        "sql",
        "SELECT provider, sum(total_cost) AS cost, max(logged) AS logged FROM generations "
        f"FINAL WHERE account_id = '{CATEGORIZER_ACCOUNT}' GROUP BY provider",
        "--format",
        "json",
    )
    rows = json.loads(result.stdout)
    assert rows
    assert all(zdr(row["provider"]) for row in rows), rows
    assert sum(float(row["cost"]) for row in rows) > 0
    assert all(int(row["logged"]) == 0 for row in rows)
    # Classification requests are never sampled: one sample per client request.
    detail = await health(stack)
    assert detail["received"] - before["received"] == len(texts)


async def test_answers_that_are_not_a_category_and_timeouts_fall_back(model_stack, model_sim):
    stack, sim = model_stack, model_sim
    account = stack.new_account("fallbacks")
    before = await health(stack)
    await answer_classifications(sim, ZDR_MODEL, reply_text="It is about the law, I think.")
    await ask(account, "Can my employer read my private messages on a work laptop?")

    def counted(reason: str, n: int):
        async def check() -> bool:
            detail = await health(stack)
            return detail["fallbacks"].get(reason, 0) - before["fallbacks"].get(reason, 0) == n

        return check

    await wait_for(counted("not_a_category", 1))
    await sim.reset()
    await answer_classifications(sim, ZDR_MODEL, reply_text="legal", latency_ms=4000)
    await ask(account, "What's a good name for a golden retriever?")
    await wait_for(counted("timeout", 1), limit=15)
    # Both samples were still recorded, by the local classifier.
    assert (await health(stack))["classified_locally"] - before["classified_locally"] == 2


async def test_a_model_without_zero_retention_endpoints_is_never_called(make_stack):
    stack = make_stack(VEIL_SAMPLE_RATE="1", VEIL_CATEGORIZER_MODEL=NO_ZDR_MODEL)
    account = stack.new_account("no-zdr")
    sim = stack.simulator()
    await ask(account, "how do I write a for loop in go")

    async def fell_back() -> bool:
        return (await health(stack))["fallbacks"] == {"no_zdr_endpoint": 1}

    await wait_for(fell_back)
    assert observations(stack) == {"programming": 1}  # classified locally instead
    assert classification_requests(await sim.requests()) == []
    await sim.aclose()


# -- anonymity on the whole bus --------------------------------------------------------


async def test_no_message_carrying_a_sample_carries_an_identifier(model_stack, model_sim):
    """A spy on every subject across 300 requests sampled at 1.0 (two accounts, `user`
    values, both classifiers busy): every message that carries a prompt's text, apart
    from that request's own trip to its provider (request, routed request, replies,
    which must name the account to route and bill it), carries no account id, key id,
    generation id, `user` value or client address."""
    stack, sim = model_stack, model_sim
    await answer_classifications(sim, ZDR_MODEL, reply_text="trivia")
    accounts = [stack.new_account("spied-a"), stack.new_account("spied-b")]
    key_ids = []
    for account in accounts:
        async with account.http() as http:
            key_ids.append((await http.get("/key")).json()["data"]["hash"])

    seen: list[tuple[str, bytes]] = []

    async def record(msg) -> None:
        seen.append((msg.subject, msg.data))

    spy = await nats.connect(stack.nats_url)
    await spy.subscribe(">", cb=record)
    await spy.flush()

    requests = 300
    markers = [f"SAMPLE{secrets.token_hex(8)}" for _ in range(requests)]
    users = [f"enduser-{secrets.token_hex(6)}" for _ in range(requests)]
    generation_of: dict[str, str] = {}
    gate = asyncio.Semaphore(8)

    async def one(i: int) -> None:
        async with gate:
            account = accounts[i % 2]
            text = f"Who painted the ceiling of the Sistine Chapel? {markers[i]}"
            generation_of[markers[i]] = await ask(account, text, user=users[i])

    await asyncio.gather(*(one(i) for i in range(requests)))

    async def all_classified() -> bool:
        detail = await health(stack)
        return detail["classified_by_model"] + detail["classified_locally"] >= requests

    await wait_for(all_classified, limit=60)
    await asyncio.sleep(0.5)
    await spy.close()

    identifiers = [
        *(a.id for a in accounts),
        *key_ids,
        *generation_of.values(),
        *users,
        "127.0.0.1",
    ]
    carrying = 0
    for subject, data in seen:
        present = [m for m in markers if m.encode() in data]
        if not present:
            continue
        if _own_trip(subject, data, {generation_of[m] for m in present}):
            continue
        carrying += 1
        text = data.decode(errors="replace")
        leaked = [i for i in identifiers if i in text]
        assert leaked == [], (subject, leaked)
    # Samples and classification requests were seen: the check above had work to do.
    assert carrying >= 2 * requests

    observed = [
        CategoryObservation.model_validate_json(data)
        for subject, data in seen
        if subject == subjects.OBSERVATION
    ]
    assert len(observed) >= requests
    for observation in observed:
        assert observation.hour % 3600 == 0  # hour granularity


async def test_every_category_cell_is_k_suppressed_and_only_closed_hours_show(model_stack):
    """Rankings by category show only closed hours, and in each of the thirteen
    categories a model only once K observations fell in its cell."""
    stack = model_stack
    account = stack.new_account("rankings")
    now_hour = int(time.time()) // 3600 * 3600
    closed = now_hour - 3600
    shown, suppressed = "qwen/qwen-2.5-72b-instruct", "mistralai/mistral-nemo"
    cells = []
    for category in CATEGORIES:
        cells += [CategoryObservation(hour=closed, model=shown, category=category)] * K
        cells += [CategoryObservation(hour=closed, model=suppressed, category=category)] * (K - 1)
    bus = await nats.connect(stack.nats_url)
    js = bus.jetstream()
    for cell in cells:
        await js.publish(subjects.OBSERVATION, cell.model_dump_json().encode())
    await bus.close()

    async def ranked() -> bool:
        async with account.http() as http:
            for category in CATEGORIES:
                response = await http.get(
                    "/rankings", params={"period": "day", "category": category}
                )
                assert response.status_code == 200
                rows = response.json()["data"]
                assert suppressed not in {r["model"] for r in rows}
                if {"model": shown, "observations": K} not in rows:
                    return False
                # The other tests' live traffic (hundreds of "trivia" observations of
                # MODEL) is in the open hour: shown nowhere while that hour lasts.
                if int(time.time()) // 3600 * 3600 == now_hour:
                    assert MODEL not in {r["model"] for r in rows}, (category, rows)
        return True

    await wait_for(ranked)


def _own_trip(subject: str, data: bytes, generations: set[str]) -> bool:
    """The client request itself on its way: its envelope names its own generation."""
    if subject == subjects.REQUEST:
        envelope, _ = unpack(data, RequestEnvelope)
        return envelope.generation_id in generations
    if subject == subjects.ROUTED:
        routed, _ = unpack(data, RoutedRequest)
        return routed.envelope.generation_id in generations
    if subject.startswith(subjects.REPLY_PREFIX + "."):
        header = json.loads(data.split(b"\n", 1)[0])
        return header.get("generation_id") in generations
    return False
