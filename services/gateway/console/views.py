"""What the console's pages show, shaped from API answers by plain functions (no I/O).

Nothing here decides routing: which endpoints a setting excludes comes from
`/routing/explain` and `/models/user`, computed by the policy service with the function
that routes real requests. These functions only compare and group its answers.
"""

import datetime as dt
from collections import defaultdict
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any

from veil.schemas.errors import VeilError

# One line per setting, from OpenRouter's privacy page and docs/privacy.md.
SETTINGS: list[tuple[str, str, str]] = [
    (
        "enable_paid_model_training",
        "Allow providers that may train on prompts (paid models)",
        "Off: paid models are never routed to a provider whose terms let it train on "
        "your prompts, or whose policy is unknown (invariant 2).",
    ),
    (
        "enable_free_model_training",
        "Allow providers that may train on prompts (free models)",
        "Off: the same for free (:free) models, which are often free because the "
        "provider trains on what it is sent.",
    ),
    (
        "enforce_zdr",
        "Zero data retention only",
        "On: only providers that keep nothing and train on nothing are used, for every "
        "request of the account; an unknown policy counts as retaining (invariant 3).",
    ),
    (
        "enable_prompt_logging",
        "Keep my prompts and completions (prompt logging)",
        "On: veil keeps each request and completion encrypted under this account's own "
        "key, readable only by this account; turning it off destroys that key and every "
        "record at once. Off: veil stores metadata only, never content (invariant 1).",
    ),
]
LIST_SETTINGS: list[tuple[str, str, str]] = [
    (
        "ignored_providers",
        "Ignored providers",
        "Never routed to, whatever a request asks (a request can add to this list, "
        "never remove from it).",
    ),
    (
        "allowed_providers",
        "Allowed providers only",
        "When set, nothing outside this list is used; empty: no allow-list.",
    ),
]

# Each completes "excluded, because it ...".
REASONS = {
    "data_policy:training": "may train on prompts (or its policy is unknown)",
    "data_policy:zdr": "keeps prompts (not zero retention)",
    "ignored_providers": "is on the account's ignored list",
    "allowed_providers": "is not on the account's allowed list",
    "ignore": "is ignored by the request",
    "only": "is not in the request's `only`",
    "unconfigured": "is not configured on this gateway",
    "unknown_model": "is not in the catalog",
    "max_price": "costs more than the request's max_price",
    "quantization": "is not of a requested quantization",
    "require_parameters": "does not support every parameter sent",
    "allow_fallbacks": "is a fallback, and the request allows none",
    "distillable_text": "has unknown distillation terms",
    "region": "processes requests outside the data region",
    "region_unknown": "has no known location (a data region admits only known ones)",
}


def reason_text(reason: str, guardrail_names: dict[str, str] | None = None) -> str:
    if reason.startswith("guardrail:"):
        return guardrail_reason_text(reason, guardrail_names)
    if reason.startswith("unsupported:"):
        return f"does not support {reason.removeprefix('unsupported:')}"
    return REASONS.get(reason, reason)


def settings_patch(form: dict[str, list[str]]) -> dict[str, Any]:
    """PATCH /privacy's body from the privacy form (an unchecked box is absent)."""
    patch: dict[str, Any] = {name: name in form for name, _, _ in SETTINGS}
    for name, _, _ in LIST_SETTINGS:
        raw = (form.get(name) or [""])[0]
        names = [part.strip() for part in raw.replace("\n", ",").split(",") if part.strip()]
        patch[name] = names
    if not patch["allowed_providers"]:
        patch["allowed_providers"] = None  # empty means no allow-list
    # A select always sends a value ("" is any region); a form without it keeps the region.
    if "data_region" in form:
        patch["data_region"] = (form["data_region"] or [""])[0].strip() or None
    return patch


def chat_model_ids(models: list[dict[str, Any]]) -> list[str]:
    """The ids of GET /models' chat models: the ones a chat request, and so
    `/routing/explain`, may name (an embedding model answers /embeddings only)."""
    return [
        m["id"]
        for m in models
        if "embeddings" not in ((m.get("architecture") or {}).get("output_modalities") or ())
    ]


def every_model_request(model_ids: list[str]) -> dict[str, Any]:
    """A request naming every catalog model, so one explanation covers every endpoint."""
    return {
        "model": model_ids[0],
        "models": model_ids[1:],
        "messages": [{"role": "user", "content": "(routing preview)"}],
    }


