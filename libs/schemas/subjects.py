"""Versioned NATS subjects, streams and KV buckets.

Content-bearing subjects (requests, routed requests, replies, samples) are core NATS
only and must never be bound to a JetStream stream: that is how no content at rest
(docs/privacy.md, invariant 1) holds on the bus.
"""

# core NATS, content-bearing, never persisted
REQUEST = "veil.request.v1"
ROUTED = "veil.routed.v1"
REPLY_PREFIX = "veil.reply.v1"  # + ".<gateway instance id>"
SAMPLE = "veil.sample.v1"
CANCEL = "veil.cancel.v1"  # broadcast: the client of this generation went away
UNDELIVERED_PREFIX = "veil.undelivered.v1"  # + ".<publisher>.<gateway>.<generation>"

# core NATS, metadata, never persisted: every gateway's recent request counts per key,
# broadcast to the other gateways so that rate limits hold across replicas
REQUEST_COUNTS = "veil.ratelimit.counts.v1"
# core NATS, metadata: "have you applied revision N of this bucket?", asked of every
# replica's mirror of it after a write (veil.kvcache), answered once it has
KV_APPLIED_PREFIX = "veil.kv.applied.v1"  # + ".<bucket>"

# JetStream, metadata only
GENERATION = "veil.generation.v1"
VERDICT = "veil.verdict.v1"  # the gateway ended a generation in error on its own
ERASE = "veil.erase.v1"  # delete prompt-log rows (the data key is destroyed already)
AUDIT = "veil.audit.v1"  # a change to what governs an account (chained per account)
SNAPSHOT = "veil.snapshot.v1"  # an effective policy that routed generations, once per hash

# JetStream, opted-in accounts' prompt log only: sealed content, its own short-lived stream
CONTENT = "veil.content.v1"
STREAM_CONTENT = "VEIL_CONTENT"
CONTENT_DURABLE = "metrics-content"
ERASE_DURABLE = "metrics-erase"
OBSERVATION = "veil.observation.v1"
DEAD_LETTER = "veil.deadletter.v1"
STREAM_GENERATIONS = "VEIL_GENERATIONS"
METRICS_DURABLE = "metrics"
VERDICTS_DURABLE = "metrics-verdicts"
AUDIT_DURABLE = "metrics-audit"
SNAPSHOTS_DURABLE = "metrics-snapshots"

# request/reply queries answered by the metrics service
QUERY_CONTENT = "veil.query.content.v1"
QUERY_CONTENT_LIST = "veil.query.content_list.v1"
QUERY_CONTENT_DELETE = "veil.query.content_delete.v1"
QUERY_GENERATION = "veil.query.generation.v1"
QUERY_GENERATIONS = "veil.query.generations.v1"
QUERY_ACTIVITY = "veil.query.activity.v1"
QUERY_RANKINGS = "veil.query.rankings.v1"
QUERY_SQL = "veil.query.sql.v1"
QUERY_CREDITS = "veil.query.credits.v1"
QUERY_AUDIT = "veil.query.audit.v1"
QUERY_AUDIT_VERIFY = "veil.query.audit_verify.v1"
QUERY_COMPLIANCE = "veil.query.compliance.v1"

# request/reply queries answered by the policy service
EXPLAIN = "veil.explain.v1"
USER_MODELS = "veil.query.user_models.v1"
COMPLIANCE_CHECK = "veil.query.compliance_check.v1"

# liveness: every service answers "veil.health.v1.<service>"
HEALTH_PREFIX = "veil.health.v1"

# JetStream KV buckets
KV_ACCOUNTS = "veil_accounts"
KV_KEYS = "veil_keys"
KV_PRIVACY = "veil_privacy"
KV_ENDPOINT_STATS = "veil_endpoint_stats"
KV_UPSTREAMS = "veil_upstreams"
KV_KEY_USAGE = "veil_key_usage"  # key id -> KeyUsage, written by metrics
KV_GUARDRAILS = "veil_guardrails"  # guardrail id -> Guardrail
KV_KEYRING = "veil_keyring"  # account id -> WrappedDataKey, for prompt logging
KV_AUDIT_HEADS = "veil_audit_heads"  # account id -> {seq, hash} of its last audit event
ENDPOINT_STATS_KEY = "last_30m"  # the one key of KV_ENDPOINT_STATS
UPSTREAMS_KEY = "callable"  # the one key of KV_UPSTREAMS

SERVICES = ("gateway", "policy", "dispatcher", "metrics", "categorizer")


def reply_subject(gateway_id: str) -> str:
    """The inbox on which one gateway instance receives chunks, finals and errors."""
    return f"{REPLY_PREFIX}.{gateway_id}"


def undelivered_subject(instance: str, reply_subject: str, generation_id: str) -> str:
    """The reply subject a hot-path publish carries: when the next hop has no subscriber,
    NATS answers "no responders" there, to the publishing connection alone, so it names
    the publisher's instance, the gateway inbox to tell and the generation."""
    gateway_id = reply_subject.rsplit(".", 1)[-1]
    return f"{UNDELIVERED_PREFIX}.{instance}.{gateway_id}.{generation_id}"


def undelivered_wildcard(instance: str) -> str:
    return f"{UNDELIVERED_PREFIX}.{instance}.*.*"


def health_subject(service: str) -> str:
    return f"{HEALTH_PREFIX}.{service}"
