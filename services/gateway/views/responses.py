"""JSON responses, serialized once with orjson (faster than FastAPI's default path)."""

import orjson
from fastapi.responses import Response


def json_response(payload, status: int = 200, headers: dict[str, str] | None = None) -> Response:
    return Response(
        orjson.dumps(payload), status_code=status, media_type="application/json", headers=headers
    )


def data(payload, status: int = 200) -> Response:
    """OpenRouter's read shape: the payload under `data`."""
    return json_response({"data": payload}, status)
