"""``llmos runs``, ``llmos status`` and ``llmos graph``: look at runs and scenarios.

* ``llmos runs`` lists the runs of a workspace, newest first, each sub-run under the run that
  started it: status, phase, steps done, cost, time, provider, mode, start time. Only the front
  matter of each state file is read.
* ``llmos status [EXECUTION_ID]`` shows one run (the latest by default) in the terminal: its
  header, every step (rebuilt from the journal), the question a paused run waits on with the
  commands that answer it, the error, sub-runs, outputs and the last transitions.
* ``llmos graph SCENARIO`` prints the scenario's state machine as a Mermaid state diagram
  (:func:`llmos.graph.mermaid`), the same diagram execution_state.md embeds.

Only click is imported here; rich and the state and project modules load inside the commands, so
``llmos --help`` stays cheap. ``cli.py`` registers :data:`runs_command`, :data:`status_command` and
:data:`graph_command` on its ``main`` group.

Exit codes: 0 done, 2 usage error (no project root, no such run, an unreadable state, a broken
scenario).
"""

from __future__ import annotations

import json
import sys
from dataclasses import asdict
from pathlib import Path
from typing import TYPE_CHECKING, Any, NoReturn

import click

from llmos._cli_common import EXIT_USAGE, project_root, root_option

if TYPE_CHECKING:
    from llmos.state import RunState

__all__ = ["graph_command", "runs_command", "status_command"]

#: Colours (rich styles) of run and step statuses.
STATUS_STYLES = {
    "completed": "green",
    "failed": "red",
    "rejected": "red",
    "paused": "yellow",
    "running": "yellow",
    "skipped": "dim",
}
_NOTE_LIMIT = 80

_workspace_option = click.option(
    "--workspace",
    type=click.Path(file_okay=False, path_type=Path),
    help="The workspace holding runs/ (default: ROOT/workspace).",
)


def _fail(message: str) -> NoReturn:
    click.echo(f"error: {message}", err=True)
    sys.exit(EXIT_USAGE)


def _workspace(root: Path | None, workspace: Path | None) -> Path:
    """``--workspace``, else ``ROOT/workspace`` (ROOT: ``--root`` or the nearest project root)."""
    if workspace is not None:
        return workspace
    return project_root(root, hint="use --root or --workspace") / "workspace"


def _console() -> Any:
    """A rich console on stdout; as wide as the terminal, or 160 columns when stdout is not one."""
    from rich.console import Console

    return Console(highlight=False, soft_wrap=False, width=None if sys.stdout.isatty() else 160)


def _styled(status: str) -> str:
    from rich.markup import escape

    style = STATUS_STYLES.get(status)
    return f"[{style}]{escape(status)}[/{style}]" if style else escape(status)


def _short(text: Any, limit: int = _NOTE_LIMIT) -> str:
    value = " ".join(str(text).split())
    return value if len(value) <= limit else value[: limit - 1] + "…"


def _when(iso: str | None) -> str:
    """``2026-01-01T12:00:05.123Z`` as ``2026-01-01 12:00:05`` (``-`` when unknown)."""
    return iso[:19].replace("T", " ") if iso else "-"


# -- llmos runs ----------------------------------------------------------------------------------


def _run_summary(state: RunState, run_dir: Path) -> dict[str, Any]:
    """One run as ``llmos runs --json`` prints it."""
    counts = dict(state.step_counts)
    return {
        "execution_id": state.execution_id,
        "scenario": state.scenario,
        "goal": state.goal,
        "status": state.status,
        "phase": state.phase,
        "steps_done": counts.get("completed", 0) + counts.get("skipped", 0),
        "steps_total": sum(counts.values()),
        "step_counts": counts,
        "cost_usd": state.cost_usd,
        "budget_usd": state.budget_usd,
        "duration_s": state.duration_s,
        "provider": state.provider,
        "mode": state.mode,
        "started_at": state.started_at,
        "updated_at": state.updated_at,
        "finished_at": state.finished_at,
        "parent": (state.parent or {}).get("execution_id"),
        "depth": 0,
        "paused_reason": state.paused_reason,
        "pending": state.pending,
        "error": (state.error or {}).get("message"),
        "state_path": str(run_dir / "execution_state.md"),
    }


