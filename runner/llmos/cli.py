"""The command line: ``llmos-run`` and ``llmos`` (a thin click layer over the library).

Exit codes: 0 completed, 1 run failed, 2 usage or document error, 3 paused.

Imports of the engine, the tools, rich and the providers happen inside the commands, so
``llmos --help`` and ``llmos-run --help`` stay cheap.
"""

from __future__ import annotations

import json
import sys
from pathlib import Path
from typing import Any

import click

from llmos import __version__
from llmos._cli_common import (
    EXIT_FAILED,
    EXIT_OK,
    EXIT_USAGE,
    PROVIDER_CHOICES,
    project_root,
    root_option,
    script_option,
)
from llmos.exceptions import DocumentError, DocumentErrors, LLMOSError

__all__ = ["main", "run_main"]


def _parse_sets(values: tuple[str, ...]) -> dict[str, str]:
    out: dict[str, str] = {}
    for item in values:
        key, sep, value = item.partition("=")
        if not sep or not key.strip():
            raise click.BadParameter(f"expected KEY=VALUE, got {item!r}", param_hint="--set")
        out[key.strip()] = value
    return out


def _stderr_console() -> Any:
    from rich.console import Console

    return Console(stderr=True, highlight=False, soft_wrap=True)


def _print_errors(errors: list[DocumentError]) -> None:
    for error in errors:
        click.echo(f"error: {error}", err=True)


def _ask_in_terminal(request: Any) -> Any:
    """The approver when stdin is a terminal: shows the question and asks in place (on stderr)."""
    from llmos.approval import Decision

    click.echo("", err=True)
    click.secho(f"step {request.step} ({request.component}) needs your answer: {request.reason}", err=True, bold=True)
    for key, value in request.inputs.items():
        shown = str(value) if len(str(value)) <= 200 else str(value)[:200] + "..."
        click.echo(f"  {key}: {shown}", err=True)
    choice = click.prompt(
        "approve, reject or skip?",
        type=click.Choice(["approve", "reject", "skip", "a", "r", "s"]),
        err=True,
        show_choices=True,
    )
    action = {"a": "approve", "r": "reject", "s": "skip"}.get(choice, choice)
    reason = click.prompt("reason (optional)", default="", show_default=False, err=True)
    return Decision(action=action, reason=reason, by="person")


def _approver(yes: bool) -> Any:
    """``--yes`` approves everything; a terminal on stdin is asked; otherwise nobody answers (the run pauses)."""
    if yes:
        from llmos.approval import approve_all

        return approve_all
    if _stdin_is_terminal():
        return _ask_in_terminal
    return None


def _stdin_is_terminal() -> bool:
    return sys.stdin.isatty()


def _show_plan(result: Any) -> None:
    """Print a run's plan (the scenario ``steps`` schema, as YAML) on stdout."""
    import yaml

    from llmos.state import recover_state

    plan = recover_state(result.run_dir).plan
    click.echo(yaml.safe_dump({"steps": plan}, sort_keys=False, allow_unicode=True, width=100), nl=False)


def _save_scenario(result: Any, path: Path) -> None:
    """Write a run's plan as a scenario document at ``path`` and check it like any scenario.

    Raises:
        DocumentError: The written scenario does not validate (every problem, with its line).
    """
    from llmos._atomic import atomic_write_text
    from llmos.planning import scenario_text
    from llmos.project import Project
    from llmos.state import recover_state

    state = recover_state(result.run_dir)
    if not state.plan:
        raise click.ClickException("the run has no plan to save")
    given = {k: v for k, v in state.inputs.items() if v is not None}
    atomic_write_text(path, scenario_text(name=path.stem, goal=state.goal, inputs=given, plan=state.plan))
    Project.load(Path(state.project_root)).load_scenario(path)
    click.echo(f"scenario written: {path}", err=True)


