"""The outbox (veil.outbox) and the retrying it shares with every publisher (veil.retry),
on real files and real processes; JetStream stands behind a publish function that
accepts or refuses on command (the services' own use of it runs against nats-server in
tests/integration/test_outbox_faults.py)."""

import asyncio
import logging
import os
import signal
import subprocess
import sys
import textwrap
import time
from pathlib import Path

import pytest

from veil.outbox import Outbox, entry_line, parse_line
from veil.retry import Backoff, Outage
from veil.sender import Entry, Sender

log = logging.getLogger("test.outbox")


class FakeJetStream:
    """Records what was acknowledged; refuses everything while `down`."""

    def __init__(self) -> None:
        self.down = False
        self.acked: list[tuple[str, str, bytes]] = []
        self.refusals = 0

    async def publish(self, subject: str, payload: bytes, msg_id: str) -> object:
        await asyncio.sleep(0)
        if self.down:
            self.refusals += 1
            raise ConnectionError("no stream leader")
        self.acked.append((subject, msg_id, payload))
        return object()

    def ids(self) -> list[str]:
        return [msg_id for _, msg_id, _ in self.acked]


def outbox(root: Path, js: FakeJetStream, **options) -> Outbox:
    box = Outbox(root, js.publish, Outage("JetStream", log), **options)
    box.open()
    return box


def segment_lines(box: Outbox) -> list[bytes]:
    paths = sorted(box.directory.glob("*.log"))
    return [line for path in paths for line in path.read_bytes().splitlines(True)]


async def test_an_entry_is_on_disk_before_it_is_published_and_gone_once_acknowledged(tmp_path):
    js = FakeJetStream()
    box = outbox(tmp_path, js)
    entry = box.append("veil.generation.v1", "gen-1", b'{"generation_id":"gen-1"}')
    [line] = segment_lines(box)
    assert parse_line(line).payload == b'{"generation_id":"gen-1"}'
    assert box.depth == 1
    assert box.oldest_seconds() >= 0
    await box.send(entry)
    assert js.ids() == ["gen-1"]
    assert box.depth == 0
    await box.sync()
    assert segment_lines(box) == []  # the current segment is emptied, not left to grow
    await box.close()
    assert not box.directory.exists()


async def test_refused_entries_wait_in_order_and_go_out_when_the_bus_answers(tmp_path, caplog):
    js = FakeJetStream()
    box = outbox(tmp_path, js, sync_interval=0.01)
    running = asyncio.create_task(box.run())
    js.down = True
    with caplog.at_level(logging.INFO, logger="test.outbox"):
        for n in range(20):
            await box.send(box.append("s", f"gen-{n}", b"{}"))
        await asyncio.sleep(1.0)
        assert js.acked == []
        assert box.depth == 20
        assert len(segment_lines(box)) == 20
        js.down = False
        deadline = time.monotonic() + 5
        while box.depth and time.monotonic() < deadline:
            await asyncio.sleep(0.05)
    running.cancel()
    assert js.ids() == [f"gen-{n}" for n in range(20)]  # every one, once, in order
    # Backoff: refused a handful of times over a second, not thousands.
    assert 2 <= js.refusals <= 40, js.refusals
    warnings = [r for r in caplog.records if r.levelno == logging.WARNING]
    assert len(warnings) == 1
    assert "unavailable" in warnings[0].getMessage()
    [back] = [r.getMessage() for r in caplog.records if "available again" in r.getMessage()]
    assert "after 1." in back or "after 0.9" in back, back


async def test_a_process_killed_after_appending_loses_nothing(tmp_path):
    """A real process appends entries and is SIGKILLed before it can publish any; the
    next process on the same root publishes every one of them, once."""
    root = tmp_path / "outbox"
    script = textwrap.dedent(f"""
        import logging, os, signal
        from pathlib import Path
        from veil.outbox import Outbox
        from veil.retry import Outage

        async def never(subject, payload, msg_id):
            raise ConnectionError

        box = Outbox(Path({str(root)!r}), never, Outage("JetStream", logging.getLogger()))
        box.open()
        for n in range(500):
            box.append("veil.generation.v1", f"gen-{{n}}", b'{{"n": %d}}' % n)
        os.kill(os.getpid(), signal.SIGKILL)
    """)
    killed = await asyncio.to_thread(
        subprocess.run, [sys.executable, "-c", script], capture_output=True, timeout=60
    )
    assert killed.returncode == -signal.SIGKILL, killed.stderr.decode()
    [dead] = list(root.iterdir())
    js = FakeJetStream()
    box = outbox(root, js)
    assert box.recovered == 500
    assert box.depth == 500
    assert not dead.exists()  # taken over: its entries are in this process's segment
    await box.sender.flush(grace=0)  # nothing is published before the retry loop runs
    running = asyncio.create_task(box.run())
    deadline = time.monotonic() + 10
    while box.depth and time.monotonic() < deadline:
        await asyncio.sleep(0.05)
    running.cancel()
    assert js.ids() == [f"gen-{n}" for n in range(500)]
    assert js.acked[7][2] == b'{"n": 7}'