def _read_runs(runs_dir: Path) -> tuple[list[dict[str, Any]], list[tuple[str, str]]]:
    """Every run under ``runs_dir`` (front matter only; the journal only for a run whose state file
    cannot be read) and the ``(folder, reason)`` of those that cannot be read at all."""
    from llmos.exceptions import StateError
    from llmos.state import load_state, recover_state

    found: list[dict[str, Any]] = []
    unreadable: list[tuple[str, str]] = []
    folders = sorted(p for p in runs_dir.iterdir() if p.is_dir()) if runs_dir.is_dir() else []
    for folder in folders:
        state_path, journal_path = folder / "execution_state.md", folder / "journal.jsonl"
        if not state_path.exists() and not journal_path.exists():
            continue  # not a run (e.g. an id claimed by a run that never wrote anything)
        try:
            try:
                state = load_state(state_path)
            except StateError:
                if not journal_path.exists():
                    raise
                state = recover_state(folder)  # the state file was lost or damaged; the journal holds the run
        except StateError as exc:
            unreadable.append((folder.name, exc.message))
            continue
        found.append(_run_summary(state, folder))
    return found, unreadable


def _order(runs: list[dict[str, Any]], limit: int | None) -> list[dict[str, Any]]:
    """Newest first, each sub-run right below the run that started it (``depth`` set); a sub-run
    whose parent is not listed stands on its own. ``limit`` counts the runs at the top level."""
    by_id = {run["execution_id"]: run for run in runs}
    children: dict[str, list[dict[str, Any]]] = {}
    tops: list[dict[str, Any]] = []
    for run in runs:
        parent = run["parent"]
        if parent and parent in by_id and parent != run["execution_id"]:
            children.setdefault(parent, []).append(run)
        else:
            tops.append(run)

    def newest(run: dict[str, Any]) -> tuple[str, str]:
        return (run["started_at"] or "", run["execution_id"])

    out: list[dict[str, Any]] = []
    seen: set[str] = set()

    def place(run: dict[str, Any], depth: int) -> None:
        if run["execution_id"] in seen:
            return
        seen.add(run["execution_id"])
        out.append({**run, "depth": depth})
        for child in sorted(children.get(run["execution_id"], []), key=newest):
            place(child, depth + 1)

    for top in sorted(tops, key=newest, reverse=True)[:limit]:
        place(top, 0)
    return out


@click.command("runs", context_settings={"help_option_names": ["-h", "--help"]})
@click.option("--limit", type=click.IntRange(min=1), default=None, help="Only the newest N runs (with their sub-runs).")
@root_option
@_workspace_option
@click.option("--json", "as_json", is_flag=True, help="Print one JSON object per run (JSON lines).")
def runs_command(limit: int | None, root: Path | None, workspace: Path | None, as_json: bool) -> None:
    """List the runs of the workspace, newest first, each sub-run under the run that started it.

    Columns: execution id, scenario (or goal), status, phase, steps done/total, cost, duration,
    provider, mode and start time. Only each run's front matter is read; runs whose state cannot
    be read are skipped and named on stderr.
    """
    ws = _workspace(root, workspace)
    runs, unreadable = _read_runs(ws / "runs")
    for name, reason in unreadable:
        click.echo(f"warning: skipped run {name}: {reason}", err=True)
    listed = _order(runs, limit)
    if not listed:
        click.echo(f"no runs in {ws / 'runs'}", err=True)
        return
    if as_json:
        for run in listed:
            click.echo(json.dumps(run, ensure_ascii=False))
        return
    from rich.markup import escape
    from rich.table import Table

    table = Table(title=f"Runs · {escape(str(ws))}", title_justify="left")
    table.add_column("execution id", no_wrap=True)
    table.add_column("scenario", overflow="fold", ratio=1)
    for name in ("status", "phase"):
        table.add_column(name, no_wrap=True)
    for name in ("steps", "cost (USD)", "time (s)"):
        table.add_column(name, justify="right", no_wrap=True)
    for name in ("provider", "mode", "started"):
        table.add_column(name, no_wrap=True)
    for run in listed:
        depth = run["depth"]
        marker = ("  " * (depth - 1) + "└ ") if depth else ("↳ " if run["parent"] else "")
        table.add_row(
            escape(marker + run["execution_id"]),
            escape(run["scenario"] or (f"goal: {_short(run['goal'], 60)}" if run["goal"] else "-")),
            _styled(run["status"]),
            escape(run["phase"]),
            f"{run['steps_done']}/{run['steps_total']}",
            f"{run['cost_usd']:.4f}",
            f"{run['duration_s']:.2f}",
            escape(run["provider"] or "-"),
            escape(run["mode"]),
            _when(run["started_at"]),
        )
    _console().print(table)


