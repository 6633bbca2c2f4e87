"""The `jobtag` command line: parses arguments, calls the library, formats the result."""

from __future__ import annotations

import logging
import sys
from collections.abc import Callable
from pathlib import Path
from typing import Any

import click

from jobtag import cli_loop, cli_model, cli_token
from jobtag.cli_common import Context, JobtagGroup, emit_json, errors, progress_bar
from jobtag.errors import InputError

log = logging.getLogger("jobtag")


@click.group(cls=JobtagGroup)
@click.option("--db", "db_url", envvar="JOBTAG_DB", help="Database URL (default: SQLite in HOME).")
@click.option("--home", type=click.Path(path_type=Path), help="Data folder (env JOBTAG_HOME).")
@click.option("--config", "config_file", type=click.Path(), help="TOML config file.")
@click.option("-v", "--verbose", count=True, help="More logging on stderr (-v info, -vv debug).")
@click.option("-q", "--quiet", is_flag=True, help="Only errors on stderr.")
@click.pass_context
def main(
    ctx: click.Context,
    db_url: str | None,
    home: Path | None,
    config_file: str | None,
    verbose: int,
    quiet: bool,
) -> None:
    """jobtag: tag job postings and keep learning from new jobs and corrections."""
    level = (
        logging.ERROR if quiet else [logging.WARNING, logging.INFO, logging.DEBUG][min(verbose, 2)]
    )
    logging.basicConfig(
        level=level, format="%(levelname)s %(name)s: %(message)s", stream=sys.stderr
    )
    if verbose < 2:
        for noisy in ("alembic", "sqlalchemy", "httpx", "matplotlib"):
            logging.getLogger(noisy).setLevel(logging.WARNING)
    with errors():
        ctx.obj = Context({"db_url": db_url, "home": home}, config_file)
    ctx.call_on_close(ctx.obj.close)


def _with_bar(total: int | None, desc: str) -> tuple[Any, Callable[[int], None]]:
    bar = progress_bar(total, desc)
    return bar, bar.update


@main.command("import")
@click.argument("files", nargs=-1, type=click.Path(path_type=Path))
@click.option("--from-db", "from_db", help="Pull rows from another database (URL).")
@click.option("--query", help="SQL query or table name giving the row columns (with --from-db).")
@click.option("--json", "as_json", is_flag=True, help="Print the result as JSON.")
@click.pass_obj
def import_cmd(
    obj: Context, files: tuple[Path, ...], from_db: str | None, query: str | None, as_json: bool
) -> None:
    """Import jobs (CSV, CSV.gz, JSONL in the row format, or --from-db URL --query SQL)."""
    if not files and not from_db:
        raise InputError("give FILES to import, or --from-db URL --query SQL")
    if from_db and not query:
        raise InputError("--from-db needs --query (a SELECT or a table name)")
    results: dict[str, Any] = {}
    store = obj.tagger.store
    for path in files:
        bar = progress_bar(None, f"import {path.name}")
        try:
            results[str(path)] = _as_dict(store.import_file(path, progress=bar.update))
        finally:
            bar.close()
    if from_db:
        bar = progress_bar(None, "import from db")
        try:
            results[from_db] = _as_dict(store.import_from_db(from_db, query, progress=bar.update))
        finally:
            bar.close()
    if as_json:
        emit_json(results)
    else:
        for name, res in results.items():
            click.echo(f"{name}: " + ", ".join(f"{k}={v}" for k, v in res.items()))


def _as_dict(result: Any) -> dict[str, Any]:
    if isinstance(result, dict):
        return result
    if hasattr(result, "__dataclass_fields__"):
        import dataclasses

        return dataclasses.asdict(result)
    return dict(vars(result))


@main.command()
@click.option("--json", "as_json", is_flag=True, help="Print one JSON object.")
@click.option("--top", default=30, show_default=True, help="Tags shown in the table.")
@click.pass_obj
def stats(obj: Context, as_json: bool, top: int) -> None:
    """Jobs, labeled jobs, tags and tag frequencies in the store."""
    s = obj.tagger.store.stats()
    if as_json:
        emit_json(s)
        return
    click.echo(f"jobs          {s['jobs']}")
    click.echo(f"labeled jobs  {s['labeled_jobs']}")
    click.echo(f"tags          {s['tags']}")
    counts = sorted(s["tag_counts"].items(), key=lambda kv: (-kv[1], kv[0]))
    if counts:
        width = max(len(t) for t, _ in counts[:top])
        click.echo(f"\n{'tag'.ljust(width)}  jobs")
        for tag, n in counts[:top]:
            click.echo(f"{tag.ljust(width)}  {n}")
        if len(counts) > top:
            click.echo(f"... {len(counts) - top} more (--top N)")


@main.command()
@click.pass_obj
def featurize(obj: Context) -> None:
    """Featurize every job in the store (fills the feature cache used by training)."""
    total = obj.tagger.store.count_jobs()
    bar, update = _with_bar(total, "featurize")
    try:
        n = obj.tagger.featurize_store(progress=update)
    finally:
        bar.close()
    click.echo(f"featurized {n} jobs (feature version {obj.tagger.featurizer.version})")


# The other commands live beside this module, grouped by what they work on; registered here.
for command in (
    cli_model.train,
    cli_model.predict,
    cli_model.evaluate,
    cli_model.feedback,
    cli_loop.update,
    cli_loop.models,
    cli_loop.demo,
    cli_loop.serve,
    cli_token.token,
):
    main.add_command(command)
