"""The live endpoint statistics metrics publishes, as the gateway and policy read them."""

from nats.js.kv import KeyValue

from veil.kvcache import KVCache
from veil.schemas import subjects
from veil.schemas.accounts import EndpointStat, EndpointStatsSnapshot


class EndpointStatsCache(KVCache[EndpointStatsSnapshot]):
    """KV `veil_endpoint_stats` mirrored, with its one snapshot as a lookup table by
    (model, provider), rebuilt only when a new snapshot arrives (once a minute): routing
    reads it for every request."""

    def __init__(self, kv: KeyValue):
        super().__init__(kv, EndpointStatsSnapshot)
        self._table: tuple[int, dict[tuple[str, str], EndpointStat]] = (-1, {})

    def by_endpoint(self) -> dict[tuple[str, str], EndpointStat]:
        revision = self.revisions.get(subjects.ENDPOINT_STATS_KEY, 0)
        if self._table[0] != revision:
            snapshot = self.get(subjects.ENDPOINT_STATS_KEY)
            table = {(s.model, s.provider): s for s in (snapshot.endpoints if snapshot else [])}
            self._table = (revision, table)
        return self._table[1]
