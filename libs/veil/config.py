"""Settings shared by every service; each service's config.py extends them.

This is the only place (with the services' config.py) that reads the environment.
"""

from pathlib import Path
from typing import Literal

from pydantic import Field
from pydantic_settings import BaseSettings, SettingsConfigDict


class CommonSettings(BaseSettings):
    model_config = SettingsConfigDict(env_prefix="VEIL_", extra="ignore")

    # One URL, or a NATS cluster's nodes separated by commas (clients fail over).
    nats_url: str = "nats://127.0.0.1:4222"
    # Copies of each JetStream stream and KV bucket (3 on a 3-node cluster: one node
    # may be lost); existing streams and buckets are brought to it when it changes.
    jetstream_replicas: int = Field(default=1, ge=1, le=5)
    data_dir: Path = Path(".veil")
    catalog: Path | None = None
    upstreams: Literal["simulated", "live"] = "simulated"
    simulator_url: str | None = None  # `veil up` starts one and sets this
    log_level: str = "INFO"
    # "json": one JSON object per line (service, replica, generation id; never content)
    log_format: Literal["text", "json"] = "text"
    # Prometheus /metrics of services without HTTP of their own (the gateway serves it
    # on its HTTP port); unset, they serve none.
    metrics_port: int | None = Field(default=None, ge=1, le=65535)
    metrics_host: str = "0.0.0.0"
    # Prompt logging's master key (32 bytes, base64). Only the dispatcher and metrics
    # use it; unset, one is generated into <data-dir>/master.key (mode 0600).
    master_key: str | None = None

    @property
    def data_path(self) -> Path:
        return self.data_dir.expanduser().resolve()

    def resolved_master_key(self) -> str:
        from veil.keyring import resolve_master_key  # only the services that seal or open

        return resolve_master_key(self.data_path, self.master_key)