def _finish_run(call: Any, *, as_json: bool, plan_only: bool = False, save_scenario: Path | None = None) -> None:
    """Run ``call()`` (a run, a resume or an answer), print its summary and exit with its code
    (``--plan-only``: print the plan, exit 0 once it is recorded)."""
    console = _stderr_console()
    try:
        result = call(lambda line: console.print(f"[dim]·[/dim] {line}"))
    except DocumentErrors as exc:
        _print_errors(exc.errors)
        sys.exit(EXIT_USAGE)
    except DocumentError as exc:
        _print_errors([exc])
        sys.exit(EXIT_USAGE)
    except LLMOSError as exc:
        from llmos.exceptions import StateError

        click.echo(f"error: {exc}", err=True)
        sys.exit(EXIT_USAGE if isinstance(exc, StateError) else EXIT_FAILED)
    planned = plan_only and result.status == "paused" and result.phase == "PAUSED"
    try:
        if save_scenario is not None and (result.status != "failed" or planned):
            _save_scenario(result, save_scenario)
    except DocumentError as exc:
        _print_errors(exc.errors if isinstance(exc, DocumentErrors) else [exc])
        sys.exit(EXIT_USAGE)
    if planned and not as_json:
        _show_plan(result)
        click.echo(
            f"plan recorded in {result.state_path}; run it with: llmos-run --resume {result.execution_id}", err=True
        )
        sys.exit(EXIT_OK)
    if as_json:
        click.echo(json.dumps(result.to_dict(), ensure_ascii=False))
    else:
        _print_summary(console, result)
    if result.error:
        for line in str(result.error).splitlines():
            click.echo(f"{'paused' if result.status == 'paused' else 'error'}: {line}", err=True)
    sys.exit(EXIT_OK if planned else result.exit_code)


_workspace_option = click.option(
    "--workspace",
    type=click.Path(file_okay=False, path_type=Path),
    help="Where runs, outputs and traces go (default: ROOT/workspace).",
)
_provider_option = click.option(
    "--provider",
    type=click.Choice(PROVIDER_CHOICES),
    default=None,
    help="Who answers agent steps (default: auto; a resumed run keeps its own).",
)
_json_option = click.option("--json", "as_json", is_flag=True, help="Print the summary as one JSON object on stdout.")
_yes_option = click.option(
    "--yes", "-y", is_flag=True, help="Approve every question the run asks (no pauses for people)."
)
_confirm_option = click.option(
    "--confirm",
    type=click.Choice(["none", "side-effects"]),
    default=None,
    help="side-effects: ask a person before every step whose component has side effects.",
)


