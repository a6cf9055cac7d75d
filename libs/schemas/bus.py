"""The old name of `veil.schemas.messages`, which holds the bus's contracts (`veil.bus` is
the bus client). Only the dispatcher and the gateway's chat route still import it; it
goes once they import `veil.schemas.messages`."""

from veil.schemas.messages import (
    CancelGeneration,
    GenerationEvent,
    GenerationVerdict,
    HealthReply,
    PromptSample,
    ProviderAttempt,
    ReplyHeader,
    RequestEnvelope,
    RoutedEndpoint,
    RoutedRequest,
)

__all__ = [
    "CancelGeneration",
    "GenerationEvent",
    "GenerationVerdict",
    "HealthReply",
    "PromptSample",
    "ProviderAttempt",
    "ReplyHeader",
    "RequestEnvelope",
    "RoutedEndpoint",
    "RoutedRequest",
]
