"""``llmos simulate``: batches of simulated runs (a thin click layer over :func:`llmos.simulate.simulate`).

The engine, rich and the providers are imported inside the command, so ``llmos --help`` stays cheap.
"""

from __future__ import annotations

import json
import sys
import time
from pathlib import Path
from typing import Any

import click

from llmos._cli_common import EXIT_FAILED, EXIT_OK, EXIT_USAGE, PROVIDER_CHOICES, root_option, script_option

__all__ = ["simulate_command"]

EXIT_INTERRUPTED = 130


@click.command("simulate", context_settings={"help_option_names": ["-h", "--help"]})
@click.argument("scenarios", nargs=-1, required=True, type=click.Path(dir_okay=False, path_type=Path))
@click.option("--runs", type=click.IntRange(min=1), required=True, help="Runs per scenario.")
@click.option(
    "--inputs",
    "inputs_file",
    type=click.Path(dir_okay=False, exists=True, path_type=Path),
    help="JSON Lines, one object of input values per line: the variations, instead of the scenarios' own.",
)
@click.option("--seed", type=int, default=0, show_default=True, help="The batch seed: same seed, same traces.")
@click.option(
    "--workers", type=click.IntRange(min=1), default=1, show_default=True, help="Worker processes sharing the runs."
)
@click.option(
    "--out",
    type=click.Path(file_okay=False, path_type=Path),
    help="The batch folder (default: ROOT/workspace/simulations/seed-SEED); an unfinished batch there is continued.",
)
@click.option("--set", "sets", multiple=True, metavar="KEY=VALUE", help="An input for every run (repeatable).")
@root_option
@click.option(
    "--provider",
    type=click.Choice(PROVIDER_CHOICES),
    default="scripted",
    show_default=True,
    help="Who answers agent steps (and imagines tool outputs that have no example).",
)
@script_option
@click.option("--json", "as_json", is_flag=True, help="Print the summary as one JSON object on stdout.")
def simulate_command(
    scenarios: tuple[Path, ...],
    runs: int,
    inputs_file: Path | None,
    seed: int,
    workers: int,
    out: Path | None,
    sets: tuple[str, ...],
    root: Path | None,
    provider: str,
    script: Path | None,
    as_json: bool,
) -> None:
    """Run each SCENARIO --runs times in simulation mode and collect the traces: a training set.

    Tool steps never touch the world (outputs are replayed from recorded real runs, taken from the
    components' examples, or generated). Each run's inputs are a variation chosen from the seed, the
    scenario and the run's index, so a batch is reproducible whatever --workers is. The folder
    holds traces.jsonl, the ledger batch.jsonl, SmartMemory.md and the run folders under
    workspace/runs/; running the same command again continues an interrupted batch.

    Exit codes: 0 every run completed, 1 some runs failed (counted in the summary), 2 usage or
    document error, 130 interrupted (run the command again to continue).
    """
    from llmos.cli import _parse_sets, _print_errors, _stderr_console
    from llmos.exceptions import DocumentError, DocumentErrors, LLMOSError
    from llmos.simulate import BatchProgress, simulate

    console = _stderr_console()
    given = _parse_sets(sets)
    bar, task = _progress_bar(console)
    began = time.perf_counter()

    def update(p: BatchProgress) -> None:
        elapsed = time.perf_counter() - began
        rate = f"{p.done / elapsed:.1f} runs/s" if p.done and elapsed > 0 else ""
        bar.update(task, total=p.total, completed=p.done, failed=p.failed, skipped=p.skipped, rate=rate)

    try:
        with bar:
            result = simulate(
                list(scenarios),
                runs=runs,
                out=out,
                inputs_file=inputs_file,
                seed=seed,
                workers=workers,
                sets=given,
                root=root,
                provider=provider,
                script=script,
                progress=update,
            )
    except KeyboardInterrupt:
        click.echo("interrupted: run the same command again to continue the batch", err=True)
        sys.exit(EXIT_INTERRUPTED)
    except DocumentErrors as exc:
        _print_errors(exc.errors)
        sys.exit(EXIT_USAGE)
    except DocumentError as exc:
        _print_errors([exc])
        sys.exit(EXIT_USAGE)
    except ValueError as exc:
        click.echo(f"error: {exc}", err=True)
        sys.exit(EXIT_USAGE)
    except LLMOSError as exc:
        click.echo(f"error: {exc}", err=True)
        sys.exit(EXIT_FAILED)
    if as_json:
        click.echo(json.dumps(result.to_dict(), ensure_ascii=False))
    else:
        console.print(
            f"simulated {result.done} runs ({result.completed} completed, {result.failed} failed; "
            f"{result.skipped} already done) in {result.duration_s:.1f} s: {result.runs_per_s} runs/s "
            f"with {result.workers} worker(s)"
        )
        console.print(f"traces: {result.traces_path}")
        console.print(f"ledger: {result.ledger_path}")
        console.print(f"runs: {result.workspace / 'runs'}")
    sys.exit(EXIT_FAILED if result.failed else EXIT_OK)


def _progress_bar(console: Any) -> tuple[Any, Any]:
    """A rich progress bar on stderr: runs done of the total, failures, runs/s and time left."""
    from rich.progress import BarColumn, MofNCompleteColumn, Progress, TextColumn, TimeRemainingColumn

    bar = Progress(
        TextColumn("simulating"),
        BarColumn(),
        MofNCompleteColumn(),
        TextColumn("[red]{task.fields[failed]} failed[/red]"),
        TextColumn("{task.fields[skipped]} already done"),
        TextColumn("{task.fields[rate]}"),
        TimeRemainingColumn(),
        console=console,
        transient=False,
    )
    task = bar.add_task("simulate", total=None, failed=0, skipped=0, rate="")
    return bar, task
