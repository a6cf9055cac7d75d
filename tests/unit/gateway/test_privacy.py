"""Privacy-settings changes: an inference key may tighten them, never loosen them."""

import orjson
import pytest

from veil.catalog import CatalogIndex
from veil.gateway.auth import AdminCaller, Caller, KeyCaller
from veil.gateway.privacy import apply_privacy_patch, loosened, parse_privacy_patch
from veil.schemas.accounts import KeyRecord, PrivacySettings, PrivacySettingsPatch
from veil.schemas.errors import VeilError


def key(kind, key_id: str) -> KeyCaller:
    record = KeyRecord(
        id=key_id, account_id="acct-1", name=kind, kind=kind, created_at=0, label="sk-..."
    )
    return KeyCaller(record)


INFERENCE = key("inference", "key-inf")
MANAGEMENT = key("management", "key-mgmt")
ADMIN = AdminCaller()


def apply(current: PrivacySettings, changes: dict, who: Caller, index: CatalogIndex):
    """A PATCH /privacy body as the route applies it: parsed, then applied."""
    return apply_privacy_patch(current, parse_privacy_patch(orjson.dumps(changes)), who, index)


@pytest.fixture(scope="module")
def index() -> CatalogIndex:
    return CatalogIndex.load()


# (settings before, patch): each makes the account's data less private.
LOOSENINGS = {
    "enable_paid_model_training": (PrivacySettings(), {"enable_paid_model_training": True}),
    "enable_free_model_training": (PrivacySettings(), {"enable_free_model_training": True}),
    "enable_prompt_logging": (PrivacySettings(), {"enable_prompt_logging": True}),
    "enforce_zdr": (PrivacySettings(enforce_zdr=True), {"enforce_zdr": False}),
    "ignored_providers": (
        PrivacySettings(ignored_providers=["deepseek", "groq"]),
        {"ignored_providers": ["groq"]},
    ),
    "allowed_providers": (
        PrivacySettings(allowed_providers=["groq"]),
        {"allowed_providers": ["groq", "openai"]},
    ),
    "allowed_providers=None": (
        PrivacySettings(allowed_providers=["groq"]),
        {"allowed_providers": None},
    ),
}

# (settings before, patch): each makes the account's data more private, or no less.
TIGHTENINGS = {
    "disable training": (
        PrivacySettings(enable_paid_model_training=True, enable_free_model_training=True),
        {"enable_paid_model_training": False, "enable_free_model_training": False},
    ),
    "disable prompt logging": (
        PrivacySettings(enable_prompt_logging=True),
        {"enable_prompt_logging": False},
    ),
    "enforce zdr": (PrivacySettings(), {"enforce_zdr": True}),
    "ignore a provider": (PrivacySettings(), {"ignored_providers": ["deepseek"]}),
    "restrict to providers": (PrivacySettings(), {"allowed_providers": ["groq", "openai"]}),
    "narrow allowed providers": (
        PrivacySettings(allowed_providers=["groq", "openai"]),
        {"allowed_providers": ["groq"]},
    ),
    "same settings again": (
        PrivacySettings(enforce_zdr=True, allowed_providers=["groq"]),
        {"enforce_zdr": True, "allowed_providers": ["groq"]},
    ),
}


@pytest.mark.parametrize("change", sorted(LOOSENINGS))
def test_loosened_names_what_a_change_makes_less_private(change):
    before, patch = LOOSENINGS[change]
    after = before.model_copy(update=patch)
    assert loosened(before, after) == [change.split("=")[0]]


@pytest.mark.parametrize("change", sorted(TIGHTENINGS))
def test_loosened_is_empty_for_a_tightening(change):
    before, patch = TIGHTENINGS[change]
    assert loosened(before, before.model_copy(update=patch)) == []


@pytest.mark.parametrize("change", sorted(LOOSENINGS))
def test_inference_key_cannot_loosen(change, index):
    before, patch = LOOSENINGS[change]
    with pytest.raises(VeilError) as caught:
        apply(before, patch, INFERENCE, index)
    assert caught.value.code == 403
    assert change.split("=")[0] in caught.value.message
    assert "management key" in caught.value.message


@pytest.mark.parametrize("who", [MANAGEMENT, ADMIN], ids=["management", "admin"])
@pytest.mark.parametrize("change", sorted(LOOSENINGS))
def test_management_and_admin_may_loosen(change, who, index):
    before, patch = LOOSENINGS[change]
    updated = apply(before, patch, who, index)
    for field, value in patch.items():
        assert getattr(updated, field) == (sorted(value) if isinstance(value, list) else value)


@pytest.mark.parametrize("change", sorted(TIGHTENINGS))
def test_inference_key_may_tighten(change, index):
    before, patch = TIGHTENINGS[change]
    updated = apply(before, patch, INFERENCE, index)
    for field, value in patch.items():
        assert getattr(updated, field) == value


def test_loosening_hidden_among_tightenings_is_still_refused(index):
    before = PrivacySettings(enable_prompt_logging=False)
    patch = {"enforce_zdr": True, "enable_prompt_logging": True}
    with pytest.raises(VeilError) as caught:
        apply(before, patch, INFERENCE, index)
    assert caught.value.code == 403
    assert "enable_prompt_logging" in caught.value.message