def _eligible_pairs(explained: dict[str, Any]) -> set[tuple[str, str]]:
    return {(e["model"], e["provider"]) for e in explained["eligible"]}


def _excluded_reasons(explained: dict[str, Any]) -> dict[tuple[str, str], list[str]]:
    reasons: dict[tuple[str, str], list[str]] = {}
    for entry in explained["excluded"]:
        if entry["provider"] is not None:
            key = (entry["model"], entry["provider"])
            reasons[key] = sorted({*reasons.get(key, []), *entry["excluded_by"]})
    return reasons


@dataclass
class ProviderChange:
    provider: str
    provider_name: str
    models: list[str]
    reasons: list[str]


@dataclass
class Preview:
    """What a settings change does, from two explanations (now, and with the change)."""

    excluded: list[ProviderChange] = field(default_factory=list)  # newly excluded
    allowed: list[ProviderChange] = field(default_factory=list)  # newly eligible
    models_before: int = 0
    models_after: int = 0
    models_lost: list[str] = field(default_factory=list)
    models_gained: list[str] = field(default_factory=list)

    @property
    def unchanged(self) -> bool:
        return not (self.excluded or self.allowed or self.models_lost or self.models_gained)


def _group(
    pairs: set[tuple[str, str]],
    reasons: dict[tuple[str, str], list[str]],
    names: dict[str, str],
) -> list[ProviderChange]:
    models: dict[str, set[str]] = defaultdict(set)
    why: dict[str, set[str]] = defaultdict(set)
    for model, provider in pairs:
        models[provider].add(model)
        why[provider].update(reason_text(r) for r in reasons.get((model, provider), []))

    def name(slug: str) -> str:
        return names.get(slug) or slug

    return [
        ProviderChange(slug, name(slug), sorted(models[slug]), sorted(why[slug]))
        for slug in sorted(models, key=lambda slug: name(slug).lower())
    ]


def preview(
    now: dict[str, Any],
    proposed: dict[str, Any],
    models_now: list[str],
    models_proposed: list[str],
    provider_names: dict[str, str],
) -> Preview:
    before, after = _eligible_pairs(now), _eligible_pairs(proposed)
    return Preview(
        excluded=_group(before - after, _excluded_reasons(proposed), provider_names),
        allowed=_group(after - before, _excluded_reasons(now), provider_names),
        models_before=len(models_now),
        models_after=len(models_proposed),
        models_lost=sorted(set(models_now) - set(models_proposed)),
        models_gained=sorted(set(models_proposed) - set(models_now)),
    )


# Data regions ----------------------------------------------------------------

# Country names (ISO 3166-1 alpha-2) for the codes the shipped catalog's regions and
# locations use; any other code is shown as it is.
COUNTRIES = {
    "AD": "Andorra", "AR": "Argentina", "AT": "Austria", "AU": "Australia",
    "BE": "Belgium", "BG": "Bulgaria", "BR": "Brazil", "CA": "Canada", "CH": "Switzerland",
    "CN": "China", "CY": "Cyprus", "CZ": "Czechia", "DE": "Germany", "DK": "Denmark",
    "EE": "Estonia", "ES": "Spain", "FI": "Finland", "FO": "Faroe Islands", "FR": "France",
    "GB": "United Kingdom", "GG": "Guernsey", "GR": "Greece", "HK": "Hong Kong",
    "HR": "Croatia", "HU": "Hungary", "IE": "Ireland", "IL": "Israel", "IM": "Isle of Man",
    "IN": "India", "IS": "Iceland", "IT": "Italy", "JE": "Jersey", "JP": "Japan",
    "KR": "South Korea", "LI": "Liechtenstein", "LT": "Lithuania", "LU": "Luxembourg",
    "LV": "Latvia", "MT": "Malta", "NL": "Netherlands", "NO": "Norway", "NZ": "New Zealand",
    "PL": "Poland", "PT": "Portugal", "RO": "Romania", "SE": "Sweden", "SG": "Singapore",
    "SI": "Slovenia", "SK": "Slovakia", "TW": "Taiwan", "AE": "United Arab Emirates",
    "US": "United States", "UY": "Uruguay",
}  # fmt: skip
# Each catalog region in words: its name, and how "outside ..." ends.
REGION_NAMES = {
    "eu": ("EU/EEA", "the EU/EEA"),
    "us": ("US", "the US"),
    "uk": ("UK", "the UK"),
    "ch": ("Switzerland", "Switzerland"),
    "ca": ("Canada", "Canada"),
    "jp": ("Japan", "Japan"),
    "sg": ("Singapore", "Singapore"),
    "au": ("Australia", "Australia"),
    "in": ("India", "India"),
    "eu-adequate": ("EU/EEA and adequate countries", "the EU/EEA and adequate countries"),
}
REGION_REASONS = ("region", "region_unknown")  # the account's region, in an explanation


