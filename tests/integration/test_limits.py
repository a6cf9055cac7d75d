"""Abuse limits against running services: per-key request rates (shared by gateways),
a cap on keys per account, deadlines on reading requests, and account and key ids
validated wherever a request names one."""

import asyncio
import socket
import time
import uuid

import httpx
import nats
import orjson
import pytest
from nats.js.errors import KeyNotFoundError
from openrouter import OpenRouter, errors

from tests.integration.harness import ADMIN_KEY, RunningStack
from veil.schemas import subjects

MODEL = "meta-llama/llama-3.1-8b-instruct"
BROADCAST = 0.1  # seconds between two gateways' exchanges of counts, in `limited`


def chat_body(content: str = "hello") -> dict:
    return {"model": MODEL, "messages": [{"role": "user", "content": content}]}


def admin(api: str) -> httpx.AsyncClient:
    return httpx.AsyncClient(base_url=api, headers={"authorization": f"Bearer {ADMIN_KEY}"})


async def new_key(api: str, account_id: str, **fields) -> str:
    async with admin(api) as client:
        created = await client.post("/keys", json={"account_id": account_id, **fields})
    assert created.status_code == 201, created.text
    return created.json()["key"]


async def chat(api: str, key: str, content: str = "hello") -> httpx.Response:
    async with httpx.AsyncClient(base_url=api, timeout=30) as client:
        return await client.post(
            "/chat/completions",
            json=chat_body(content),
            headers={"authorization": f"Bearer {key}"},
        )


@pytest.fixture(scope="module")
def limited(tmp_path_factory):
    """A stack of two gateways on one bus, with small limits: a default of 3 requests
    per minute, 4 keys per account, 1 s to send headers and 1 s to send a body."""
    running = RunningStack(
        tmp_path_factory.mktemp("limited"),
        {
            "VEIL_RATE_LIMIT_DEFAULT": "3",
            "VEIL_RATE_LIMIT_INTERVAL": "1m",
            "VEIL_RATE_LIMIT_BROADCAST": str(BROADCAST),
            "VEIL_MAX_KEYS_PER_ACCOUNT": "4",
            "VEIL_HEADER_TIMEOUT": "1",
            "VEIL_BODY_TIMEOUT": "1",
        },
    ).start()
    running.second_api = running.start_extra_gateway()  # type: ignore[attr-defined]
    yield running
    running.stop()


# request rate limits -------------------------------------------------------------


async def test_a_key_over_its_rate_limit_gets_429_with_retry_after_while_another_works(
    stack, account, sim
):
    limited_key = await new_key(
        stack.api, account.id, rate_limit={"requests": 5, "interval": "10s"}
    )
    for _ in range(5):
        assert (await chat(stack.api, limited_key)).status_code == 200
    marker = f"sixth-{uuid.uuid4().hex}"
    refused = await chat(stack.api, limited_key, marker)
    assert refused.status_code == 429
    error = refused.json()["error"]
    assert error["code"] == 429
    assert "5 requests per 10s" in error["message"]
    assert error["metadata"]["rate_limit"] == {"requests": 5, "interval": "10s"}
    assert 1 <= int(refused.headers["retry-after"]) <= 20
    assert refused.headers["retry-after"] == str(error["metadata"]["retry_after"])
    assert refused.headers["x-generation-id"].startswith("gen-")
    # Refused before anything was published: no provider saw the sixth request.
    assert not any(marker in str(r.body) for r in await sim.requests())
    # The account's other key has its own count (and the default, 600 per 10 s).
    assert (await chat(stack.api, account.key)).status_code == 200


async def test_the_official_sdk_reads_the_429_as_too_many_requests(stack, account):
    key = await new_key(stack.api, account.id, rate_limit={"requests": 1, "interval": "1m"})
    with OpenRouter(api_key=key, server_url=stack.api, retry_config=None) as sdk:
        await sdk.chat.send_async(**chat_body())
        with pytest.raises(errors.TooManyRequestsResponseError) as caught:
            await sdk.chat.send_async(**chat_body())
    assert caught.value.data.error.code == 429
    assert caught.value.data.error.metadata["rate_limit"]["requests"] == 1


async def test_a_keys_rate_limit_is_set_shown_and_cleared_in_openrouters_shape(stack, account):
    async with account.http(management=True) as client:
        created = await client.post(
            "/keys", json={"name": "rated", "rate_limit": {"requests": 50, "interval": "1m"}}
        )
        assert created.status_code == 201
        key_hash = created.json()["data"]["hash"]
        assert created.json()["data"]["rate_limit"]["requests"] == 50
        raw = created.json()["key"]
        async with httpx.AsyncClient(
            base_url=stack.api, headers={"authorization": f"Bearer {raw}"}
        ) as own:
            current = (await own.get("/key")).json()["data"]["rate_limit"]
        assert (current["requests"], current["interval"]) == (50, "1m")
        patched = await client.patch(
            f"/keys/{key_hash}", json={"rate_limit": {"requests": -1, "interval": "10s"}}
        )
        assert patched.json()["data"]["rate_limit"]["requests"] == -1
        cleared = await client.patch(f"/keys/{key_hash}", json={"rate_limit": None})
        default = cleared.json()["data"]["rate_limit"]
        assert (default["requests"], default["interval"]) == (600, "10s")
        listed = (await client.get("/keys")).json()["data"]
        assert {k["hash"]: k["rate_limit"]["requests"] for k in listed}[key_hash] == 600
        for nonsense in ({"requests": 0, "interval": "10s"}, {"requests": 5, "interval": "1d"}):
            refused = await client.patch(f"/keys/{key_hash}", json={"rate_limit": nonsense})
            assert refused.status_code == 400
            assert "rate_limit" in refused.json()["error"]["message"]


