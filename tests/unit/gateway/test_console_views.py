"""The console's pure shaping of API answers: previews, provider rows, activity, charts,
guardrails, the compliance report and the audit trail."""

import datetime as dt
from types import SimpleNamespace

import pytest

from veil.gateway.console import charts, reports, views
from veil.gateway.console.session import templates
from veil.schemas.errors import VeilError


def explained(eligible, excluded):
    return {
        "eligible": [{"model": m, "provider": p} for m, p in eligible],
        "excluded": [{"model": m, "provider": p, "excluded_by": r} for m, p, r in excluded],
    }


def test_a_preview_names_what_the_change_excludes_and_why():
    now = explained([("a/x", "openai"), ("a/x", "groq"), ("a/y", "openai")], [])
    proposed = explained(
        [("a/x", "groq")],
        [("a/x", "openai", ["data_policy:zdr"]), ("a/y", "openai", ["data_policy:zdr"])],
    )
    result = views.preview(now, proposed, ["a/x", "a/y"], ["a/x"], {"openai": "OpenAI"})
    (change,) = result.excluded
    assert (change.provider_name, change.models) == ("OpenAI", ["a/x", "a/y"])
    assert change.reasons == ["keeps prompts (not zero retention)"]
    assert result.allowed == []
    assert result.models_lost == ["a/y"]
    # the other way round: the same endpoints come back, with the reason they were out
    back = views.preview(proposed, now, ["a/x"], ["a/x", "a/y"], {"openai": "OpenAI"})
    assert [c.provider for c in back.allowed] == ["openai"]
    assert back.models_gained == ["a/y"]
    assert views.preview(now, now, ["a/x"], ["a/x"], {}).unchanged


def test_the_form_becomes_a_patch_of_every_setting():
    patch = views.settings_patch({"enforce_zdr": ["on"], "ignored_providers": ["groq, openai"]})
    assert patch == {
        "enable_paid_model_training": False,
        "enable_free_model_training": False,
        "enforce_zdr": True,
        "enable_prompt_logging": False,
        "ignored_providers": ["groq", "openai"],
        "allowed_providers": None,
    }


def test_provider_rows_count_excluded_endpoints_and_filter():
    providers = [
        {"slug": "groq", "name": "Groq", "data_policy": {"training": False,
         "retains_prompts": False, "retention_days": 0}},
        {"slug": "free", "name": "Free", "data_policy": {"training": True,
         "retains_prompts": True, "retention_days": None}},
    ]  # fmt: skip
    answer = explained([("a/x", "groq")], [("a/x", "free", ["data_policy:training"])])
    groq, free = views.provider_rows(providers, answer)
    assert (groq.zdr, groq.excluded, groq.endpoints) == ("yes", 0, 1)
    assert (free.training, free.retention, free.excluded) == ("may train", "retained, "
                                                              "period unknown", 1)  # fmt: skip
    assert [r.slug for r in views.provider_rows(providers, answer, show="excluded")] == ["free"]
    assert [r.slug for r in views.provider_rows(providers, answer, query="gro")] == ["groq"]


def test_activity_is_summed_per_day_without_gaps_and_per_model():
    rows = [
        {"date": "2026-01-10", "model": "a/x", "requests": 2, "prompt_tokens": 5,
         "completion_tokens": 5, "usage": 0.5},
        {"date": "2026-01-12", "model": "a/y", "requests": 1, "prompt_tokens": 1,
         "completion_tokens": 2, "usage": 1.0},
    ]  # fmt: skip
    series = views.activity_series(rows, dt.date(2026, 1, 12), days_shown=3)
    assert series["days"] == ["2026-01-10", "2026-01-11", "2026-01-12"]
    assert series["per_day"]["requests"] == [2, 0, 1]
    assert [model for model, _ in series["models"]] == ["a/y", "a/x"]
    assert (series["total_requests"], series["total_tokens"]) == (3, 13)


