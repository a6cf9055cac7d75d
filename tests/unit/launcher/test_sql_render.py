"""`veil sql` output: an aligned table, CSV or JSON."""

import csv
import io

import orjson

from veil.launcher.sqlcli import render
from veil.schemas.queries import QueryResult

RESULT = QueryResult(
    columns=["model", "requests", "cost"],
    rows=[
        {"model": "acme/large", "requests": 12, "cost": 0.5},
        {"model": "b/x", "requests": 3, "cost": None},
    ],
)


def test_table_aligns_columns_and_counts_rows():
    assert render(RESULT, "table").splitlines() == [
        "model      | requests | cost",
        "-----------+----------+-----",
        "acme/large | 12       | 0.5 ",
        "b/x        | 3        | None",
        "(2 rows)",
    ]


def test_table_of_one_row_says_row():
    result = QueryResult(columns=["n"], rows=[{"n": 1}])
    assert render(result, "table").splitlines()[-1] == "(1 row)"


def test_table_without_rows_still_shows_the_header():
    result = QueryResult(columns=["model", "requests"], rows=[])
    assert render(result, "table").splitlines() == [
        "model | requests",
        "------+---------",
        "(0 rows)",
    ]


def test_table_follows_the_column_order_not_the_row_order():
    result = QueryResult(columns=["b", "a"], rows=[{"a": 1, "b": 2}])
    assert render(result, "table").splitlines()[2] == "2 | 1"


def test_csv_has_a_header_and_quotes_where_needed():
    result = QueryResult(
        columns=["model", "note"],
        rows=[{"model": "acme/large", "note": 'slow, "sometimes"'}, {"model": "b/x", "note": None}],
    )
    text = render(result, "csv")
    assert list(csv.reader(io.StringIO(text))) == [
        ["model", "note"],
        ["acme/large", 'slow, "sometimes"'],
        ["b/x", ""],
    ]
    assert not text.endswith("\n")


def test_json_is_the_list_of_rows():
    text = render(RESULT, "json")
    assert orjson.loads(text) == RESULT.rows
    assert "\n  " in text  # indented for reading