async def test_two_gateways_on_one_bus_limit_a_key_jointly(limited):
    account = limited.new_account("two-gateways")
    gateways = [limited.api, limited.second_api]
    # The default here is 3 per minute: alternated, each gateway alone admits 2 of 4.
    statuses = []
    for turn in range(4):
        statuses.append((await chat(gateways[turn % 2], account.key)).status_code)
        await asyncio.sleep(3 * BROADCAST)
    assert statuses == [200, 200, 200, 429]
    for api in gateways:
        refused = await chat(api, account.key)
        assert refused.status_code == 429
        assert int(refused.headers["retry-after"]) >= 1
    # The default applies to keys without a limit of their own; another key is free.
    assert (await chat(limited.second_api, account.management_key)).status_code == 200


# keys per account ----------------------------------------------------------------


async def test_an_account_holds_at_most_the_configured_number_of_keys(limited):
    account = limited.new_account("many-keys")  # an inference and a management key
    async with admin(limited.api) as client:
        extra = [
            await client.post("/keys", json={"account_id": account.id, "name": f"k{i}"})
            for i in range(2)
        ]
        assert [r.status_code for r in extra] == [201, 201]
        # A disabled key still counts: it is a key the account holds.
        disabled = extra[0].json()["data"]["hash"]
        await client.patch(f"/keys/{disabled}", json={"disabled": True})
        refused = await client.post("/keys", json={"account_id": account.id})
        assert refused.status_code == 403
        error = refused.json()["error"]
        assert error["metadata"] == {"keys": 4, "max_keys_per_account": 4}
        assert "4" in error["message"]
        # A deleted key does not.
        assert (await client.delete(f"/keys/{disabled}")).status_code == 200
        again = await client.post("/keys", json={"account_id": account.id})
        assert again.status_code == 201


# reading deadlines ---------------------------------------------------------------


def raw_exchange(port: int, payload: bytes, wait: float = 6) -> tuple[bytes, float, bool]:
    """Send `payload` on a fresh connection and read until the server closes it or
    `wait` passes: (what came back, seconds until the end, whether the server closed)."""
    with socket.create_connection(("127.0.0.1", port), timeout=wait) as sock:
        sock.sendall(payload)
        began = time.monotonic()
        received = b""
        try:
            while chunk := sock.recv(65536):
                received += chunk
        except TimeoutError:
            return received, time.monotonic() - began, False
        return received, time.monotonic() - began, True


def parse(response: bytes) -> tuple[int, dict[str, str], dict]:
    head, _, body = response.partition(b"\r\n\r\n")
    lines = head.decode().split("\r\n")
    headers = dict(line.lower().split(": ", 1) for line in lines[1:])
    return int(lines[0].split()[1]), headers, orjson.loads(body)


def post_head(path: str, key: str, length: int) -> bytes:
    return (
        f"POST /api/v1{path} HTTP/1.1\r\nHost: veil\r\nAuthorization: Bearer {key}\r\n"
        f"Content-Type: application/json\r\nContent-Length: {length}\r\n\r\n"
    ).encode()


async def test_a_chat_body_that_stops_short_is_a_408_and_the_connection_closes(limited):
    account = limited.new_account("slow-body")
    payload = post_head("/chat/completions", account.key, 100) + b'{"mo'
    received, took, closed = await asyncio.to_thread(raw_exchange, limited.http_port, payload)
    status, headers, body = parse(received)
    assert status == 408
    assert body["error"]["code"] == 408
    assert "within 1 s" in body["error"]["message"]
    assert headers["x-generation-id"].startswith("gen-")  # the chat route's own answer
    assert headers["connection"] == "close"
    assert closed
    assert took < 3


async def test_a_management_body_that_stops_short_is_a_408_too(limited):
    payload = post_head("/accounts", ADMIN_KEY, 100) + b'{"na'
    received, took, closed = await asyncio.to_thread(raw_exchange, limited.http_port, payload)
    status, headers, body = parse(received)
    assert (status, body["error"]["code"]) == (408, 408)
    assert headers["connection"] == "close"
    assert closed
    assert took < 3