def test_a_chart_has_one_bar_per_value_and_escapes_labels():
    svg = charts.bar_chart("Spend", ["<b>", "2026-01-02"], [1.0, 3.0], "$")
    assert svg.count('class="bar"') == 2
    assert "<b>" not in svg
    assert "&lt;b&gt;" in svg
    assert "$3.00" in svg
    assert "no requests yet" in charts.bar_chart("Empty", [], [])


def test_dollars_show_what_a_request_costs():
    # A request often costs a fraction of a cent: "$0.0000" would say it was free.
    assert charts.usd(0.000014) == "$0.000014"
    assert charts.usd(0) == "$0"
    assert charts.usd(0.25) == "$0.25"
    assert charts.usd(1234.5) == "$1,234.50"


def guardrail_form(**fields):
    return {name: [value] for name, value in fields.items()}


def test_the_guardrail_form_becomes_its_body_with_blanks_as_no_opinion():
    body = views.guardrail_body(
        guardrail_form(
            name=" support bot ",
            description="",
            limit_usd="",
            reset_interval="weekly",  # no limit: no budget, whatever the interval says
            allowed_providers="together, Groq,\ntogether",
            ignored_providers=" ",
            allowed_models="",
            ignored_models="openai/gpt-4o",
            deny_paid_training="on",
        )
    )
    assert body == {
        "name": "support bot",
        "description": None,
        "limit_usd": None,
        "reset_interval": None,
        "allowed_providers": ["together", "Groq"],
        "ignored_providers": None,
        "allowed_models": None,
        "ignored_models": ["openai/gpt-4o"],
        "enforce_zdr": None,
        "enable_paid_model_training": False,
        "enable_free_model_training": None,
    }
    budget = views.guardrail_body(guardrail_form(name="b", limit_usd="2.5", reset_interval=""))
    assert (budget["limit_usd"], budget["reset_interval"]) == (2.5, None)  # the API says why
    with pytest.raises(VeilError) as refused:
        views.guardrail_body(guardrail_form(name="b", limit_usd="lots"))
    assert refused.value.code == 400
    assert "limit_usd" in refused.value.message
    # the preview sends the routing rules that are set, never the name or the budget
    preview = views.guardrail_preview_rules(
        guardrail_form(name="x", limit_usd="1", enforce_zdr="on", ignored_providers="groq")
    )
    assert preview == {"ignored_providers": ["groq"], "enforce_zdr": True}


def test_a_guardrail_fills_the_form_that_saves_it_unchanged():
    guardrail = {
        "id": "gr-1",
        "name": "eval",
        "description": "evaluation keys",
        "limit_usd": 0.5,
        "reset_interval": "daily",
        "allowed_providers": ["groq", "together"],
        "ignored_providers": None,
        "allowed_models": None,
        "ignored_models": ["a/x"],
        "enforce_zdr": True,
        "enable_paid_model_training": None,
        "enable_free_model_training": False,
    }
    values = views.guardrail_form_values(guardrail)
    assert values["allowed_providers"] == "groq, together"
    assert values["limit_usd"] == "0.5"
    assert (values["enforce_zdr"], values["deny_paid_training"]) == (True, False)
    sent = {k: ["on"] if v is True else [v] for k, v in values.items() if v is not False}
    assert views.guardrail_body(sent) == {k: v for k, v in guardrail.items() if k != "id"}
    assert views.submitted_form_values(sent) == values
    assert views.guardrail_form_values(None)["name"] == ""


