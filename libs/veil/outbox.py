"""What must reach JetStream, kept until it has: a publisher that retries, and a durable
outbox on local disk in front of it.

`Sender` publishes each entry to JetStream until the server acknowledges it: at once when
the bus is well, and otherwise in order, from a queue worked with backoff (one warning
per outage, veil.retry). Its queue lives in memory: what it holds dies with the process.

`Outbox` is a Sender whose every entry is first appended to a file of this process's
own, so that nothing a client was told about is lost with the process. Why: while a
stream elects a leader (seconds, after a NATS node is lost) a dispatcher holds its
metadata events, and one lost then took them with it. The file is written with one
write(2) per entry, and flushed to disk by a group commit every `sync_interval`
seconds (no fsync per entry):

- a process killed (SIGKILL, a crash, the OOM killer) loses nothing: what write(2)
  returned from is the kernel's;
- a power cut or a kernel crash loses at most the last `sync_interval` of entries.

On disk, `<root>/<host>-<pid>/` holds the segments of one process (`000001.log`, ...),
one entry per line: `subject msg_id unix_ms payload` (the payload is the message's JSON,
which has no raw newline). A segment is deleted once every entry in it is acknowledged
(the one being written is truncated instead). The directory is locked (flock) while its
process lives; a process that starts takes over every unlocked directory under `<root>`
(its own previous life's, or that of a replica which died on the same data dir), and
republishes what they hold with the same Nats-Msg-Id: JetStream drops a duplicate within
its window, and the store keeps one row per id beyond it. Only local filesystems lock
reliably: replicas on different hosts each use a data dir of their own.

Only what the bus event holds is written: metadata, and an opted-in account's content
record already sealed with its key (docs/privacy.md, invariant 1).
"""

import asyncio
import contextlib
import fcntl
import logging
import os
import socket
import time
from collections import deque
from collections.abc import Awaitable, Callable, Iterable
from dataclasses import dataclass, field
from pathlib import Path

from nats.aio.client import Client

from veil.retry import Backoff, Outage

log = logging.getLogger(__name__)

# subject, payload, Nats-Msg-Id: returns once JetStream acknowledged, raises otherwise
Publish = Callable[[str, bytes, str], Awaitable[object]]

# Entries retried together once the bus answers again (acknowledgements are awaited in
# parallel: a backlog of seconds drains in a few round trips).
WINDOW = 128


def jetstream_publisher(connection: Client, timeout: float = 2.0) -> Publish:
    """Publish to JetStream over `connection`, deduplicated by the message id."""
    js = connection.jetstream()

    async def publish(subject: str, payload: bytes, msg_id: str) -> object:
        headers = {"content-type": "application/json", "Nats-Msg-Id": msg_id}
        return await js.publish(subject, payload, headers=headers, timeout=timeout)

    return publish


@dataclass(eq=False)  # compared by identity: a set member, a dict key
class Entry:
    subject: str
    msg_id: str
    payload: bytes
    at: float = field(default_factory=time.time)  # unix time it was taken
    segment: "Segment | None" = None  # where it is on disk (an Outbox's entries only)

    def line(self) -> bytes:
        return b"%s %s %d %s\n" % (
            self.subject.encode(), self.msg_id.encode(), int(self.at * 1000), self.payload
        )  # fmt: skip


def parse_line(line: bytes) -> Entry | None:
    """An entry written by `Entry.line`, or None for a line that was torn by a power cut
    (no newline: it is the file's last) or is not an entry."""
    if not line.endswith(b"\n"):
        return None
    parts = line[:-1].split(b" ", 3)
    if len(parts) != 4 or not parts[2].isdigit() or not parts[3]:
        return None
    subject, msg_id, at, payload = parts
    return Entry(subject.decode(), msg_id.decode(), payload, int(at) / 1000)


