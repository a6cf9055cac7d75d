"""The policy service's live state: catalog, settings, callable providers, statistics."""

from dataclasses import dataclass, field

from veil.catalog import CatalogIndex
from veil.kvcache import KVCache
from veil.policy.eligibility import EndpointStats, RoutingContext
from veil.schemas.accounts import EndpointStatsSnapshot, PrivacySettings, UpstreamAvailability
from veil.schemas.bus import RequestEnvelope

UPSTREAMS_KEY = "callable"
STATS_KEY = "last_30m"


@dataclass
class PolicyState:
    index: CatalogIndex
    privacy: KVCache[PrivacySettings]
    upstreams: KVCache[UpstreamAvailability]
    stats: KVCache[EndpointStatsSnapshot]
    sample_rate: float
    unhealthy_error_rate: float
    _stats_view: tuple[int, dict[tuple[str, str], EndpointStats]] = field(
        default=(-1, {}), init=False
    )

    def endpoint_stats(self) -> dict[tuple[str, str], EndpointStats]:
        """The latest snapshot as a lookup table, rebuilt only when it changes."""
        revision = self.stats.revisions.get(STATS_KEY, 0)
        if self._stats_view[0] != revision:
            snapshot = self.stats.get(STATS_KEY)
            table = {
                (s.model, s.provider): EndpointStats(s.latency_ms, s.throughput_tps, s.error_rate)
                for s in (snapshot.endpoints if snapshot else [])
            }
            self._stats_view = (revision, table)
        return self._stats_view[1]

    async def context_for(self, envelope: RequestEnvelope) -> RoutingContext:
        account = envelope.account_id
        # The gateway tells which settings revision it knows of, so a PATCH applies to
        # the very next request even if this replica's watcher has not caught up yet.
        if self.privacy.revisions.get(account, 0) < envelope.settings_revision:
            await self.privacy.refresh(account)
        availability = self.upstreams.get(UPSTREAMS_KEY)
        return RoutingContext(
            index=self.index,
            settings=self.privacy.get(account) or PrivacySettings(),
            callable_providers=availability.providers if availability else None,
            stats=self.endpoint_stats(),
            unhealthy_error_rate=self.unhealthy_error_rate,
        )
