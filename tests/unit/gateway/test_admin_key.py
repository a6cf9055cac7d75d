"""The operator's admin key: configured, or generated once into the data directory."""

import stat

from veil.config import CommonSettings
from veil.gateway.config import ADMIN_KEY_FILE, resolve_admin_key


def settings_in(data_dir) -> CommonSettings:
    return CommonSettings(data_dir=data_dir)


def test_first_start_generates_a_key_into_the_data_directory(tmp_path):
    key = resolve_admin_key(settings_in(tmp_path), None)

    assert key.startswith("sk-veil-admin-")
    assert len(key) > len("sk-veil-admin-") + 32
    assert (tmp_path / ADMIN_KEY_FILE).read_text().strip() == key


def test_generated_key_file_is_readable_by_its_owner_only(tmp_path):
    resolve_admin_key(settings_in(tmp_path), None)
    mode = stat.S_IMODE((tmp_path / ADMIN_KEY_FILE).stat().st_mode)
    assert mode == 0o600


def test_later_starts_return_the_same_key(tmp_path):
    first = resolve_admin_key(settings_in(tmp_path), None)
    second = resolve_admin_key(settings_in(tmp_path), None)
    assert second == first


def test_separate_data_directories_get_different_keys(tmp_path):
    one = resolve_admin_key(settings_in(tmp_path / "one"), None)
    two = resolve_admin_key(settings_in(tmp_path / "two"), None)
    assert one != two


def test_missing_data_directory_is_created(tmp_path):
    data_dir = tmp_path / "nested" / "veil-data"
    key = resolve_admin_key(settings_in(data_dir), None)
    assert (data_dir / ADMIN_KEY_FILE).read_text().strip() == key


def test_configured_key_is_preferred_and_nothing_is_written(tmp_path):
    key = resolve_admin_key(settings_in(tmp_path), "sk-operator-chosen")
    assert key == "sk-operator-chosen"
    assert not (tmp_path / ADMIN_KEY_FILE).exists()


def test_configured_key_wins_over_an_existing_key_file(tmp_path):
    generated = resolve_admin_key(settings_in(tmp_path), None)
    assert resolve_admin_key(settings_in(tmp_path), "sk-operator-chosen") == "sk-operator-chosen"
    assert (tmp_path / ADMIN_KEY_FILE).read_text().strip() == generated


def test_key_file_written_by_the_operator_is_used_as_is(tmp_path):
    (tmp_path / ADMIN_KEY_FILE).write_text("  sk-handwritten-key\n")
    assert resolve_admin_key(settings_in(tmp_path), None) == "sk-handwritten-key"


def test_an_empty_key_file_never_yields_an_empty_admin_key(tmp_path):
    (tmp_path / ADMIN_KEY_FILE).write_text("")
    try:
        key = resolve_admin_key(settings_in(tmp_path), None)
    except (OSError, ValueError):  # refusing to start is an acceptable answer
        return
    assert key
