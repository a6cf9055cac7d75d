"""`veil status`: every service's replicas, their health and versions, consumer lag.

Asked over the bus, like an operator's other tools: every replica of every service
answers its health subject (no queue group), and JetStream reports each durable
consumer's backlog. Exit code 0 when every service has a healthy replica, 1 otherwise,
2 when NATS cannot be reached.
"""

import sys
import time

import nats
import orjson
from pydantic import BaseModel

from veil.bus import BUS_ERRORS, server_urls
from veil.config import CommonSettings
from veil.launcher.readiness import replicas_answering
from veil.schemas import subjects
from veil.schemas.messages import HealthReply

STREAMS = (subjects.STREAM_GENERATIONS, subjects.STREAM_CONTENT)


class ConsumerLag(BaseModel):
    stream: str
    durable: str
    pending: int  # in the stream, not yet delivered
    in_flight: int  # delivered, not yet acknowledged
    redelivered: int
    pulling: int  # pull requests waiting: about one per consumer replica


class Status(BaseModel):
    nats: str  # the server answering, and its cluster
    replicas: list[HealthReply]
    consumers: list[ConsumerLag]
    missing: list[str]  # services no replica of which answered

    @property
    def healthy(self) -> bool:
        return not self.missing and all(r.ok for r in self.replicas)


async def gather(nats_url: str, wait: float = 0.5) -> Status:
    client = await nats.connect(
        server_urls(nats_url), connect_timeout=2, max_reconnect_attempts=0, allow_reconnect=False
    )
    try:
        replicas = await replicas_answering(client, wait)
        js = client.jetstream()
        consumers = []
        for stream in STREAMS:
            try:
                infos = await js.consumers_info(stream)
            except BUS_ERRORS:  # the stream is not made yet, or JetStream is electing
                continue
            consumers += [
                ConsumerLag(
                    stream=stream,
                    durable=info.name,
                    pending=info.num_pending or 0,
                    in_flight=info.num_ack_pending or 0,
                    redelivered=info.num_redelivered or 0,
                    pulling=info.num_waiting or 0,
                )
                for info in infos
            ]
        server = client._server_info
        cluster = server.get("cluster")
        where = f"{client.connected_url.netloc if client.connected_url else '?'}"
        name = server.get("server_name") or server.get("server_id", "")
        nats_line = f"{where} ({name}{', cluster ' + cluster if cluster else ''})"
    finally:
        await client.close()
    answering = {r.service for r in replicas}
    replicas.sort(key=lambda r: (subjects.SERVICES.index(r.service), r.replica))
    consumers.sort(key=lambda c: (c.stream, c.durable))
    missing = [s for s in subjects.SERVICES if s not in answering]
    return Status(nats=nats_line, replicas=replicas, consumers=consumers, missing=missing)


def _uptime(started_at: float) -> str:
    seconds = max(0, int(time.time() - started_at))
    hours, rest = divmod(seconds, 3600)
    minutes, seconds = divmod(rest, 60)
    return f"{hours}h{minutes:02d}m" if hours else f"{minutes}m{seconds:02d}s"


def _table(header: list[str], rows: list[list[str]]) -> list[str]:
    widths = [max([len(h), *(len(r[i]) for r in rows)]) for i, h in enumerate(header)]
    lines = ["  ".join(h.ljust(w) for h, w in zip(header, widths, strict=True)).rstrip()]
    lines += ["  ".join(c.ljust(w) for c, w in zip(r, widths, strict=True)).rstrip() for r in rows]
    return lines


def render(status: Status) -> str:
    rows = [
        [
            r.service,
            r.replica,
            r.version,
            _uptime(r.started_at),
            "ok" if r.ok else "FAILING",
            " ".join(f"{k}={v}" for k, v in sorted(r.detail.items())),
        ]
        for r in status.replicas
    ]
    rows += [[name, "-", "-", "-", "MISSING", "no replica answers"] for name in status.missing]
    lines = [f"NATS  {status.nats}", ""]
    lines += _table(["SERVICE", "REPLICA", "VERSION", "UP", "HEALTH", "DETAIL"], rows)
    lines.append("")
    lag_rows = [
        [c.stream, c.durable, str(c.pending), str(c.in_flight), str(c.redelivered), str(c.pulling)]
        for c in status.consumers
    ]
    header = ["STREAM", "CONSUMER", "PENDING", "IN FLIGHT", "REDELIVERED", "PULLING"]
    lines += _table(header, lag_rows)
    return "\n".join(lines)


async def run_status(fmt: str = "table", wait: float = 0.5) -> int:
    settings = CommonSettings()
    try:
        status = await gather(settings.nats_url, wait)
    except BUS_ERRORS as exc:
        print(f"veil status: cannot reach NATS at {settings.nats_url}: {exc}", file=sys.stderr)
        return 2
    if fmt == "json":
        print(orjson.dumps(status.model_dump(), option=orjson.OPT_INDENT_2).decode())
    else:
        print(render(status))
    return 0 if status.healthy else 1