def country_names(codes: Iterable[str]) -> str:
    """Countries in words, alphabetically: `["US", "FI"]` is "Finland, United States"."""
    return ", ".join(sorted(COUNTRIES.get(code, code) for code in codes))


def location_text(codes: Sequence[str] | str | None) -> str:
    """A provider's headquarters or datacenters in words; "unknown" when not known."""
    if not codes:
        return "unknown"
    return country_names([codes] if isinstance(codes, str) else codes)


def region_name(region: str) -> str:
    return REGION_NAMES.get(region, (region, ""))[0]


def region_phrase(region: str) -> str:
    """What "outside ..." ends with: "the EU/EEA", "Switzerland", "region xx"."""
    return REGION_NAMES.get(region, ("", f"region {region}"))[1]


def region_options(
    regions: Mapping[str, Sequence[str]], current: str | None = None, countries: bool = True
) -> list[tuple[str, str]]:
    """A data region select: any region, then every catalog region, with its countries
    ("EU/EEA (Austria, Belgium, ...)") unless `countries` is false. A saved region the
    catalog no longer defines stays listed, so saving the form does not lift it unseen."""
    options = [("", "Any region")]
    for name, places in regions.items():
        label = region_name(name)
        options.append((name, f"{label} ({country_names(places)})" if countries else label))
    if current and current not in regions:
        options.append((current, f"{current} (no longer in the catalog)"))
    return options


def _region_reason(reasons: Iterable[str]) -> str | None:
    """Which of the account region's reasons excludes an endpoint: "region" (outside it)
    before "region_unknown" (location unknown); None: the region does not."""
    found = set(reasons)
    return next((r for r in REGION_REASONS if r in found), None)


@dataclass
class RegionProvider:
    """A provider some of whose endpoints a data region excludes."""

    slug: str
    name: str
    endpoints: int  # its endpoints the region excludes
    where: str  # its datacenters in words ("unknown")


@dataclass
class RegionEffect:
    """What choosing (or lifting) a data region does, counted over every endpoint of the
    catalog from one explanation: under the proposed region, or (lifting it) the current."""

    region: str
    name: str
    phrase: str
    lifted: bool
    previous: str | None  # the name of the region it replaces
    endpoints: int  # every endpoint explained (the catalog's)
    outside: list[RegionProvider] = field(default_factory=list)
    unknown: list[RegionProvider] = field(default_factory=list)

    @property
    def outside_count(self) -> int:
        return sum(p.endpoints for p in self.outside)

    @property
    def unknown_count(self) -> int:
        return sum(p.endpoints for p in self.unknown)

    @property
    def excluded_count(self) -> int:
        return self.outside_count + self.unknown_count

    @property
    def breakdown(self) -> str:
        """ "12 outside the EU/EEA, 19 where they run is unknown" """
        unknown = self.unknown_count
        verb = "it runs" if unknown == 1 else "they run"
        return f"{self.outside_count} outside {self.phrase}, {unknown} where {verb} is unknown"

    @property
    def summary(self) -> str:
        count = self.excluded_count
        endpoints = f"{count} endpoint{'s' if count != 1 else ''}"
        if self.lifted:
            if not count:
                return f"lifting it changes nothing: no endpoint is held to {self.phrase} now"
            return (
                f"lifting it, the {endpoints} it excludes now ({self.breakdown}) would no "
                f"longer be held to {self.phrase}"
            )
        if not count:
            return f"no endpoint would be excluded: all {self.endpoints} run within {self.phrase}"
        return f"{endpoints} would be excluded: {self.breakdown}"


