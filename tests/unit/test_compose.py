"""docker-compose.yml: valid by the Compose specification's JSON schema (no Docker engine
runs here, so this is what checks it), and deployed as veil needs it."""

import re
import subprocess
import sys
from pathlib import Path

import yaml

from veil.bus import BUS_OVERHEAD
from veil.gateway.config import GatewaySettings

COMPOSE = Path(__file__).parents[2] / "docker-compose.yml"
NATS_NODES = ("nats-1", "nats-2", "nats-3")
VEIL_SERVICES = ("gateway", "policy", "dispatcher", "metrics", "categorizer")


def validate(path: Path) -> subprocess.CompletedProcess:
    return subprocess.run(
        [sys.executable, "-m", "check_jsonschema", "--builtin-schema", "vendor.compose-spec",
         str(path)],
        capture_output=True, text=True, timeout=60,
    )  # fmt: skip


def compose() -> dict:
    return yaml.safe_load(COMPOSE.read_text())


def test_the_file_is_valid_by_the_compose_specification_schema():
    result = validate(COMPOSE)
    assert result.returncode == 0, result.stdout + result.stderr


def test_the_validator_rejects_what_compose_would(tmp_path):
    broken = tmp_path / "docker-compose.yml"
    broken.write_text(COMPOSE.read_text().replace("    healthcheck:\n", "    helthcheck:\n", 1))
    assert validate(broken).returncode != 0
    broken.write_text(COMPOSE.read_text().replace("service_healthy", "service_happy", 1))
    assert validate(broken).returncode != 0


def test_a_three_node_nats_cluster_with_jetstream_replicated():
    services = compose()["services"]
    config = compose()["configs"]["nats"]["content"]
    routes = re.search(r"routes: \[(.*)\]", config).group(1)
    assert routes.split(", ") == [f"nats-route://{node}:6222" for node in NATS_NODES]
    assert "jetstream" in config
    assert "name: veil" in config
    # the largest body the gateway takes, with its envelope, fits a NATS message
    payload = int(re.search(r"max_payload: (\d+)", config).group(1))
    assert payload == GatewaySettings().max_body_bytes + BUS_OVERHEAD
    names = set()
    for node in NATS_NODES:
        command = services[node]["command"]
        names.add(command[command.index("--server_name") + 1])
        assert services[node]["volumes"] == [f"{node}:/data"]  # a store of its own
        assert "healthcheck" in services[node]
    assert names == set(NATS_NODES)


def test_every_service_uses_the_cluster_with_three_replicas_and_is_health_checked():
    services = compose()["services"]
    urls = ",".join(f"nats://{node}:4222" for node in NATS_NODES)
    for name in VEIL_SERVICES:
        service = services[name]
        env = service["environment"]
        assert env["VEIL_NATS_URL"] == urls, name
        assert env["VEIL_JETSTREAM_REPLICAS"] == "3", name
        assert env["VEIL_LOG_FORMAT"] == "json", name
        assert "healthcheck" in service, name
        assert set(NATS_NODES) <= set(service["depends_on"]), name
    for name in ("gateway", "policy", "dispatcher", "metrics"):
        assert services[name]["deploy"]["replicas"] == 2, name
    assert "/readyz" in " ".join(services["gateway"]["healthcheck"]["test"])
    assert "clickhouse" in services["metrics"]["depends_on"]
    assert "healthcheck" in services["clickhouse"]


def test_one_reverse_proxy_in_front_of_the_gateways():
    services = compose()["services"]
    assert services["proxy"]["ports"] == ["8080:8080"]
    published = [name for name, s in services.items() if s.get("ports")]
    assert published == ["proxy"]  # the gateways are reached through it only
    proxy = compose()["configs"]["proxy"]["content"]
    assert "server gateway:8080" in proxy
    assert "proxy_buffering off" in proxy  # SSE streams are relayed as they come
    body = int(re.search(r"client_max_body_size (\d+)m", proxy).group(1)) << 20
    assert body >= GatewaySettings().max_body_bytes
    assert "non_idempotent" not in proxy  # a POST a gateway may have taken is not retried


def test_secrets_reach_only_the_services_that_use_them():
    services = compose()["services"]
    for name in VEIL_SERVICES:
        env = services[name]["environment"]
        assert ("VEIL_ADMIN_KEY" in env) == (name == "gateway"), name
        assert ("VEIL_MASTER_KEY" in env) == (name in ("dispatcher", "metrics")), name
        assert ("VEIL_CLICKHOUSE_DSN" in env) == (name == "metrics"), name
        assert any(k.endswith("_API_KEY") for k in env) == (name == "dispatcher"), name


def test_every_container_keeps_a_data_dir_of_its_own_across_restarts():
    """The dispatchers' and gateways' outboxes live in the data dir: the image makes it a
    volume (one per container, kept when it restarts) that its user can write."""
    dockerfile = (COMPOSE.parent / "Dockerfile").read_text()
    assert "ENV VEIL_DATA_DIR=/var/lib/veil" in dockerfile
    assert "VOLUME /var/lib/veil" in dockerfile
    assert "chown nobody /var/lib/veil" in dockerfile
    assert "USER nobody" in dockerfile
    services = compose()["services"]
    for name in VEIL_SERVICES:  # none shares one data dir between replicas
        assert "VEIL_DATA_DIR" not in services[name]["environment"], name
        assert not any("/var/lib/veil" in v for v in services[name].get("volumes", [])), name
    gateway = services["gateway"]
    drain = float(gateway["environment"]["VEIL_DRAIN_DELAY"])
    assert drain > 0
    assert int(gateway["stop_grace_period"].rstrip("s")) >= drain + 10
