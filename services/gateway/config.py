import os
import secrets
from pathlib import Path

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