class Sender:
    """Publishes entries until JetStream acknowledges each (see the module)."""

    def __init__(
        self,
        publish: Publish,
        outage: Outage,
        name: str = "publisher",
        limit: int = 0,
        on_acked: Callable[[Entry], None] | None = None,
    ):
        self.publish = publish
        self.outage = outage
        self.name = name
        self.limit = limit  # most entries held in memory (0: no limit); the oldest go first
        self.on_acked = on_acked
        self.waiting: deque[Entry] = deque()
        self.wake = asyncio.Event()
        self.dropped = 0

    async def send(self, entry: Entry) -> None:
        """Publish now; if the bus refuses, the entry waits its turn in the retry queue.
        Returns without waiting for a failing bus."""
        if self.waiting:  # an outage is being retried: keep the order, add no load
            self._queue(entry)
            return
        try:
            await self.publish(entry.subject, entry.payload, entry.msg_id)
        except asyncio.CancelledError:
            self._queue(entry)
            raise
        except Exception as exc:  # noqa: BLE001 - whatever failed, the entry waits for a retry
            self.outage.failed(self.name, exc)
            self._queue(entry)
            return
        self._acked(entry)

    def queue(self, entries: Iterable[Entry]) -> None:
        for entry in entries:
            self._queue(entry)

    def _queue(self, entry: Entry) -> None:
        if self.limit and len(self.waiting) >= self.limit:
            self.waiting.popleft()
            self.dropped += 1
            if self.dropped == 1 or self.dropped % 1000 == 0:
                log.error(
                    "%s: %d entries dropped (over %d held)", self.name, self.dropped, self.limit
                )
        self.waiting.append(entry)
        self.wake.set()

    def _acked(self, entry: Entry) -> None:
        if self.on_acked is not None:
            self.on_acked(entry)

    async def run(self) -> None:
        """Work the retry queue, until cancelled: a window of entries at a time, waiting
        with backoff while the bus refuses; while it does, only the first entry is
        tried (a probe), so an outage costs the bus one publish per retry."""
        backoff = Backoff()
        refusing = False
        while True:
            if not self.waiting:
                self.wake.clear()
                await self.wake.wait()
                continue
            size = 1 if refusing else min(WINDOW, len(self.waiting))
            window = [self.waiting.popleft() for _ in range(size)]
            try:
                results = await asyncio.gather(
                    *(self.publish(e.subject, e.payload, e.msg_id) for e in window),
                    return_exceptions=True,
                )
            except asyncio.CancelledError:
                self.waiting.extendleft(reversed(window))
                raise
            refused = []
            for entry, result in zip(window, results, strict=True):
                if isinstance(result, BaseException):
                    refused.append(entry)
                else:
                    self._acked(entry)
            refusing = bool(refused)
            if refused:
                self.waiting.extendleft(reversed(refused))
                reason = next(r for r in results if isinstance(r, BaseException))
                self.outage.failed(self.name, reason)
                await asyncio.sleep(backoff.next())
            else:
                backoff.reset()
                self.outage.recovered(self.name)

    async def flush(self, grace: float) -> bool:
        """Wait (up to `grace` s) until nothing waits for a retry; True if so."""
        deadline = time.monotonic() + grace
        while self.waiting and time.monotonic() < deadline:
            await asyncio.sleep(0.05)
        return not self.waiting


class Segment:
    """One file of an outbox, open for appending."""

    def __init__(self, path: Path):
        self.path = path
        self.fd = os.open(path, os.O_WRONLY | os.O_APPEND | os.O_CREAT, 0o600)
        self.written = 0  # entries in the file
        self.outstanding = 0  # of those, not acknowledged yet
        self.dirty = False  # written since the last sync

    def close(self) -> None:
        with contextlib.suppress(OSError):
            os.close(self.fd)