def test_patch_keeps_the_settings_it_does_not_name(index):
    before = PrivacySettings(enforce_zdr=True, ignored_providers=["deepseek"])
    updated = apply(before, {"allowed_providers": ["groq"]}, INFERENCE, index)
    assert updated.enforce_zdr is True
    assert updated.ignored_providers == ["deepseek"]
    assert updated.allowed_providers == ["groq"]


def test_a_refused_patch_leaves_the_current_settings_unchanged(index):
    before = PrivacySettings(ignored_providers=["groq", "deepseek"])
    with pytest.raises(VeilError):
        apply(before, {"ignored_providers": []}, INFERENCE, index)
    assert before.ignored_providers == ["groq", "deepseek"]


def test_unknown_setting_is_a_400_naming_it(index):
    with pytest.raises(VeilError) as caught:
        apply(PrivacySettings(), {"enable_zdr": True}, MANAGEMENT, index)
    assert caught.value.code == 400
    assert "enable_zdr" in caught.value.message


def test_wrongly_typed_setting_is_a_400_naming_it(index):
    with pytest.raises(VeilError) as caught:
        apply(PrivacySettings(), {"enforce_zdr": "sometimes"}, MANAGEMENT, index)
    assert caught.value.code == 400
    assert "enforce_zdr" in caught.value.message


@pytest.mark.parametrize("field", ["ignored_providers", "allowed_providers"])
def test_unknown_provider_slug_is_a_400_naming_it(field, index):
    with pytest.raises(VeilError) as caught:
        apply(PrivacySettings(), {field: ["groq", "no-such-ai"]}, ADMIN, index)
    assert caught.value.code == 400
    assert "no-such-ai" in caught.value.message
    assert field in caught.value.message
    assert caught.value.metadata == {"unknown_providers": ["no-such-ai"]}


def test_provider_lists_are_deduplicated_and_sorted(index):
    patch = {
        "ignored_providers": ["openai", "groq", "openai", "deepseek"],
        "allowed_providers": ["together", "groq", "together"],
    }
    updated = apply(PrivacySettings(), patch, INFERENCE, index)
    assert updated.ignored_providers == ["deepseek", "groq", "openai"]
    assert updated.allowed_providers == ["groq", "together"]


def test_reordering_allowed_providers_is_not_a_loosening(index):
    before = PrivacySettings(allowed_providers=["groq", "openai"])
    patch = {"allowed_providers": ["openai", "groq", "groq"]}
    updated = apply(before, patch, INFERENCE, index)
    assert updated.allowed_providers == ["groq", "openai"]


@pytest.mark.parametrize("field", ["ignored_providers", "allowed_providers"])
def test_providers_are_named_as_a_request_names_them_and_stored_as_slugs(field, index):
    # The same forms as a request's provider.only and provider.ignore: slug or display
    # name, in any case.
    patch = {field: ["Google Vertex", "OPENAI", "openai", " Anthropic ", "google-ai-studio"]}
    updated = apply(PrivacySettings(), patch, MANAGEMENT, index)
    assert getattr(updated, field) == ["anthropic", "google-ai-studio", "google-vertex", "openai"]


def test_a_display_name_of_an_allowed_provider_is_not_a_loosening(index):
    before = PrivacySettings(allowed_providers=["google-vertex", "openai"])
    updated = apply(before, {"allowed_providers": ["OpenAI"]}, INFERENCE, index)
    assert updated.allowed_providers == ["openai"]


@pytest.mark.parametrize("value", ["yes", "true", 1, 0])
def test_privacy_booleans_are_strict(value, index):
    with pytest.raises(VeilError) as caught:
        apply(PrivacySettings(), {"enforce_zdr": value}, MANAGEMENT, index)
    assert caught.value.code == 400
    assert "enforce_zdr" in caught.value.message


def test_a_patch_names_exactly_the_settings():
    assert set(PrivacySettingsPatch.model_fields) == set(PrivacySettings.model_fields)
    documented = PrivacySettingsPatch.model_json_schema()
    assert documented["additionalProperties"] is False
    assert all("default" not in field for field in documented["properties"].values())


@pytest.mark.parametrize("body", [b"{", b"[]", b'"enforce_zdr"'])
def test_a_body_that_is_not_a_json_object_is_a_400(body):
    with pytest.raises(VeilError) as caught:
        parse_privacy_patch(body)
    assert caught.value.code == 400


@pytest.mark.parametrize("field", ["enforce_zdr", "enable_prompt_logging", "ignored_providers"])
def test_null_for_a_setting_that_takes_none_is_a_400_naming_it(field, index):
    with pytest.raises(VeilError) as caught:
        apply(PrivacySettings(), {field: None}, MANAGEMENT, index)
    assert caught.value.code == 400
    assert field in caught.value.message


def test_null_allowed_providers_lifts_the_allow_list(index):
    before = PrivacySettings(allowed_providers=["groq"], enforce_zdr=True)
    updated = apply(before, {"allowed_providers": None}, MANAGEMENT, index)
    assert updated.allowed_providers is None
    assert updated.enforce_zdr is True