# -- llmos status --------------------------------------------------------------------------------


def _read_run(run_dir: Path) -> tuple[RunState, str | None]:
    """The whole state of a run, rebuilt from its journal; for a run without a journal (a state
    file written by hand) the state file as it is, with a note when it lacks steps of its plan.

    Raises:
        StateError: The run's state cannot be read.
    """
    from llmos.exceptions import StateError
    from llmos.state import load_state, read_journal, recover_state

    try:
        return recover_state(run_dir), None
    except StateError as exc:
        if read_journal(run_dir / "journal.jsonl"):
            raise
        state = load_state(run_dir / "execution_state.md")
        return state, f"shown as its state file lists it ({exc.message})"


def _status_json(state: RunState, transitions: list[Any]) -> dict[str, Any]:
    """``RunState.to_dict()`` with every step (not the state file's window) and the last transitions asked for."""
    data = state.to_dict()
    data["steps_from"] = 1
    data["steps"] = [asdict(step) for step in state.steps]
    data["recent_transitions"] = [t.to_dict() for t in transitions]
    return data


def _last_transitions(state: RunState, run_dir: Path, count: int) -> list[Any]:
    """The last ``count`` transitions (without their ``data``): the state's own, or the journal's
    when more are asked for than the state keeps."""
    from llmos.state import Transition, read_journal

    if count <= len(state.recent_transitions) or state.transition_count <= len(state.recent_transitions):
        return state.recent_transitions[-count:]
    lines = read_journal(run_dir / "journal.jsonl")
    if not lines:
        return state.recent_transitions[-count:]
    return [Transition.from_dict(line).summary() for line in lines[-count:]]


