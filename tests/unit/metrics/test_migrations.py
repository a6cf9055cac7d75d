"""The numbered schema migrations the metrics service applies at start."""

import json
import subprocess
import sys
from pathlib import Path

import pytest

import veil.metrics.migrations as migrations_package
from veil.metrics.migrations import When, available

MIGRATIONS_DIR = Path(migrations_package.__file__).parent
DOCS = Path(__file__).resolve().parents[3] / "docs"


def test_versions_start_at_one_and_follow_in_order():
    versions = [version for version, _, _ in available()]
    assert versions == list(range(1, len(versions) + 1))
    assert len(versions) >= 2


def test_names_are_the_migration_modules():
    names = [name for _, name, _ in available()]
    files = sorted(p.stem for p in MIGRATIONS_DIR.glob("m[0-9][0-9][0-9][0-9]_*.py"))
    assert names == files
    for version, name, _ in available():
        assert name.startswith(f"m{version:04d}_")


def test_every_migration_has_statements_and_all_are_idempotent():
    for _, name, statements in available():
        assert statements, f"{name} has no statements"
        for statement in statements:
            if isinstance(statement, When):
                continue  # run only while its condition says it is still to do
            text = statement.upper()
            assert "IF NOT EXISTS" in text or "IF EXISTS" in text, f"{name} is not idempotent"


def test_the_two_tables_analysts_query_are_created():
    created = " ".join(
        s for _, _, statements in available() for s in statements if isinstance(s, str)
    )
    assert "CREATE TABLE IF NOT EXISTS generations" in created
    assert "CREATE TABLE IF NOT EXISTS category_observations" in created


# In a child process: chDB holds one data directory per process.
CARRY_OVER = r"""
import json, re, sys
import clickhouse_connect
import orjson
from veil.metrics.migrations import LEDGER, When, available, migrate

path, stop_after = sys.argv[1], int(sys.argv[2])
client = clickhouse_connect.get_client(dsn=f"chdb://{path}")
migrate_before = [m for m in available() if m[0] < 5]
client.command(LEDGER)
for version, name, statements in migrate_before:
    for statement in statements:
        client.command(statement)
    client.insert("schema_migrations", [[version, name]], column_names=["version", "name"])

# Rows as veil wrote them before m0005: a count and a JSON string.
old = [
    ("gen-a", 2, [{"model": "acme/large", "provider": "acme", "status": 429,
                   "error": "rate_limited", "latency_ms": 12.345678},
                  {"model": "acme/large", "provider": "bolt", "status": 200, "error": None,
                   "latency_ms": 80.5}]),
    ("gen-b", 0, []),
]
client.insert(
    "generations",
    [[g, "acct-1", "key-1", 1736942400, "acme/large", "bolt", "large-v2", 1, 1, False, 1.0,
      1.0, None, 0.0, "ok", None, "stop", False, False, n, orjson.dumps(a).decode()]
     for g, n, a in old],
    column_names=["generation_id", "account_id", "key_id", "created_at", "model", "provider",
                  "upstream_model", "tokens_prompt", "tokens_completion", "tokens_estimated",
                  "latency_ms", "generation_time_ms", "time_to_first_token_ms", "total_cost",
                  "status", "error_code", "finish_reason", "streamed", "cancelled", "attempts",
                  "provider_responses"],
)
client.insert("generations", [["gen-c", "acct-1", "key-1", 1736942400, "acme/large", "bolt",
    "large-v2", 1, 1, False, 1.0, 1.0, None, 0.0, "ok", None, "stop", False, False, 0, ""]],
    column_names=["generation_id", "account_id", "key_id", "created_at", "model", "provider",
                  "upstream_model", "tokens_prompt", "tokens_completion", "tokens_estimated",
                  "latency_ms", "generation_time_ms", "time_to_first_token_ms", "total_cost",
                  "status", "error_code", "finish_reason", "streamed", "cancelled", "attempts",
                  "provider_responses"])

# An interrupted earlier run: only the first `stop_after` steps of m0005 were applied.
[(_, _, steps)] = [m for m in available() if m[0] == 5]
for step in steps[:stop_after]:
    if isinstance(step, When):
        if not client.query(step.condition).result_rows[0][0]:
            continue
        step = step.statement
    client.command(step)

applied = migrate(client)
columns = dict(client.query("SELECT name, type FROM system.columns WHERE "
                            "database = currentDatabase() AND table = 'generations'").result_rows)
rows = client.query("SELECT generation_id, attempts, length(attempts) FROM generations "
                    "ORDER BY generation_id").result_rows
# The analysts' documented SQL that reads attempts runs on the migrated table.
doc = open(sys.argv[3]).read()
documented = [q for q in re.findall(r"```sql\n(.*?)```", doc, re.S) if "attempts" in q]
answers = [client.query(q.replace("now() - INTERVAL 1 DAY", "toDateTime(0)")).result_rows
           for q in documented]
print(json.dumps({"applied": applied, "columns": columns, "rows": rows,
                  "documented": len(documented), "answers": answers}, default=str))
"""


@pytest.mark.parametrize("stop_after", [0, 1, 2, 3, 4])
def test_m0005_carries_old_attempts_over_into_typed_columns(tmp_path, stop_after):
    done = subprocess.run(
        [sys.executable, "-c", CARRY_OVER, str(tmp_path / "ch"), str(stop_after),
         str(DOCS / "analysts.md")],
        capture_output=True, text=True, timeout=120,
    )  # fmt: skip
    assert done.returncode == 0, done.stderr[-3000:]
    found = json.loads(done.stdout.strip().splitlines()[-1])
    assert found["applied"] == [
        "m0005_typed_attempts",
        "m0006_generation_guardrails",
        "m0007_content_filter_counts",
        "m0008_generation_api_type",
        "m0009_audit_and_policy_snapshots",
    ]
    assert "provider_responses" not in found["columns"]
    assert found["columns"]["attempts"].startswith("Array(Tuple(model LowCardinality(String)")
    by_id = {g: (attempts, count) for g, attempts, count in found["rows"]}
    assert by_id["gen-a"] == (
        [
            {"model": "acme/large", "provider": "acme", "status": 429, "error": "rate_limited",
             "latency_ms": 12.345678},
            {"model": "acme/large", "provider": "bolt", "status": 200, "error": None,
             "latency_ms": 80.5},
        ],
        2,
    )  # fmt: skip
    assert by_id["gen-b"] == ([], 0)
    assert by_id["gen-c"] == ([], 0)  # an empty string held no attempts either
    assert found["documented"] >= 1
    # the analysts' error rate per provider: acme failed its one try, bolt served
    [error_rates] = found["answers"]
    assert sorted(error_rates) == [["acme", 1, 1.0], ["bolt", 1, 0.0]]