def test_a_guardrail_in_words_with_its_budget_and_spend_per_key():
    keys = [
        {"hash": "key-a", "name": "app", "label": "sk-a", "usage_weekly": 1.25},
        {"hash": "key-b", "name": "batch", "label": "sk-b", "usage_weekly": 0},
    ]
    guardrail = {
        "id": "gr-1",
        "name": "narrow",
        "limit_usd": 5,
        "reset_interval": "weekly",
        "allowed_providers": ["groq"],
        "ignored_providers": ["openai"],
        "allowed_models": [],
        "enable_paid_model_training": False,
        "content_filter_builtins": [{"slug": "email", "action": "redact"}],
    }
    row = views.guardrail_row(guardrail, ["key-a", "key-gone"], keys, None, {"groq": "Groq"})
    assert row.rules == [
        "Only these providers: Groq",
        "Never these providers: openai",
        "No model at all (an empty allow-list)",
        "No providers that may train on prompts (paid models)",
        "Builtin content filters: email (redact)",
    ]
    assert row.budget == "$5.00 per key, per week"
    assert row.spend_window == "this week"
    assert [(s.name, s.spent) for s in row.spend] == [("app", 1.25)]  # the assigned key only
    assert [k["hash"] for k in row.keys] == ["key-a"]  # a deleted key is not listed
    assert (row.is_default, row.holds_for) == (False, "1 key")
    default = views.guardrail_row(guardrail, [], keys, "gr-1", {})
    assert default.holds_for == "every key of the account"
    assert [s.name for s in default.spend] == ["app", "batch"]  # it holds for every key
    bare = views.guardrail_row({"id": "gr-2", "name": "none"}, [], keys, None, {})
    assert (bare.rules, bare.budget, bare.spend, bare.holds_for) == ([], None, [], "no key yet")


def test_guardrail_reasons_name_the_guardrail_and_group_providers():
    assert views.reason_text("guardrail:preview:allowed_providers") == (
        "is not in the allowed providers (this guardrail)"
    )
    assert views.reason_text("guardrail:gr-9:enforce_zdr", {"gr-9": "support"}) == (
        "keeps prompts, and zero retention is asked (guardrail 'support')"
    )
    assert views.reason_text("guardrail:gr-9:ignored_models").endswith("(guardrail gr-9)")
    now = explained([("a/x", "openai"), ("a/x", "groq"), ("a/x", "zdr")], [])
    proposed = explained(
        [("a/x", "zdr")],
        [
            ("a/x", "openai", ["guardrail:preview:allowed_providers"]),
            ("a/x", "groq", ["guardrail:preview:allowed_providers"]),
        ],
    )
    result = views.preview(now, proposed, ["a/x"], ["a/x"], {"groq": "Groq", "openai": "OpenAI"})
    [(why, changes)] = views.by_reason(result.excluded)
    assert why == "is not in the allowed providers (this guardrail)"
    assert [c.provider_name for c in changes] == ["Groq", "OpenAI"]
    assert result.models_lost == []


def test_key_checkboxes_become_assignments_and_removals():
    assert views.assignment_changes(["key-a", "key-b"], ["key-b", "key-c", "key-c"]) == (
        ["key-c"],
        ["key-a"],
    )
    assert views.assignment_changes([], []) == ([], [])


# data regions ------------------------------------------------------------------

REGIONS = {"eu": ("AT", "BE", "DE", "FI"), "us": ("US",), "mars": ("XM",)}
PROVIDERS = [
    {"slug": "nebius", "name": "Nebius", "headquarters": "NL", "datacenters": ["FI", "US"]},
    {"slug": "venice", "name": "Venice", "headquarters": "US", "datacenters": ["US"]},
    {"slug": "openai", "name": "OpenAI", "headquarters": "US", "datacenters": None},
    {"slug": "hidden", "name": "Hidden", "headquarters": None, "datacenters": None},
]


def test_region_options_list_every_region_with_its_countries_in_words():
    options = views.region_options(REGIONS)
    assert options[0] == ("", "Any region")
    assert options[1] == ("eu", "EU/EEA (Austria, Belgium, Finland, Germany)")
    assert options[2] == ("us", "US (United States)")
    assert options[3] == ("mars", "mars (XM)")  # a region or country not named: its code
    assert [v for v, _ in views.region_options(REGIONS, "gone")][-1] == "gone"  # kept
    assert views.region_options(REGIONS, countries=False)[1] == ("eu", "EU/EEA")


