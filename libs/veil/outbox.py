"""What must reach JetStream, kept on local disk until it has: the durable outbox.

`Outbox` publishes through a `Sender` (veil.sender), but every entry is first appended
to a file of this process's own, so that nothing a client was told about is lost with
the process. Why: while a stream elects a leader (seconds, after a NATS node is lost)
a dispatcher holds its metadata events, and one lost then took them with it. The file
is written with one write(2) per entry, and flushed to disk by a group commit every `sync_interval`
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
from pathlib import Path

from veil.retry import Outage
from veil.sender import Entry, Publish, Sender

log = logging.getLogger(__name__)


def entry_line(entry: Entry) -> bytes:
    """An entry as one line of a segment: `subject msg_id unix_ms payload`."""
    return b"%s %s %d %s\n" % (
        entry.subject.encode(), entry.msg_id.encode(), int(entry.at * 1000), entry.payload
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
            os.write(segment.fd, entry_line(entry))
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
