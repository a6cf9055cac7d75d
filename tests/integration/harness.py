"""A real veil stack for tests: nats-server, simulator and the five services, as processes.

Everything talks over real sockets on free loopback ports; each stack has its own
data directory, so stacks never share state.
"""

import asyncio
import os
import signal
import subprocess
import sys
import time
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

import httpx
import openai

from veil.gateway.config import GatewaySettings
from veil.readiness import services_answering
from veil.schemas.subjects import SERVICES
from veil.simulator.control import SimulatorControl
from veil.supervisor import Child, free_port, nats_server_argv

ADMIN_KEY = "sk-veil-admin-test-" + "0" * 16


def run_blocking(coro):
    """Run a coroutine to completion from sync code, even inside a running event loop."""
    try:
        asyncio.get_running_loop()
    except RuntimeError:
        return asyncio.run(coro)
    with ThreadPoolExecutor(max_workers=1) as pool:
        return pool.submit(asyncio.run, coro).result()


class RunningStack:
    def __init__(self, data_dir: Path, extra_env: dict[str, str] | None = None):
        self.data_dir = data_dir
        self.logs = data_dir / "logs"
        self.logs.mkdir(parents=True, exist_ok=True)
        self.nats_port = free_port()
        self.http_port = free_port()
        self.sim_port = free_port()
        self.nats_url = f"nats://127.0.0.1:{self.nats_port}"
        self.url = f"http://127.0.0.1:{self.http_port}"
        self.api = f"{self.url}/api/v1"
        self.sim_url = f"http://127.0.0.1:{self.sim_port}"
        self.admin_key = ADMIN_KEY
        self.env = {
            **os.environ,
            "VEIL_NATS_URL": self.nats_url,
            "VEIL_DATA_DIR": str(data_dir),
            "VEIL_ADMIN_KEY": ADMIN_KEY,
            "VEIL_HTTP_HOST": "127.0.0.1",
            "VEIL_HTTP_PORT": str(self.http_port),
            "VEIL_UPSTREAMS": "simulated",
            "VEIL_SIMULATOR_URL": self.sim_url,
            "VEIL_SAMPLE_RATE": "0",
            **(extra_env or {}),
        }
        self.children: dict[str, Child] = {}

    # processes -----------------------------------------------------------------

    def _child(self, name: str) -> Child:
        if name == "nats-server":
            body_limit = self.env.get("VEIL_MAX_BODY_BYTES") or GatewaySettings().max_body_bytes
            argv = nats_server_argv("127.0.0.1", self.nats_port, self.data_dir, int(body_limit))
        elif name == "simulator":
            argv = [sys.executable, "-m", "veil.simulator", "--port", str(self.sim_port)]
        else:
            argv = [sys.executable, "-m", "veil", "run", name]
        return Child(name, argv, self.env, self.logs / f"{name}.log")

    def start_process(self, name: str) -> None:
        child = self.children.get(name) or self._child(name)
        self.children[name] = child
        child.start()

    def start(self, services=SERVICES, timeout: float = 60) -> "RunningStack":
        self.start_process("nats-server")
        self.start_process("simulator")
        for service in services:
            self.start_process(service)
        self.wait_ready(services, timeout)
        return self

    def wait_ready(self, services=SERVICES, timeout: float = 60) -> None:
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            for name, child in self.children.items():
                if child.process is not None and child.process.poll() is not None:
                    raise RuntimeError(f"{name} exited: {self.log(name)[-3000:]}")
            answering = run_blocking(services_answering(self.nats_url, 0.5))
            if set(services) <= answering and self._http_ok(services):
                return
            time.sleep(0.1)
        raise RuntimeError(f"stack not ready; answering: {answering}")

    def _http_ok(self, services) -> bool:
        if "gateway" not in services:
            return True
        try:
            return httpx.get(f"{self.url}/health", timeout=1).status_code == 200
        except httpx.HTTPError:
            return False

    def start_extra_gateway(self, name: str = "gateway-2", timeout: float = 30) -> str:
        """Another gateway process on this stack's bus, on a port of its own (the same
        settings otherwise); returns its API base URL once it answers."""
        port = free_port()
        env = {**self.env, "VEIL_HTTP_PORT": str(port)}
        argv = [sys.executable, "-m", "veil", "run", "gateway"]
        self.children[name] = Child(name, argv, env, self.logs / f"{name}.log")
        self.children[name].start()
        url = f"http://127.0.0.1:{port}"
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            process = self.children[name].process
            if process is not None and process.poll() is not None:
                raise RuntimeError(f"{name} exited: {self.log(name)[-3000:]}")
            try:
                if httpx.get(f"{url}/health", timeout=1).status_code == 200:
                    return f"{url}/api/v1"
            except httpx.HTTPError:
                pass
            time.sleep(0.1)
        raise RuntimeError(f"{name} not ready: {self.log(name)[-3000:]}")

    def kill(self, name: str, sig: int = signal.SIGKILL) -> None:
        process = self.children[name].process
        assert process is not None
        process.send_signal(sig)
        process.wait(timeout=15)

    def restart(self, name: str) -> None:
        self.kill(name, signal.SIGTERM)
        self.start_process(name)

    def stop(self) -> None:
        names = [n for n in self.children if n != "nats-server"] + ["nats-server"]
        for name in names:
            child = self.children.get(name)
            if child:
                child.stop()
                child.wait(time.monotonic() + 10)

    def log(self, name: str) -> str:
        path = self.logs / f"{name}.log"
        return path.read_text(errors="replace") if path.exists() else ""

    # clients -----------------------------------------------------------------

    def admin(self) -> httpx.Client:
        return httpx.Client(
            base_url=self.api, headers={"authorization": f"Bearer {ADMIN_KEY}"}, timeout=30
        )

    def new_account(self, name: str = "test") -> "TestAccount":
        with self.admin() as admin:
            account = admin.post("/accounts", json={"name": name}).json()["data"]["id"]
            inference = admin.post("/keys", json={"account_id": account, "kind": "inference"})
            management = admin.post("/keys", json={"account_id": account, "kind": "management"})
        return TestAccount(self, account, inference.json()["key"], management.json()["key"])

    def simulator(self) -> SimulatorControl:
        return SimulatorControl(self.sim_url)


class TestAccount:
    __test__ = False  # not a pytest test class

    def __init__(self, stack: RunningStack, account_id: str, key: str, management_key: str):
        self.stack = stack
        self.id = account_id
        self.key = key
        self.management_key = management_key

    def openai(self) -> openai.AsyncOpenAI:
        return openai.AsyncOpenAI(
            base_url=self.stack.api, api_key=self.key, max_retries=0, timeout=60
        )

    def http(self, management: bool = False) -> httpx.AsyncClient:
        key = self.management_key if management else self.key
        return httpx.AsyncClient(
            base_url=self.stack.api, timeout=60, headers={"authorization": f"Bearer {key}"}
        )

    async def generation(self, generation_id: str, wait: float = 10) -> dict:
        """GET /generation, waiting for the metrics batch to land."""
        deadline = time.monotonic() + wait
        async with self.http() as client:
            while True:
                response = await client.get("/generation", params={"id": generation_id})
                if response.status_code == 200 or time.monotonic() > deadline:
                    assert response.status_code == 200, response.text
                    return response.json()["data"]
                await asyncio.sleep(0.1)


def run_cli(stack: RunningStack, *args: str, timeout: float = 60) -> subprocess.CompletedProcess:
    return subprocess.run(
        [sys.executable, "-m", "veil", *args],
        env=stack.env,
        capture_output=True,
        text=True,
        timeout=timeout,
    )
