"""What each child of `veil up` inherits: only the secrets it uses."""

from veil.launcher.supervisor import child_environment
from veil.schemas.subjects import SERVICES

ENVIRON = {
    "PATH": "/usr/bin",
    "HOME": "/home/op",
    "LANG": "C.UTF-8",
    "LC_ALL": "C.UTF-8",
    "PYTHONPATH": "/opt/lib",
    "VEIL_DATA_DIR": "/data",
    "VEIL_NATS_URL": "nats://127.0.0.1:4222",
    "VEIL_ADMIN_KEY": "sk-veil-admin-x",
    "VEIL_CLICKHOUSE_DSN": "http://user:secret@ch:8123",
    "VEIL_MASTER_KEY": "bWFzdGVy",
    "OPENAI_API_KEY": "sk-openai",
    "VEIL_WEIRD_API_KEY": "sk-named-with-the-prefix",
    "HTTPS_PROXY": "http://user:pw@proxy:3128",
    "AWS_SECRET_ACCESS_KEY": "aws",
}
PROVIDER_KEYS = {"OPENAI_API_KEY", "VEIL_WEIRD_API_KEY", "GROQ_API_KEY"}
CHILDREN = ["nats-server", "simulator", *SERVICES]


def holders(name: str) -> set[str]:
    return {c for c in CHILDREN if name in child_environment(c, ENVIRON, PROVIDER_KEYS)}


def test_provider_keys_reach_the_dispatcher_alone():
    assert holders("OPENAI_API_KEY") == {"dispatcher"}
    # a provider key named like a veil setting is still a provider key
    assert holders("VEIL_WEIRD_API_KEY") == {"dispatcher"}
    assert "GROQ_API_KEY" not in child_environment("dispatcher", ENVIRON, PROVIDER_KEYS)


def test_each_secret_setting_reaches_only_its_services():
    assert holders("VEIL_ADMIN_KEY") == {"gateway"}
    assert holders("VEIL_CLICKHOUSE_DSN") == {"metrics"}
    assert holders("VEIL_MASTER_KEY") == {"dispatcher", "metrics"}
    assert holders("HTTPS_PROXY") == {"dispatcher"}
    assert holders("AWS_SECRET_ACCESS_KEY") == set()


def test_what_a_process_needs_reaches_every_child():
    for name in ("PATH", "HOME", "LANG", "LC_ALL", "PYTHONPATH"):
        assert holders(name) == set(CHILDREN), name


def test_services_get_veil_settings_and_the_others_none():
    assert holders("VEIL_DATA_DIR") == set(SERVICES)
    for child in ("nats-server", "simulator"):
        env = child_environment(child, ENVIRON, PROVIDER_KEYS)
        assert not [name for name in env if name.startswith("VEIL_")]
