"""JSON logs: one object per line, with the ModelDeployment a line is about."""

from __future__ import annotations

import logging
import sys

from pythonjsonlogger.core import RESERVED_ATTRS
from pythonjsonlogger.json import JsonFormatter

# kopf hands its settings object and a skip flag to every log call as extras; they are not
# facts about the object a line is about. Its `k8s_ref` (kind, name, namespace) is kept.
_KOPF_INTERNAL = ["settings", "k8s_skip"]
QUIETED_LIBRARIES = ("kubernetes", "kopf.objects", "urllib3")


def configure(level: int = logging.INFO) -> None:
    handler = logging.StreamHandler(sys.stdout)
    handler.setFormatter(
        JsonFormatter(
            "%(asctime)s %(levelname)s %(name)s %(message)s",
            rename_fields={"asctime": "time", "levelname": "level", "name": "logger"},
            reserved_attrs=[*RESERVED_ATTRS, *_KOPF_INTERNAL],
            json_default=str,
        )
    )
    root = logging.getLogger()
    root.handlers[:] = [handler]
    root.setLevel(level)
    # These libraries speak only from warnings up, and never below the level asked for: a
    # level of their own would let their warnings through at `error`. kopf reports every
    # successful handler and timer run; the operator logs its own decisions.
    quieter = max(level, logging.WARNING)
    for library in QUIETED_LIBRARIES:
        logging.getLogger(library).setLevel(quieter)
