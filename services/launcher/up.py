"""`veil up`: plan the stack (settings, each child's command and environment), then run
it until Ctrl-C, printing what the operator needs once it is ready."""

import contextlib
import os
import signal
import sys
import time
from argparse import Namespace
from dataclasses import dataclass
from pathlib import Path
from urllib.parse import urlparse

from veil.bus import server_urls
from veil.catalog import CatalogError, load_catalog
from veil.config import CommonSettings
from veil.gateway.config import ADMIN_KEY_FILE, GatewaySettings, resolve_admin_key
from veil.launcher.readiness import wait_ready
from veil.launcher.supervisor import Child, Stack, child_environment, free_port, nats_server_argv
from veil.schemas.subjects import SERVICES


@dataclass
class Plan:
    """What `veil up` will run, decided before anything starts."""

    children: list[Child]
    nats_url: str
    url: str  # the gateway's
    data_dir: Path
    upstreams: str
    admin_key: str
    admin_key_source: str | None  # None: generated on this run

    @property
    def logs(self) -> Path:
        return self.data_dir / "logs"


def up(args: Namespace) -> int:
    try:
        plan = plan_stack(args)
    except CatalogError as exc:
        print(f"veil: {exc}", file=sys.stderr, flush=True)
        return 2
    return run_stack(plan)


def plan_stack(args: Namespace) -> Plan:
    """The children and their environments, from the flags and VEIL_* settings; makes
    the data directory (and the admin key, the first time)."""
    base = CommonSettings()
    gateway = GatewaySettings()
    data_dir = (args.data_dir or base.data_dir).expanduser().resolve()
    host = args.host or gateway.http_host
    port = args.port or gateway.http_port
    upstreams = args.upstreams or base.upstreams
    catalog_path = args.catalog or base.catalog
    catalog = load_catalog(catalog_path)
    data_dir.mkdir(parents=True, exist_ok=True)
    (data_dir / "logs").mkdir(exist_ok=True)
    settings = base.model_copy(update={"data_dir": data_dir})
    admin_key_source = _admin_key_source(settings, gateway.admin_key)
    admin_key = resolve_admin_key(settings, gateway.admin_key)

    environ = dict(os.environ)
    environ.update(
        {
            "VEIL_DATA_DIR": str(data_dir),
            "VEIL_NATS_URL": base.nats_url,
            "VEIL_UPSTREAMS": upstreams,
            "VEIL_ADMIN_KEY": admin_key,
            "VEIL_HTTP_HOST": host,
            "VEIL_HTTP_PORT": str(port),
        }
    )
    if catalog_path:
        environ["VEIL_CATALOG"] = str(catalog_path.resolve())
    provider_key_names = {p.api_key_env for p in catalog.providers if p.api_key_env}
    simulator_url = None
    if upstreams == "simulated":
        simulator_url = base.simulator_url or f"http://127.0.0.1:{free_port()}"
        environ["VEIL_SIMULATOR_URL"] = simulator_url

    def child(name: str, argv: list[str]) -> Child:
        env = child_environment(name, environ, provider_key_names)
        return Child(name, argv, env, data_dir / "logs" / f"{name}.log")

    children: list[Child] = []
    if args.nats == "embedded":
        nats_host, nats_port = _nats_listen(base.nats_url)
        argv = nats_server_argv(nats_host, nats_port, data_dir, gateway.max_body_bytes, "veil")
        children.append(child("nats-server", argv))
    if simulator_url is not None:
        sim = urlparse(simulator_url)
        argv = [sys.executable, "-m", "veil.simulator",
                "--host", sim.hostname or "127.0.0.1", "--port", str(sim.port)]  # fmt: skip
        children.append(child("simulator", argv))
    for service in SERVICES:
        children.append(child(service, [sys.executable, "-m", "veil", "run", service]))
    return Plan(
        children=children,
        nats_url=base.nats_url,
        url=f"http://{host}:{port}",
        data_dir=data_dir,
        upstreams=upstreams,
        admin_key=admin_key,
        admin_key_source=admin_key_source,
    )


