"""Which guardrails hold for a key: the account's default guardrail, then every one
assigned to the key, each once, in a fixed order. Read on every request (the gateway's
budgets, policy's routing), so it is an index kept in step with the KV mirrors rather
than a scan of every guardrail."""

from veil.kvcache import KVCache
from veil.schemas.accounts import PrivacySettings
from veil.schemas.guardrails import Guardrail


class GuardrailIndex:
    def __init__(self, guardrails: KVCache[Guardrail], privacy: KVCache[PrivacySettings]):
        self.guardrails = guardrails
        self.privacy = privacy
        self._version = -1
        self._by_key: dict[str, tuple[Guardrail, ...]] = {}

    def for_key(self, account: str, key_id: str | None) -> tuple[Guardrail, ...]:
        if self.guardrails.version != self._version:
            self._rebuild()
        settings = self.privacy.get(account)
        default_id = settings.default_guardrail_id if settings else None
        default = self.guardrails.get(default_id) if default_id else None
        assigned = self._by_key.get(key_id, ()) if key_id else ()
        if default is None or default.account_id != account:
            return tuple(g for g in assigned if g.account_id == account)
        return (default, *(g for g in assigned if g.account_id == account and g.id != default.id))

    def _rebuild(self) -> None:
        self._version = self.guardrails.version
        by_key: dict[str, list[Guardrail]] = {}
        for guardrail in sorted(self.guardrails.values.values(), key=lambda g: g.id):
            for key_id in guardrail.key_hashes:
                by_key.setdefault(key_id, []).append(guardrail)
        self._by_key = {key_id: tuple(found) for key_id, found in by_key.items()}
