"""API keys: random, stored only as a hash, shown in lists only by a label."""

import hashlib
import re

from veil.keys import KEY_PREFIX, hash_key, key_label, new_id, new_key


def test_new_keys_carry_the_prefix_and_256_random_bits():
    key = new_key()
    assert key.startswith(KEY_PREFIX)
    assert re.fullmatch(r"[0-9a-f]{64}", key.removeprefix(KEY_PREFIX))


def test_new_keys_are_unique():
    keys = {new_key() for _ in range(1000)}
    assert len(keys) == 1000


def test_hash_is_the_sha256_hex_digest_and_never_the_key():
    key = new_key()
    digest = hash_key(key)
    assert digest == hashlib.sha256(key.encode()).hexdigest()
    assert re.fullmatch(r"[0-9a-f]{64}", digest)
    assert digest != key
    assert key.removeprefix(KEY_PREFIX) not in digest


def test_hash_is_stable_and_distinguishes_keys():
    key = new_key()
    assert hash_key(key) == hash_key(key)
    assert hash_key(key) != hash_key(new_key())


def test_label_shows_the_ends_and_hides_the_middle():
    key = new_key()
    label = key_label(key)
    assert label == f"{key[:14]}...{key[-4:]}"
    assert label.startswith(KEY_PREFIX)
    assert key[14:-4] not in label
    assert len(label) < len(key) // 2


def test_ids_carry_their_prefix_and_are_unique():
    ids = {new_id("acct") for _ in range(100)}
    assert len(ids) == 100
    assert all(re.fullmatch(r"acct-[0-9a-f]{16}", i) for i in ids)
