"""What the click command modules share: exit codes, common options, finding the project root.

Imports click only, so every command module can use it without making ``llmos --help`` slower.
"""

from __future__ import annotations

import sys
from pathlib import Path

import click

__all__ = [
    "EXIT_FAILED",
    "EXIT_OK",
    "EXIT_PAUSED",
    "EXIT_USAGE",
    "PROVIDER_CHOICES",
    "project_root",
    "root_option",
    "script_option",
]

EXIT_OK, EXIT_FAILED, EXIT_USAGE, EXIT_PAUSED = 0, 1, 2, 3

#: The values of ``--provider`` (see :func:`llmos.providers.choose_provider`).
PROVIDER_CHOICES = ("auto", "local", "scripted", "claude")

root_option = click.option(
    "--root",
    type=click.Path(file_okay=False, path_type=Path),
    help="Project root (default: the nearest folder with system/SystemAgent.md).",
)
script_option = click.option(
    "--script",
    type=click.Path(dir_okay=False, exists=True, path_type=Path),
    help="Answers for the scripted provider (YAML or JSON).",
)


def project_root(root: Path | None, *, hint: str = "use --root") -> Path:
    """``--root`` (checked), else the nearest project root above the current folder.

    Exits with code 2 and an ``error:`` line on stderr when there is none; ``hint`` says what to
    pass instead (e.g. ``"use --root or --workspace"``).
    """
    from llmos.project import find_root

    if root is not None:
        if not (root / "system" / "SystemAgent.md").is_file():
            click.echo(f"error: {root} is not a project root (no system/SystemAgent.md)", err=True)
            sys.exit(EXIT_USAGE)
        return root.resolve()
    found = find_root(Path.cwd())
    if found is None:
        click.echo(f"error: no project root here (no system/SystemAgent.md above this folder); {hint}", err=True)
        sys.exit(EXIT_USAGE)
    return found
