"""What gateways tell each other so that per-key rate limits hold across replicas."""

from pydantic import BaseModel, Field


class WindowCount(BaseModel):
    """The requests one gateway admitted for one key in one fixed window of the key's
    interval (windows are numbered from the epoch, so every gateway numbers them alike)."""

    interval: int = Field(description="the key's rate-limit interval, in seconds")
    window: int = Field(description="epoch seconds // interval")
    count: int = Field(description="requests admitted in `window` so far")
    previous: int = Field(description="requests admitted in `window - 1`")


class RequestCounts(BaseModel):
    """One gateway's counts (subject REQUEST_COUNTS): the keys whose counts changed since
    its last message, and every key with a count now and then (a newly started gateway
    catches up from those). Each count is absolute, so a lost message costs nothing."""

    gateway: str = Field(description="the instance id of the gateway that counted")
    keys: dict[str, WindowCount] = Field(description="by key id (`key-...`)")