def run_stack(plan: Plan) -> int:
    """Start the children, wait until the stack serves, print the banner, supervise until
    SIGINT or SIGTERM (a second one stops without waiting), then stop them all."""
    stack = Stack(plan.children)
    stopped = False

    def _stop(signum, frame):
        nonlocal stopped
        if stack.stopping:  # a second Ctrl-C: no more waiting
            stack.kill()
        stopped = True

    signal.signal(signal.SIGINT, _stop)
    signal.signal(signal.SIGTERM, _stop)
    began = time.monotonic()
    try:
        ready = stack.start(_nats_listen(plan.nats_url), lambda: stopped) and wait_ready(
            plan.nats_url,
            plan.url,
            timeout=120,
            cancelled=lambda: stopped,
            processes=[c for c in plan.children if c.name != "nats-server"],
        )
        if not ready:
            if not stopped:
                print(
                    f"veil: the stack did not become ready; logs are in {plan.logs}",
                    file=sys.stderr,
                    flush=True,
                )
            return 1 if not stopped else 0
        print(_banner(plan, time.monotonic() - began), flush=True)
        print(f"veil ready: {plan.url}", flush=True)
        while not stopped:
            stack.supervise_once(sys.stderr)
            time.sleep(0.2)
        return 0
    finally:
        print("veil: stopping", file=sys.stderr, flush=True)
        with contextlib.suppress(Exception):
            stack.stop()


def _nats_listen(url: str) -> tuple[str, int]:
    """Where the embedded nats-server listens: the first (with it, the only) URL."""
    parsed = urlparse(server_urls(url)[0])
    return parsed.hostname or "127.0.0.1", parsed.port or 4222


def _admin_key_source(settings: CommonSettings, configured: str | None) -> str | None:
    """Where the admin key comes from, or None when veil is about to generate it."""
    if configured:
        return "VEIL_ADMIN_KEY"
    path = settings.data_path / ADMIN_KEY_FILE
    if path.exists() and path.read_text().strip():
        return str(path)
    return None


def _banner(plan: Plan, seconds: float) -> str:
    """What the operator needs to start. The admin key itself appears only on the run
    that generated it: a key the operator supplied, or one already shown, is never
    printed again (output like this ends up in logs)."""
    url, admin_key, source = plan.url, plan.admin_key, plan.admin_key_source
    data_dir, upstreams = plan.data_dir, plan.upstreams
    if source is None:
        key_lines = f"""  admin key  {admin_key}
             (generated now, stored in {data_dir / ADMIN_KEY_FILE}, readable by you only;
             it is not shown again)"""
    elif source == "VEIL_ADMIN_KEY":
        key_lines = "  admin key  from VEIL_ADMIN_KEY (not shown)"
    else:
        key_lines = f"  admin key  in {source} (not shown)"
    admin = "$VEIL_ADMIN_KEY" if source == "VEIL_ADMIN_KEY" else "$ADMIN_KEY"
    setup = ""
    if source != "VEIL_ADMIN_KEY":
        setup = f"  ADMIN_KEY=$(cat {data_dir / ADMIN_KEY_FILE})\n"
    return f"""
veil is up in {seconds:.1f}s ({upstreams} upstreams, data in {data_dir})

  gateway    {url}/api/v1
  console    {url}/ (sign in with the admin key, or an account's management key)
{key_lines}

Create an account and a key, then call it like OpenRouter:

{setup}  curl -s {url}/api/v1/accounts -H "Authorization: Bearer {admin}" \\
       -H 'content-type: application/json' -d '{{"name": "me"}}'
  curl -s {url}/api/v1/keys -H "Authorization: Bearer {admin}" \\
       -H 'content-type: application/json' -d '{{"account_id": "ACCOUNT_ID", "kind": "inference"}}'
  curl -s {url}/api/v1/chat/completions -H "Authorization: Bearer KEY" \\
       -H 'content-type: application/json' \\
       -d '{{"model": "meta-llama/llama-3.1-8b-instruct",
            "messages": [{{"role": "user", "content": "Hello"}}]}}'
"""
