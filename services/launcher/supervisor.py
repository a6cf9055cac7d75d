"""`veil up`: nats-server, the simulator and the five services, as separate processes.

Children get PR_SET_PDEATHSIG so none survives the supervisor, even a SIGKILLed one.
A child that exits on its own is reported and restarted (with a growing delay).
Each child gets only the environment it needs: provider keys reach the dispatcher
alone, the admin key the gateway alone, and nats-server and the simulator no veil
setting at all.
"""

import ctypes
import signal
import socket
import subprocess
import sys
import time
from collections.abc import Callable, Iterable, Mapping
from dataclasses import dataclass, field
from pathlib import Path

from veil.bus import BUS_OVERHEAD
from veil.launcher.readiness import accepting

# How long a stopping service may finish what it is doing before it is killed (idle,
# each exits in well under a second; a request still running after this is cut), then
# how long NATS may take once they are gone: Ctrl-C stops everything within 4 s.
SERVICES_STOP_GRACE = 3.0
NATS_STOP_GRACE = 1.0
NATS_START_TIMEOUT = 30.0

# What every child inherits from `veil up`'s environment: what a process needs to run
# and Python to find its packages. Anything else (a cloud token, a provider key, a
# password) is not passed on unless a service below needs it.
INHERITED = frozenset(
    {"PATH", "HOME", "USER", "LOGNAME", "SHELL", "LANG", "LANGUAGE", "TZ", "TMPDIR",
     "TERM", "VIRTUAL_ENV", "LD_LIBRARY_PATH", "SSL_CERT_FILE", "SSL_CERT_DIR"}
)  # fmt: skip
INHERITED_PREFIXES = ("LC_", "PYTHON")
# Only the dispatcher calls out of the machine; a proxy URL may carry credentials.
PROXIES = frozenset(
    name
    for base in ("HTTP_PROXY", "HTTPS_PROXY", "ALL_PROXY", "NO_PROXY")
    for name in (base, base.lower())
)
# veil settings that are credentials, each for the services that read it. (A
# ClickHouse DSN may hold a password.)
SECRET_SETTINGS = {
    "VEIL_ADMIN_KEY": {"gateway"},
    "VEIL_CLICKHOUSE_DSN": {"metrics"},
    "VEIL_MASTER_KEY": {"dispatcher", "metrics"},
}
# Children that are not veil services read no veil setting.
NOT_SERVICES = ("nats-server", "simulator")


def child_environment(
    child: str, environ: Mapping[str, str], provider_key_names: Iterable[str]
) -> dict[str, str]:
    """The environment `child` is started with, out of `veil up`'s own `environ`
    (which carries the settings veil up resolved).

    `provider_key_names` are the variables the catalog names as providers' API keys:
    the dispatcher gets them (in simulated mode too, so that a key reaching the
    dispatcher never depends on the mode), every other child none.
    """
    keys = set(provider_key_names)
    env = {
        name: value
        for name, value in environ.items()
        if (name in INHERITED or name.startswith(INHERITED_PREFIXES)) and name not in keys
    }
    if child in NOT_SERVICES:
        return env
    for name, value in environ.items():
        if name in keys:
            continue
        if name in SECRET_SETTINGS:
            if child in SECRET_SETTINGS[name]:
                env[name] = value
        elif name.startswith("VEIL_"):
            env[name] = value
    if child == "dispatcher":
        env.update({n: v for n, v in environ.items() if n in keys or n in PROXIES})
    return env


def _die_with_parent() -> None:
    libc = ctypes.CDLL("libc.so.6", use_errno=True)
    libc.prctl(1, signal.SIGTERM)  # PR_SET_PDEATHSIG


def free_port(host: str = "127.0.0.1") -> int:
    with socket.socket() as sock:
        sock.bind((host, 0))
        return sock.getsockname()[1]


def nats_server_binary() -> str:
    beside = Path(sys.executable).parent / "nats-server"
    return str(beside) if beside.exists() else "nats-server"


