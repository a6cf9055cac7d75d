"""Numbered schema migrations and the runner that records which ran.

A shipped migration is never edited: a change is a new module `mNNNN_<what>.py` with
a one-line docstring saying why, and idempotent statements.
"""

import importlib
import logging
import pkgutil

log = logging.getLogger(__name__)

LEDGER = """
CREATE TABLE IF NOT EXISTS schema_migrations (
    version UInt32,
    name String,
    applied_at DateTime64(3, 'UTC') DEFAULT now64(3)
) ENGINE = MergeTree ORDER BY version
"""


def available() -> list[tuple[int, str, list[str]]]:
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
        for statement in statements:
            for command in clustered(statement, cluster) if cluster else [statement]:
                client.command(command)
        client.insert("schema_migrations", [[version, name]], column_names=["version", "name"])
        log.info("applied migration %s", name)
        applied.append(name)
    return applied