class Outbox:
    """A Sender whose entries are on local disk from `append` until acknowledged."""

    def __init__(
        self,
        root: Path,
        publish: Publish,
        outage: Outage,
        name: str = "outbox",
        sync_interval: float = 0.1,
        segment_entries: int = 1024,
        adopt_every: float = 10.0,
    ):
        self.root = root
        self.directory = root / f"{socket.gethostname()}-{os.getpid()}"
        self.sync_interval = sync_interval
        self.segment_entries = segment_entries
        self.adopt_every = adopt_every
        self.sender = Sender(publish, outage, name, on_acked=self._acked)
        self.pending: dict[Entry, None] = {}  # not acknowledged yet, oldest first
        self.segments: list[Segment] = []  # the last one is being written
        self.recovered = 0  # entries taken over from files at start (and later)
        self._lock: int | None = None
        self._number = 0
        self._unwritable = False

    # --- what callers use ---------------------------------------------------------------

    def append(self, subject: str, msg_id: str, payload: bytes) -> Entry:
        """Write an entry to disk (no fsync: see the module); `send` publishes it."""
        entry = Entry(subject, msg_id, payload)
        self._write(entry)
        self.pending[entry] = None
        return entry

    async def send(self, entry: Entry) -> None:
        await self.sender.send(entry)

    @property
    def depth(self) -> int:
        """Entries not acknowledged yet."""
        return len(self.pending)

    def oldest_seconds(self, now: float | None = None) -> float:
        """Age of the oldest entry not acknowledged yet (0 when there is none)."""
        oldest = next(iter(self.pending), None)
        return max(0.0, (now or time.time()) - oldest.at) if oldest is not None else 0.0

    def health(self) -> dict[str, float]:
        """What `veil status` shows of it, in a replica's health detail."""
        return {"outbox_events": self.depth, "outbox_oldest_s": round(self.oldest_seconds(), 1)}

    # --- life -----------------------------------------------------------------------------

    def open(self) -> None:
        """Lock this process's directory, take over every unlocked one under the root
        (their entries are written here, then queued to be published), and start a
        segment."""
        self.root.mkdir(parents=True, exist_ok=True, mode=0o700)
        self.directory.mkdir(exist_ok=True, mode=0o700)
        self._lock = _try_lock(self.directory)
        if self._lock is None:
            raise RuntimeError(f"outbox {self.directory} is locked by another process")
        # This process's previous life (same host and pid, as in a restarted container).
        old_files = sorted(self.directory.glob("*.log"))
        self._number = max((int(p.stem) for p in old_files if p.stem.isdigit()), default=0)
        self._start_segment()
        self._take(_entries_in(old_files))
        self._sync_now()  # in the new segment before the old files go
        for path in old_files:
            path.unlink()
        self.adopt()

    def adopt(self) -> int:
        """Take over the directories of processes that are gone; returns the entries."""
        adopted = 0
        for directory in sorted(self.root.iterdir()):
            if directory == self.directory or not directory.is_dir():
                continue
            lock = _try_lock(directory)
            if lock is None:
                continue  # its process lives
            try:
                entries = _entries_in(sorted(directory.glob("*.log")))
                self._take(entries)
                self._sync_now()  # here before it goes from there
                for path in directory.iterdir():
                    path.unlink()
                directory.rmdir()
            finally:
                os.close(lock)
            if entries:
                log.warning("took over %d unpublished entries from %s", len(entries), directory)
            adopted += len(entries)
        return adopted

    async def run(self) -> None:
        """The retry queue, the group commit and the clean-up, until cancelled."""
        retrying = asyncio.create_task(self.sender.run())
        try:
            adopted_at = time.monotonic()
            while True:
                await asyncio.sleep(self.sync_interval)
                await self.sync()
                if time.monotonic() - adopted_at > self.adopt_every:
                    adopted_at = time.monotonic()
                    self.adopt()
        finally:
            retrying.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await retrying

    async def close(self, grace: float = 5.0) -> None:
        """On a graceful stop, once `run` is cancelled: publish what waits (for up to
        `grace` s), sync, and remove the directory if nothing is left in it."""
        deadline = time.monotonic() + grace
        retrying = asyncio.create_task(self.sender.run())
        try:
            while self.pending and time.monotonic() < deadline:
                await asyncio.sleep(0.05)
        finally:
            retrying.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await retrying
        await self.sync()
        if self.pending:
            log.warning(
                "%d entries stay in %s for the next start", len(self.pending), self.directory
            )
        for segment in self.segments:
            segment.close()
        if not self.pending:
            for segment in self.segments:
                segment.path.unlink(missing_ok=True)
        self.segments = []
        if self._lock is not None:
            if not self.pending:
                (self.directory / "lock").unlink(missing_ok=True)
                with contextlib.suppress(OSError):
                    self.directory.rmdir()
            os.close(self._lock)
            self._lock = None

    # --- the files --------------------------------------------------------------------------

    def _start_segment(self) -> Segment:
        self._number += 1
        segment = Segment(self.directory / f"{self._number:06d}.log")
        self.segments.append(segment)
        return segment

    def _write(self, entry: Entry) -> None:
        if self._unwritable:
            return  # kept in memory only, until the disk takes writes again (see below)
        segment = self.segments[-1]
        if segment.written >= self.segment_entries:
            segment = self._start_segment()
        try:
            os.write(segment.fd, entry.line())
        except OSError as exc:
            # A full or failing disk must not stop generations: the entry is published
            # from memory (as before there was an outbox), and this is said loudly.
            self._unwritable = True
            log.error(
                "outbox %s cannot be written (%s): entries kept in memory", self.directory, exc
            )
            return
        entry.segment = segment
        segment.written += 1
        segment.outstanding += 1
        segment.dirty = True

    def _take(self, entries: list[Entry]) -> None:
        """Entries read from disk: written to this process's segment, then queued."""
        for entry in entries:
            self._write(entry)
            self.pending[entry] = None
        self.recovered += len(entries)
        self.sender.queue(entries)

    def _acked(self, entry: Entry) -> None:
        self.pending.pop(entry, None)
        if entry.segment is not None:
            entry.segment.outstanding -= 1

    async def sync(self) -> None:
        """The group commit: flush what was written since the last one to disk, delete
        the segments whose entries are all acknowledged, and empty the current one when
        all of its are."""
        dirty = [segment for segment in self.segments if segment.dirty]
        for segment in dirty:
            segment.dirty = False
        if dirty:
            await asyncio.to_thread(_datasync, [segment.fd for segment in dirty])
        self._drop_acknowledged()
        if self._unwritable:
            self._unwritable = False  # try the disk again with the next entry

    def _sync_now(self) -> None:
        dirty = [segment for segment in self.segments if segment.dirty]
        for segment in dirty:
            segment.dirty = False
        _datasync([segment.fd for segment in dirty])

    def _drop_acknowledged(self) -> None:
        current = self.segments[-1]
        for segment in self.segments[:-1]:
            if segment.outstanding == 0:
                segment.close()
                segment.path.unlink(missing_ok=True)
        self.segments = [s for s in self.segments[:-1] if s.outstanding > 0] + [current]
        if current.outstanding == 0 and current.written:
            os.ftruncate(current.fd, 0)
            current.written = 0


def _datasync(fds: list[int]) -> None:
    for fd in fds:
        with contextlib.suppress(OSError):
            os.fdatasync(fd)


def _try_lock(directory: Path) -> int | None:
    """An exclusive lock on the directory (its `lock` file), or None if a live process
    holds it. The kernel releases it when its process ends, however it ends."""
    fd = os.open(directory / "lock", os.O_RDWR | os.O_CREAT, 0o600)
    try:
        fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
    except BlockingIOError:
        os.close(fd)
        return None
    return fd


def _entries_in(paths: list[Path]) -> list[Entry]:
    """Every whole entry in these segments, in the order they were written; one id once
    (an entry may have been copied twice by a take-over cut short)."""
    entries: list[Entry] = []
    seen: set[tuple[str, str]] = set()
    torn = 0
    for path in paths:
        with path.open("rb") as file:
            for line in file:
                entry = parse_line(line)
                if entry is None:
                    torn += 1
                elif (entry.subject, entry.msg_id) not in seen:
                    seen.add((entry.subject, entry.msg_id))
                    entries.append(entry)
    if torn:
        log.warning("outbox: %d torn lines skipped (a power cut mid-write)", torn)
    return entries
