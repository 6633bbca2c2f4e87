"""Bearer-token checks of the HTTP service: scopes read < write < admin, 401/403 as domain errors."""

from __future__ import annotations

import logging
import threading
import time

from jobtag.errors import JobtagError
from jobtag.store import JobStore
from jobtag.store.tokens import SCOPES, TokenInfo, hash_token, scope_allows

log = logging.getLogger(__name__)

NO_AUTH = TokenInfo("no-auth", "admin", None)  # type: ignore[arg-type]


class Unauthorized(JobtagError):
    """The request carries no token, or one that is unknown or revoked."""

    exit_code = 11
    http_status = 401
    headers = {"WWW-Authenticate": "Bearer"}


class Forbidden(JobtagError):
    """The token is valid but its scope is too small for the request."""

    exit_code = 12
    http_status = 403


class Authenticator:
    """Checks `Authorization: Bearer TOKEN` against the store's hashed tokens.

    Answers are cached for `ttl` seconds (a revoked token stops working within `ttl`), so a
    busy service does not query the token table on every request."""

    def __init__(self, store: JobStore, enabled: bool = True, ttl: float = 5.0) -> None:
        self.store = store
        self.enabled = enabled
        self.ttl = ttl
        self._cache: dict[str, tuple[float, TokenInfo | None]] = {}
        self._lock = threading.Lock()

    def identify(self, authorization: str | None) -> TokenInfo | None:
        """The token's name and scope, None when there is no valid token (or auth is off)."""
        if not self.enabled:
            return NO_AUTH
        if not authorization:
            return None
        kind, _, secret = authorization.partition(" ")
        secret = secret.strip()
        if kind.lower() != "bearer" or not secret or len(secret) > 200:
            return None
        key = hash_token(secret)
        now = time.monotonic()
        with self._lock:
            hit = self._cache.get(key)
        if hit is not None and hit[0] > now:
            return hit[1]
        info = self.store.check_token(secret)
        with self._lock:
            if len(self._cache) > 10_000:  # bound memory under a flood of made-up tokens
                self._cache.clear()
            self._cache[key] = (now + self.ttl, info)
        return info

    def require(self, authorization: str | None, need: str) -> TokenInfo:
        """The caller's token if its scope includes `need`; Unauthorized / Forbidden otherwise."""
        assert need in SCOPES
        info = self.identify(authorization)
        if info is None:
            raise Unauthorized(
                f"this request needs a token with scope '{need}': send "
                "'Authorization: Bearer TOKEN' (create one with `jobtag token create NAME`)"
            )
        if not scope_allows(info.scope, need):
            raise Forbidden(
                f"this request needs scope '{need}'; token {info.name!r} has scope '{info.scope}'"
            )
        return info