def nats_server_argv(
    host: str,
    port: int,
    data_dir: Path,
    max_body_bytes: int,
    server_name: str | None = None,
    cluster_port: int | None = None,
    routes: Iterable[str] = (),
    monitor_port: int | None = None,
) -> list[str]:
    """The embedded nats-server: JetStream under the data directory, and a max_payload
    that carries the largest body the gateway accepts (NATS's default is 1 MiB; its
    command line has no flag for it, hence the config file).

    With `cluster_port`, one node of a cluster named "veil" that routes to `routes`
    (the other nodes' nats-route:// URLs); each node needs its own data directory and
    server name. `monitor_port`: NATS's HTTP monitoring (/varz, /jsz: the meta leader)."""
    config = data_dir / "nats-server.conf"
    data_dir.mkdir(parents=True, exist_ok=True)
    lines = [f"max_payload: {max_body_bytes + BUS_OVERHEAD}"]
    if cluster_port is not None:
        route_list = ", ".join(routes)
        lines.append(
            f"cluster {{ name: veil, listen: {host}:{cluster_port}, routes: [{route_list}] }}"
        )
    config.write_text("\n".join(lines) + "\n")
    argv = [
        nats_server_binary(), "-c", str(config), "-a", host, "-p", str(port),
        "-js", "-sd", str(data_dir / "nats"),
    ]  # fmt: skip
    if server_name:
        argv += ["--server_name", server_name]
    if monitor_port is not None:
        argv += ["-m", str(monitor_port)]
    return argv


@dataclass
class Child:
    name: str
    argv: list[str]
    env: dict[str, str]
    log_path: Path
    process: subprocess.Popen | None = None
    restarts: int = 0
    next_start: float = 0.0
    started_at: float = field(default=0.0)

    def start(self) -> None:
        log = self.log_path.open("ab")
        self.process = subprocess.Popen(
            self.argv,
            env=self.env,
            stdout=log,
            stderr=subprocess.STDOUT,
            stdin=subprocess.DEVNULL,
            preexec_fn=_die_with_parent,
            # Not in the terminal's process group: Ctrl-C reaches the supervisor alone,
            # which stops the services before the NATS server they drain through.
            process_group=0,
        )
        log.close()
        self.started_at = time.monotonic()

    def running(self) -> bool:
        return self.process is not None and self.process.poll() is None

    def stop(self) -> None:
        if self.running():
            self.process.terminate()  # type: ignore[union-attr]

    def wait(self, deadline: float) -> None:
        if self.process is None:
            return
        try:
            self.process.wait(timeout=max(0.1, deadline - time.monotonic()))
        except subprocess.TimeoutExpired:
            self.process.kill()
            self.process.wait()


class Stack:
    """The processes of one `veil up`: NATS first, the others once it accepts
    connections; stopped the other way round."""

    def __init__(self, children: list[Child]):
        self.children = children
        self.stopping = False

    def _nats(self) -> list[Child]:
        return [c for c in self.children if c.name == "nats-server"]

    def _others(self) -> list[Child]:
        return [c for c in self.children if c.name != "nats-server"]

    def start(self, nats_address: tuple[str, int], cancelled: Callable[[], bool]) -> bool:
        """False if the embedded nats-server died or never listened."""
        for child in self._nats():
            child.start()
            if not accepting(*nats_address, NATS_START_TIMEOUT, cancelled, child.running):
                return False
        for child in self._others():
            child.start()
        return True

    def supervise_once(self, out) -> None:
        now = time.monotonic()
        for child in self.children:
            process = child.process
            if process is None or process.poll() is None:
                if process is None and now >= child.next_start:
                    child.start()
                continue
            print(
                f"veil: {child.name} exited with code {process.returncode}; see {child.log_path}",
                file=out,
                flush=True,
            )
            child.restarts += 1
            # A child that ran a while before dying gets restarted promptly.
            quick = now - child.started_at < 10
            child.next_start = now + (min(30.0, 2 ** min(child.restarts, 5)) if quick else 0.5)
            child.process = None
            print(f"veil: restarting {child.name}", file=out, flush=True)

    def kill(self) -> None:
        for child in self.children:
            if child.running():
                child.process.kill()  # type: ignore[union-attr]

    def stop(self) -> None:
        """Every service at once, then NATS, which they drain through."""
        self.stopping = True
        stages = ((self._others(), SERVICES_STOP_GRACE), (self._nats(), NATS_STOP_GRACE))
        for group, grace in stages:
            for child in group:
                child.stop()
            deadline = time.monotonic() + grace
            for child in group:
                child.wait(deadline)
