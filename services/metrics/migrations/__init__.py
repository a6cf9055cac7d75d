"""Numbered schema migrations and the runner that records which ran.

A shipped migration is never edited: a change is a new module `mNNNN_<what>.py` with
a one-line docstring saying why, and idempotent statements. A statement ClickHouse
cannot write idempotently (replacing a column by another of the same name) is a `When`:
run only while its condition holds, so a migration interrupted half way completes
when it runs again.
"""

import importlib
import logging
import pkgutil
from dataclasses import dataclass

log = logging.getLogger(__name__)

LEDGER = """
CREATE TABLE IF NOT EXISTS schema_migrations (
    version UInt32,
    name String,
    applied_at DateTime64(3, 'UTC') DEFAULT now64(3)
) ENGINE = MergeTree ORDER BY version
"""


@dataclass(frozen=True)
class When:
    """`statement`, run only if `condition` (a query answering one number) is not 0."""

    condition: str
    statement: str


def column_is(table: str, column: str, type_pattern: str = "%", with_default: bool = False) -> str:
    """A condition: `table` has `column`, of a type matching `type_pattern` (LIKE), and
    (`with_default`) a default expression."""
    return (
        "SELECT count() FROM system.columns WHERE database = currentDatabase() "
        f"AND table = '{table}' AND name = '{column}' AND type LIKE '{type_pattern}'"
        + (" AND default_kind != ''" if with_default else "")
    )


Step = str | When


def available() -> list[tuple[int, str, list[Step]]]:
    found = []
    for info in pkgutil.iter_modules(__path__):
        if info.name.startswith("m") and info.name[1:5].isdigit():
            module = importlib.import_module(f"{__name__}.{info.name}")
            found.append((int(info.name[1:5]), info.name, module.STATEMENTS))
    return sorted(found)


def migrate(client, cluster: str | None = None) -> list[str]:
    """Apply every migration not yet recorded, in order; return the names applied.

    With `cluster`, each statement in its replicated and sharded form on that
    ClickHouse cluster (veil.metrics.cluster_ddl)."""
    from veil.metrics.cluster_ddl import clustered, ledger

    client.command(ledger(cluster) if cluster else LEDGER)
    done = {row[0] for row in client.query("SELECT version FROM schema_migrations").result_rows}
    applied = []
    for version, name, statements in available():
        if version in done:
            continue
        for step in statements:
            if isinstance(step, When):
                if not client.query(step.condition).result_rows[0][0]:
                    continue
                step = step.statement
            for command in clustered(step, cluster) if cluster else [step]:
                client.command(command)
        client.insert("schema_migrations", [[version, name]], column_names=["version", "name"])
        log.info("applied migration %s", name)
        applied.append(name)
    return applied
