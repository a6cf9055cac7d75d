"""The migrations' ClickHouse-cluster form (VEIL_CLICKHOUSE_CLUSTER).

No ClickHouse cluster (nor Keeper) can run here, so what is checked is the DDL itself:
its shape, statement by statement, and that ClickHouse's own parser (chDB's `EXPLAIN
AST`, in a child process) accepts every statement. Executing it is left to a real
cluster; see docs/operating.md, "ClickHouse at scale"."""

import json
import subprocess
import sys

import pytest

from veil.metrics.cluster_ddl import ClusterDDLError, clustered, ledger, mutable_table
from veil.metrics.migrations import When, available
from veil.metrics.store import ClickHouseStore

CLUSTER = "veil_cluster"


def every_statement() -> list[str]:
    return [
        command
        for _, _, statements in available()
        for step in statements
        for command in clustered(step.statement if isinstance(step, When) else step, CLUSTER)
    ]


def test_each_table_is_replicated_locally_and_distributed_in_front():
    commands = every_statement()
    creates = [c for c in commands if c.startswith("CREATE")]
    locals_ = {c.split()[5]: c for c in creates if "_local ON CLUSTER" in c.split("(")[0]}
    assert set(locals_) == {
        "generations_local",
        "category_observations_local",
        "content_records_local",
        "audit_events_local",
        "policy_snapshots_local",
    }
    for command in locals_.values():
        assert f"ON CLUSTER {CLUSTER}" in command
        assert "'/clickhouse/tables/{shard}/{database}/{table}', '{replica}'" in command
    # the engines keep their semantics, replicated
    assert "ENGINE = ReplicatedReplacingMergeTree(" in locals_["generations_local"]
    assert ", inserted_at)" in locals_["generations_local"]  # the version column stays
    assert "ENGINE = ReplicatedSummingMergeTree(" in locals_["category_observations_local"]
    assert "TTL expires_at DELETE" in locals_["content_records_local"]  # the prompt log expires
    assert "ORDER BY (account_id, created_at, generation_id)" in locals_["generations_local"]
    distributed = [c for c in creates if "ENGINE = Distributed(" in c]
    assert (
        f"CREATE TABLE IF NOT EXISTS generations ON CLUSTER {CLUSTER} AS generations_local "
        f"ENGINE = Distributed({CLUSTER}, currentDatabase(), generations_local, "
        "cityHash64(account_id))"
    ) in distributed
    assert len(distributed) == 5
    # an account's audit chain lives on one shard, to be walked in order
    assert "audit_events_local, cityHash64(account_id))" in " ".join(distributed)


def test_an_alter_changes_the_local_tables_and_the_distributed_one():
    alters = [c for c in every_statement() if c.startswith("ALTER")]
    assert any(
        c.startswith(f"ALTER TABLE generations_local ON CLUSTER {CLUSTER} ADD COLUMN")
        for c in alters
    )
    assert any(
        c.startswith(f"ALTER TABLE generations ON CLUSTER {CLUSTER} ADD COLUMN") for c in alters
    )
    # each on both, except a mutation: a Distributed table holds no data to rewrite
    mutations = [c for c in alters if " MATERIALIZE " in c]
    assert mutations
    assert all(c.startswith("ALTER TABLE generations_local") for c in mutations)
    assert (len(alters) - len(mutations)) % 2 == 0


def test_a_table_without_a_sharding_key_or_an_unknown_statement_is_refused():
    with pytest.raises(ClusterDDLError, match="no sharding key"):
        clustered("CREATE TABLE IF NOT EXISTS t (a String) ENGINE = MergeTree ORDER BY a", CLUSTER)
    with pytest.raises(ClusterDDLError, match="no cluster form"):
        clustered("DROP TABLE generations", CLUSTER)
    with pytest.raises(ClusterDDLError, match="cluster name"):
        clustered("ALTER TABLE generations DROP COLUMN x", "a; DROP")


def test_deletes_name_the_local_tables_and_chdb_refuses_a_cluster():
    assert mutable_table("content_records", None) == "content_records"
    assert (
        mutable_table("content_records", CLUSTER) == f"content_records_local ON CLUSTER {CLUSTER}"
    )
    with pytest.raises(ValueError, match="ClickHouse server"):
        ClickHouseStore("chdb:///tmp/x", cluster=CLUSTER)


PARSE = """
import json, sys, chdb
failed = []
for statement in json.load(sys.stdin):
    try:
        chdb.query("EXPLAIN AST " + statement, "CSV")
    except Exception as exc:
        failed.append((statement[:120], str(exc)[:300]))
print(json.dumps(failed))
"""


def test_clickhouse_parses_every_statement():
    statements = [*every_statement(), ledger(CLUSTER)]
    statements.append(
        f"DELETE FROM {mutable_table('content_records', CLUSTER)} WHERE account_id = 'a'"
    )
    statements.append("CREATE TABLE t ON CLUSTR c (a String) ENGINE = Memory")  # a control
    done = subprocess.run(
        [sys.executable, "-c", PARSE],
        input=json.dumps(statements), capture_output=True, text=True, timeout=120,
    )  # fmt: skip
    assert done.returncode == 0, done.stderr
    failed = json.loads(done.stdout.strip().splitlines()[-1])
    assert [f[0] for f in failed] == [statements[-1][:120]], failed  # only the control
