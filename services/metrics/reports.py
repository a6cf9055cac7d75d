"""The queries behind the read APIs: aggregation happens in ClickHouse."""

from veil.metrics.store import ClickHouseStore, continued_after
from veil.schemas.categories import CATEGORIZER_ACCOUNT
from veil.schemas.queries import (
    ActivityResult,
    CategoryRanking,
    GenerationListResult,
    GenerationRecord,
    GenerationResult,
    ModelRanking,
    RankingsResult,
)

GENERATION = """
SELECT generation_id AS id, created_at, model, provider, upstream_model, upstream_id,
       tokens_prompt, tokens_completion, tokens_cached, tokens_reasoning, tokens_estimated,
       latency_ms AS latency, generation_time_ms AS generation_time,
       time_to_first_token_ms AS time_to_first_token, total_cost, status, error_code,
       finish_reason, native_finish_reason, streamed, cancelled, logged,
       attempts AS provider_responses, guardrails, redactions, flagged, blocked_by,
       api_type
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
       sum(total_cost) AS usage, sumMap(redactions) AS redactions
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


async def generation(store: ClickHouseStore, account: str, generation_id: str) -> GenerationResult:
    found = await store.query(GENERATION, {"account": account, "generation": generation_id})
    if not found.rows:
        return GenerationResult()
    return GenerationResult(generation=GenerationRecord.model_validate(found.rows[0]))


async def generations(
    store: ClickHouseStore, account: str, limit: int, before: tuple[str, str] | None
) -> GenerationListResult:
    condition, parameters = continued_after(before)
    parameters.update(account=account, limit=limit)
    found = await store.query(GENERATIONS.replace("{before}", condition), parameters)
    return GenerationListResult(
        generations=[GenerationRecord.model_validate(row) for row in found.rows]
    )


async def activity(store: ClickHouseStore, account: str, days: int) -> ActivityResult:
    found = await store.query(ACTIVITY, {"account": account, "days": days})
    return ActivityResult.model_validate({"rows": found.rows})


async def rankings(
    store: ClickHouseStore, period: str, category: str | None, k: int
) -> RankingsResult:
    days = PERIOD_DAYS[period]
    if category is None:
        # veil's own categorizer account is not a user: it neither ranks nor counts to k
        parameters = {"days": days, "k": k, "internal": CATEGORIZER_ACCOUNT}
        overall = await store.query(RANKINGS, parameters)
        return RankingsResult(rows=[ModelRanking.model_validate(r) for r in overall.rows])
    parameters = {"category": category, "days": days, "k": k}
    in_category = await store.query(CATEGORY_RANKINGS, parameters)
    return RankingsResult(rows=[CategoryRanking.model_validate(r) for r in in_category.rows])