def test_locations_in_words_and_unknown_when_not_known():
    assert views.location_text(["US", "FI"]) == "Finland, United States"
    assert views.location_text("NL") == "Netherlands"
    assert views.location_text(None) == "unknown"
    assert views.location_text([]) == "unknown"


def test_the_form_sends_the_region_chosen_or_none_and_keeps_it_when_absent():
    assert views.settings_patch({"data_region": ["eu"]})["data_region"] == "eu"
    assert views.settings_patch({"data_region": [""]})["data_region"] is None
    assert "data_region" not in views.settings_patch({})
    assert views.reason_text("region") == "processes requests outside the data region"
    assert "no known location" in views.reason_text("region_unknown")
    assert "outside the allowed regions (guardrail" in views.reason_text(
        "guardrail:gr-1:allowed_regions"
    )


def region_answer():
    """Under `eu`: nebius runs partly in the US, openai and hidden nobody knows where."""
    return explained(
        [],
        [
            ("a/x", "nebius", ["region"]),
            ("a/y", "nebius", ["data_policy:training", "region"]),
            ("a/x", "openai", ["region_unknown"]),
            ("a/x", "hidden", ["region_unknown", "unconfigured"]),
            ("a/z", "venice", ["unconfigured"]),
            ("no/model", None, ["unknown_model"]),
        ],
    )


def test_a_region_preview_counts_endpoints_outside_and_of_unknown_location():
    now = explained([("a/x", "nebius"), ("a/x", "openai")], [])
    effect = views.region_effect(now, region_answer(), None, "eu", PROVIDERS)
    assert effect is not None
    assert (effect.outside_count, effect.unknown_count, effect.endpoints) == (2, 2, 5)
    assert effect.summary == (
        "4 endpoints would be excluded: 2 outside the EU/EEA, 2 where they run is unknown"
    )
    (nebius,) = effect.outside
    assert (nebius.name, nebius.endpoints, nebius.where) == ("Nebius", 2, "Finland, United States")
    assert [p.name for p in effect.unknown] == ["Hidden", "OpenAI"]
    assert effect.previous is None
    # no change of region: nothing to say about it
    assert views.region_effect(now, region_answer(), "eu", "eu", PROVIDERS) is None
    assert views.region_effect(now, now, None, None, PROVIDERS) is None
    # changing it names the one it replaces
    changed = views.region_effect(now, region_answer(), "us", "eu", PROVIDERS)
    assert changed is not None
    assert changed.previous == "US"


def test_lifting_a_region_counts_what_it_excludes_now():
    lifted = views.region_effect(region_answer(), explained([], []), "eu", None, PROVIDERS)
    assert lifted is not None
    assert lifted.lifted
    assert lifted.summary.startswith("lifting it, the 4 endpoints it excludes now (2 outside")
    nothing = views.region_effect(explained([("a/x", "x")], []), explained([], []), "us", None, [])
    assert nothing is not None
    assert "changes nothing" in nothing.summary
    single = views.region_effect(
        explained([], []), explained([], [("a/x", "x", ["region_unknown"])]), None, "us", []
    )
    assert single is not None
    assert (
        single.summary
        == "1 endpoint would be excluded: 0 outside the US, 1 where it runs is unknown"
    )
    assert single.unknown[0].where == "unknown"  # a provider /providers does not list


