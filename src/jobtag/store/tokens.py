"""API tokens of the HTTP service: create (shown once, stored hashed), check, list, revoke."""

from __future__ import annotations

import datetime as dt
import hashlib
import hmac
import logging
import secrets
from dataclasses import dataclass

import sqlalchemy as sa

from jobtag.errors import InputError, NotFound
from jobtag.records import shown, text_problem
from jobtag.store import schema as S
from jobtag.store.sqlutil import transaction

log = logging.getLogger(__name__)

SCOPES = ("read", "write", "admin")  # each scope includes the ones before it
PREFIX = "jt_"

api_tokens = sa.Table(
    "api_tokens",
    S.metadata,
    sa.Column("name", sa.String(S.NAME_LEN), primary_key=True, autoincrement=False),
    sa.Column("scope", sa.String(16), nullable=False),
    sa.Column("token_hash", sa.String(S.HASH_LEN), nullable=False),
    sa.Column("created_at", S.timestamp(), nullable=False),
    sa.UniqueConstraint("token_hash", name="uq_api_tokens_hash"),
    **S.TABLE_KWARGS,
)


def hash_token(token: str) -> str:
    """SHA-256 of a token (tokens are 256 random bits: a slow hash adds nothing)."""
    return hashlib.sha256(token.encode("utf-8", "replace")).hexdigest()


def scope_allows(have: str, need: str) -> bool:
    """Whether a token of scope `have` may do what needs scope `need`."""
    return SCOPES.index(have) >= SCOPES.index(need)


@dataclass(frozen=True)
class TokenInfo:
    """A stored token, without its secret."""

    name: str
    scope: str
    created_at: dt.datetime


class TokenMixin:
    """API-token methods of JobStore (needs `engine` and `url`)."""

    engine: sa.Engine
    url: str

    def create_token(self, name: str, scope: str) -> str:
        """A new random token for `name` (stored hashed; the secret is returned only here)."""
        problem = text_problem(name, "token name", S.NAME_LEN)
        if problem or not name.strip():
            raise InputError(problem or "token name is empty")
        if scope not in SCOPES:
            raise InputError(f"token scope must be one of {', '.join(SCOPES)}: {shown(scope)}")
        token = PREFIX + secrets.token_urlsafe(32)
        t = api_tokens
        with transaction(self.engine, "creating a token") as (conn, _):
            if conn.execute(sa.select(t.c.name).where(t.c.name == name)).first() is not None:
                raise InputError(f"a token named {shown(name)} exists: revoke it first")
            conn.execute(
                t.insert().values(
                    name=name, scope=scope, token_hash=hash_token(token), created_at=S.utcnow()
                )
            )
        log.info("created %s token %r", scope, name)
        return token

    def check_token(self, token: str) -> TokenInfo | None:
        """The token's name and scope, or None when it is unknown or revoked."""
        digest = hash_token(token)
        t = api_tokens
        with self.engine.connect() as conn:
            row = conn.execute(
                sa.select(t.c.name, t.c.scope, t.c.created_at, t.c.token_hash).where(
                    t.c.token_hash == digest
                )
            ).first()
        if row is None or not hmac.compare_digest(row.token_hash, digest):
            return None
        return TokenInfo(row.name, row.scope, row.created_at)

    def list_tokens(self) -> list[TokenInfo]:
        """Every live token (names and scopes; secrets are never stored)."""
        t = api_tokens
        with self.engine.connect() as conn:
            rows = conn.execute(sa.select(t.c.name, t.c.scope, t.c.created_at).order_by(t.c.name))
            return [TokenInfo(r.name, r.scope, r.created_at) for r in rows]

    def revoke_token(self, name: str) -> None:
        """Delete the token `name`; NotFound when there is none."""
        t = api_tokens
        with transaction(self.engine, "revoking a token") as (conn, _):
            if conn.execute(t.delete().where(t.c.name == name)).rowcount == 0:
                raise NotFound(f"no token named {shown(name)}")
        log.info("revoked token %r", name)
