"""CLI commands of the learning loop and the interfaces: update, models, demo, serve."""

from __future__ import annotations

import dataclasses
import sys
from pathlib import Path

import click

from jobtag.cli_common import Context, emit_json


@click.command()
@click.option(
    "--force", is_flag=True, help="Update now on whatever arrived (new jobs or corrections)."
)
@click.option("--json", "as_json", is_flag=True, help="Print the result as JSON.")
@click.pass_obj
def update(obj: Context, force: bool, as_json: bool) -> None:
    """Learn the jobs and corrections that arrived since the last update (when due, or --force)."""
    from jobtag.updating import not_due_message, run_update, update_due

    progress = sys.stderr.isatty() and not as_json
    due = "forced" if force else update_due(obj.tagger)
    if due is None:
        store = obj.tagger.store
        msg = not_due_message(obj.tagger) + " (--force runs it anyway)"
        if as_json:
            emit_json(
                {
                    "updated": False,
                    "new_jobs": store.jobs_since_last_update(),
                    "new_corrections": store.corrections_since_last_update(),
                    "reason": msg,
                }
            )
        else:
            click.echo(msg)
        return
    click.echo(f"model update: running ({due}) ...", err=True)
    result = run_update(obj.tagger, progress)
    if as_json:
        emit_json({"updated": True, **result.to_dict()})
    else:
        click.echo(result.summary())


@click.group(invoke_without_command=True)
@click.option("--history", is_flag=True, help="Show the update history instead.")
@click.option("--json", "as_json", is_flag=True, help="Print JSON.")
@click.pass_context
def models(ctx: click.Context, history: bool, as_json: bool) -> None:
    """List model versions with their metrics (promote / rollback: subcommands)."""
    if ctx.invoked_subcommand is not None:
        return
    tagger = ctx.obj.tagger
    if history:
        runs = tagger.store.update_history()
        if as_json:
            emit_json({"history": [dataclasses.asdict(r) for r in runs]})
            return
        if not runs:
            click.echo("no update has run yet")
        for r in runs:
            click.echo(
                f"{str(r.finished_at or r.started_at)[:19]}  {r.status:7}  model v{r.model_version}"
                f"  promoted={r.promoted}  jobs={r.jobs_used} labels={r.labels} "
                f"pseudo={r.pseudo_labels}  {r.seconds:.1f}s  {r.reason}"
            )
        return
    from jobtag.judging import compare_versions

    report = compare_versions(tagger)
    if as_json:
        emit_json(report)
        return
    if not report["models"]:
        click.echo("no model yet: run `jobtag train`")
        return
    click.echo(f"yardstick: {report['yardstick']['what']}")
    click.echo(f"{'version':>7}  {'status':9}  {'created':19}  micro_f1  own val.  note")
    for m in report["models"]:
        mark = " (trained on them after its judgement)" if m.get("trained_on_yardstick") else ""
        click.echo(
            f"{m['version']:>7}  {m['status']:9}  {m['created_at'][:19]:19}  "
            f"{_num(m.get('micro_f1'))}  {_num(m['own_metrics'].get('micro_f1'))}  "
            f"{m['note']}{mark}"
        )


def _num(x: object) -> str:
    return f"{x:8.3f}" if isinstance(x, int | float) else f"{'-':>8}"


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


@click.command()
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
        emit_json(report)


@click.command()
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
