"""The training-data commands: ``llmos export`` and ``llmos dataset stats``.

Only click is imported here; the exporters, rich and the dedupe library load inside the commands,
so ``import llmos.cli`` stays cheap. ``cli.py`` registers :data:`export_command` and
:data:`dataset_group` with ``main.add_command``.

Exit codes: 0 done, 1 the output could not be written, 2 usage error (unknown input path, a view
the format does not support).
"""

from __future__ import annotations

import json
import sys
from pathlib import Path
from typing import Any

import click

from llmos._cli_common import EXIT_FAILED, EXIT_USAGE

__all__ = ["FORMAT_NAMES", "dataset_group", "export_command", "stats_command"]

#: ``--format`` choices (the keys of :data:`llmos.export.formats.FORMATS`).
FORMAT_NAMES = ("seed", "openai", "anthropic", "sharegpt", "hf")
_VIEWS = ("orchestrator", "agent")
_MODES = ("execution", "simulation", "all")


def _default_inputs() -> list[Path]:
    from llmos.project import find_root

    root = find_root(Path.cwd()) or Path.cwd()
    return [root / "workspace" / "datasets" / "traces.jsonl"]


def _console(stderr: bool = False) -> Any:
    from rich.console import Console

    return Console(stderr=stderr, highlight=False, soft_wrap=True)


@click.command("export", context_settings={"help_option_names": ["-h", "--help"]})
@click.option("--format", "fmt", type=click.Choice(FORMAT_NAMES), required=True, help="Output format.")
@click.option(
    "--in",
    "inputs",
    multiple=True,
    type=click.Path(path_type=Path),
    help="A trace file or a folder searched for *.jsonl traces (repeatable; default: "
    "workspace/datasets/traces.jsonl under the project root, or the current folder).",
)
@click.option(
    "--view",
    type=click.Choice(_VIEWS),
    default="orchestrator",
    show_default=True,
    help="orchestrator: one example per run; agent: one per agent step.",
)
@click.option(
    "--min-quality",
    type=click.FloatRange(0.0, 1.0),
    help="Keep runs whose quality_metrics.score (or step_success_rate) is at least this.",
)
@click.option("--mode", type=click.Choice(_MODES), default="all", show_default=True, help="Keep runs of this mode.")
@click.option(
    "--out",
    required=True,
    type=click.Path(path_type=Path),
    help="The output file (a folder for --format hf); replaced atomically.",
)
@click.option("--no-dedupe", is_flag=True, help="Keep near-duplicate examples.")
@click.option(
    "--workers",
    type=click.IntRange(min=1),
    help="Processes building the examples (default: 1 under 8 MB of traces, else one per CPU, at most 4).",
)
@click.option("--json", "as_json", is_flag=True, help="Print the summary as one JSON object on stdout.")
def export_command(
    fmt: str,
    inputs: tuple[Path, ...],
    view: str,
    min_quality: float | None,
    mode: str,
    out: Path,
    no_dedupe: bool,
    workers: int | None,
    as_json: bool,
) -> None:
    """Export run traces as a fine-tuning dataset.

    Every record is validated against the format's rules before it is written; invalid ones are
    refused and reported with their reasons. Secrets and e-mail addresses are redacted and
    near-duplicates removed. Exit codes: 0 done, 1 output not written, 2 usage error.
    """
    from llmos.export.pipeline import export_traces

    paths = list(inputs) or _default_inputs()
    try:
        summary = export_traces(
            paths,
            out,
            format=fmt,
            view=view,
            mode=mode,
            min_quality=min_quality,
            dedupe=not no_dedupe,
            workers=workers,
        )
    except (FileNotFoundError, ValueError, IsADirectoryError, NotADirectoryError) as exc:
        click.echo(f"error: {exc}", err=True)
        sys.exit(EXIT_USAGE)
    except OSError as exc:
        click.echo(f"error: cannot write {out}: {exc}", err=True)
        sys.exit(EXIT_FAILED)
    if as_json:
        click.echo(json.dumps(summary.to_dict(), ensure_ascii=False))
    else:
        _print_export(summary)
    for warning in summary.warnings:
        click.echo(f"warning: {warning}", err=True)
    for reason in summary.invalid_reasons:
        click.echo(f"invalid: {reason}", err=True)


