"""CLI commands for the HTTP service's API tokens: token create / list / revoke."""

from __future__ import annotations

import click

from jobtag.cli_common import Context, emit_json
from jobtag.store.tokens import SCOPES


@click.group()
def token() -> None:
    """API tokens for `jobtag serve` (requests send `Authorization: Bearer TOKEN`)."""


@token.command("create")
@click.argument("name")
@click.option("--scope", type=click.Choice(SCOPES), default="read", show_default=True,
              help="read: read and predict; write: also record jobs and feedback; admin: all.")  # fmt: skip
@click.pass_obj
def create(obj: Context, name: str, scope: str) -> None:
    """Create a token NAME and print it once (only its hash is stored)."""
    secret = obj.tagger.store.create_token(name, scope)
    click.echo(secret)
    click.echo(f"{scope} token {name!r} created; it is shown only now: keep it.", err=True)


@token.command("list")
@click.option("--json", "as_json", is_flag=True, help="Print JSON.")
@click.pass_obj
def list_cmd(obj: Context, as_json: bool) -> None:
    """Token names, scopes and creation times (never the secrets)."""
    tokens = obj.tagger.store.list_tokens()
    if as_json:
        emit_json([{"name": t.name, "scope": t.scope, "created_at": t.created_at} for t in tokens])
        return
    if not tokens:
        click.echo("no tokens (create one with `jobtag token create NAME --scope read`)")
    for t in tokens:
        click.echo(f"{t.name}\t{t.scope}\t{t.created_at:%Y-%m-%d %H:%M:%S}")


@token.command("revoke")
@click.argument("name")
@click.pass_obj
def revoke(obj: Context, name: str) -> None:
    """Delete the token NAME: requests carrying it get 401 from now on."""
    obj.tagger.store.revoke_token(name)
    click.echo(f"token {name!r} revoked")
