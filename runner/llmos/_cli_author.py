"""``llmos new tool|agent|scenario`` and ``llmos export-agents``: authoring commands.

Only click is imported here; :mod:`llmos.scaffold` and the document parser load inside the
commands, so ``llmos --help`` stays cheap. ``cli.py`` registers :data:`new_group` and
:data:`export_agents_command` with ``main.add_command``.

Exit codes: 0 done, 1 ``export-agents --check`` found the exported subagents out of date,
2 usage or document error (a bad name, a file that exists, a broken document).
"""

from __future__ import annotations

import sys
from collections.abc import Callable
from pathlib import Path
from typing import NoReturn

import click

from llmos._cli_common import EXIT_FAILED, EXIT_USAGE, project_root, root_option

__all__ = ["export_agents_command", "new_group"]


#: The Claude Code tools a new tool component may run on (llmos.scaffold.SCAFFOLD_TOOLS; the
#: runner implements each of them). Spelled out here so that ``--help`` imports nothing.
CLAUDE_TOOL_CHOICES = ("WebFetch", "Read", "Write", "Edit", "Bash", "Grep", "Glob", "Task")

_CONTEXT = {"help_option_names": ["-h", "--help"]}

_force_option = click.option("--force", is_flag=True, help="Replace the document when it exists.")
_description_option = click.option(
    "--description", metavar="TEXT", help="What it does (default: a placeholder to replace)."
)


def _shown(path: Path, root: Path) -> str:
    """``path`` relative to the project root when it is inside it."""
    try:
        return path.resolve().relative_to(root).as_posix()
    except ValueError:
        return str(path)


def _fail(exc: Exception) -> NoReturn:
    """Print a scaffolding or document error as ``error: ...`` lines and exit 2."""
    from llmos.exceptions import DocumentErrors

    errors = exc.errors if isinstance(exc, DocumentErrors) else [exc]
    for error in errors:
        click.echo(f"error: {error}", err=True)
    sys.exit(EXIT_USAGE)


def _create(root: Path, write: Callable[[], Path], *, sync: bool) -> Path:
    """Run ``write``, report the file, and (for components) bring SmartLibrary.md's table up to date."""
    from llmos.exceptions import LLMOSError

    try:
        path = write()
    except LLMOSError as exc:
        _fail(exc)
    click.echo(f"created {_shown(path, root)}")
    if sync:
        from llmos.exceptions import DocumentError
        from llmos.project import Project

        try:
            changed = Project.load(root).sync_library()
        except DocumentError as exc:
            click.echo(
                f"warning: system/SmartLibrary.md not updated ({exc}); run 'llmos library sync' once the project loads",
                err=True,
            )
        else:
            if changed:
                click.echo("updated system/SmartLibrary.md (registry table)")
    return path


@click.group("new", context_settings=_CONTEXT)
def new_group() -> None:
    """Write a new tool, agent or scenario document from a template.

    Every field is present with a comment saying what it is for and which values it takes, and the
    document validates as written. A new tool or agent is added to SmartLibrary.md's registry
    table at once.
    """


@new_group.command("tool", context_settings=_CONTEXT)
@click.argument("name")
@click.option(
    "--claude-tool",
    type=click.Choice(CLAUDE_TOOL_CHOICES),
    default="Read",
    show_default=True,
    help="The Claude Code tool it runs on; its inputs are that tool's.",
)
@_description_option
@root_option
@_force_option
def new_tool_command(name: str, claude_tool: str, description: str | None, root: Path | None, force: bool) -> None:
    """Write components/tools/NAME.md: a tool component (CamelCase NAME, e.g. WordCountTool)."""
    from llmos.scaffold import new_component

    folder = project_root(root)
    _create(
        folder,
        lambda: new_component(folder, "tool", name, claude_tool=claude_tool, description=description, force=force),
        sync=True,
    )
    click.echo(f"next: describe it, then call it from a scenario step with 'component: {name}'")


