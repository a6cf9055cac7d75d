"""The console's pure shaping of API answers: previews, provider rows, activity, charts,
guardrails."""

import datetime as dt

import pytest

from veil.gateway.console import charts, views
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