def _print_export(summary: Any) -> None:
    from rich.markup import escape
    from rich.table import Table

    table = Table(title=f"export · {summary.format} · {summary.view} view", title_justify="left")
    table.add_column("")
    table.add_column("count", justify="right")
    rows = [
        ("trace files read", summary.files),
        ("runs read", summary.records_read),
        ("lines skipped (not traces)", summary.lines_skipped),
        ("runs left out by --mode", summary.filtered_mode),
        ("runs left out by --min-quality", summary.filtered_quality),
        ("examples built", summary.examples),
        ("invalid (refused)", summary.invalid),
        ("near-duplicates removed" if summary.dedupe else "near-duplicates (not removed)", summary.duplicates),
        ("examples written", summary.written),
        ("secrets redacted", summary.redactions["secrets"]),
        ("e-mail addresses redacted", summary.redactions["emails"]),
    ]
    for label, value in rows:
        table.add_row(label, str(value))
    console = _console()
    console.print(table)
    console.print(f"out: {escape(summary.out)}  ({summary.duration_s:.2f} s)")


@click.group("dataset", context_settings={"help_option_names": ["-h", "--help"]})
def dataset_group() -> None:
    """Inspect training data (the run traces)."""


@dataset_group.command("stats")
@click.argument("paths", nargs=-1, type=click.Path(path_type=Path))
@click.option("--json", "as_json", is_flag=True, help="Print the statistics as one JSON object on stdout.")
def stats_command(paths: tuple[Path, ...], as_json: bool) -> None:
    """Statistics of the traces in PATHS (trace files or folders; default: the workspace's traces.jsonl).

    Counts, mode/source/scenario/outcome mix, quality score distribution, estimated tokens per
    example (characters / 4 of the OpenAI-format example), cost and duration totals.
    """
    from llmos.export.stats import dataset_stats

    try:
        stats = dataset_stats(list(paths) or _default_inputs())
    except FileNotFoundError as exc:
        click.echo(f"error: {exc}", err=True)
        sys.exit(EXIT_USAGE)
    if as_json:
        click.echo(json.dumps(stats.to_dict(), ensure_ascii=False))
    else:
        _print_stats(stats)
    for warning in stats.warnings:
        click.echo(f"warning: {warning}", err=True)


def _fmt(value: Any) -> str:
    if value is None:
        return "-"
    if isinstance(value, float):
        return f"{value:.4g}"
    return str(value)


def _print_stats(stats: Any) -> None:
    from rich.markup import escape
    from rich.table import Table

    console = _console()
    overview = Table(title="dataset · counts", title_justify="left")
    overview.add_column("")
    overview.add_column("value", justify="right")
    for label, value in (
        ("trace files", stats.files),
        ("runs", stats.runs),
        ("lines skipped (not traces)", stats.lines_skipped),
        ("tool calls (orchestrator)", stats.tool_calls),
        ("tool calls inside agent steps", stats.inner_tool_calls),
        ("agent steps", stats.agent_steps),
        ("total cost (USD)", f"{stats.cost_usd:.4f}"),
        ("total duration (s)", f"{stats.duration_s:.2f}"),
    ):
        overview.add_row(label, str(value))
    console.print(overview)

    mix = Table(title="mix", title_justify="left")
    for column in ("of", "value", "count", "share"):
        mix.add_column(column, justify="right" if column in ("count", "share") else "left")
    for name, counts, total in (
        ("mode (runs)", stats.modes, stats.runs),
        ("outcome (runs)", stats.outcomes, stats.runs),
        ("scenario (runs)", stats.scenarios, stats.runs),
        ("source (calls)", stats.sources, sum(stats.sources.values())),
    ):
        for value, count in counts.items():
            mix.add_row(name, escape(value), str(count), f"{count / total:.0%}" if total else "-")
    console.print(mix)

    dist = Table(title="distributions", title_justify="left")
    for column in ("", "n", "min", "q1", "median", "q3", "max", "mean"):
        dist.add_column(column, justify="left" if not column else "right")
    for label, d in (("quality score", stats.quality), ("tokens per example", stats.tokens)):
        dist.add_row(label, *(_fmt(d.get(k)) for k in ("count", "min", "q1", "median", "q3", "max", "mean")))
    console.print(dist)
    console.print(f"quality score missing in {stats.quality['missing']} run(s); tokens total {stats.tokens['total']}")
    console.print(f"tokens: {stats.tokens['method']}")

    histogram = Table(title="quality score histogram", title_justify="left")
    histogram.add_column("score")
    histogram.add_column("runs", justify="right")
    histogram.add_column("")
    peak = max((b["count"] for b in stats.quality["histogram"]), default=0)
    for b in stats.quality["histogram"]:
        bar = "█" * round(30 * b["count"] / peak) if peak else ""
        closing = "]" if b["to"] >= 1.0 else ")"
        histogram.add_row(escape(f"[{b['from']:.1f}, {b['to']:.1f}{closing}"), str(b["count"]), bar)
    console.print(histogram)