@new_group.command("agent", context_settings=_CONTEXT)
@click.argument("name")
@click.option(
    "--tools",
    metavar="NAMES",
    default="",
    help="Claude Code tools it may call, comma-separated (e.g. Read,Grep); default: none.",
)
@click.option("--model", metavar="MODEL", help="Its model (e.g. claude-sonnet-4-5); default: the provider's.")
@_description_option
@root_option
@_force_option
def new_agent_command(
    name: str, tools: str, model: str | None, description: str | None, root: Path | None, force: bool
) -> None:
    """Write components/agents/NAME.md: an agent component (CamelCase NAME, e.g. ReviewAgent)."""
    from llmos.scaffold import kebab_case, new_component

    folder = project_root(root)
    names = [t.strip() for t in tools.split(",") if t.strip()]
    _create(
        folder,
        lambda: new_component(folder, "agent", name, tools=names, model=model, description=description, force=force),
        sync=True,
    )
    click.echo(
        "next: write its system prompt (the body) and its inputs and outputs; "
        f"'llmos export-agents' makes it the Claude Code subagent {kebab_case(name)}"
    )


@new_group.command("scenario", context_settings=_CONTEXT)
@click.argument("name")
@click.option(
    "--goal",
    metavar="TEXT",
    help="Only a goal: SystemAgent plans the steps (default: two example steps that run offline).",
)
@_description_option
@root_option
@_force_option
def new_scenario_command(name: str, goal: str | None, description: str | None, root: Path | None, force: bool) -> None:
    """Write scenarios/NAME.md: a scenario (NAME of letters, digits, _ and -, e.g. Weekly_Report)."""
    from llmos.scaffold import new_scenario

    folder = project_root(root)
    path = _create(
        folder, lambda: new_scenario(folder, name, goal=goal, description=description, force=force), sync=False
    )
    click.echo(f"next: llmos-run {_shown(path, folder)}")


@click.command("export-agents", context_settings=_CONTEXT)
@root_option
@click.option(
    "--out",
    type=click.Path(file_okay=False, path_type=Path),
    help="Where to write the subagents (default: ROOT/.claude/agents, where Claude Code looks).",
)
@click.option("--check", is_flag=True, help="Write nothing; exit 1 when the exported files are out of date.")
def export_agents_command(root: Path | None, out: Path | None, check: bool) -> None:
    """Write each agent component as a Claude Code subagent, OUT/NAME.md.

    NAME is the component name in kebab-case (RealSummarizationAgent: real-summarization-agent).
    The front matter holds Claude Code's subagent fields (name, description, tools, model,
    maxTurns); the body is the agent's system prompt followed by the JSON answer its outputs call
    for. Files are rewritten only when they change; earlier exports of agents that are gone are
    removed; other files in OUT are left alone.
    """
    from llmos.exceptions import DocumentError
    from llmos.scaffold import export_agents

    folder = project_root(root)
    try:
        result = export_agents(folder, out, check=check)
    except DocumentError as exc:
        _fail(exc)
    for note in result.notes:
        click.echo(f"note: {note}", err=True)
    total = len(result.written) + len(result.unchanged)
    where = _shown(result.out, folder)
    if check:
        for path in result.written:
            click.echo(f"out of date: {_shown(path, folder)}")
        for path in result.removed:
            click.echo(f"stale: {_shown(path, folder)} (its agent component is gone)")
        if not result.up_to_date:
            click.echo("run 'llmos export-agents' to update them", err=True)
            sys.exit(EXIT_FAILED)
        click.echo(f"up to date: {total} subagent(s) in {where}")
        return
    for path in result.written:
        click.echo(f"wrote {_shown(path, folder)}")
    for path in result.unchanged:
        click.echo(f"unchanged {_shown(path, folder)}")
    for path in result.removed:
        click.echo(f"removed {_shown(path, folder)} (its agent component is gone)")
    if not total:
        click.echo("no agent components to export")