def test_provider_rows_show_locations_and_filter_to_a_region():
    now = explained([("a/x", "nebius"), ("a/x", "openai"), ("a/z", "venice")], [])
    rows = {r.slug: r for r in views.provider_rows(PROVIDERS, now)}
    assert (rows["nebius"].headquarters, rows["nebius"].datacenters) == (
        "Netherlands",
        "Finland, United States",
    )
    assert (rows["hidden"].headquarters, rows["hidden"].datacenters) == ("unknown", "unknown")
    assert rows["nebius"].in_region is None
    # under a region: only providers with an endpoint it does not exclude (one excluded
    # for another reason only still counts as within it)
    under_us = explained(
        [],
        [
            ("a/x", "nebius", ["region"]),
            ("a/x", "openai", ["region_unknown"]),
            ("a/z", "venice", ["unconfigured"]),
        ],
    )
    within = views.provider_rows(PROVIDERS, now, in_region=under_us)
    assert [(r.slug, r.in_region) for r in within] == [("venice", 1)]


def test_every_chat_model_is_explained_and_no_embedding_model():
    models = [
        {"id": "a/chat", "architecture": {"output_modalities": ["text"]}},
        {"id": "a/embed", "architecture": {"output_modalities": ["embeddings"]}},
        {"id": "a/bare"},
    ]
    assert views.chat_model_ids(models) == ["a/chat", "a/bare"]


# The compliance report and the audit trail -----------------------------------------

ZERO = {"training": False, "retains_prompts": False, "retention_days": 0}
MONTH = {"training": False, "retains_prompts": True, "retention_days": 30}
TRAINS = {"training": True, "retains_prompts": True, "retention_days": None}
KEY_ID = "ab" * 32


def audit_event(seq: int, action: str, before=None, after=None, **fields) -> dict:
    return {
        "seq": seq, "at": f"2026-01-0{seq}T10:00:00.123456Z", "actor": KEY_ID,
        "action": action, "target": None, "before": before, "after": after,
        "prev_hash": "0" * 64, "hash": f"{seq:x}" * 64, **fields,
    }  # fmt: skip


def a_report(**changes) -> dict:
    report = {
        "account_id": "acct-1", "from": "2026-01-01T00:00:00Z", "to": "2026-02-01T00:00:00Z",
        "generated_at": "2026-02-01T08:00:00Z", "catalog_version": "c" * 64,
        "summary": {
            "verdict": "violations found", "generations": 7, "endpoints_checked": 3,
            "generations_checked": 7, "violations": 2, "unverifiable": 1, "audit_events": 2,
            "audit_chain_intact": True,
        },
        "generations": {
            "total": 7,
            "by_provider": [
                {"provider": "groq", "name": "Groq", "generations": 4, "data_policy": ZERO},
                {"provider": "deepseek", "name": "DeepSeek", "generations": 2,
                 "data_policy": TRAINS},
                {"provider": None, "name": "none", "generations": 1, "data_policy": None},
            ],
            "by_data_policy": [
                {**ZERO, "generations": 4}, {**TRAINS, "generations": 2},
            ],
        },
        "violations": [{
            "model": "a/x", "provider": "deepseek", "policy_hash": "f" * 64, "generations": 7,
            "generation_ids": [f"gen-{n}" for n in range(7)],
            "reasons": ["data_policy:training", "guardrail:gr-1:enforce_zdr"],
            "catalog_changed": True,
        }],
        "unverifiable": [{
            "model": "a/gone", "provider": "tried", "policy_hash": None, "generations": 1,
            "generation_ids": ["gen-9"], "reasons": ["the generations record no policy"],
            "catalog_changed": False,
        }],
        "audit_chain": {"account_id": "acct-1", "events": 2, "ok": True, "first_break": None},
        "settings_timeline": [audit_event(1, "privacy.update", {"enforce_zdr": False},
                                          {"enforce_zdr": True})],
    }  # fmt: skip
    report.update(changes)
    return report


