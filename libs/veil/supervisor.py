"""`veil up`: nats-server, the simulator and the five services, as separate processes.

Children get PR_SET_PDEATHSIG so none survives the supervisor, even a SIGKILLed one.
A child that exits on its own is reported and restarted (with a growing delay).
"""

import contextlib
import ctypes
import os
import signal
import socket
import subprocess
import sys
import time
from dataclasses import dataclass, field
from pathlib import Path
from urllib.parse import urlparse

from veil.bus import BUS_OVERHEAD
from veil.config import CommonSettings
from veil.gateway.config import GatewaySettings, resolve_admin_key
from veil.readiness import wait_ready
from veil.schemas.subjects import SERVICES

STOP_TIMEOUT = 10.0


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
    host: str, port: int, data_dir: Path, max_body_bytes: int, server_name: str | None = None
) -> list[str]:
    """The embedded nats-server: JetStream under the data directory, and a max_payload
    that carries the largest body the gateway accepts (NATS's default is 1 MiB; its
    command line has no flag for it, hence the config file)."""
    config = data_dir / "nats-server.conf"
    config.write_text(f"max_payload: {max_body_bytes + BUS_OVERHEAD}\n")
    argv = [
        nats_server_binary(), "-c", str(config), "-a", host, "-p", str(port),
        "-js", "-sd", str(data_dir / "nats"),
    ]  # fmt: skip
    if server_name:
        argv += ["--server_name", server_name]
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
        )
        log.close()
        self.started_at = time.monotonic()

    def stop(self) -> None:
        if self.process and self.process.poll() is None:
            self.process.terminate()

    def wait(self, deadline: float) -> None:
        if self.process is None:
            return
        try:
            self.process.wait(timeout=max(0.1, deadline - time.monotonic()))
        except subprocess.TimeoutExpired:
            self.process.kill()
            self.process.wait()


class Stack:
    """The processes of one `veil up`, started and stopped in order."""

    def __init__(self, children: list[Child]):
        self.children = children
        self.stopping = False

    def start(self) -> None:
        for child in self.children:
            child.start()

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

    def stop(self) -> None:
        self.stopping = True
        # services first, NATS last, so services can drain
        for group in (self.children[1:], self.children[:1]):
            for child in reversed(group):
                child.stop()
            deadline = time.monotonic() + STOP_TIMEOUT
            for child in group:
                child.wait(deadline)


def _nats_listen(url: str) -> tuple[str, int]:
    parsed = urlparse(url)
    return parsed.hostname or "127.0.0.1", parsed.port or 4222


def up(args) -> int:
    base = CommonSettings()
    gateway = GatewaySettings()
    data_dir = (args.data_dir or base.data_dir).expanduser().resolve()
    host = args.host or gateway.http_host
    port = args.port or gateway.http_port
    upstreams = args.upstreams or base.upstreams
    data_dir.mkdir(parents=True, exist_ok=True)
    (data_dir / "logs").mkdir(exist_ok=True)
    settings = base.model_copy(update={"data_dir": data_dir})
    admin_key = resolve_admin_key(settings, gateway.admin_key)

    env = dict(os.environ)
    env.update(
        {
            "VEIL_DATA_DIR": str(data_dir),
            "VEIL_NATS_URL": base.nats_url,
            "VEIL_UPSTREAMS": upstreams,
            "VEIL_ADMIN_KEY": admin_key,
            "VEIL_HTTP_HOST": host,
            "VEIL_HTTP_PORT": str(port),
        }
    )
    if args.catalog or base.catalog:
        env["VEIL_CATALOG"] = str((args.catalog or base.catalog).resolve())

    children: list[Child] = []
    logs = data_dir / "logs"
    if args.nats == "embedded":
        nats_host, nats_port = _nats_listen(base.nats_url)
        children.append(
            Child(
                "nats-server",
                nats_server_argv(nats_host, nats_port, data_dir, gateway.max_body_bytes, "veil"),
                env,
                logs / "nats-server.log",
            )
        )
    if upstreams == "simulated":
        simulator_url = base.simulator_url
        if simulator_url is None:
            simulator_url = f"http://127.0.0.1:{free_port()}"
        env["VEIL_SIMULATOR_URL"] = simulator_url
        sim = urlparse(simulator_url)
        children.append(
            Child(
                "simulator",
                [
                    sys.executable,
                    "-m",
                    "veil.simulator",
                    "--host",
                    sim.hostname or "127.0.0.1",
                    "--port",
                    str(sim.port),
                ],
                env,
                logs / "simulator.log",
            )
        )
    for service in SERVICES:
        children.append(
            Child(
                service,
                [sys.executable, "-m", "veil", "run", service],
                env,
                logs / f"{service}.log",
            )
        )

    stack = Stack(children)
    stopped = False

    def _stop(signum, frame):
        nonlocal stopped
        stopped = True

    signal.signal(signal.SIGINT, _stop)
    signal.signal(signal.SIGTERM, _stop)
    began = time.monotonic()
    stack.start()
    url = f"http://{host}:{port}"
    try:
        ready = wait_ready(
            base.nats_url,
            url,
            timeout=120,
            cancelled=lambda: stopped,
            processes=[c for c in children if c.name != "nats-server"],
        )
        if not ready:
            if not stopped:
                print(
                    f"veil: the stack did not become ready; logs are in {logs}",
                    file=sys.stderr,
                    flush=True,
                )
            return 1 if not stopped else 0
        print(_banner(url, admin_key, data_dir, upstreams, time.monotonic() - began), flush=True)
        print(f"veil ready: {url}", flush=True)
        while not stopped:
            stack.supervise_once(sys.stderr)
            time.sleep(0.2)
        return 0
    finally:
        print("veil: stopping", file=sys.stderr, flush=True)
        with contextlib.suppress(Exception):
            stack.stop()


def _banner(url: str, admin_key: str, data_dir: Path, upstreams: str, seconds: float) -> str:
    return f"""
veil is up in {seconds:.1f}s ({upstreams} upstreams, data in {data_dir})

  gateway    {url}/api/v1
  admin key  {admin_key}
             (stored in {data_dir / "admin.key"}, readable by you only)

Create an account and a key, then call it like OpenRouter:

  curl -s {url}/api/v1/accounts -H "Authorization: Bearer {admin_key}" \\
       -H 'content-type: application/json' -d '{{"name": "me"}}'
  curl -s {url}/api/v1/keys -H "Authorization: Bearer {admin_key}" \\
       -H 'content-type: application/json' -d '{{"account_id": "ACCOUNT_ID", "kind": "inference"}}'
  curl -s {url}/api/v1/chat/completions -H "Authorization: Bearer KEY" \\
       -H 'content-type: application/json' \\
       -d '{{"model": "meta-llama/llama-3.1-8b-instruct",
            "messages": [{{"role": "user", "content": "Hello"}}]}}'
"""