def region_effect(
    now: dict[str, Any],
    proposed: dict[str, Any],
    current_region: str | None,
    proposed_region: str | None,
    providers: list[dict[str, Any]],
) -> RegionEffect | None:
    """The effect of a region change (None: the region does not change), counted from
    `/routing/explain`'s reasons `region` and `region_unknown` over every endpoint of
    the explanation (`proposed` under the new region; `now` for the one lifted).
    `providers` is GET /providers (names and datacenters)."""
    region = proposed_region or current_region
    if region is None or proposed_region == current_region:
        return None
    lifted = proposed_region is None
    explained = now if lifted else proposed
    counts: dict[str, dict[str, int]] = {r: defaultdict(int) for r in REGION_REASONS}
    endpoints = len(explained["eligible"])
    for entry in explained["excluded"]:
        if entry["provider"] is None:
            continue
        endpoints += 1
        if (reason := _region_reason(entry["excluded_by"])) is not None:
            counts[reason][entry["provider"]] += 1
    by_slug = {p["slug"]: p for p in providers}

    def listed(per_provider: dict[str, int]) -> list[RegionProvider]:
        rows = [
            RegionProvider(
                slug,
                (by_slug.get(slug) or {}).get("name") or slug,
                count,
                location_text((by_slug.get(slug) or {}).get("datacenters")),
            )
            for slug, count in per_provider.items()
        ]
        return sorted(rows, key=lambda row: row.name.lower())

    return RegionEffect(
        region=region,
        name=region_name(region),
        phrase=region_phrase(region),
        lifted=lifted,
        previous=None if lifted or current_region is None else region_name(current_region),
        endpoints=endpoints,
        outside=listed(counts["region"]),
        unknown=listed(counts["region_unknown"]),
    )


def policy_text(policy: dict[str, Any] | None) -> dict[str, str]:
    """A data policy in words: training, retention, and whether it is zero retention."""
    if policy is None:
        return {"training": "unknown", "retention": "unknown", "zdr": "no"}
    training = {True: "may train", False: "does not train", None: "unknown"}[policy["training"]]
    if policy["retains_prompts"] is False:
        retention = "zero retention"
    elif policy["retains_prompts"] is None:
        retention = "unknown"
    elif policy.get("retention_days"):
        retention = f"{policy['retention_days']} days"
    else:
        retention = "retained, period unknown"
    zdr = "yes" if policy["retains_prompts"] is False and policy["training"] is False else "no"
    return {"training": training, "retention": retention, "zdr": zdr}


@dataclass
class ProviderRow:
    slug: str
    name: str
    training: str
    retention: str
    zdr: str
    endpoints: int
    excluded: int  # endpoints the account's current settings exclude
    reasons: list[str]
    privacy_policy_url: str | None
    headquarters: str = "unknown"  # in words
    datacenters: str = "unknown"  # in words
    in_region: int | None = None  # endpoints the chosen region admits (None: none chosen)


def _in_region(explained: dict[str, Any]) -> dict[str, int]:
    """Per provider, its endpoints a region does not exclude (from an explanation under
    that region: those without the reason `region` or `region_unknown`)."""
    admitted: dict[str, int] = defaultdict(int)
    for entry in explained["eligible"]:
        admitted[entry["provider"]] += 1
    for entry in explained["excluded"]:
        if entry["provider"] is not None and _region_reason(entry["excluded_by"]) is None:
            admitted[entry["provider"]] += 1
    return admitted


def provider_rows(
    providers: list[dict[str, Any]],
    explained: dict[str, Any],
    query: str = "",
    show: str = "all",
    in_region: dict[str, Any] | None = None,
) -> list[ProviderRow]:
    """Every provider with its data policy, where it is and runs, and how many of its
    endpoints the account's settings exclude now; `query` searches names, `show` is
    all|excluded|zdr|training. `in_region` is an explanation under a data region (the
    account's settings with that region): only providers with an endpoint it admits are
    listed, each with how many."""
    endpoints: dict[str, int] = defaultdict(int)
    excluded: dict[str, int] = defaultdict(int)
    reasons: dict[str, set[str]] = defaultdict(set)
    for entry in explained["eligible"]:
        endpoints[entry["provider"]] += 1
    for entry in explained["excluded"]:
        if entry["provider"] is None:
            continue
        endpoints[entry["provider"]] += 1
        excluded[entry["provider"]] += 1
        reasons[entry["provider"]].update(reason_text(r) for r in entry["excluded_by"])
    admitted = None if in_region is None else _in_region(in_region)
    rows = []
    needle = query.strip().lower()
    for provider in providers:
        slug = provider["slug"]
        words = policy_text(provider.get("data_policy"))
        row = ProviderRow(
            slug=slug,
            name=provider["name"],
            training=words["training"],
            retention=words["retention"],
            zdr=words["zdr"],
            endpoints=endpoints[slug],
            excluded=excluded[slug],
            reasons=sorted(reasons[slug]),
            privacy_policy_url=provider.get("privacy_policy_url"),
            headquarters=location_text(provider.get("headquarters")),
            datacenters=location_text(provider.get("datacenters")),
            in_region=None if admitted is None else admitted[slug],
        )
        if admitted is not None and not row.in_region:
            continue
        if needle and needle not in slug.lower() and needle not in row.name.lower():
            continue
        if show == "excluded" and not row.excluded:
            continue
        if show == "zdr" and row.zdr != "yes":
            continue
        if show == "training" and row.training == "does not train":
            continue
        rows.append(row)
    return rows