def test_the_report_form_covers_whole_days_and_defaults_to_the_last_30():
    today = dt.date(2026, 3, 15)
    default = reports.report_period("", "", today)
    assert (default.start, default.end, default.error) == ("2026-02-13", "2026-03-15", None)
    assert default.params == {"from": "2026-02-13", "to": "2026-03-16"}  # to: the next midnight
    chosen = reports.report_period(" 2026-01-01 ", "2026-01-31", today)
    assert chosen.params == {"from": "2026-01-01", "to": "2026-02-01"}
    one_day = reports.report_period("2026-01-05", "2026-01-05", today)
    assert one_day.params == {"from": "2026-01-05", "to": "2026-01-06"}
    only_to = reports.report_period("", "2026-01-31", today)
    assert only_to.params["from"] == "2026-01-01"
    bad = reports.report_period("yesterday", "", today)
    assert bad.error == "from: not a date (YYYY-MM-DD): 'yesterday'"
    assert bad.params == {}
    assert bad.start == "yesterday"  # shown again as typed
    backwards = reports.report_period("2026-02-01", "2026-01-01", today)
    assert backwards.error == "from must be on or before to"


def test_a_data_policy_in_words():
    assert reports.policy_sentence(MONTH) == "does not train on prompts; keeps prompts 30 days"
    assert reports.policy_sentence(ZERO) == (
        "does not train on prompts; keeps no prompts (zero retention)"
    )
    assert reports.policy_sentence(TRAINS) == (
        "may train on prompts; keeps prompts (for how long is not known)"
    )
    one = {"training": None, "retains_prompts": True, "retention_days": 1}
    assert reports.policy_sentence(one) == (
        "may train on prompts (its terms do not say); keeps prompts 1 day"
    )
    unknown = {"training": False, "retains_prompts": None, "retention_days": None}
    assert reports.policy_sentence(unknown).endswith("may keep prompts (its terms do not say)")
    assert reports.policy_sentence(None) == "unknown (not in the catalog)"


def test_audit_events_are_rows_with_names_compact_values_and_short_hashes():
    names = reports.key_names([{"hash": KEY_ID, "name": "ops", "label": "sk-v1-abc...xyz"}])
    assert names == {"admin": "the admin key", KEY_ID: "ops (sk-v1-abc...xyz)"}
    events = [
        audit_event(1, "privacy.update", {"ignored_providers": []},
                    {"ignored_providers": ["groq", "ünï"]}),
        audit_event(2, "key.disable", {"disabled": False}, {"disabled": True}, target=KEY_ID),
        audit_event(3, "guardrail.delete", {"name": "x"}, None, actor="admin", target="gr-12345"),
        audit_event(4, "key.delete", None, None, actor="c" * 64),
    ]  # fmt: skip
    first, key, guardrail, gone = reports.event_rows(events, names)
    assert [r.seq for r in (first, key, guardrail, gone)] == [1, 2, 3, 4]
    assert first.before == '{"ignored_providers": []}'
    assert first.after == '{"ignored_providers": ["groq", "ünï"]}'
    assert (first.actor_name, first.actor_short) == ("ops (sk-v1-abc...xyz)", "abababababab…")
    assert first.hash_short == "111111111111…"
    assert first.hash == "1" * 64
    assert (key.target_name, key.target_short) == ("ops (sk-v1-abc...xyz)", "abababababab…")
    assert (guardrail.actor_name, guardrail.actor_short) == ("the admin key", "admin")
    assert (guardrail.target_short, guardrail.after) == ("gr-12345", "—")
    assert (gone.actor_name, gone.before, gone.target_short) == ("", "—", "—")
    assert reports.short_hash(None) == "—"
    assert reports.compact_json({"limit": 5.5, "name": None}) == '{"limit": 5.5, "name": null}'


