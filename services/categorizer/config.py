from veil.config import CommonSettings


class CategorizerSettings(CommonSettings):
    # Unset: the local classifier decides (nothing leaves the process). A catalog model
    # id: that model is asked through veil itself, zero-retention endpoints only.
    categorizer_model: str | None = None
    # How long to wait for the model's answer before the local classifier decides.
    categorizer_timeout: float = 10.0
    # Model requests in flight at most; a sample arriving beyond is classified locally
    # at once, so no sample ever waits in a queue.
    categorizer_max_in_flight: int = 16
