"""Process set-up shared by every service: logging and no crash dumps.

Log lines carry ids, models, providers and statuses, never prompt or completion text
(docs/privacy.md, invariant 1): nothing here formats message bodies. With
`VEIL_LOG_FORMAT=json` each line is one JSON object (time, level, service, replica,
logger, message, and the generation id when the line is about one), for log collectors.
"""

import logging
import re
import resource
import sys
import time

import orjson

from veil.schemas.messages import this_replica

TEXT_FORMAT = "%(asctime)s {service} %(levelname)s %(name)s: %(message)s"
GENERATION_ID = re.compile(r"\bgen-\d+-[0-9a-f]+\b")
# Libraries that install handlers of their own: in JSON mode their lines go through ours.
OWN_HANDLERS = ("faststream", "faststream.access", "uvicorn", "uvicorn.error", "uvicorn.access")


class JsonFormatter(logging.Formatter):
    def __init__(self, service: str, replica: str):
        super().__init__()
        self.service = service
        self.replica = replica

    def format(self, record: logging.LogRecord) -> str:
        message = record.getMessage()
        entry = {
            "time": time.strftime("%Y-%m-%dT%H:%M:%S", time.gmtime(record.created))
            + f".{int(record.msecs):03d}Z",
            "level": record.levelname,
            "service": self.service,
            "replica": self.replica,
            "logger": record.name,
            "message": message,
        }
        generation_id = getattr(record, "generation_id", None)
        if generation_id is None:
            found = GENERATION_ID.search(message)
            generation_id = found.group(0) if found else None
        if generation_id:
            entry["generation_id"] = generation_id
        if record.exc_info:
            entry["exception"] = self.formatException(record.exc_info)
        return orjson.dumps(entry).decode()


def setup_process(service: str, level: str = "INFO", log_format: str = "text") -> logging.Logger:
    # A core dump of a process holding a prompt in memory would put content on disk.
    resource.setrlimit(resource.RLIMIT_CORE, (0, 0))
    handler = logging.StreamHandler(sys.stderr)
    if log_format == "json":
        handler.setFormatter(JsonFormatter(service, this_replica()))
        for name in OWN_HANDLERS:
            own = logging.getLogger(name)
            own.handlers = [handler]
            own.propagate = False
    else:
        handler.setFormatter(logging.Formatter(TEXT_FORMAT.format(service=service)))
    logging.basicConfig(level=level.upper(), handlers=[handler], force=True)
    # FastStream logs every message at INFO; that is too chatty for a hot path.
    logging.getLogger("faststream").setLevel(logging.WARNING)
    logging.getLogger("httpx").setLevel(logging.WARNING)
    logging.getLogger("uvicorn.access").setLevel(logging.WARNING)
    return logging.getLogger(f"veil.{service}")