def test_the_report_view_words_the_verdict_policies_and_reasons():
    view = reports.report_view(
        a_report(), {"deepseek": "DeepSeek", "tried": "Tried Inc"}, {"gr-1": "strict"}, {}
    )
    assert (view.verdict, view.tone) == ("violations found", "bad")
    assert "excluded" in view.meaning
    groq, deepseek, nobody = view.providers
    assert (groq.name, groq.generations) == ("Groq", 4)
    assert groq.policy == "does not train on prompts; keeps no prompts (zero retention)"
    assert deepseek.policy.startswith("may train on prompts")
    assert (nobody.provider, nobody.name) == (None, "no provider")
    assert nobody.policy.startswith("no provider answered")
    assert [(p.policy.split(";")[0], p.generations) for p in view.policies] == [
        ("does not train on prompts", 4),
        ("may train on prompts", 2),
    ]
    assert view.unattributed == 1  # the generation no provider served
    (violation,) = view.violations
    assert violation.reasons == [
        "may train on prompts (or its policy is unknown)",  # the console's routing words
        "keeps prompts, and zero retention is asked (guardrail 'strict')",
    ]
    assert violation.shown_ids == [f"gen-{n}" for n in range(reports.SHOWN_IDS)]
    assert violation.more_ids == 7 - reports.SHOWN_IDS
    assert violation.provider_name == "DeepSeek"
    assert violation.catalog_changed
    (unverifiable,) = view.unverifiable
    assert unverifiable.provider_name == "Tried Inc"  # tried, never served: named anyway
    assert unverifiable.reasons == ["the generations record no policy"]
    assert (unverifiable.more_ids, unverifiable.policy_hash_short) == (0, "—")
    assert view.chain.intact
    assert view.chain.text == "intact: all 2 events verify, in order, up to the head"
    (change,) = view.timeline
    assert (change.action, change.before, change.after) == (
        "privacy.update",
        '{"enforce_zdr": false}',
        '{"enforce_zdr": true}',
    )


def test_every_verdict_has_a_tone_and_a_broken_chain_names_its_first_break():
    tones = {}
    for verdict in ("compliant", "compliant where verifiable", "violations found",
                    "audit chain broken"):  # fmt: skip
        summary = {**a_report()["summary"], "verdict": verdict}
        view = reports.report_view(a_report(summary=summary), {}, {}, {})
        tones[verdict] = view.tone
        assert view.meaning
    assert tones == {
        "compliant": "ok", "compliant where verifiable": "warn",
        "violations found": "bad", "audit chain broken": "bad",
    }  # fmt: skip
    first_break = {"account_id": "a", "seq": 5, "reason": "event 5 was edited"}
    broken = {"account_id": "a", "events": 6, "ok": False, "first_break": first_break}
    state = reports.chain_state(broken)
    assert (state.intact, state.break_seq, state.break_reason) == (False, 5, "event 5 was edited")
    assert state.text == "broken at event 5: event 5 was edited (6 events stored)"
    assert reports.chain_state(None).intact


def test_the_compliance_page_escapes_what_the_api_gives_and_links_generations():
    report = a_report(account_id="<acct>")
    report["violations"][0]["model"] = "<script>x</script>"
    view = reports.report_view(report, {}, {}, {})
    period = reports.report_period("2026-01-01", "2026-01-31", dt.date(2026, 3, 1))
    session = SimpleNamespace(kind="management", account_name="Acme & Co", account_id="acct-1",
                              accounts=[])  # fmt: skip
    html = templates.get_template("compliance.html").render(
        session=session, section="compliance", period=period, view=view, error=None
    )
    assert "<script>x</script>" not in html
    assert "&lt;script&gt;x&lt;/script&gt;" in html
    assert "Acme &amp; Co <code>&lt;acct&gt;</code>" in html
    assert '<a href="/console/generations/gen-0"><code>gen-0</code></a>' in html
    assert " and 2 more" in html
    assert '<td data-summary="generations">7</td>' in html
    assert 'id="verdict-text">violations found<' in html
    assert '<script src="/console/static/print.js" defer></script>' in html
    assert 'aria-current="page">Compliance</a>' in html
    assert "<script>" not in html
    assert " style=" not in html
