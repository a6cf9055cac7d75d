"""The policy service's live state: catalog, settings, callable providers, statistics."""

from dataclasses import dataclass, field

from faststream.nats import NatsBroker

from veil.catalog import CatalogIndex
from veil.kvcache import KVCache
from veil.policy.eligibility import EndpointStats, RoutingContext
from veil.schemas import subjects
from veil.schemas.accounts import EndpointStatsSnapshot, PrivacySettings, UpstreamAvailability


@dataclass
class PolicyState:
    index: CatalogIndex
    sample_rate: float
    unhealthy_error_rate: float
    privacy: KVCache[PrivacySettings] = field(init=False)
    upstreams: KVCache[UpstreamAvailability] = field(init=False)
    stats: KVCache[EndpointStatsSnapshot] = field(init=False)
    _stats_view: tuple[int, dict[tuple[str, str], EndpointStats]] = field(
        default=(-1, {}), init=False
    )

    async def connect(self, broker: NatsBroker) -> None:
        """Mirror the KV buckets routing reads; called once the broker is connected."""
        # The buckets exist (veil.bus.ensure_streams made them, with their replicas).
        self.privacy = KVCache(
            await broker.key_value(subjects.KV_PRIVACY, declare=False), PrivacySettings
        )
        self.upstreams = KVCache(
            await broker.key_value(subjects.KV_UPSTREAMS, declare=False), UpstreamAvailability
        )
        self.stats = KVCache(
            await broker.key_value(subjects.KV_ENDPOINT_STATS, declare=False),
            EndpointStatsSnapshot,
        )
        for cache in (self.privacy, self.upstreams, self.stats):
            await cache.start()

    async def close(self) -> None:
        for cache in (self.privacy, self.upstreams, self.stats):
            await cache.stop()

    def endpoint_stats(self) -> dict[tuple[str, str], EndpointStats]:
        """The latest snapshot as a lookup table, rebuilt only when it changes."""
        revision = self.stats.revisions.get(subjects.ENDPOINT_STATS_KEY, 0)
        if self._stats_view[0] != revision:
            snapshot = self.stats.get(subjects.ENDPOINT_STATS_KEY)
            table = {
                (s.model, s.provider): EndpointStats(s.latency_ms, s.throughput_tps, s.error_rate)
                for s in (snapshot.endpoints if snapshot else [])
            }
            self._stats_view = (revision, table)
        return self._stats_view[1]

    async def context_for_account(self, account: str, settings_revision: int) -> RoutingContext:
        # The gateway tells which settings revision it knows of, so a PATCH applies to
        # the very next request even if this replica's watcher has not caught up yet.
        if self.privacy.revisions.get(account, 0) < settings_revision:
            await self.privacy.refresh(account)
        availability = self.upstreams.get(subjects.UPSTREAMS_KEY)
        return RoutingContext(
            index=self.index,
            settings=self.privacy.get(account) or PrivacySettings(),
            callable_providers=availability.providers if availability else None,
            stats=self.endpoint_stats(),
            unhealthy_error_rate=self.unhealthy_error_rate,
        )
