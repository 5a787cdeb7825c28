"""The export: traces in, one validated training file (or dataset folder) out, with a summary.

For each trace record read (:mod:`~llmos.export.reader`): the run filters apply
(:mod:`~llmos.export.filters`), the format builds its examples from the record (redacted by
:mod:`~llmos.export.redaction`), each example is validated by the format's validator and refused
with its reasons when it breaks a rule, near-duplicates of an example already written are dropped
(:mod:`~llmos.export.dedupe`), and the rest is streamed into an atomic output
(:mod:`~llmos.export.writer`).

The per-trace work (:mod:`~llmos.export.work`) runs on spans of about 2 MB of whole trace lines
(:class:`~llmos.export.reader.Span`), in worker processes for large inputs
(:mod:`~llmos.export.pool`), each reading its own span; the near-duplicate index and the output
stay in this process and take the results in input order, so the output does not depend on the
number of workers.
"""

from __future__ import annotations

import time
from collections.abc import Callable, Iterable
from dataclasses import asdict, dataclass, field
from functools import partial
from pathlib import Path
from typing import Any

from llmos.export.conversation import VIEWS
from llmos.export.filters import RunFilter
from llmos.export.formats import get_format
from llmos.export.formats.hf import DATA_FILE, dataset_card
from llmos.export.pool import default_workers, ordered_map
from llmos.export.reader import TraceReader, trace_files
from llmos.export.work import ChunkResult, Job, process_span
from llmos.export.writer import AtomicOutput

__all__ = ["DEFAULT_THRESHOLD", "PARALLEL_FROM_BYTES", "ExportSummary", "export_traces"]

#: Jaccard similarity from which two examples are near-duplicates.
DEFAULT_THRESHOLD = 0.9
#: Inputs from this size on are processed by several workers (when ``workers`` is not given).
PARALLEL_FROM_BYTES = 8_000_000
_MAX_REASONS = 100


@dataclass
class ExportSummary:
    """What an export read, left out and wrote.

    Attributes:
        format: The format.
        view: ``orchestrator`` or ``agent``.
        out: The output path.
        inputs: The input paths.
        files: Trace files read.
        files_skipped: ``*.jsonl`` files found in folders that are not trace files (run journals).
        records_read: Trace records read.
        lines_skipped: Lines that were not trace records.
        warnings: ``file:line: reason`` of skipped lines and files (the first 100).
        filtered_mode: Runs left out by ``mode``.
        filtered_quality: Runs left out by ``min_quality`` (below it, or without a score).
        examples: Examples built from the runs kept.
        invalid: Examples refused by the format's validator (never written).
        invalid_reasons: ``<example id>: <rule>: <detail>`` (the first 100).
        duplicates: Examples dropped as near-duplicates of one already written.
        written: Examples written.
        redactions: ``{"secrets": n, "emails": n}`` replaced in the examples built.
        dedupe: Whether near-duplicates were removed.
        duration_s: Seconds the export took.
    """

    format: str
    view: str
    out: str
    inputs: list[str]
    files: int = 0
    files_skipped: int = 0
    records_read: int = 0
    lines_skipped: int = 0
    warnings: list[str] = field(default_factory=list)
    filtered_mode: int = 0
    filtered_quality: int = 0
    examples: int = 0
    invalid: int = 0
    invalid_reasons: list[str] = field(default_factory=list)
    duplicates: int = 0
    written: int = 0
    redactions: dict[str, int] = field(default_factory=lambda: {"secrets": 0, "emails": 0})
    dedupe: bool = True
    duration_s: float = 0.0

    def to_dict(self) -> dict[str, Any]:
        """The summary as a JSON-ready dict."""
        return asdict(self)


def _auto_workers(reader: TraceReader) -> int:
    size = sum(path.stat().st_size for path, _found in trace_files(reader.paths))
    return 1 if size < PARALLEL_FROM_BYTES else default_workers()


