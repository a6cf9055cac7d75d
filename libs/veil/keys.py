"""API keys: generated once, shown once, stored only as a hash (invariant 7)."""

import hashlib
import secrets

KEY_PREFIX = "sk-veil-v1-"


def new_key() -> str:
    return KEY_PREFIX + secrets.token_hex(32)


def hash_key(raw_key: str) -> str:
    # Keys are 256 random bits, so a fast unsalted hash is safe and keeps lookups O(1).
    return hashlib.sha256(raw_key.encode()).hexdigest()


def key_label(raw_key: str) -> str:
    return f"{raw_key[:14]}...{raw_key[-4:]}"


def new_id(prefix: str) -> str:
    return f"{prefix}-{secrets.token_hex(8)}"