async def test_a_live_replicas_outbox_is_left_alone_and_a_dead_ones_is_adopted(tmp_path):
    js = FakeJetStream()
    js.down = True
    alive = outbox(tmp_path, js)  # holds its lock, as a running replica does
    alive.append("s", "gen-alive", b"{}")
    dead = tmp_path / "otherhost-4242"  # a replica that died: its lock is free
    dead.mkdir()
    (dead / "000003.log").write_bytes(
        entry_line(Entry("s", "gen-dead", b"{}")) + b"s gen-torn 17"  # the last line torn
    )
    js.down = False
    newcomer = Outbox(tmp_path, js.publish, Outage("JetStream", log))
    newcomer.directory = tmp_path / "newcomer"  # a process of its own in this one
    newcomer.open()
    assert newcomer.recovered == 1
    assert [e.msg_id for e in newcomer.pending] == ["gen-dead"]
    assert alive.directory.exists()
    assert not dead.exists()
    assert newcomer.adopt() == 0  # the live one stays with its owner


async def test_segments_go_only_when_every_entry_in_them_is_acknowledged(tmp_path):
    js = FakeJetStream()
    js.down = True
    box = outbox(tmp_path, js, segment_entries=3)
    entries = [box.append("s", f"gen-{n}", b"{}") for n in range(8)]
    assert len(list(box.directory.glob("*.log"))) == 3  # 3 + 3 + 2
    js.down = False
    for entry in entries[:4]:  # the first segment and one of the second
        await box.sender.publish(entry.subject, entry.payload, entry.msg_id)
        box._acked(entry)
    await box.sync()
    left = sorted(p.name for p in box.directory.glob("*.log"))
    assert left == ["000002.log", "000003.log"]
    assert [parse_line(line).msg_id for line in segment_lines(box)] == [
        f"gen-{n}" for n in range(3, 8)
    ]


async def test_a_graceful_close_keeps_what_the_bus_never_took_for_the_next_start(tmp_path):
    js = FakeJetStream()
    js.down = True
    box = outbox(tmp_path, js)
    await box.send(box.append("s", "gen-kept", b"{}"))
    await box.close(grace=0.2)
    assert box.directory.exists()
    js.down = False
    again = outbox(tmp_path, js)
    assert [e.msg_id for e in again.pending] == ["gen-kept"]


async def test_a_sender_in_memory_keeps_at_most_its_limit_dropping_the_oldest():
    js = FakeJetStream()
    js.down = True
    sender = Sender(js.publish, Outage("JetStream", log), "observations", limit=3)
    for n in range(5):
        await sender.send(Entry("s", f"obs-{n}", b"{}"))
    assert [e.msg_id for e in sender.waiting] == ["obs-2", "obs-3", "obs-4"]
    assert sender.dropped == 2


def test_backoff_doubles_with_jitter_up_to_its_cap():
    backoff = Backoff(first=0.05, cap=1.0)
    delays = [backoff.next() for _ in range(12)]
    assert 0.025 <= delays[0] <= 0.05
    assert 0.05 <= delays[1] <= 0.1
    assert all(0.5 <= d <= 1.0 for d in delays[6:])
    backoff.reset()
    assert backoff.next() <= 0.05


def test_an_outage_of_several_members_is_one_warning_and_ends_with_the_last(caplog):
    outage = Outage("JetStream", log)
    with caplog.at_level(logging.INFO, logger="test.outbox"):
        for _ in range(100):
            outage.failed("generations", "status 503")
            outage.failed("verdicts", "status 503")
        outage.recovered("generations")
        assert outage.ongoing
        outage.recovered("verdicts")
        outage.recovered("verdicts")  # one that never failed since: nothing
    assert not outage.ongoing
    assert outage.outages == 1
    lines = [(r.levelname, r.getMessage()) for r in caplog.records]
    assert len(lines) == 2
    assert lines[0][0] == "WARNING"
    assert "unavailable to generations (status 503)" in lines[0][1]
    assert lines[1][0] == "INFO"
    assert "(200 retries)" in lines[1][1]


@pytest.mark.skipif(not hasattr(os, "fdatasync"), reason="fdatasync is Linux's")
async def test_the_group_commit_syncs_what_was_written_since_the_last(tmp_path, monkeypatch):
    synced: list[list[int]] = []
    import veil.outbox

    real = veil.outbox._datasync
    monkeypatch.setattr(veil.outbox, "_datasync", lambda fds: (synced.append(fds), real(fds)))
    js = FakeJetStream()
    js.down = True
    box = outbox(tmp_path, js)
    synced.clear()
    for n in range(50):
        box.append("s", f"gen-{n}", b"{}")
    await box.sync()
    await box.sync()  # nothing new: no second fsync
    assert len(synced) == 1
    assert len(synced[0]) == 1
