"""What every CLI command shares: settings, the app, errors that say what to do, progress bars."""

from __future__ import annotations

import json
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import typer
import yaml
from rich.console import Console
from rich.progress import (
    BarColumn,
    MofNCompleteColumn,
    Progress,
    SpinnerColumn,
    TextColumn,
    TimeElapsedColumn,
)
from rich.table import Table

from epistola.app import Epistola, create_app
from epistola.config import Settings, load_settings
from epistola.errors import EpistolaError, InputError

console = Console(highlight=False)
err = Console(stderr=True, highlight=False)


@dataclass
class CliState:
    overrides: dict[str, Any] = field(default_factory=dict)
    app: Epistola | None = None

    def settings(self) -> Settings:
        return load_settings(**self.overrides)

    def open(self, *, migrate: bool = True) -> Epistola:
        if self.app is None:
            self.app = create_app(self.settings())
            if migrate:
                self.app.migrate()
        return self.app


def state(ctx: typer.Context) -> CliState:
    root = ctx.find_root()
    if not isinstance(root.obj, CliState):
        root.obj = CliState()
    return root.obj


def app_of(ctx: typer.Context) -> Epistola:
    return state(ctx).open()


def report_error(exc: EpistolaError) -> int:
    err.print(f"[bold red]Error:[/] {exc.message}")
    for problem in exc.problems[:25]:
        err.print(f"  [red]•[/] {problem}")
    if len(exc.problems) > 25:
        err.print(f"  … and {len(exc.problems) - 25} more")
    if exc.hint:
        err.print(f"[yellow]What to do:[/] {exc.hint}")
    return exc.exit_code


@contextmanager
def progress_bar(description: str, total: int | None = None) -> Iterator[Callable[[int, int], None]]:
    """A Rich progress bar; yields `update(done, total)` for the job to call."""
    columns = [
        SpinnerColumn(),
        TextColumn("[bold]{task.description}"),
        BarColumn(),
        MofNCompleteColumn(),
        TimeElapsedColumn(),
    ]
    with Progress(*columns, console=console, transient=False) as progress:
        task = progress.add_task(description, total=total)

        def update(done: int, expected: int) -> None:
            progress.update(task, completed=done, total=max(expected, done) or None)

        yield update


def read_definition(path: Path) -> Any:
    """A JSON or YAML document (segments, designs), with the file named in any error."""
    try:
        text = path.read_text(encoding="utf-8")
    except FileNotFoundError:
        raise InputError(f"file not found: {path}") from None
    try:
        return json.loads(text) if path.suffix == ".json" else yaml.safe_load(text)
    except (json.JSONDecodeError, yaml.YAMLError) as exc:
        raise InputError(f"{path} is not valid {'JSON' if path.suffix == '.json' else 'YAML'}: {exc}") from None


def table(title: str, columns: list[str], rows: list[list[Any]]) -> Table:
    t = Table(title=title, title_justify="left")
    for c in columns:
        t.add_column(c, justify="right" if c.startswith(("#", "n ", "count")) else "left")
    for r in rows:
        t.add_row(*("" if v is None else str(v) for v in r))
    return t
