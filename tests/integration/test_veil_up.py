"""`veil up` as a user runs it: ready line, a request, a crash reported, a clean and quick
stop, a second start on the same data directory that keeps accounts, keys and rows, and
each child holding only the secrets it needs."""

import os
import signal
import subprocess
import sys
import threading
import time
from pathlib import Path

import httpx
import pytest

from veil.launcher.supervisor import free_port
from veil.schemas.subjects import SERVICES

pytestmark = pytest.mark.slow
MODEL = "meta-llama/llama-3.1-8b-instruct"
MESSAGES = [{"role": "user", "content": "hello from veil up"}]


def children_of(pid: int) -> dict[int, str]:
    """Live child processes of `pid`: pid -> command line."""
    found = {}
    for proc in Path("/proc").iterdir():
        if not proc.name.isdigit():
            continue
        try:
            status = (proc / "status").read_text()
            fields = dict(line.split(":\t", 1) for line in status.splitlines() if ":\t" in line)
            if int(fields["PPid"]) == pid and not fields["State"].startswith("Z"):
                cmdline = (proc / "cmdline").read_bytes().replace(b"\0", b" ")
                found[int(proc.name)] = cmdline.decode()
        except (OSError, KeyError, ValueError):
            continue
    return found


def alive(pids) -> set[int]:
    """Those of `pids` still running (zombies count as gone)."""
    running = set()
    for pid in pids:
        try:
            if "State:\tZ" not in Path(f"/proc/{pid}/status").read_text():
                running.add(pid)
        except OSError:
            continue
    return running


def child_name(cmdline: str) -> str:
    """'nats-server', 'simulator' or the service of `veil run SERVICE`."""
    if "nats-server" in cmdline.split()[0]:
        return "nats-server"
    if "veil.simulator" in cmdline:
        return "simulator"
    return cmdline.split()[-1]


def environment_of(pid: int) -> dict[str, str]:
    raw = Path(f"/proc/{pid}/environ").read_bytes().split(b"\0")
    return dict(item.decode().split("=", 1) for item in raw if b"=" in item)


class VeilUp:
    def __init__(
        self, data_dir: Path, nats_port: int, http_port: int, env: dict[str, str] | None = None
    ):
        env = {k: v for k, v in os.environ.items() if not k.startswith("VEIL_")} | (env or {})
        env["VEIL_NATS_URL"] = f"nats://127.0.0.1:{nats_port}"
        self.url = f"http://127.0.0.1:{http_port}"
        self.process = subprocess.Popen(
            [
                sys.executable,
                "-m",
                "veil",
                "up",
                "--data-dir",
                str(data_dir),
                "--port",
                str(http_port),
            ],
            env=env,
            stdout=subprocess.PIPE,
            stderr=subprocess.PIPE,
            text=True,
        )
        self.stdout: list[str] = []
        self.stderr: list[str] = []
        threading.Thread(
            target=self._pump, args=(self.process.stdout, self.stdout), daemon=True
        ).start()
        threading.Thread(
            target=self._pump, args=(self.process.stderr, self.stderr), daemon=True
        ).start()

    @staticmethod
    def _pump(stream, lines):
        for line in stream:
            lines.append(line.rstrip("\n"))

    def wait_for(self, lines: list[str], text: str, timeout: float = 90) -> str:
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            for line in list(lines):
                if text in line:
                    return line
            if self.process.poll() is not None:
                break
            time.sleep(0.05)
        raise AssertionError(f"{text!r} not seen; stdout={self.stdout} stderr={self.stderr}")

    def children(self) -> dict[int, str]:
        return children_of(self.process.pid)

    def stop(self) -> int:
        """SIGTERM, as Ctrl-C or a service manager would; returns the exit code once every
        child is gone, and checks that took under 5 s."""
        children = self.children()
        began = time.monotonic()
        self.process.send_signal(signal.SIGTERM)
        code = self.process.wait(timeout=30)
        seconds = time.monotonic() - began
        assert alive(children) == set(), "children left behind"
        assert seconds < 5, f"veil up took {seconds:.1f}s to stop; stderr={self.stderr}"
        return code

    def output(self) -> str:
        return "\n".join(self.stdout + self.stderr)


