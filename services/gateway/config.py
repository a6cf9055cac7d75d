import os
import secrets
from pathlib import Path

from pydantic import Field

from veil.config import CommonSettings

ADMIN_KEY_FILE = "admin.key"


class GatewaySettings(CommonSettings):
    http_host: str = "127.0.0.1"
    http_port: int = 8080
    admin_key: str | None = None
    # The largest request body accepted (413 above it). The embedded nats-server is
    # started to carry it; against an external NATS, the smaller of this and what the
    # server's max_payload leaves room for applies.
    max_body_bytes: int = 8 * 1024 * 1024
    # No reply and no heartbeat by then: no service took the request, 503. Must exceed
    # the dispatchers' heartbeat interval (5 s).
    accept_timeout: float = 10.0
    # Longest silence from a dispatcher mid-request: it says "still working" every 5 s,
    # so three missed heartbeats mean it is gone and the client gets a 502.
    idle_timeout: float = 15.0
    keepalive_interval: float = 5.0  # SSE comment lines while waiting for tokens
    # Requests per key per rate_limit_interval for keys without a rate_limit of their
    # own; 0: no limit. Generous: a brake on runaway clients, not a quota.
    rate_limit_default: int = Field(default=600, ge=0)
    rate_limit_interval: str = Field(default="10s", pattern=r"^[1-9][0-9]{0,4}[smh]$")
    # How often each gateway tells the others its per-key counts: a key can overshoot
    # its limit by what the other gateways admit for it in about this long.
    rate_limit_broadcast: float = Field(default=0.2, gt=0)
    # Keys an account may hold (disabled and expired ones count; deleted ones do not).
    max_keys_per_account: int = Field(default=100, ge=1)
    # A request's headers must arrive within header_timeout of its first byte (or of the
    # connection opening) and within max_header_bytes; its body within body_timeout of
    # the headers. Otherwise 408 (431 for headers too large) and the connection closes.
    header_timeout: float = Field(default=10.0, gt=0)
    max_header_bytes: int = Field(default=64 * 1024, ge=1024)
    body_timeout: float = Field(default=30.0, gt=0)
    # On SIGTERM, keep serving this long while /readyz answers 503 (and every answer
    # closes its connection), so that a load balancer polling /readyz stops sending
    # here before the listener closes; then stop as usual. 0: stop at once (veil up).
    drain_delay: float = Field(default=0.0, ge=0, le=300)


def resolve_admin_key(settings: CommonSettings, configured: str | None) -> str:
    """VEIL_ADMIN_KEY, else the key in the data directory, generated on first use.

    The file is created readable by its owner only.
    """
    if configured:
        return configured
    path: Path = settings.data_path / ADMIN_KEY_FILE
    if path.exists():
        stored = path.read_text().strip()
        if stored:
            return stored
        path.unlink()  # an empty file (a crash between create and write) is never a key
    path.parent.mkdir(parents=True, exist_ok=True)
    key = "sk-veil-admin-" + secrets.token_hex(24)
    fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
    with os.fdopen(fd, "w") as handle:
        handle.write(key + "\n")
    return key