def activity_series(
    rows: list[dict[str, Any]], today: dt.date, days_shown: int = 14
) -> dict[str, Any]:
    """GET /activity's rows (day x model x provider) summed per day and per model; the
    days run to `today` with no gaps (at least `days_shown` of them), so the charts read
    as time."""
    days: dict[str, dict[str, float]] = defaultdict(lambda: defaultdict(float))
    models: dict[str, dict[str, float]] = defaultdict(lambda: defaultdict(float))
    for row in rows:
        tokens = (row.get("prompt_tokens") or 0) + (row.get("completion_tokens") or 0)
        for bucket in (days[str(row["date"])], models[row["model"]]):
            bucket["usage"] += float(row.get("usage") or 0)
            bucket["requests"] += row.get("requests") or 0
            bucket["tokens"] += tokens
    first = min([today - dt.timedelta(days=days_shown - 1)]
                + [dt.date.fromisoformat(d) for d in days])  # fmt: skip
    ordered_days = [str(first + dt.timedelta(days=n)) for n in range((today - first).days + 1)]
    by_model = sorted(models.items(), key=lambda item: (-item[1]["usage"], item[0]))
    return {
        "days": ordered_days,  # ISO dates
        "per_day": {m: [days[d][m] for d in ordered_days] for m in ("usage", "requests", "tokens")},
        "models": [(model, dict(values)) for model, values in by_model],
        "total_usage": sum(days[d]["usage"] for d in ordered_days),
        "total_requests": int(sum(days[d]["requests"] for d in ordered_days)),
        "total_tokens": int(sum(days[d]["tokens"] for d in ordered_days)),
    }


def receipt(generation: dict[str, Any]) -> str:
    """The privacy receipt of one generation, as the X-Veil-* headers told its caller."""
    words = policy_text(generation.get("data_policy"))
    kept = "content kept (prompt logging)" if generation.get("logged") else "content not kept"
    return f"{words['training']}; retention: {words['retention']}; {kept}"


# Guardrails ------------------------------------------------------------------

GUARDRAIL_LISTS: list[tuple[str, str, str]] = [
    (
        "allowed_providers",
        "Allowed providers only",
        "When set, keys under this guardrail use only these providers. Empty: no allow-list.",
    ),
    ("ignored_providers", "Ignored providers", "Never used by keys under this guardrail."),
    (
        "allowed_models",
        "Allowed models only",
        "When set, only these models (catalog ids) may be used. Empty: no allow-list.",
    ),
    ("ignored_models", "Ignored models", "Never used by keys under this guardrail."),
]
# (form field, label, explanation, API field, the value the box sets when checked)
GUARDRAIL_SWITCHES: list[tuple[str, str, str, str, bool]] = [
    (
        "enforce_zdr",
        "Zero data retention only",
        "Only providers that keep nothing and train on nothing; an unknown policy counts "
        "as retaining.",
        "enforce_zdr",
        True,
    ),
    (
        "deny_paid_training",
        "No providers that may train on prompts (paid models)",
        "Nor any whose policy is unknown.",
        "enable_paid_model_training",
        False,
    ),
    (
        "deny_free_training",
        "No providers that may train on prompts (free models)",
        "Free models are often free because the provider trains on what it is sent.",
        "enable_free_model_training",
        False,
    ),
]
INTERVALS = {"daily": "day", "weekly": "week", "monthly": "month"}
SPEND_WINDOWS = {"daily": "today", "weekly": "this week", "monthly": "this month"}
# Each completes "excluded, because it ... of <the guardrail>".
GUARDRAIL_REASONS = {
    "allowed_providers": "is not in the allowed providers",
    "ignored_providers": "is in the ignored providers",
    "allowed_models": "is not in the allowed models",
    "ignored_models": "is in the ignored models",
    "enforce_zdr": "keeps prompts, and zero retention is asked",
    "enable_paid_model_training": "may train on prompts (paid model), which is refused",
    "enable_free_model_training": "may train on prompts (free model), which is refused",
    "allowed_regions": "processes requests outside the allowed regions",
    "region_unknown": "has no known location, and only some regions are allowed",
}
PREVIEW_ID = "preview"  # the id policy gives a previewed guardrail (`?guardrail=`)