def test_veil_up_serves_survives_a_crash_and_stops_clean(tmp_path):
    data_dir = tmp_path / "data"
    nats_port, http_port = free_port(), free_port()
    started = time.monotonic()
    up = VeilUp(data_dir, nats_port, http_port)
    ready = up.wait_for(up.stdout, "veil ready:")
    ready_seconds = time.monotonic() - started
    assert ready == f"veil ready: {up.url}"
    admin_key = (data_dir / "admin.key").read_text().strip()
    assert any(admin_key in line for line in up.stdout)  # generated now: shown once
    assert (data_dir / "admin.key").stat().st_mode & 0o777 == 0o600
    print(f"veil up ready in {ready_seconds:.1f}s")

    admin = httpx.Client(
        base_url=f"{up.url}/api/v1", headers={"authorization": f"Bearer {admin_key}"}, timeout=30
    )
    account = admin.post("/accounts", json={"name": "cli"}).json()["data"]["id"]
    key = admin.post("/keys", json={"account_id": account}).json()["key"]
    user = httpx.Client(
        base_url=f"{up.url}/api/v1", headers={"authorization": f"Bearer {key}"}, timeout=30
    )
    first = user.post("/chat/completions", json={"model": MODEL, "messages": MESSAGES})
    assert first.status_code == 200
    generation_id = first.headers["x-generation-id"]

    # A crashed service is reported and brought back.
    policy_pid = next(pid for pid, cmd in up.children().items() if child_name(cmd) == "policy")
    os.kill(policy_pid, signal.SIGKILL)
    up.wait_for(up.stderr, "policy exited with code -9")
    up.wait_for(up.stderr, "restarting policy")
    deadline = time.monotonic() + 30
    while time.monotonic() < deadline:
        again = user.post("/chat/completions", json={"model": MODEL, "messages": MESSAGES})
        if again.status_code == 200:
            break
        time.sleep(0.2)
    assert again.status_code == 200

    assert len(up.children()) == 7  # nats-server, simulator, five services
    assert up.stop() == 0  # in under 5 s, nothing left behind
    assert "Traceback" not in up.output()

    # Same data directory: the key still works and the generation is still there.
    up2 = VeilUp(data_dir, nats_port, http_port)
    try:
        up2.wait_for(up2.stdout, "veil ready:")
        # Not generated this time: the banner says where the key is, not what it is.
        assert admin_key not in up2.output()
        assert any(f"admin key  in {data_dir / 'admin.key'}" in line for line in up2.stdout)
        deadline = time.monotonic() + 15
        while time.monotonic() < deadline:
            stats = user.get("/generation", params={"id": generation_id})
            if stats.status_code == 200:
                break
            time.sleep(0.2)
        assert stats.status_code == 200
        assert stats.json()["data"]["model"] == MODEL
        assert (
            user.post("/chat/completions", json={"model": MODEL, "messages": MESSAGES}).status_code
            == 200
        )
    finally:
        assert up2.stop() == 0
    assert "Traceback" not in up2.output()
    logs = "".join(path.read_text(errors="replace") for path in (data_dir / "logs").iterdir())
    assert admin_key not in logs


def test_veil_up_gives_each_child_only_the_secrets_it_needs(tmp_path):
    data_dir = tmp_path / "data"
    supplied_admin_key = "sk-veil-admin-supplied-" + "7" * 24
    provider_key = "sk-fake-openai-" + "1" * 24  # OPENAI_API_KEY is the catalog's openai key
    dsn = f"chdb://{data_dir / 'clickhouse'}"  # the default, given explicitly
    up = VeilUp(
        data_dir,
        free_port(),
        free_port(),
        env={
            "VEIL_ADMIN_KEY": supplied_admin_key,
            "OPENAI_API_KEY": provider_key,
            "VEIL_CLICKHOUSE_DSN": dsn,
            "SOME_CLOUD_TOKEN": "not-for-any-child",
        },
    )
    try:
        up.wait_for(up.stdout, "veil ready:")
        environments = {child_name(cmd): environment_of(pid) for pid, cmd in up.children().items()}
        assert set(environments) == {"nats-server", "simulator", *SERVICES}

        def holders(name: str) -> set[str]:
            return {child for child, env in environments.items() if name in env}

        assert holders("OPENAI_API_KEY") == {"dispatcher"}
        assert environments["dispatcher"]["OPENAI_API_KEY"] == provider_key
        assert holders("VEIL_ADMIN_KEY") == {"gateway"}
        assert holders("VEIL_CLICKHOUSE_DSN") == {"metrics"}
        assert holders("SOME_CLOUD_TOKEN") == set()
        for child in ("nats-server", "simulator"):
            assert not [n for n in environments[child] if n.startswith("VEIL_")], child
        for env in environments.values():
            assert "PATH" in env  # what a process needs to run is still there

        # The supplied key works, and the banner says where it comes from, not what it is.
        admin = httpx.post(
            f"{up.url}/api/v1/accounts",
            json={"name": "secrets"},
            headers={"authorization": f"Bearer {supplied_admin_key}"},
            timeout=30,
        )
        assert admin.is_success, admin.text  # not a 401: the gateway has the key
        assert supplied_admin_key not in up.output()
        assert any("admin key  from VEIL_ADMIN_KEY" in line for line in up.stdout)
        assert not (data_dir / "admin.key").exists()  # nothing generated
    finally:
        assert up.stop() == 0
    assert "Traceback" not in up.output()
    logs = "".join(path.read_text(errors="replace") for path in (data_dir / "logs").iterdir())
    assert supplied_admin_key not in logs
    assert provider_key not in logs
