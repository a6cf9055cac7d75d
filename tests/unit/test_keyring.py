"""Prompt-log encryption: master key handling and the sealing of records."""

import base64
import os
import stat

import pytest
from cryptography.exceptions import InvalidTag
from cryptography.hazmat.primitives.ciphers.aead import AESGCM

from veil.keyring import (
    open_sealed,
    parse_master_key,
    record_context,
    resolve_master_key,
    seal,
)


def test_a_generated_master_key_is_32_random_bytes_readable_by_its_owner_only(tmp_path):
    key = resolve_master_key(tmp_path, None)
    assert len(parse_master_key(key)) == 32
    mode = stat.S_IMODE(os.stat(tmp_path / "master.key").st_mode)
    assert mode == 0o600
    assert resolve_master_key(tmp_path, None) == key  # the same key on every start
    assert resolve_master_key(tmp_path / "other", None) != key


def test_a_configured_master_key_wins_and_is_checked(tmp_path):
    configured = base64.b64encode(bytes(range(32))).decode()
    assert resolve_master_key(tmp_path, configured) == configured
    assert not (tmp_path / "master.key").exists()
    for bad in ("not base64!", base64.b64encode(b"short").decode()):
        with pytest.raises(ValueError, match="32 bytes"):
            resolve_master_key(tmp_path, bad)


def test_a_sealed_record_opens_only_with_its_key_and_its_own_context():
    key = AESGCM(AESGCM.generate_key(bit_length=256))
    context = record_context("acct-a", "gen-1")
    nonce, sealed = seal(key, b"the prompt", context)
    assert b"the prompt" not in base64.b64decode(sealed)
    assert open_sealed(key, nonce, sealed, context) == b"the prompt"
    other_key = AESGCM(AESGCM.generate_key(bit_length=256))
    with pytest.raises(InvalidTag):
        open_sealed(other_key, nonce, sealed, context)
    # moved to another account's or generation's row, it does not open
    for moved in (record_context("acct-b", "gen-1"), record_context("acct-a", "gen-2")):
        with pytest.raises(InvalidTag):
            open_sealed(key, nonce, sealed, moved)


def test_every_seal_uses_a_fresh_nonce():
    key = AESGCM(AESGCM.generate_key(bit_length=256))
    context = record_context("acct-a", "gen-1")
    nonces = {seal(key, b"same", context)[0] for _ in range(50)}
    assert len(nonces) == 50