def guardrail_reason_text(reason: str, names: dict[str, str] | None = None) -> str:
    """`guardrail:<id>:<rule>` in words, naming the guardrail ("this guardrail" for the
    one being previewed)."""
    guardrail_id, _, rule = reason.removeprefix("guardrail:").rpartition(":")
    if guardrail_id == PREVIEW_ID:
        whose = "this guardrail"
    else:
        name = (names or {}).get(guardrail_id)
        whose = f"guardrail {name!r}" if name else f"guardrail {guardrail_id}"
    return f"{GUARDRAIL_REASONS.get(rule, rule)} ({whose})"


def _names(raw: str) -> list[str]:
    """A comma- (or line-) separated list, each name once, in the order given."""
    return list(dict.fromkeys(p.strip() for p in raw.replace("\n", ",").split(",") if p.strip()))


def guardrail_rules(form: dict[str, list[str]]) -> dict[str, Any]:
    """The routing rules of the guardrail form: `None` is no opinion (an empty list box,
    an unchecked switch), so a PATCH with them lifts what the form no longer sets."""
    rules: dict[str, Any] = {}
    for name, _, _ in GUARDRAIL_LISTS:
        rules[name] = _names((form.get(name) or [""])[0]) or None
    for box, _, _, field_name, checked in GUARDRAIL_SWITCHES:
        rules[field_name] = checked if box in form else None
    return rules


def guardrail_body(form: dict[str, list[str]]) -> dict[str, Any]:
    """POST /guardrails' body from the form (and PATCH's: every field the form edits).
    A budget is the limit and its interval together; the API refuses one without the
    other, naming them."""
    raw = (form.get("limit_usd") or [""])[0].strip()
    try:
        limit = float(raw) if raw else None
    except ValueError:
        raise VeilError(400, f"limit_usd: not a number of USD: {raw!r}") from None
    interval = (form.get("reset_interval") or [""])[0] or None
    return {
        "name": (form.get("name") or [""])[0].strip(),
        "description": (form.get("description") or [""])[0].strip() or None,
        "limit_usd": limit,
        "reset_interval": interval if limit is not None else None,
        **guardrail_rules(form),
    }


def guardrail_preview_rules(form: dict[str, list[str]]) -> dict[str, Any]:
    """What `?guardrail=` previews: the rules that change routing (a budget does not)."""
    return {name: value for name, value in guardrail_rules(form).items() if value is not None}


def guardrail_form_values(guardrail: dict[str, Any] | None) -> dict[str, Any]:
    """The form's fields filled from a guardrail (empty for a new one)."""
    g = guardrail or {}
    values: dict[str, Any] = {
        "name": g.get("name") or "",
        "description": g.get("description") or "",
        "limit_usd": "" if g.get("limit_usd") is None else f"{g['limit_usd']:g}",
        "reset_interval": g.get("reset_interval") or "",
    }
    for name, _, _ in GUARDRAIL_LISTS:
        values[name] = ", ".join(g.get(name) or [])
    for box, _, _, field_name, checked in GUARDRAIL_SWITCHES:
        values[box] = g.get(field_name) is checked
    return values


def submitted_form_values(form: dict[str, list[str]]) -> dict[str, Any]:
    """The form's fields as they were sent (shown again with the API's refusal)."""
    values: dict[str, Any] = {
        name: (form.get(name) or [""])[0]
        for name in ("name", "description", "limit_usd", "reset_interval")
    }
    for name, _, _ in GUARDRAIL_LISTS:
        values[name] = (form.get(name) or [""])[0]
    for box, *_ in GUARDRAIL_SWITCHES:
        values[box] = box in form
    return values