@click.command("run", context_settings={"help_option_names": ["-h", "--help"]})
@click.argument("scenario", required=False, type=click.Path(dir_okay=False, path_type=Path))
@click.option("--goal", metavar="TEXT", help="Run a goal instead of a scenario: SystemAgent plans the steps.")
@click.option("--plan-only", is_flag=True, help="Stop once the plan is made and recorded; print it.")
@click.option(
    "--save-scenario",
    type=click.Path(dir_okay=False, path_type=Path),
    metavar="PATH",
    help="Write the run's plan out as a scenario document (checked like any scenario).",
)
@click.option(
    "--resume",
    "resume",
    is_flag=False,
    flag_value="latest",
    default=None,
    metavar="[EXECUTION_ID]",
    help="Continue a paused or interrupted run (the latest when no id is given) instead of starting one.",
)
@click.option(
    "--mode",
    type=click.Choice(["execution", "simulation"]),
    default="execution",
    show_default=True,
    help="execution runs tools for real; simulation never touches the world.",
)
@click.option("--set", "sets", multiple=True, metavar="KEY=VALUE", help="A scenario input (repeatable).")
@root_option
@_workspace_option
@_provider_option
@script_option
@click.option(
    "--budget",
    "budget_usd",
    type=click.FloatRange(min=0),
    metavar="USD",
    help="Cap the run's cost in US dollars (instead of the scenario's budget_usd); the run pauses when it is spent.",
)
@_yes_option
@_confirm_option
@click.option(
    "--on-broken-document",
    "on_broken",
    type=click.Choice(["fail", "wait"]),
    default="fail",
    show_default=True,
    help="When an edit breaks a document a step needs: fail the run, or wait until it is fixed.",
)
@_json_option
def run_command(
    scenario: Path | None,
    goal: str | None,
    plan_only: bool,
    save_scenario: Path | None,
    resume: str | None,
    mode: str,
    sets: tuple[str, ...],
    root: Path | None,
    workspace: Path | None,
    provider: str | None,
    script: Path | None,
    budget_usd: float | None,
    yes: bool,
    confirm: str | None,
    on_broken: str,
    as_json: bool,
) -> None:
    """Run SCENARIO (a scenarios/*.md document) as a persisted state machine, or continue a run
    with --resume.

    A step with `approval: required` (or with side effects, under --confirm side-effects) asks in
    place when stdin is a terminal; otherwise the run pauses until `llmos approve`, `llmos reject`
    or `llmos skip` answers. --yes approves everything.

    Progress goes to stderr; the summary names the execution id, status, steps, cost, time and
    output paths. Exit codes: 0 completed, 1 failed, 2 usage or document error, 3 paused.
    """
    approver = _approver(yes)
    if resume is not None:
        if scenario is not None or goal is not None or sets or mode != "execution" or plan_only:
            raise click.UsageError(
                "--resume continues a run as it was planned: give no SCENARIO, --goal, --set, --mode or --plan-only"
            )
        from llmos.engine import resume_run

        execution_id = None if resume == "latest" else resume
        _finish_run(
            lambda progress: resume_run(
                execution_id,
                workspace=workspace,
                root=root,
                provider=provider,
                script=script,
                progress=progress,
                budget_usd=budget_usd,
                approver=approver,
                confirm=confirm,
                on_broken=on_broken,
            ),
            as_json=as_json,
        )
    if (scenario is None) == (goal is None):
        raise click.UsageError("give a SCENARIO to run, or --goal TEXT, or --resume [EXECUTION_ID]")
    if goal is not None and not goal.strip():
        raise click.BadParameter("the goal is empty", param_hint="--goal")
    from llmos.engine import run_scenario

    given = _parse_sets(sets)
    _finish_run(
        lambda progress: run_scenario(
            scenario,
            goal=goal,
            plan_only=plan_only,
            root=root,
            inputs=given,
            mode=mode,
            provider=provider or "auto",
            script=script,
            workspace=workspace,
            progress=progress,
            budget_usd=budget_usd,
            approver=approver,
            confirm=confirm or "none",
            on_broken=on_broken,
        ),
        as_json=as_json,
        plan_only=plan_only,
        save_scenario=save_scenario,
    )


def _answer_command(action: str) -> click.Command:
    """``llmos approve``, ``llmos reject`` and ``llmos skip``: answer a paused run's question and go on."""
    helps = {
        "approve": "Approve the step the run EXECUTION_ID waits on, and continue the run.",
        "reject": "Reject the step the run EXECUTION_ID waits on: the run stops (failed); the reason is "
        "recorded as human feedback.",
        "skip": "Skip the step the run EXECUTION_ID waits on, and continue the run without it.",
    }

    reason_option = (
        click.option("--reason", required=True, help="Why (recorded in the trace as human feedback); required.")
        if action == "reject"
        else click.option("--reason", default="", help="Why (recorded in the trace as human feedback).")
    )

    @click.command(action, help=helps[action] + " Exit codes as llmos-run.")
    @click.argument("execution_id", required=False)
    @reason_option
    @root_option
    @_workspace_option
    @_provider_option
    @script_option
    @_yes_option
    @_json_option
    def command(
        execution_id: str | None,
        reason: str | None,
        root: Path | None,
        workspace: Path | None,
        provider: str | None,
        script: Path | None,
        yes: bool,
        as_json: bool,
    ) -> None:
        from llmos.approval import Decision
        from llmos.engine import resume_run

        _finish_run(
            lambda progress: resume_run(
                execution_id,
                workspace=workspace,
                root=root,
                provider=provider,
                script=script,
                progress=progress,
                approver=_approver(yes),
                decision=Decision(action=action, reason=reason or "", by="person"),
            ),
            as_json=as_json,
        )

    return command


