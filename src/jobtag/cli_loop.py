"""CLI commands of the learning loop and the interfaces: update, models, demo, serve."""

from __future__ import annotations

import dataclasses
import sys
from pathlib import Path

import click

from jobtag.cli import Context, _emit_json, main


@main.command()
@click.option("--force", is_flag=True, help="Update even if fewer than N new jobs were seen.")
@click.option("--json", "as_json", is_flag=True, help="Print the result as JSON.")
@click.pass_obj
def update(obj: Context, force: bool, as_json: bool) -> None:
    """Continue training the active model on the jobs seen since the last update."""
    from jobtag.updating import maybe_update, run_update

    progress = sys.stderr.isatty() and not as_json
    result = run_update(obj.tagger, progress) if force else maybe_update(obj.tagger, progress)
    if result is None:
        due = obj.tagger.store.jobs_since_last_update()
        msg = f"no update due: {due} new jobs, {obj.settings.update.every_n_jobs} needed (--force)"
        if as_json:
            _emit_json({"updated": False, "new_jobs": due, "reason": msg})
        else:
            click.echo(msg)
        return
    if as_json:
        _emit_json({"updated": True, **result.to_dict()})
    else:
        click.echo(result.summary())


@main.group(invoke_without_command=True)
@click.option("--history", is_flag=True, help="Show the update history instead.")
@click.option("--json", "as_json", is_flag=True, help="Print JSON.")
@click.pass_context
def models(ctx: click.Context, history: bool, as_json: bool) -> None:
    """List model versions with their metrics (promote / rollback: subcommands)."""
    if ctx.invoked_subcommand is not None:
        return
    store = ctx.obj.tagger.store
    rows = store.update_history() if history else store.list_models()
    if as_json:
        _emit_json([dataclasses.asdict(r) for r in rows])
        return
    if not rows:
        click.echo("no update has run yet" if history else "no model yet: run `jobtag train`")
        return
    if history:
        for r in rows:
            click.echo(
                f"{str(r.finished_at or r.started_at)[:19]}  {r.status:7}  model v{r.model_version}"
                f"  promoted={r.promoted}  jobs={r.jobs_used} labels={r.labels} "
                f"pseudo={r.pseudo_labels}  micro-F1 {_f1(r.metrics_before)} -> "
                f"{_f1(r.metrics_after)}  {r.seconds:.1f}s  {r.reason}"
            )
        return
    click.echo(f"{'version':>7}  {'status':9}  {'created':19}  micro_f1  macro_f1  note")
    for m in rows:
        met = m.metrics.get("update_validation") or m.metrics
        click.echo(
            f"{m.version:>7}  {m.status:9}  {str(m.created_at)[:19]:19}  "
            f"{_num(met.get('micro_f1'))}  {_num(met.get('macro_f1'))}  {m.note}"
        )


def _num(x: object) -> str:
    return f"{x:8.3f}" if isinstance(x, int | float) else f"{'-':>8}"


def _f1(d: object) -> str:
    return f"{d['micro_f1']:.3f}" if isinstance(d, dict) and "micro_f1" in d else "-"


@models.command()
@click.argument("version", type=int)
@click.pass_obj
def promote(obj: Context, version: int) -> None:
    """Make model VERSION the active one."""
    obj.tagger.store.promote(version)
    click.echo(f"model v{version} is active")


@models.command()
@click.pass_obj
def rollback(obj: Context) -> None:
    """Go back to the previously active model."""
    model = obj.tagger.store.rollback()
    click.echo(f"rolled back: model v{model.version} is active")


@main.command()
@click.option("--folder", type=click.Path(path_type=Path), help="Where (default HOME/demo).")
@click.option("--jobs", default=1500, show_default=True, help="Synthetic training jobs.")
@click.option("--json", "as_json", is_flag=True, help="Print the report as JSON at the end.")
@click.pass_obj
def demo(obj: Context, folder: Path | None, jobs: int, as_json: bool) -> None:
    """Generate a SYNTHETIC job board, import, train, evaluate, tag new jobs, learn from them."""
    from jobtag.demo import run_demo

    folder = folder or obj.settings.home / "demo"
    say = (lambda s: click.echo(s, err=True)) if as_json else click.echo
    report = run_demo(folder, obj.settings, say, jobs=jobs, progress=sys.stderr.isatty())
    if as_json:
        _emit_json(report)


@main.command()
@click.option("--host", default="127.0.0.1", show_default=True, help="Address to bind.")
@click.option("--port", default=8000, show_default=True, type=int)
@click.option("--no-auth", is_flag=True, help="No tokens needed (local experiments only!).")
@click.option("--max-body-mb", default=16.0, show_default=True, type=float,
              help="Largest request body accepted (413 above).")  # fmt: skip
@click.option("--allowed-host", "allowed_hosts", multiple=True,
              help="Host header to accept besides localhost/127.0.0.1 (repeatable).")  # fmt: skip
@click.pass_obj
def serve(
    obj: Context,
    host: str,
    port: int,
    no_auth: bool,
    max_body_mb: float,
    allowed_hosts: tuple[str, ...],
) -> None:
    """Run the HTTP service and its review page (http://HOST:PORT/); requests need a token."""
    from jobtag.service import serve as run

    if no_auth:
        click.secho(
            "WARNING: --no-auth: ANYONE who reaches this port can read, write and retrain. "
            "Use only for local experiments.",
            fg="red", bold=True, err=True,
        )  # fmt: skip
    run(obj.settings, host=host, port=port, auth=not no_auth,
        max_body_bytes=int(max_body_mb * 1024 * 1024), allowed_hosts=allowed_hosts)  # fmt: skip