def _print_status(state: RunState, run_dir: Path, transitions: list[Any], note: str | None) -> None:
    from rich.markup import escape
    from rich.table import Table

    console = _console()
    eid = state.execution_id
    console.print(f"[bold]{escape(state.scenario or 'run')}[/bold] · {escape(eid)}")
    header = Table.grid(padding=(0, 2))
    header.add_column(style="dim", no_wrap=True)
    header.add_column(overflow="fold")
    cost = f"${state.cost_usd:.4f}" + (f" of ${state.budget_usd:.2f}" if state.budget_usd is not None else "")
    rows = [
        ("goal", escape(state.goal or "-")),
        ("status", f"{_styled(state.status)}  phase: {escape(state.phase)}"),
        ("provider", f"{escape(state.provider or '-')}  mode: {escape(state.mode)}"),
        ("cost", escape(cost)),
        ("time", f"{state.duration_s:.2f} s  transitions: {state.transition_count}"),
        ("started", f"{_when(state.started_at)}  updated: {_when(state.updated_at)}"),
    ]
    if state.finished_at:
        rows.append(("finished", _when(state.finished_at)))
    if state.parent:
        parent = state.parent
        rows.append(
            (
                "sub-run of",
                escape(f"{parent.get('execution_id')} (step {parent.get('step')}, depth {parent.get('depth')})"),
            )
        )
    if state.planning:
        plan = state.planning
        rows.append(
            (
                "planned by",
                escape(
                    f"{plan.get('by', '-')}: {plan.get('steps', len(state.steps))} steps, "
                    f"{plan.get('repairs', 0)} repairs, {plan.get('replans', 0)} replans"
                ),
            )
        )
    rows.append(("state", escape(str(run_dir / "execution_state.md"))))
    for key, value in rows:
        header.add_row(key, value)
    console.print(header)
    if note:
        console.print(f"[yellow]note:[/yellow] {escape(note)}")

    if state.pending:
        pending = state.pending
        console.print()
        console.print(
            f"[bold yellow]Waiting for a person[/bold yellow] since {escape(_when(pending.get('since')))}: "
            f"step [bold]{escape(str(pending.get('step')))}[/bold] ({escape(str(pending.get('kind')))}): "
            f"{escape(str(pending.get('reason', '')))}"
        )
        console.print("Answer with one of:")
        for command in (f"llmos approve {eid}", f"llmos reject {eid} --reason TEXT", f"llmos skip {eid}"):
            console.print(f"  {escape(command)}")
    elif state.status == "paused":
        console.print()
        console.print(f"[bold yellow]Paused[/bold yellow]: {escape(state.paused_reason or 'no reason recorded')}")
        console.print(f"Continue with:\n  {escape(f'llmos-run --resume {eid}')}")
    if state.error:
        error = state.error
        where = f" in step {error.get('step')}" if error.get("step") else ""
        kind = f" ({error.get('type')})" if error.get("type") else ""
        console.print()
        console.print(f"[bold red]Error[/bold red]{escape(where + kind)}: {escape(str(error.get('message', '')))}")

    counts = ", ".join(f"{count} {status}" for status, count in state.step_counts.items())
    table = Table(title=f"Steps · {len(state.steps)}" + (f" ({counts})" if counts else ""), title_justify="left")
    table.add_column("#", justify="right", no_wrap=True)
    table.add_column("step", no_wrap=True)
    table.add_column("component", overflow="fold")
    table.add_column("status", no_wrap=True)
    for name in ("attempts", "time (s)", "cost (USD)"):
        table.add_column(name, justify="right", no_wrap=True)
    table.add_column("source", no_wrap=True)
    table.add_column("note / error", overflow="fold", ratio=1)
    current = state.current_step or (state.pending or {}).get("step")
    planned_tools = {e.get("id"): e.get("tool") for e in state.plan if isinstance(e, dict)}
    for number, step in enumerate(state.steps, 1):
        tool = step.tool or planned_tools.get(step.id)
        said = f"[red]{escape(_short(step.error))}[/red]" if step.error else escape(_short(step.note or ""))
        table.add_row(
            str(number),
            ("▶ " if step.id == current else "") + escape(step.id),
            escape(step.component + (f" ({tool})" if tool else "")),
            _styled(step.status),
            str(step.attempts),
            f"{step.duration_s:.2f}",
            f"{step.cost_usd:.4f}",
            escape(step.source or "-"),
            said,
        )
    console.print()
    if state.steps:
        console.print(table)
    else:
        console.print("[dim]no steps planned yet[/dim]")

    if state.subruns:
        console.print()
        console.print("[bold]Sub-runs[/bold]")
        for sub in state.subruns:
            console.print(
                f"  {escape(str(sub.get('execution_id')))}  {_styled(str(sub.get('status', '-')))}  "
                f"${float(sub.get('cost_usd') or 0):.4f}"
            )
    if state.outputs:
        shown = state.outputs[-20:]
        console.print()
        more = f" (the last {len(shown)} of {len(state.outputs)})" if len(shown) < len(state.outputs) else ""
        console.print(f"[bold]Outputs[/bold]{more}")
        for path in shown:
            console.print(f"  {escape(path)}")
    if transitions:
        table = Table(title=f"Last {len(transitions)} transitions", title_justify="left")
        for name in ("#", "time", "kind", "from", "to", "step"):
            table.add_column(name, no_wrap=True, justify="right" if name == "#" else "left")
        table.add_column("detail", overflow="fold", ratio=1)
        for t in transitions:
            table.add_row(
                str(t.seq),
                _when(t.at),
                escape(t.kind),
                escape(t.source or "-"),
                escape(t.target),
                escape(t.step or "-"),
                escape(_short(t.detail or "", 120)),
            )
        console.print()
        console.print(table)


