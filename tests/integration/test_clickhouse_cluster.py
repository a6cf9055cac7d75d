"""metrics against a ClickHouse cluster: Replicated tables ON CLUSTER, a Distributed
table in front. Runs when VEIL_TEST_CLICKHOUSE_URL names a node of a cluster and
VEIL_TEST_CLICKHOUSE_CLUSTER its name (as in the servers' remote_servers, with Keeper
configured); skipped, saying so, otherwise. The DDL itself is unit-tested
(tests/unit/metrics/test_cluster_ddl.py)."""

import os

import pytest

from tests.integration.test_metrics import event, eventually, publish, sql_value


@pytest.fixture
def clickhouse_cluster() -> tuple[str, str]:
    url = os.environ.get("VEIL_TEST_CLICKHOUSE_URL")
    cluster = os.environ.get("VEIL_TEST_CLICKHOUSE_CLUSTER")
    if not (url and cluster):
        pytest.skip(
            "no ClickHouse cluster: set VEIL_TEST_CLICKHOUSE_URL (a node) and "
            "VEIL_TEST_CLICKHOUSE_CLUSTER (its cluster name) to run this"
        )
    return url, cluster


async def test_metrics_writes_through_a_clickhouse_cluster(make_stack, clickhouse_cluster):
    url, cluster = clickhouse_cluster
    stack = make_stack(VEIL_CLICKHOUSE_DSN=url, VEIL_CLICKHOUSE_CLUSTER=cluster)
    # an event, then its redelivery under another message id: one row, as on one server
    await publish(stack, [event("gen-cluster-1"), event("gen-cluster-1")], ["a", "b"])
    count = "SELECT count() FROM generations FINAL WHERE generation_id = 'gen-cluster-1'"
    assert await eventually(lambda: sql_value(stack, count) == "1")
    import clickhouse_connect

    direct = clickhouse_connect.get_client(dsn=url)
    engines = dict(
        direct.query(
            "SELECT name, engine FROM system.tables WHERE database = currentDatabase() "
            "AND name IN ('generations', 'generations_local')"
        ).result_rows
    )
    assert engines == {
        "generations": "Distributed",
        "generations_local": "ReplicatedReplacingMergeTree",
    }
