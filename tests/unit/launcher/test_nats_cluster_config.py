"""VEIL_NATS_URL as a cluster's nodes, and a cluster node's nats-server config."""

from veil.bus import server_urls
from veil.launcher.supervisor import nats_server_argv


def test_one_url_or_a_comma_separated_list_of_nodes():
    assert server_urls("nats://127.0.0.1:4222") == ["nats://127.0.0.1:4222"]
    assert server_urls(" nats://a:4222, nats://b:4222 ,nats://c:4222,") == [
        "nats://a:4222",
        "nats://b:4222",
        "nats://c:4222",
    ]


def test_a_single_server_has_no_cluster_block(tmp_path):
    argv = nats_server_argv("127.0.0.1", 4222, tmp_path, 8 << 20)
    config = (tmp_path / "nats-server.conf").read_text()
    assert "cluster" not in config
    assert "max_payload" in config
    assert "-m" not in argv


def test_a_cluster_node_routes_to_the_others_and_keeps_its_own_store(tmp_path):
    node = tmp_path / "nats-2"
    argv = nats_server_argv(
        "127.0.0.1", 4223, node, 8 << 20, "nats-2",
        cluster_port=6223, routes=["nats-route://127.0.0.1:6222", "nats-route://127.0.0.1:6224"],
        monitor_port=8223,
    )  # fmt: skip
    config = (node / "nats-server.conf").read_text()
    assert "max_payload: 9437184" in config  # the body limit plus the bus overhead
    assert "listen: 127.0.0.1:6223" in config
    assert "routes: [nats-route://127.0.0.1:6222, nats-route://127.0.0.1:6224]" in config
    assert argv[argv.index("-sd") + 1] == str(node / "nats")
    assert argv[argv.index("--server_name") + 1] == "nats-2"
    assert argv[argv.index("-m") + 1] == "8223"
