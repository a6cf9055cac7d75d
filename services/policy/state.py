"""The policy service's live state: catalog, settings, callable providers, statistics."""

import time
from dataclasses import dataclass, field

from faststream.nats import NatsBroker

from veil.bus import publish_durably
from veil.catalog import CatalogIndex
from veil.endpoint_stats import EndpointStatsCache
from veil.guardrails import GuardrailIndex
from veil.kvcache import KVCache
from veil.policy.candidates import RoutingContext
from veil.policy.compliance import Snapshots
from veil.schemas import subjects
from veil.schemas.accounts import PrivacySettings, UpstreamAvailability
from veil.schemas.audit import PolicySnapshot
from veil.schemas.guardrails import Guardrail, GuardrailRules


@dataclass
class PolicyState:
    index: CatalogIndex
    sample_rate: float
    unhealthy_error_rate: float
    privacy: KVCache[PrivacySettings] = field(init=False)
    guardrails: KVCache[Guardrail] = field(init=False)
    applying: GuardrailIndex = field(init=False)
    upstreams: KVCache[UpstreamAvailability] = field(init=False)
    stats: EndpointStatsCache = field(init=False)
    snapshots: Snapshots = field(init=False)

    async def connect(self, broker: NatsBroker) -> None:
        """Mirror the KV buckets routing reads; called once the broker is connected."""
        # The buckets exist (veil.bus.ensure_streams made them, with their replicas).
        self.privacy = KVCache(
            await broker.key_value(subjects.KV_PRIVACY, declare=False), PrivacySettings
        )
        self.guardrails = KVCache(
            await broker.key_value(subjects.KV_GUARDRAILS, declare=False), Guardrail
        )
        self.applying = GuardrailIndex(self.guardrails, self.privacy)
        self.upstreams = KVCache(
            await broker.key_value(subjects.KV_UPSTREAMS, declare=False), UpstreamAvailability
        )
        self.stats = EndpointStatsCache(
            await broker.key_value(subjects.KV_ENDPOINT_STATS, declare=False)
        )
        for cache in self._caches:
            await cache.start()
        connection = broker.connection

        async def publish(snapshot: PolicySnapshot) -> bool:
            # The same hash, the same message id: the stream keeps one of each.
            msg_id = f"snapshot-{snapshot.hash}"
            return await publish_durably(
                connection, subjects.SNAPSHOT, snapshot, msg_id, give_up_after=10
            )

        self.snapshots = Snapshots(publish)

    @property
    def _caches(self) -> tuple[KVCache, ...]:  # type: ignore[type-arg]
        return (self.privacy, self.guardrails, self.upstreams, self.stats)

    async def close(self) -> None:
        for cache in self._caches:
            await cache.stop()

    async def context_for_account(
        self,
        account: str,
        settings_revision: int,
        key_id: str | None = None,
        preview: GuardrailRules | None = None,
    ) -> RoutingContext:
        """What routes a request of this account made with this key: its settings, the
        guardrails that hold for the key (and a previewed one), and the live state."""
        # The gateway tells which settings revision it knows of, so a PATCH applies to
        # the very next request even if this replica's watcher has not caught up yet.
        if self.privacy.revisions.get(account, 0) < settings_revision:
            await self.privacy.refresh(account)
        availability = self.upstreams.get(subjects.UPSTREAMS_KEY)
        settings = self.privacy.get(account) or PrivacySettings()
        guardrails = self.applying.for_key(account, key_id)
        if preview is not None:
            proposed = Guardrail(
                **preview.model_dump(), id="preview", account_id=account, created_at=time.time()
            )
            guardrails = (*guardrails, proposed)
        return RoutingContext(
            index=self.index,
            settings=settings,
            guardrails=guardrails,
            callable_providers=availability.providers if availability else None,
            stats=self.stats.by_endpoint(),
            unhealthy_error_rate=self.unhealthy_error_rate,
        )
