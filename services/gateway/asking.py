"""The gateway's questions to other services over the bus (request/reply).

A service that does not answer (no responders, or a timeout) is a 503 naming it; an
answer carrying an error is raised as that error.
"""

from typing import TypeVar

from faststream.nats import NatsBroker
from pydantic import BaseModel

from veil.schemas.errors import VeilError
from veil.schemas.queries import Answer

ASK_TIMEOUT = 10.0
A = TypeVar("A", bound=Answer)


async def ask(
    broker: NatsBroker, service: str, query: BaseModel, subject: str, answer: type[A]
) -> A:
    """`query` on `subject`, answered by `service` with an `answer`."""
    try:
        message = await broker.request(query, subject, timeout=ASK_TIMEOUT)
    except Exception as exc:  # no responders or timeout: the service is down
        raise VeilError(503, f"The {service} service is unavailable; try again shortly") from exc
    result = answer.model_validate_json(message.body)
    if result.error is not None:
        raise VeilError.from_body(result.error)
    return result


async def ask_metrics(broker: NatsBroker, query: BaseModel, subject: str, answer: type[A]) -> A:
    """A question for the metrics service (its store's reports)."""
    return await ask(broker, "metrics", query, subject, answer)
