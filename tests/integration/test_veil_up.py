"""`veil up` as a user runs it: ready line, a request, a crash reported, clean stop, and a
second start on the same data directory that keeps accounts, keys and rows."""

import os
import signal
import subprocess
import sys
import threading
import time
from pathlib import Path

import httpx
import pytest

from veil.supervisor import free_port

pytestmark = pytest.mark.slow
MODEL = "meta-llama/llama-3.1-8b-instruct"
MESSAGES = [{"role": "user", "content": "hello from veil up"}]


def processes_of(data_dir: Path) -> dict[int, str]:
    """Live processes started for this data directory: pid -> command line."""
    found = {}
    marker = f"VEIL_DATA_DIR={data_dir}".encode()
    for proc in Path("/proc").iterdir():
        if not proc.name.isdigit() or int(proc.name) == os.getpid():
            continue
        try:
            if marker in (proc / "environ").read_bytes().split(b"\0"):
                cmdline = (proc / "cmdline").read_bytes().replace(b"\0", b" ").decode()
                status = (proc / "status").read_text()
                if "State:\tZ" not in status:
                    found[int(proc.name)] = cmdline
        except OSError:
            continue
    return found


class VeilUp:
    def __init__(self, data_dir: Path, nats_port: int, http_port: int):
        env = {k: v for k, v in os.environ.items() if not k.startswith("VEIL_")}
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

    def stop(self) -> int:
        self.process.send_signal(signal.SIGTERM)
        return self.process.wait(timeout=30)


def test_veil_up_serves_survives_a_crash_and_stops_clean(tmp_path):
    data_dir = tmp_path / "data"
    nats_port, http_port = free_port(), free_port()
    started = time.monotonic()
    up = VeilUp(data_dir, nats_port, http_port)
    ready = up.wait_for(up.stdout, "veil ready:")
    ready_seconds = time.monotonic() - started
    assert ready == f"veil ready: {up.url}"
    admin_key = (data_dir / "admin.key").read_text().strip()
    assert any(admin_key in line for line in up.stdout)  # printed for the operator
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
    policy_pid = next(
        pid for pid, cmd in processes_of(data_dir).items() if cmd.endswith("veil run policy ")
    )
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

    assert processes_of(data_dir)
    assert up.stop() == 0
    assert processes_of(data_dir) == {}  # nothing left behind

    # Same data directory: the key still works and the generation is still there.
    up2 = VeilUp(data_dir, nats_port, http_port)
    try:
        up2.wait_for(up2.stdout, "veil ready:")
        deadline = time.monotonic() + 15
        while time.monotonic() < deadline:
            stats = user.get("/generation", params={"id": generation_id})
            if stats.status_code == 200:
                break
            time.sleep(0.2)
        assert stats.status_code == 200 and stats.json()["data"]["model"] == MODEL
        assert (
            user.post("/chat/completions", json={"model": MODEL, "messages": MESSAGES}).status_code
            == 200
        )
    finally:
        assert up2.stop() == 0
    assert processes_of(data_dir) == {}
