"""`veil sql`: analysts' read-only SQL, answered by the metrics service over the bus."""

import csv
import io
import sys

import nats
import orjson

from veil.bus import BUS_ERRORS, server_urls
from veil.config import CommonSettings
from veil.schemas import subjects
from veil.schemas.queries import QueryResult, SqlQuery


def render(result: QueryResult, fmt: str) -> str:
    if fmt == "json":
        return orjson.dumps(result.rows, option=orjson.OPT_INDENT_2).decode()
    if fmt == "csv":
        out = io.StringIO()
        writer = csv.writer(out)
        writer.writerow(result.columns)
        writer.writerows([row.get(c) for c in result.columns] for row in result.rows)
        return out.getvalue().rstrip("\n")
    cells = [[str(row.get(c)) for c in result.columns] for row in result.rows]
    widths = [max([len(c), *(len(r[i]) for r in cells)]) for i, c in enumerate(result.columns)]
    lines = [" | ".join(c.ljust(w) for c, w in zip(result.columns, widths, strict=True))]
    lines.append("-+-".join("-" * w for w in widths))
    lines += [" | ".join(v.ljust(w) for v, w in zip(r, widths, strict=True)) for r in cells]
    lines.append(f"({len(cells)} row{'s' if len(cells) != 1 else ''})")
    return "\n".join(lines)


async def run_sql(query: str, fmt: str) -> int:
    settings = CommonSettings()
    try:
        client = await nats.connect(
            server_urls(settings.nats_url),
            connect_timeout=2,
            max_reconnect_attempts=0,
            allow_reconnect=False,
        )
    except BUS_ERRORS as exc:
        print(f"veil sql: cannot reach NATS at {settings.nats_url}: {exc}", file=sys.stderr)
        return 2
    try:
        reply = await client.request(
            subjects.QUERY_SQL, SqlQuery(sql=query).model_dump_json().encode(), timeout=60
        )
    except BUS_ERRORS as exc:
        print(
            f"veil sql: the metrics service did not answer ({type(exc).__name__})", file=sys.stderr
        )
        return 2
    finally:
        await client.close()
    result = QueryResult.model_validate_json(reply.data)
    if result.error is not None:
        print(f"veil sql: {result.error.message}", file=sys.stderr)
        return 1
    print(render(result, fmt))
    return 0
