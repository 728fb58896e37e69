"""How the operator reaches a serving pod's admin port (serving-image/README.md): a port next to
the client port that no Service exposes, and a token per revision that the operator derives
from its own key. The pod is given only the token's digest, so whoever may read its spec (the
namespace's viewers) still cannot steer it; clients reach the client port, which has no admin
endpoint at all."""

from __future__ import annotations

import hashlib
import hmac

PORT_NAME = "admin"
# The header the serving image reads the token from: not Authorization, which the API
# server's pod proxy keeps for itself.
TOKEN_HEADER = "Modeldeploy-Admin-Token"


def admin_port(serving_port: int) -> int:
    """The admin port of a pod serving on `serving_port`: the next one (the one before, at the
    top of the range), so that it never takes the client port."""
    return serving_port + 1 if serving_port < 65535 else serving_port - 1


def token(key: bytes, namespace: str, name: str, revision: str) -> str:
    """The token of one revision's pods: another revision's, or another object's, opens none
    of them."""
    return hmac.new(key, f"{namespace}/{name}/{revision}".encode(), hashlib.sha256).hexdigest()


def token_digest(value: str) -> str:
    return hashlib.sha256(value.encode()).hexdigest()
