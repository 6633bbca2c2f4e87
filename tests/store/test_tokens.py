"""API tokens in the store: created once, stored hashed, checked, listed, revoked (every backend)."""

from __future__ import annotations

import pytest
import sqlalchemy as sa

from jobtag.errors import InputError, NotFound
from jobtag.store import JobStore
from jobtag.store.tokens import api_tokens, scope_allows


def test_tokens_lifecycle(db_url):
    with JobStore(db_url) as store:
        secret = store.create_token("ci", "write")
        assert secret.startswith("jt_") and len(secret) > 40
        with store.engine.connect() as conn:
            stored = conn.execute(sa.select(api_tokens.c.token_hash)).scalar_one()
        assert secret not in stored and len(stored) == 64
        info = store.check_token(secret)
        assert info is not None and (info.name, info.scope) == ("ci", "write")
        assert store.check_token(secret + "x") is None
        with pytest.raises(InputError, match="exists"):
            store.create_token("ci", "read")
        with pytest.raises(InputError, match="scope"):
            store.create_token("other", "root")
        with pytest.raises(InputError, match="NUL"):
            store.create_token("a\x00", "read")
        assert [t.name for t in store.list_tokens()] == ["ci"]
        store.revoke_token("ci")
        assert store.check_token(secret) is None
        with pytest.raises(NotFound):
            store.revoke_token("ci")


def test_scopes_are_ordered():
    assert scope_allows("admin", "write") and scope_allows("write", "read")
    assert not scope_allows("read", "write") and not scope_allows("write", "admin")