def _print_summary(console: Any, result: Any) -> None:
    from rich.table import Table

    colour = {"completed": "green", "failed": "red", "paused": "yellow"}.get(result.status, "white")
    table = Table(title=f"{result.scenario or 'run'} · {result.execution_id}", title_justify="left")
    for column in ("step", "component", "status", "time (s)", "cost (USD)", "source"):
        table.add_column(column)
    for step in result.steps:
        table.add_row(
            step["id"],
            step["component"] + (f" ({step['tool']})" if step["tool"] else ""),
            step["status"],
            f"{step['duration_s']:.2f}",
            f"{step['cost_usd']:.4f}",
            step["source"] or "",
        )
    console.print(table)
    console.print(
        f"status: [{colour}]{result.status}[/{colour}]  mode: {result.mode}  provider: {result.provider_detail}"
    )
    console.print(f"cost: ${result.cost_usd:.4f}  time: {result.duration_s:.2f} s")
    console.print(f"state: {result.state_path}")
    if result.trace_path:
        console.print(f"trace: {result.trace_path}")
    for output in result.outputs:
        console.print(f"output: {output}")


@click.group(context_settings={"help_option_names": ["-h", "--help"]})
@click.version_option(__version__, prog_name="llmos")
def main() -> None:
    """LLM-OS: Markdown documents run as persisted state machines with real tools and traces."""


main.add_command(run_command)
for _action in ("approve", "reject", "skip"):
    main.add_command(_answer_command(_action))


def _register_dataset_commands() -> None:
    from llmos._cli_author import export_agents_command, new_group
    from llmos._cli_dataset import dataset_group, export_command
    from llmos._cli_memory import memory_group
    from llmos._cli_runs import graph_command, runs_command, status_command
    from llmos._cli_simulate import simulate_command

    main.add_command(simulate_command)
    main.add_command(export_command)
    main.add_command(dataset_group)
    main.add_command(memory_group)
    main.add_command(new_group)
    main.add_command(export_agents_command)
    main.add_command(runs_command)
    main.add_command(status_command)
    main.add_command(graph_command)


_register_dataset_commands()


@main.command("watch")
@click.argument("scenario", type=click.Path(dir_okay=False, exists=True, path_type=Path))
@click.option("--set", "sets", multiple=True, metavar="KEY=VALUE", help="A scenario input (repeatable).")
@root_option
@click.option(
    "--workspace",
    type=click.Path(file_okay=False, path_type=Path),
    help="Where the runs go (default: ROOT/workspace/watch).",
)
@click.option(
    "--provider",
    type=click.Choice(PROVIDER_CHOICES),
    default="scripted",
    show_default=True,
    help="Who answers agent steps in the simulated runs.",
)
@script_option
@click.option(
    "--debounce", type=click.FloatRange(min=0), default=0.1, show_default=True, help="Seconds of quiet before a re-run."
)
def watch_command(
    scenario: Path,
    sets: tuple[str, ...],
    root: Path | None,
    workspace: Path | None,
    provider: str,
    script: Path | None,
    debounce: float,
) -> None:
    """Re-validate SCENARIO and re-run it in simulation mode on every save of it or of a document
    it uses, showing how the step outputs changed. Stop with Ctrl-C."""
    import threading

    from llmos.watch import WatchEvent, watch_scenario

    console = _stderr_console()

    def show(event: WatchEvent) -> None:
        names = ", ".join(p.name for p in event.changed) or "start"
        if event.kind == "started":
            console.print(f"[dim]{names}: re-running ({event.since_save_s:.2f} s after the save)[/dim]")
        elif event.kind in {"invalid", "error"}:
            console.print(f"[red]{names}: not run[/red]")
            for error in event.errors:
                console.print(f"  error: {error}", markup=False)
        else:
            result = event.result
            colour = "green" if result.status == "completed" else "red"
            steps = " ".join(f"{s['id']}:{s['status']}" for s in result.steps)
            console.print(
                f"[{colour}]{result.status}[/{colour}] {result.execution_id} ({result.duration_s:.2f} s) {steps}"
            )
            if result.error:
                console.print(f"  error: {result.error}", markup=False)
            for line in event.diff:
                console.print(f"  {line}", markup=False, highlight=False)

    stop = threading.Event()
    console.print(f"watching {scenario} and the documents it uses (Ctrl-C to stop)")
    try:
        watch_scenario(
            scenario,
            on_event=show,
            stop=stop,
            root=root,
            inputs=_parse_sets(sets),
            provider=provider,
            script=script,
            workspace=workspace,
            debounce_s=debounce,
        )
    except KeyboardInterrupt:
        stop.set()
    except DocumentError as exc:
        _print_errors([exc])
        sys.exit(EXIT_USAGE)


