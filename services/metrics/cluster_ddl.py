"""Migrations for a ClickHouse cluster (`VEIL_CLICKHOUSE_CLUSTER`): the same numbered
statements, rewritten so that every table is replicated and sharded.

For each table a migration creates, the cluster gets:
- `<table>_local` on every node (`ON CLUSTER`), its engine the `Replicated*` form of
  the one written (ReplacingMergeTree stays replacing, SummingMergeTree summing), with
  its data at `/clickhouse/tables/{shard}/{database}/{table}` in Keeper;
- `<table>`, a `Distributed` table in front of them on every node: metrics replicas
  insert into it and queries read it, under the same name as on a single server, so
  nothing else in veil changes.

Rows are sharded by a key chosen per table (`SHARDING`) so that everything that must
meet in a merge meets on one shard: a generation's redelivered event replaces its row
only if both land on the same shard, hence generations by account (a generation never
changes account). A migration creating a table without a sharding key here fails
loudly. An `ALTER TABLE` is applied to the local tables and to the Distributed one,
except one that rewrites data (MATERIALIZE, UPDATE, DELETE): the local tables only.

Inserts through a Distributed table are made synchronous (`insert_distributed_sync`),
so that metrics acknowledges an event only once its shard has it; deletes (the prompt
log's erasure) go to the local tables `ON CLUSTER` (`mutable_table`).
"""

import re

SHARDING = {
    "generations": "cityHash64(account_id)",
    "content_records": "cityHash64(account_id)",
    "category_observations": "cityHash64(category, model)",
    "audit_events": "cityHash64(account_id)",  # an account's chain on one shard
    "policy_snapshots": "cityHash64(hash)",
}
# Session settings for a client writing through Distributed tables.
INSERT_SETTINGS = {"insert_distributed_sync": 1}

_CREATE = re.compile(
    r"^\s*CREATE TABLE IF NOT EXISTS (?P<name>\w+)\s*(?P<columns>\(.*\))\s*"
    r"ENGINE\s*=\s*(?P<engine>\w*MergeTree)(?:\((?P<args>[^)]*)\))?(?P<rest>.*)$",
    re.DOTALL,
)
_ALTER = re.compile(r"^\s*ALTER TABLE (?P<name>\w+)\s+(?P<rest>.*)$", re.DOTALL)


_MUTATION = re.compile(r"^\s*(MATERIALIZE|UPDATE|DELETE)\b", re.IGNORECASE)


class ClusterDDLError(ValueError):
    pass


def _replicated(engine: str, args: str | None) -> str:
    path = "'/clickhouse/tables/{shard}/{database}/{table}', '{replica}'"
    extra = (args or "").strip()
    return f"Replicated{engine}({path}{', ' + extra if extra else ''})"


def clustered(statement: str, cluster: str) -> list[str]:
    """The statements that do on `cluster` what `statement` does on one server."""
    if not re.fullmatch(r"\w+", cluster):
        raise ClusterDDLError(f"cluster name {cluster!r}: letters, digits and _ only")
    create = _CREATE.match(statement)
    if create is not None:
        name = create["name"]
        if name not in SHARDING:
            raise ClusterDDLError(f"table {name}: no sharding key in veil.metrics.cluster_ddl")
        engine = _replicated(create["engine"], create["args"])
        local = (
            f"CREATE TABLE IF NOT EXISTS {name}_local ON CLUSTER {cluster} "
            f"{create['columns']} ENGINE = {engine}{create['rest']}"
        )
        distributed = (
            f"CREATE TABLE IF NOT EXISTS {name} ON CLUSTER {cluster} AS {name}_local "
            f"ENGINE = Distributed({cluster}, currentDatabase(), {name}_local, {SHARDING[name]})"
        )
        return [local, distributed]
    alter = _ALTER.match(statement)
    if alter is not None:
        name, rest = alter["name"], alter["rest"]
        local = f"ALTER TABLE {name}_local ON CLUSTER {cluster} {rest}"
        if _MUTATION.match(rest):
            return [local]  # rewrites data: a Distributed table holds none
        return [local, f"ALTER TABLE {name} ON CLUSTER {cluster} {rest}"]
    raise ClusterDDLError(f"no cluster form for: {statement.strip()[:80]}")


def mutable_table(name: str, cluster: str | None) -> str:
    """What a DELETE names: the table itself on one server; on a cluster, its local
    tables on every node (a Distributed table takes no mutation)."""
    return f"{name}_local ON CLUSTER {cluster}" if cluster else name


def ledger(cluster: str) -> str:
    """The record of applied migrations: one replica set spanning every node (no shard
    in its Keeper path), so any metrics replica reads the same ledger."""
    return f"""
CREATE TABLE IF NOT EXISTS schema_migrations ON CLUSTER {cluster} (
    version UInt32,
    name String,
    applied_at DateTime64(3, 'UTC') DEFAULT now64(3)
) ENGINE = ReplicatedMergeTree('/clickhouse/tables/veil/{{database}}/{{table}}', '{{replica}}')
ORDER BY version
"""
