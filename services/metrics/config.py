from veil.config import CommonSettings


class MetricsSettings(CommonSettings):
    clickhouse_dsn: str | None = None  # default: chdb://<data-dir>/clickhouse
    # A ClickHouse cluster (its name in the servers' remote_servers): migrations create
    # Replicated tables ON CLUSTER with a Distributed table in front of each.
    clickhouse_cluster: str | None = None
    batch_size: int = 1000
    batch_timeout: float = 0.2  # a quiet system still writes within a second
    retry_delay: float = 2.0  # redelivery delay while ClickHouse is unavailable
    # On SIGTERM, how long the batch being written may take to finish before the
    # process exits anyway (its events are then redelivered, and replace their rows).
    drain_timeout: float = 2.0
    # The longest a key's spend lags what is stored (see spend.py): at most one usage
    # query per interval, whatever the request rate.
    key_usage_interval: float = 1.0
    stats_interval: float = 60.0
    stats_window_minutes: int = 30
    k_anonymity: int = 10
    # Opted-in accounts' prompt log: each record expires this long after its generation
    # (a ClickHouse TTL; reads hide expired records at once).
    prompt_log_retention_days: float = 90.0

    @property
    def dsn(self) -> str:
        return self.clickhouse_dsn or f"chdb://{self.data_path / 'clickhouse'}"
