"""Dependencies shared by the routers: the service state and bearer-key auth."""

from __future__ import annotations

import hashlib
import secrets

from fastapi import Depends, Request
from fastapi.security import HTTPAuthorizationCredentials, HTTPBearer

from service.errors import ServiceError
from service.lifespan import ServiceState

_bearer = HTTPBearer(auto_error=False, description="an API key, when the server is started with keys")


def get_state(request: Request) -> ServiceState:
    """The app's :class:`ServiceState` (settings, judge, batcher, metrics)."""
    return request.app.state.service


def _digest(key: str) -> bytes:
    return hashlib.sha256(key.encode("utf-8")).digest()


def key_digests(keys: list[str]) -> list[bytes]:
    """SHA-256 of each key: comparing fixed-length digests hides the keys' lengths too."""
    return [_digest(k) for k in keys]


async def require_api_key(
    request: Request, credentials: HTTPAuthorizationCredentials | None = Depends(_bearer)
) -> None:
    """401 unless the request carries ``Authorization: Bearer <key>`` with a configured key.

    A no-op when the server has no keys. Every key is compared (no early exit) in constant time.
    """
    digests: list[bytes] = request.app.state.service.key_digests
    if not digests:
        return
    ok = False
    if credentials is not None and credentials.scheme.lower() == "bearer":
        given = _digest(credentials.credentials)
        for d in digests:
            ok |= secrets.compare_digest(given, d)
    if not ok:
        raise ServiceError(
            401,
            "unauthorized",
            "a valid API key is required (Authorization: Bearer <key>)",
            headers={"WWW-Authenticate": "Bearer"},
        )