def export_traces(
    paths: Iterable[str | Path],
    out: str | Path,
    *,
    format: str,
    view: str = "orchestrator",
    mode: str = "all",
    min_quality: float | None = None,
    dedupe: bool = True,
    threshold: float = DEFAULT_THRESHOLD,
    workers: int | None = None,
    progress: Callable[[ExportSummary], None] | None = None,
) -> ExportSummary:
    """Export the trace records found in ``paths`` to ``out`` in ``format``.

    Args:
        paths: Trace files and folders (see :mod:`llmos.export.reader`).
        out: The output file (a folder for ``hf``); replaced atomically.
        format: ``seed``, ``openai``, ``anthropic``, ``sharegpt`` or ``hf``.
        view: ``orchestrator`` (one example per run) or ``agent`` (one per agent step; not ``seed``).
        mode: Keep ``execution`` runs, ``simulation`` runs, or ``all``.
        min_quality: Keep runs whose quality score (see :mod:`llmos.export.filters`) is at least this.
        dedupe: Drop near-duplicates (MinHash LSH, see :mod:`llmos.export.dedupe`).
        threshold: The Jaccard similarity from which examples are near-duplicates.
        workers: Processes building the examples (see :mod:`llmos.export.pool`); default: one for
            inputs under 8 MB, else one per CPU (at most four). The output is the same either way.
        progress: Called with the summary so far after every chunk of traces.

    Returns:
        The :class:`ExportSummary`.

    Raises:
        ValueError: An unknown format, view or mode, a view the format does not support, or
            ``min_quality`` outside [0, 1].
        FileNotFoundError: An input path does not exist.
        OSError: The output cannot be written (a previous output is left as it was).
    """
    started = time.perf_counter()
    fmt = get_format(format)
    if view not in VIEWS:
        raise ValueError(f"view must be one of {', '.join(VIEWS)}, got {view!r}")
    if view not in fmt.views:
        raise ValueError(f"the {format} format is per run: only the {', '.join(fmt.views)} view applies")
    RunFilter(mode=mode, min_quality=min_quality)  # validates both
    inputs = [str(p) for p in paths]
    reader = TraceReader(inputs)
    trace_files(inputs)  # raises FileNotFoundError before anything is written
    job = Job(format=format, view=view, mode=mode, min_quality=min_quality, signatures=dedupe)
    near = None
    if dedupe:
        from llmos.export.dedupe import NearDuplicateFilter

        near = NearDuplicateFilter(threshold=threshold, num_perm=job.num_perm)
    summary = ExportSummary(format=format, view=view, out=str(out), inputs=inputs, dedupe=dedupe)
    count = workers if workers is not None else _auto_workers(reader)
    output = AtomicOutput(out, data_file=DATA_FILE if fmt.folder else None)
    with output:
        for result in ordered_map(partial(process_span, job), reader.spans(), count):
            _merge(summary, reader, result)
            for item in result.items:
                summary.examples += 1
                if item.line is None:
                    summary.invalid += 1
                    if len(summary.invalid_reasons) < _MAX_REASONS:
                        summary.invalid_reasons.append(f"{item.id}: " + "; ".join(item.violations))
                elif near is not None and near.check_signature(item.id, item.signature) is not None:
                    summary.duplicates += 1
                else:
                    output.write_line(item.line)
            summary.written = output.written
            if progress is not None:
                progress(summary)
        if fmt.folder:
            output.add_file("README.md", dataset_card(output.written, view, deduplicated=dedupe))
    summary.files = reader.files
    summary.files_skipped = len(reader.foreign)
    summary.warnings = list(reader.warnings)
    if reader.warnings_dropped:
        summary.warnings.append(f"... and {reader.warnings_dropped} more")
    summary.duration_s = round(time.perf_counter() - started, 3)
    return summary


def _merge(summary: ExportSummary, reader: TraceReader, result: ChunkResult) -> None:
    reader.records += result.records
    reader.skipped += result.skipped
    for warning in result.warnings:
        reader.warn(warning)
    summary.records_read = reader.records
    summary.lines_skipped = reader.skipped
    summary.files = reader.files
    summary.filtered_mode += result.filtered_mode
    summary.filtered_quality += result.filtered_quality
    summary.redactions["secrets"] += result.secrets
    summary.redactions["emails"] += result.emails
