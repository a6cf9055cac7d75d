"""Process set-up shared by every service: logging and no crash dumps.

Log lines carry ids, models, providers and statuses, never prompt or completion text
(invariant 1): nothing here formats message bodies.
"""

import logging
import resource
import sys


def setup_process(service: str, level: str = "INFO") -> logging.Logger:
    # A core dump of a process holding a prompt in memory would put content on disk.
    resource.setrlimit(resource.RLIMIT_CORE, (0, 0))
    logging.basicConfig(
        level=level.upper(),
        stream=sys.stderr,
        format=f"%(asctime)s {service} %(levelname)s %(name)s: %(message)s",
    )
    # FastStream logs every message at INFO; that is too chatty for a hot path.
    logging.getLogger("faststream").setLevel(logging.WARNING)
    logging.getLogger("httpx").setLevel(logging.WARNING)
    logging.getLogger("uvicorn.access").setLevel(logging.WARNING)
    return logging.getLogger(f"veil.{service}")