@main.command("validate")
@click.argument("paths", nargs=-1, type=click.Path(path_type=Path))
def validate_command(paths: tuple[Path, ...]) -> None:
    """Check documents or project roots and list every problem (exit 2 if any).

    With no PATHS, checks the project root around the current folder.
    """
    from llmos.project import find_root, validate_paths

    targets = list(paths)
    if not targets:
        root = find_root(Path.cwd())
        if root is None:
            click.echo("error: no project root here (no system/SystemAgent.md); give PATHS", err=True)
            sys.exit(EXIT_USAGE)
        targets = [root]
    problems = validate_paths(targets)
    if problems:
        _print_errors(problems)
        click.echo(f"{len(problems)} problem(s) found", err=True)
        sys.exit(EXIT_USAGE)
    click.echo(f"ok: {', '.join(str(t) for t in targets)}")


def _load_project(root: Path | None) -> Any:
    from llmos.project import Project

    folder = project_root(root)
    try:
        return Project.load(folder)
    except DocumentError as exc:
        _print_errors(exc.errors if isinstance(exc, DocumentErrors) else [exc])
        sys.exit(EXIT_USAGE)


@main.group("library", invoke_without_command=True)
@root_option
@click.option("--json", "as_json", is_flag=True, help="Print the components as JSON.")
@click.pass_context
def library_command(ctx: click.Context, root: Path | None, as_json: bool) -> None:
    """Show the component library as a table (or sync SmartLibrary.md with 'sync')."""
    ctx.obj = root
    if ctx.invoked_subcommand is not None:
        return
    project = _load_project(root)
    rows = project.library.registry_rows()
    if as_json:
        keys = ("name", "kind", "tag", "path", "claude_tool", "cost_usd", "latency_s", "status")
        click.echo(json.dumps([dict(zip(keys, r, strict=True)) for r in rows], indent=2))
        return
    from rich.console import Console
    from rich.table import Table

    table = Table(title=f"SmartLibrary · {project.root}", title_justify="left")
    for column in ("name", "kind", "tag", "path", "Claude Code tool", "cost (USD)", "latency (s)", "status"):
        table.add_column(column)
    for row in rows:
        table.add_row(*row)
    Console().print(table)
    for problem in project.problems:
        click.echo(f"warning: {problem}", err=True)


@main.command("init")
@click.argument("directory", type=click.Path(file_okay=False, path_type=Path))
@click.option("--force", is_flag=True, help="Write into a folder that is not empty.")
def init_command(directory: Path, force: bool) -> None:
    """Create a new project root in DIRECTORY from the documents shipped with llmos."""
    from llmos._resources import copy_project

    try:
        written = copy_project(directory, force=force)
    except FileExistsError as exc:
        click.echo(f"error: {exc}", err=True)
        sys.exit(EXIT_USAGE)
    click.echo(
        f"created {directory} ({len(written)} files). Try:\n  cd {directory} && llmos validate && "
        "llmos-run scenarios/Document_Digest_Task.md"
    )


def run_main() -> None:
    """Entry point of the ``llmos-run`` console script."""
    run_command(prog_name="llmos-run")


@library_command.command("sync")
@click.pass_obj
def library_sync_command(root: Path | None) -> None:
    """Rewrite SmartLibrary.md's registry table from the component files."""
    project = _load_project(root)
    changed = project.sync_library()
    click.echo(f"{'updated' if changed else 'already in step'}: {project.root / 'system' / 'SmartLibrary.md'}")