async def test_headers_that_never_end_are_a_408_and_endless_ones_a_431(limited):
    partial = b"GET /api/v1/models HTTP/1.1\r\nHost: veil\r\n"
    received, took, closed = await asyncio.to_thread(raw_exchange, limited.http_port, partial)
    status, _, body = parse(received)
    assert (status, body["error"]["code"]) == (408, 408)
    assert closed
    assert took < 3
    endless = partial + b"X-Padding: " + b"a" * (200 * 1024)
    received, _, closed = await asyncio.to_thread(raw_exchange, limited.http_port, endless)
    status, _, body = parse(received)
    assert (status, body["error"]["code"]) == (431, 431)
    assert closed


async def test_a_connection_that_sends_nothing_is_closed(limited):
    received, took, closed = await asyncio.to_thread(raw_exchange, limited.http_port, b"")
    assert (received, closed) == (b"", True)
    assert took < 3


async def test_an_ordinary_keep_alive_connection_is_not_cut(limited):
    account = limited.new_account("keep-alive")
    async with account.http() as client:
        for _ in range(3):
            assert (await client.get("/key")).status_code == 200
            await asyncio.sleep(1.5)  # longer than the header and body timeouts


# account and key ids -------------------------------------------------------------

MALFORMED = ["../x", "*", "a b", ">", "", "acct-" + "a" * 200, "acct-a.b", "acct-*"]
# (method, path, how the id is given)
ACCOUNT_ROUTES = [
    ("GET", "/privacy", "query"),
    ("PATCH", "/privacy", "query"),
    ("GET", "/keys", "query"),
    ("GET", "/keys", "workspace_id"),
    ("POST", "/keys", "query"),
    ("POST", "/keys", "body"),
    ("POST", "/keys", "workspace_body"),
    ("GET", "/credits", "query"),
]


async def call(stack, key: str, method: str, path: str, given: str, account_id: str):
    params: dict[str, str] = {}
    body: dict | None = {} if method == "POST" else None
    if given == "query":
        params = {"account_id": account_id}
    elif given == "workspace_id":
        params = {"workspace_id": account_id}
    elif given == "body":
        body = {"account_id": account_id}
    elif given == "workspace_body":
        body = {"workspace_id": account_id}
    if method == "PATCH":
        body = {"enforce_zdr": True}
    async with httpx.AsyncClient(
        base_url=stack.api, headers={"authorization": f"Bearer {key}"}, timeout=30
    ) as client:
        return await client.request(method, path, params=params, json=body)


@pytest.mark.parametrize("bad_id", MALFORMED)
@pytest.mark.parametrize(("method", "path", "given"), ACCOUNT_ROUTES)
async def test_a_malformed_account_id_is_a_400_naming_it(stack, method, path, given, bad_id):
    response = await call(stack, ADMIN_KEY, method, path, given, bad_id)
    assert response.status_code == 400, response.text
    error = response.json()["error"]
    assert error["code"] == 400
    if bad_id:
        assert bad_id[:80] in error["message"]
        assert "account" in error["message"]


@pytest.mark.parametrize(("method", "path", "given"), ACCOUNT_ROUTES)
async def test_a_well_formed_unknown_account_is_a_404(stack, method, path, given):
    response = await call(stack, ADMIN_KEY, method, path, given, "acct-nope")
    assert response.status_code == 404, response.text
    assert "acct-nope" in response.json()["error"]["message"]


async def test_settings_are_never_stored_for_an_account_that_does_not_exist(stack):
    response = await call(stack, ADMIN_KEY, "PATCH", "/privacy", "query", "acct-nope")
    assert response.status_code == 404
    bus = await nats.connect(stack.nats_url)
    try:
        bucket = await bus.jetstream().key_value(subjects.KV_PRIVACY)
        with pytest.raises(KeyNotFoundError):
            await bucket.get("acct-nope")
    finally:
        await bus.close()


async def test_an_accounts_own_key_naming_a_malformed_id_gets_400_not_403(stack, account):
    response = await call(stack, account.management_key, "GET", "/keys", "query", "a b")
    assert response.status_code == 400
    mine = await call(stack, account.management_key, "GET", "/keys", "query", account.id)
    assert mine.status_code == 200


@pytest.mark.parametrize("method", ["GET", "PATCH", "DELETE"])
@pytest.mark.parametrize("bad_hash", ["*", "a%20b", "%3E", "key-" + "a" * 100, "x"])
async def test_a_malformed_key_id_in_a_path_is_a_400(stack, method, bad_hash):
    async with admin(stack.api) as client:
        response = await client.request(
            method, f"/keys/{bad_hash}", json={} if method == "PATCH" else None
        )
    assert response.status_code == 400, response.text
    assert "key id" in response.json()["error"]["message"]


@pytest.mark.parametrize("method", ["GET", "PATCH", "DELETE"])
async def test_an_unknown_well_formed_key_id_is_a_404(stack, method):
    async with admin(stack.api) as client:
        response = await client.request(
            method, "/keys/key-nope", json={} if method == "PATCH" else None
        )
    assert response.status_code == 404
    assert "key-nope" in response.json()["error"]["message"]