@click.command("status", context_settings={"help_option_names": ["-h", "--help"]})
@click.argument("execution_id", required=False)
@root_option
@_workspace_option
@click.option(
    "--transitions",
    "count",
    type=click.IntRange(min=0),
    default=10,
    show_default=True,
    help="How many of the last transitions to show (more than 10 are read from the journal).",
)
@click.option("--json", "as_json", is_flag=True, help="Print the run's whole state as one JSON object.")
def status_command(
    execution_id: str | None, root: Path | None, workspace: Path | None, count: int, as_json: bool
) -> None:
    """Show the run EXECUTION_ID (default: the latest): its status, every step with its status,
    attempts, time, cost and error, the question a paused run waits on and the commands that
    answer it, the run's error, sub-runs, outputs and last transitions.

    The state is rebuilt from the run's journal; a run without one (a state file written by hand)
    is shown as its state file holds it. Exit code 2 when there is no such run or its state
    cannot be read.
    """
    from llmos.engine import find_run
    from llmos.exceptions import StateError

    ws = _workspace(root, workspace)
    try:
        run_dir = find_run(ws, execution_id)
        state, note = _read_run(run_dir)
        transitions = _last_transitions(state, run_dir, count) if count else []
    except StateError as exc:
        _fail(str(exc))
    if as_json:
        click.echo(json.dumps(_status_json(state, transitions), ensure_ascii=False, default=str))
        return
    _print_status(state, run_dir, transitions, note)


# -- llmos graph ---------------------------------------------------------------------------------


def _drawn_steps(project: Any, steps: Any) -> list[dict[str, Any]]:
    """The scenario's steps as :func:`llmos.graph.mermaid` draws them, each tool step with the
    Claude Code tool it runs (its component's only one when the step names none), as a run's
    state file shows it."""
    drawn = []
    for step in steps:
        entry = step.to_dict()
        component = project.library.get(step.component)
        if component is not None and component.kind == "tool" and not step.tool and len(component.claude_tools) == 1:
            entry["tool"] = component.claude_tools[0]
        drawn.append(entry)
    return drawn


@click.command("graph", context_settings={"help_option_names": ["-h", "--help"]})
@click.argument("scenario", type=click.Path(dir_okay=False, path_type=Path))
@root_option
@click.option("--markdown", is_flag=True, help="Wrap the diagram in a ```mermaid code block.")
def graph_command(scenario: Path, root: Path | None, markdown: bool) -> None:
    """Print SCENARIO's state machine as a Mermaid state diagram (stateDiagram-v2).

    Each step is a state: [*] --> first step --> ... --> [*]. A step with `approval: required` is
    entered through a choice (approve, skip, reject); on_error draws its edges (error to FAILED,
    retry, skip on error, on error to a fallback state); for_each steps say what they loop over.
    A scenario without steps (planned from its goal) is drawn as its PLAN state. Paste it into a
    ```mermaid block, or give --markdown. Exit code 2 when the scenario or the project is broken.
    """
    from llmos.exceptions import DocumentError, DocumentErrors
    from llmos.graph import mermaid
    from llmos.project import Project, find_root

    folder = root or find_root(scenario.resolve().parent) or find_root(Path.cwd())
    if folder is None:
        _fail("no project root (a folder with system/SystemAgent.md) above the scenario or here; use --root")
    try:
        project = Project.load(folder)
        loaded = project.load_scenario(scenario)
    except DocumentError as exc:
        for error in exc.errors if isinstance(exc, DocumentErrors) else [exc]:
            click.echo(f"error: {error}", err=True)
        sys.exit(EXIT_USAGE)
    text = mermaid(_drawn_steps(project, loaded.steps), title=loaded.name, goal=loaded.goal)
    click.echo(f"```mermaid\n{text}```" if markdown else text, nl=markdown)
