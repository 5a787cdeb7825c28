"""The per-trace work of an export, done on chunks of raw trace lines (in any process).

:func:`process_chunk` parses each line (:func:`process_span`: of a span of a trace file), applies
the run filters, builds the format's redacted examples, validates each one, serialises the valid
ones as JSON lines and computes their near-duplicate signatures. What needs every example seen so
far (the near-duplicate index) and the output file stay with the caller, which takes the results in
input order.
"""

from __future__ import annotations

import json
from dataclasses import dataclass, field
from typing import Any

from llmos.export.filters import RunFilter
from llmos.export.formats import get_format
from llmos.export.reader import Span, TraceReader
from llmos.export.redaction import Redactor

__all__ = ["ChunkResult", "Item", "Job", "process_chunk", "process_span"]


@dataclass(frozen=True)
class Job:
    """What to do with each trace (picklable, sent to the workers).

    Attributes:
        format: The export format's name.
        view: ``orchestrator`` or ``agent``.
        mode: The ``--mode`` filter.
        min_quality: The ``--min-quality`` filter.
        signatures: Compute near-duplicate signatures (``num_perm`` values each).
        num_perm: Signature length.
    """

    format: str
    view: str
    mode: str = "all"
    min_quality: float | None = None
    signatures: bool = True
    num_perm: int = 128


@dataclass
class Item:
    """One example built from a trace.

    Attributes:
        id: The example's id.
        line: Its JSON line (UTF-8, without the line break), when valid.
        violations: The rules it breaks (``rule: detail``), when invalid.
        signature: Its near-duplicate signature (a numpy array), when valid and asked for.
    """

    id: str
    line: bytes | None = None
    violations: list[str] = field(default_factory=list)
    signature: Any = None


@dataclass
class ChunkResult:
    """The outcome of :func:`process_chunk` (counts are for the chunk)."""

    records: int = 0
    skipped: int = 0
    warnings: list[str] = field(default_factory=list)
    filtered_mode: int = 0
    filtered_quality: int = 0
    secrets: int = 0
    emails: int = 0
    items: list[Item] = field(default_factory=list)


def process_chunk(job: Job, lines: list[tuple[str, str]]) -> ChunkResult:
    """Process ``(origin, line)`` pairs of trace files (see the module docstring)."""
    if job.signatures:
        from llmos.export.dedupe import signature
    fmt = get_format(job.format)
    run_filter = RunFilter(mode=job.mode, min_quality=job.min_quality)
    parser = TraceReader([], max_warnings=len(lines))
    redactor = Redactor()
    out = ChunkResult()
    for origin, text in lines:
        trace = parser.parse(origin, text)
        if trace is None:
            continue
        reason = run_filter.reject(trace)
        if reason == "mode":
            out.filtered_mode += 1
            continue
        if reason == "quality":
            out.filtered_quality += 1
            continue
        for example in fmt.examples(trace, job.view, redactor):
            violations = fmt.validate(example.record)
            if violations:
                out.items.append(Item(example.id, violations=[str(v) for v in violations]))
                continue
            line = json.dumps(example.record, ensure_ascii=False, default=str).encode("utf-8")
            item = Item(example.id, line=line)
            if job.signatures:
                item.signature = signature(example.text, job.num_perm)
            out.items.append(item)
    out.records, out.skipped, out.warnings = parser.records, parser.skipped, parser.warnings
    out.secrets, out.emails = redactor.secrets, redactor.emails
    return out


def process_span(job: Job, span: Span) -> ChunkResult:
    """:func:`process_chunk` on the lines of ``span`` (read here, so a worker reads its own input)."""
    return process_chunk(job, list(span.lines()))
