"""The numbered schema migrations the metrics service applies at start."""

from pathlib import Path

import veil.metrics.migrations as migrations_package
from veil.metrics.migrations import available

MIGRATIONS_DIR = Path(migrations_package.__file__).parent


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
            assert "IF NOT EXISTS" in statement.upper(), f"{name} is not idempotent"


def test_the_two_tables_analysts_query_are_created():
    created = " ".join(s for _, _, statements in available() for s in statements)
    assert "CREATE TABLE IF NOT EXISTS generations" in created
    assert "CREATE TABLE IF NOT EXISTS category_observations" in created