def _list_text(names: list[str], provider_names: dict[str, str] | None = None) -> str:
    return ", ".join((provider_names or {}).get(n) or n for n in names)


def _filter_text(guardrail: dict[str, Any]) -> list[str]:
    lines = []
    custom = guardrail.get("content_filters") or []
    if custom:
        shown = [f"{f.get('label') or f['pattern']} ({f['action']})" for f in custom]
        lines.append(f"Content filters: {', '.join(shown)}")
    builtins = guardrail.get("content_filter_builtins") or []
    if builtins:
        shown = [f"{f['slug']} ({f['action']})" for f in builtins]
        lines.append(f"Builtin content filters: {', '.join(shown)}")
    return lines


def guardrail_rules_text(guardrail: dict[str, Any], provider_names: dict[str, str]) -> list[str]:
    """A guardrail's routing rules and filters in words, one line each."""
    lines = []
    for kind, names in (("provider", provider_names), ("model", {})):
        allowed = guardrail.get(f"allowed_{kind}s")
        if allowed:
            lines.append(f"Only these {kind}s: {_list_text(allowed, names)}")
        elif allowed is not None:
            lines.append(f"No {kind} at all (an empty allow-list)")
        if ignored := guardrail.get(f"ignored_{kind}s"):
            lines.append(f"Never these {kind}s: {_list_text(ignored, names)}")
    for _, label, _, field_name, checked in GUARDRAIL_SWITCHES:
        if guardrail.get(field_name) is checked:
            lines.append(label)
    return lines + _filter_text(guardrail)


@dataclass
class KeySpend:
    name: str
    label: str
    spent: float


@dataclass
class GuardrailRow:
    """One guardrail as the console lists it."""

    id: str
    name: str
    description: str | None
    rules: list[str]
    budget: str | None  # "$5.00 per key, per day"
    spend_window: str | None  # "today"
    spend: list[KeySpend]  # each key it holds for, in the budget's window
    keys: list[dict[str, Any]]  # the keys it is assigned to
    is_default: bool

    @property
    def holds_for(self) -> str:
        if self.is_default:
            return "every key of the account"
        if not self.keys:
            return "no key yet"
        return f"{len(self.keys)} key{'s' if len(self.keys) != 1 else ''}"


def guardrail_row(
    guardrail: dict[str, Any],
    assigned: list[str],
    keys: list[dict[str, Any]],
    default_id: str | None,
    provider_names: dict[str, str],
) -> GuardrailRow:
    """`assigned` is the ids of the keys it is assigned to; `keys` is GET /keys. A
    budget holds per key, so the spend shown is each key's in the budget's window."""
    is_default = guardrail["id"] == default_id
    by_id = {key["hash"]: key for key in keys}
    assigned_keys = [by_id[k] for k in assigned if k in by_id]
    interval = guardrail.get("reset_interval")
    budget = window = None
    spend: list[KeySpend] = []
    if guardrail.get("limit_usd") is not None and interval in INTERVALS:
        budget = f"${guardrail['limit_usd']:,.2f} per key, per {INTERVALS[interval]}"
        window = SPEND_WINDOWS[interval]
        held = keys if is_default else assigned_keys
        spend = [
            KeySpend(k["name"], k["label"], float(k.get(f"usage_{interval}") or 0)) for k in held
        ]
    return GuardrailRow(
        id=guardrail["id"],
        name=guardrail["name"],
        description=guardrail.get("description"),
        rules=guardrail_rules_text(guardrail, provider_names),
        budget=budget,
        spend_window=window,
        spend=spend,
        keys=assigned_keys,
        is_default=is_default,
    )


def assignment_changes(assigned: list[str], checked: list[str]) -> tuple[list[str], list[str]]:
    """The key checkboxes against the assignments: (ids to assign, ids to unassign)."""
    return (
        [k for k in dict.fromkeys(checked) if k not in assigned],
        [k for k in assigned if k not in checked],
    )


def by_reason(changes: list[ProviderChange]) -> list[tuple[str, list[ProviderChange]]]:
    """Providers grouped by why they change (a guardrail often excludes dozens for one
    reason), the largest group first."""
    groups: dict[str, list[ProviderChange]] = defaultdict(list)
    for change in changes:
        groups["; ".join(change.reasons)].append(change)
    return sorted(groups.items(), key=lambda item: (-len(item[1]), item[0]))
