"""``llmos memory``: search and list the experiences in SmartMemory.md.

Only click is imported here; llmos.memory's index (numpy, bm25s) and rich load inside the
commands, so ``llmos --help`` stays cheap. ``cli.py`` registers :data:`memory_group` with
``main.add_command``.

Exit codes: 0 done (also when nothing matches), 2 usage error (no project root, a malformed
SmartMemory.md).
"""

from __future__ import annotations

import json
import sys
import warnings
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any, TypeVar

import click

from llmos._cli_common import EXIT_USAGE, project_root, root_option

__all__ = ["list_command", "memory_group", "search_command"]

_T = TypeVar("_T")


def _memory_file(root: Path | None, file: Path | None) -> Path:
    """``--file``, else ``ROOT/system/SmartMemory.md`` (ROOT: ``--root`` or the nearest project root)."""
    if file is not None:
        return file
    return project_root(root) / "system" / "SmartMemory.md"


@contextmanager
def _reported() -> Iterator[None]:
    """Warnings shown as ``warning: ...`` lines on stderr; a DocumentError as ``error: ...``, exit 2."""
    from llmos.exceptions import DocumentError

    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        try:
            yield
        except DocumentError as exc:
            click.echo(f"error: {exc}", err=True)
            sys.exit(EXIT_USAGE)
        finally:
            for warning in caught:
                click.echo(f"warning: {warning.message}", err=True)


def _console() -> Any:
    from rich.console import Console

    return Console(highlight=False, soft_wrap=False)


def _place_options(command: Callable[..., _T]) -> Callable[..., _T]:
    command = click.option(
        "--file",
        type=click.Path(dir_okay=False, path_type=Path),
        help="A SmartMemory.md to read instead of the project's (e.g. a simulated batch's).",
    )(command)
    return root_option(command)


@click.group("memory", context_settings={"help_option_names": ["-h", "--help"]})
def memory_group() -> None:
    """Search and list the experiences in SmartMemory.md (one per run)."""


@memory_group.command("search")
@click.argument("query", nargs=-1, required=True)
@click.option("--limit", type=click.IntRange(min=1), default=5, show_default=True, help="At most this many hits.")
@_place_options
@click.option("--json", "as_json", is_flag=True, help="Print one JSON object per hit (rank, score, entry).")
def search_command(query: tuple[str, ...], limit: int, root: Path | None, file: Path | None, as_json: bool) -> None:
    """The experiences most relevant to QUERY (a goal, an error message), best first.

    Ranked by BM25 over each experience's goal, scenario, outcome, components, errors, recovery
    and lessons. The index is kept beside the file (.SmartMemory.md.index.npz) and caught up
    when runs append experiences.
    """
    from llmos.memory import search_memory

    path = _memory_file(root, file)
    text = " ".join(query)
    with _reported():
        hits = search_memory(path, text, limit=limit)
    if not hits:
        click.echo("no experiences match", err=as_json)
        return
    if as_json:
        for hit in hits:
            click.echo(json.dumps(hit.to_dict(), ensure_ascii=False))
        return
    from rich.markup import escape
    from rich.table import Table

    table = Table(title=f"SmartMemory · {escape(text)}", title_justify="left")
    for name, justify in (("rank", "right"), ("score", "right"), ("id", "left"), ("outcome", "left")):
        table.add_column(name, justify=justify, no_wrap=True)  # type: ignore[arg-type]
    table.add_column("scenario", overflow="fold", ratio=1)
    table.add_column("goal", overflow="fold", ratio=2)
    table.add_column("first lesson", overflow="fold", ratio=3)
    for hit in hits:
        entry = hit.entry
        table.add_row(
            str(hit.rank),
            f"{hit.score:.2f}",
            escape(entry.id),
            escape(entry.outcome),
            escape(entry.scenario),
            escape(entry.goal),
            escape(str(entry.lessons[0])) if entry.lessons else "-",
        )
    _console().print(table)


@memory_group.command("list")
@click.option("--limit", type=click.IntRange(min=1), default=20, show_default=True, help="The newest N experiences.")
@_place_options
@click.option("--json", "as_json", is_flag=True, help="Print one JSON object per experience.")
def list_command(limit: int, root: Path | None, file: Path | None, as_json: bool) -> None:
    """The newest experiences, newest first (only those are read)."""
    from dataclasses import asdict

    from llmos._memory_index import recent

    path = _memory_file(root, file)
    with _reported():
        try:
            entries = recent(path, limit)
        except FileNotFoundError:
            entries = []
    if not entries:
        click.echo(f"no experiences in {path}", err=as_json)
        return
    if as_json:
        for entry in entries:
            click.echo(json.dumps(asdict(entry), ensure_ascii=False))
        return
    from rich.markup import escape
    from rich.table import Table

    table = Table(title=f"SmartMemory · newest {len(entries)}", title_justify="left")
    for name in ("time", "id", "outcome"):
        table.add_column(name, no_wrap=True)
    table.add_column("scenario", overflow="fold", ratio=1)
    table.add_column("goal", overflow="fold", ratio=3)
    table.add_column("cost", justify="right", no_wrap=True)
    table.add_column("s", justify="right", no_wrap=True)
    for entry in entries:
        table.add_row(
            escape(str(entry.time)),
            escape(entry.id),
            escape(entry.outcome),
            escape(entry.scenario),
            escape(entry.goal),
            f"${entry.cost_usd:.4f}" if isinstance(entry.cost_usd, int | float) else escape(str(entry.cost_usd)),
            f"{entry.duration_s:.1f}" if isinstance(entry.duration_s, int | float) else escape(str(entry.duration_s)),
        )
    _console().print(table)
