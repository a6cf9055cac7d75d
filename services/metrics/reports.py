"""The queries behind the read APIs: aggregation happens in ClickHouse."""

from typing import Any

import orjson

from veil.metrics.store import ClickHouseStore
from veil.schemas.categories import CATEGORIZER_ACCOUNT

GENERATION = """
SELECT generation_id AS id, created_at, model, provider, upstream_model, upstream_id,
       tokens_prompt, tokens_completion, tokens_cached, tokens_reasoning, tokens_estimated,
       latency_ms AS latency, generation_time_ms AS generation_time,
       time_to_first_token_ms AS time_to_first_token, total_cost, status, error_code,
       finish_reason, native_finish_reason, streamed, cancelled, logged, provider_responses
FROM generations FINAL
WHERE account_id = {account:String} AND generation_id = {generation:String}
LIMIT 1
"""

# GET /generations: the same columns, newest first, continuing after a (time, id) cursor.
GENERATIONS = GENERATION.replace("AND generation_id = {generation:String}", "{before}").replace(
    "LIMIT 1", "ORDER BY created_at DESC, generation_id DESC\nLIMIT {limit:UInt32}"
)

ACTIVITY = """
SELECT toDate(created_at) AS date, model, provider, count() AS requests,
       sum(tokens_prompt) AS prompt_tokens, sum(tokens_completion) AS completion_tokens,
       sum(total_cost) AS usage
FROM generations FINAL
WHERE account_id = {account:String} AND created_at >= now64(3) - INTERVAL {days:UInt16} DAY
GROUP BY date, model, provider
ORDER BY date DESC, usage DESC, model, provider
"""

# Rankings are public to every key, so they show no one's usage as it happens: only
# closed hours count (nothing moves while a request is made), and a model appears only
# once at least k accounts used it in the period (overall) or k observations fell in
# its category (categories carry no account to count).
RANKINGS = """
SELECT model, sum(tokens_prompt + tokens_completion) AS tokens, count() AS requests
FROM generations FINAL
WHERE created_at >= toStartOfHour(now64(3)) - INTERVAL {days:UInt16} DAY
  AND created_at < toStartOfHour(now64(3)) AND status = 'ok'
  AND account_id != {internal:String}
GROUP BY model
HAVING uniqExact(account_id) >= {k:UInt32}
ORDER BY tokens DESC, model
"""

CATEGORY_RANKINGS = """
SELECT model, sum(observations) AS observations
FROM category_observations
WHERE category = {category:String}
  AND hour >= toStartOfHour(now()) - INTERVAL {days:UInt16} DAY
  AND hour < toStartOfHour(now())
GROUP BY model
HAVING observations >= {k:UInt32}
ORDER BY observations DESC, model
"""

PERIOD_DAYS = {"day": 1, "week": 7}


async def generation(store: ClickHouseStore, account: str, generation_id: str) -> list[dict]:
    _, rows = await store.query(GENERATION, {"account": account, "generation": generation_id})
    for row in rows:
        row["provider_responses"] = orjson.loads(row["provider_responses"] or "[]")
    return rows


async def generations(
    store: ClickHouseStore, account: str, limit: int, before: tuple[str, str] | None
) -> list[dict[str, Any]]:
    parameters: dict[str, Any] = {"account": account, "limit": limit}
    condition = ""
    if before is not None:
        condition = (
            "AND (created_at, generation_id) < "
            "(parseDateTime64BestEffort({before_at:String}, 3, 'UTC'), {before_id:String})"
        )
        parameters.update(before_at=before[0], before_id=before[1])
    _, rows = await store.query(GENERATIONS.replace("{before}", condition), parameters)
    for row in rows:
        row["provider_responses"] = orjson.loads(row["provider_responses"] or "[]")
    return rows


async def activity(store: ClickHouseStore, account: str, days: int) -> list[dict[str, Any]]:
    _, rows = await store.query(ACTIVITY, {"account": account, "days": days})
    return rows


async def rankings(
    store: ClickHouseStore, period: str, category: str | None, k: int
) -> list[dict[str, Any]]:
    days = PERIOD_DAYS[period]
    if category is None:
        # veil's own categorizer account is not a user: it neither ranks nor counts to k
        parameters = {"days": days, "k": k, "internal": CATEGORIZER_ACCOUNT}
        _, rows = await store.query(RANKINGS, parameters)
    else:
        _, rows = await store.query(CATEGORY_RANKINGS, {"category": category, "days": days, "k": k})
    return rows
