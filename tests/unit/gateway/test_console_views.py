"""The console's pure shaping of API answers: previews, provider rows, activity, charts."""

import datetime as dt

from veil.gateway.console import charts, views


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
