from veil.config import CommonSettings


class PolicySettings(CommonSettings):
    sample_rate: float = 0.01
    # An endpoint whose recent error rate exceeds this is tried after the healthy ones.
    unhealthy_error_rate: float = 0.25