@main.command("doctor")
@click.option("--json", "as_json", is_flag=True, help="Print the report as one JSON object.")
def doctor_command(as_json: bool) -> None:
    """Say which provider will answer agent steps (--provider auto), why, and what is missing.

    Exit code 0 when auto finds a provider that can run (claude or the embedded model), 1 when it
    finds none.
    """
    from llmos.providers import choose_provider
    from llmos.providers.claude import claude_status
    from llmos.providers.local import local_available

    chosen, reason = choose_provider("auto")
    claude = claude_status()
    local_ok, local_detail = local_available()
    report = {
        "provider": chosen,
        "reason": reason,
        "claude": {
            "ready": claude.ready,
            "sdk_version": claude.sdk_version,
            "cli_path": claude.cli_path,
            "cli_version": claude.cli_version,
            "endpoint": claude.endpoint,
            "credentials": claude.credentials,
            "missing": claude.missing,
        },
        "local": {"ready": local_ok, "model" if local_ok else "missing": local_detail},
        "scripted": {"ready": True},
    }
    ready = {"claude": claude.ready, "local": local_ok}[chosen]
    if as_json:
        click.echo(json.dumps(report, indent=2))
        sys.exit(EXIT_OK if ready else EXIT_FAILED)
    click.echo(f"provider: {chosen}")
    click.echo(f"  why: {reason}")
    click.echo("claude (Claude Agent SDK + Claude Code):" + (" ready" if claude.ready else " not ready"))
    click.echo(f"  SDK: {claude.sdk_version or 'not installed'}")
    click.echo(
        f"  CLI: {claude.cli_path or 'not found'}"
        + (f" (Claude Code {claude.cli_version})" if claude.cli_version else "")
    )
    click.echo(f"  endpoint: {claude.endpoint}")
    click.echo(f"  credentials: {', '.join(claude.credentials) or 'none'}")
    for item in claude.missing:
        click.echo(f"  missing: {item}")
    click.echo("local (embedded model):" + (f" ready ({local_detail})" if local_ok else " not ready"))
    if not local_ok:
        click.echo(f"  missing: {local_detail}")
    click.echo("scripted: ready (answers from --script FILE, or schema-valid placeholders)")
    sys.exit(EXIT_OK if ready else EXIT_FAILED)


@main.command("serve-script")
@click.argument("script", type=click.Path(dir_okay=False, exists=True, path_type=Path))
@click.option("--host", default="127.0.0.1", show_default=True, help="Interface to listen on.")
@click.option("--port", default=8765, show_default=True, type=click.IntRange(0, 65535), help="Port (0: any free one).")
def serve_script_command(script: Path, host: str, port: int) -> None:
    """Serve the Anthropic Messages API on HOST:PORT with assistant turns read from SCRIPT.

    The scripted model server of llmos.testing: point Claude Code (or any Anthropic client) at it
    with ANTHROPIC_BASE_URL to run agents offline. One line per request is printed on stderr;
    Ctrl-C stops it.
    """
    from llmos.testing._server import serve

    def started(server: Any) -> None:
        click.echo(f"serving {script} ({len(server.turns)} turns) at {server.url}", err=True)
        click.echo(
            f"  export ANTHROPIC_BASE_URL={server.url} ANTHROPIC_API_KEY={server.env()['ANTHROPIC_API_KEY']}", err=True
        )

    def answered(request: Any) -> None:
        turn = "-" if request.turn is None else request.turn + 1
        click.echo(f"{request.method} {request.path} -> {request.status} (turn {turn})", err=True)

    try:
        serve(script, host=host, port=port, on_request=answered, on_start=started)
    except DocumentError as exc:
        _print_errors([exc])
        sys.exit(EXIT_USAGE)
    except OSError as exc:
        click.echo(f"error: cannot listen on {host}:{port}: {exc.strerror or exc}", err=True)
        sys.exit(EXIT_USAGE)


if __name__ == "__main__":
    main()
