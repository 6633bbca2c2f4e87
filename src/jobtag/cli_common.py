"""What every `jobtag` command shares: the lazily built Tagger, JSON output, errors -> exit codes."""

from __future__ import annotations

import json
import sys
from collections.abc import Iterator
from contextlib import contextmanager
from typing import Any

import click

from jobtag.config import load_settings
from jobtag.errors import JobtagError


def progress_bar(total: int | None, desc: str, unit: str = "jobs") -> Any:
    """A tqdm bar on stderr when it is a terminal (silent otherwise)."""
    from tqdm import tqdm

    return tqdm(total=total, desc=desc, unit=unit, file=sys.stderr, disable=not sys.stderr.isatty())


class Context:
    """Lazily built Tagger shared by the subcommands of one invocation."""

    def __init__(self, overrides: dict[str, Any], config_file: str | None) -> None:
        self.settings = load_settings(config_file, overrides)
        self._tagger = None

    @property
    def tagger(self):  # noqa: ANN201 - jobtag.app.Tagger, imported lazily (torch is slow to import)
        if self._tagger is None:
            from jobtag.app import Tagger

            self._tagger = Tagger(self.settings)
        return self._tagger

    def close(self) -> None:
        if self._tagger is not None:
            self._tagger.close()


def emit_json(obj: Any) -> None:
    click.echo(json.dumps(obj, indent=2, sort_keys=False, default=str))


@contextmanager
def errors() -> Iterator[None]:
    try:
        yield
    except JobtagError as exc:
        click.echo(f"error: {exc}", err=True)
        sys.exit(exc.exit_code)


class JobtagGroup(click.Group):
    """Turns jobtag's exceptions into a message on stderr and the exception's exit code."""

    def invoke(self, ctx: click.Context) -> Any:
        with errors():
            return super().invoke(ctx)
