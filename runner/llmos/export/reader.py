"""Streaming trace records from trace files and folders of them.

A path is a trace file (``workspace/datasets/traces.jsonl``: one JSON record per line, see
``system/TrainingDataCollector.md``) or a folder searched recursively for ``*.jsonl`` files (a
batch's output folder, a workspace). Records are read one line at a time and handed on, so memory
does not grow with the input.

A line that is not a trace record (not JSON, not an object, or without a string ``execution_id``
and a list ``tool_calls``) is skipped, counted, and named ``file:line`` in the warnings. A file
found in a folder whose first line is JSON but not a trace (a run's ``journal.jsonl``) is not a trace file:
it is skipped whole and listed in :attr:`TraceReader.foreign`. Blank lines are ignored.
"""

from __future__ import annotations

import json
from collections.abc import Iterable, Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any, BinaryIO

__all__ = ["SPAN_BYTES", "Span", "TraceReader", "is_trace", "trace_files"]

#: Bytes of trace lines per :class:`Span` (a span ends with a whole line).
SPAN_BYTES = 2_000_000


def is_trace(value: Any) -> bool:
    """``value`` is a trace record: an object with a string ``execution_id`` and a list ``tool_calls``."""
    return (
        isinstance(value, dict)
        and isinstance(value.get("execution_id"), str)
        and isinstance(value.get("tool_calls"), list)
    )


def trace_files(paths: Iterable[str | Path]) -> list[tuple[Path, bool]]:
    """The files to read, each with whether it was found in a folder (rather than named).

    Raises:
        FileNotFoundError: A path does not exist.
    """
    out: list[tuple[Path, bool]] = []
    for raw in paths:
        path = Path(raw)
        if path.is_dir():
            out += [(p, True) for p in sorted(path.rglob("*.jsonl")) if p.is_file()]
        elif path.is_file():
            out.append((path, False))
        else:
            raise FileNotFoundError(f"no such trace file or folder: {path}")
    return out


@dataclass(frozen=True)
class Span:
    """Whole lines of one trace file: ``length`` bytes from byte ``offset``, the first being line ``first_line``.

    Attributes:
        path: The trace file.
        offset: Where the span starts (bytes).
        length: Its length (bytes; it ends with a line break or the end of the file).
        first_line: The line number (1-based) of its first line.
    """

    path: str
    offset: int
    length: int
    first_line: int

    def lines(self) -> Iterator[tuple[str, str]]:
        """Its non-blank lines as ``(file:line, text)`` (UTF-8; undecodable bytes replaced)."""
        with open(self.path, "rb") as handle:
            handle.seek(self.offset)
            data = handle.read(self.length)
        for number, raw in enumerate(data.split(b"\n"), self.first_line):
            if raw.strip():
                yield f"{self.path}:{number}", raw.decode("utf-8", errors="replace")


class TraceReader:
    """Iterates over the trace records of ``paths`` as ``(origin, record)``, ``origin`` being ``file:line``.

    Args:
        paths: Trace files and folders.
        max_warnings: Warnings kept in :attr:`warnings` (the rest are only counted).

    Attributes:
        files: Trace files read so far.
        records: Trace records yielded so far.
        skipped: Lines skipped as not trace records.
        warnings: ``file:line: reason`` for the first ``max_warnings`` lines or files skipped.
        warnings_dropped: Warnings beyond ``max_warnings``.
        foreign: Files found in folders that are not trace files (skipped whole, not warned about).

    Raises:
        FileNotFoundError: (on iteration) A path does not exist.
    """

    def __init__(self, paths: Iterable[str | Path], *, max_warnings: int = 100) -> None:
        self.paths = list(paths)
        self.max_warnings = max_warnings
        self.files = 0
        self.records = 0
        self.skipped = 0
        self.warnings: list[str] = []
        self.warnings_dropped = 0
        self.foreign: list[Path] = []

    def warn(self, message: str) -> None:
        """Record a warning (kept while fewer than ``max_warnings``)."""
        if len(self.warnings) < self.max_warnings:
            self.warnings.append(message)
        else:
            self.warnings_dropped += 1

    def spans(self, size: int = SPAN_BYTES) -> Iterator[Span]:
        """The trace files cut into spans of whole lines of about ``size`` bytes (see :class:`Span`).

        Only line breaks are looked at here (in C, without decoding), so the lines themselves can be
        read and parsed elsewhere, e.g. by worker processes.
        """
        for path, found in trace_files(self.paths):
            with path.open("rb") as handle:
                if found and _foreign_file(handle):
                    self.foreign.append(path)
                    continue
                self.files += 1
                offset, line = 0, 1
                while block := handle.read(size):
                    if not block.endswith(b"\n"):
                        block += handle.readline()  # finish the last line
                    yield Span(str(path), offset, len(block), line)
                    offset += len(block)
                    line += block.count(b"\n")

    def lines(self) -> Iterator[tuple[str, str]]:
        """The non-blank lines of the trace files, as ``(file:line, text)`` (not parsed)."""
        for span in self.spans():
            yield from span.lines()

    def parse(self, origin: str, line: str) -> dict[str, Any] | None:
        """The trace record of one line, or ``None`` (counted and warned) when it is not one."""
        try:
            value = json.loads(line)
        except json.JSONDecodeError as exc:
            self.skipped += 1
            self.warn(f"{origin}: not JSON ({exc.msg} at column {exc.colno})")
            return None
        if not is_trace(value):
            self.skipped += 1
            self.warn(f"{origin}: not a trace record (needs a string execution_id and a list tool_calls)")
            return None
        self.records += 1
        return value

    def __iter__(self) -> Iterator[tuple[str, dict[str, Any]]]:
        for origin, line in self.lines():
            record = self.parse(origin, line)
            if record is not None:
                yield origin, record


def _foreign_file(handle: BinaryIO) -> bool:
    """The file's first non-blank line is JSON but not a trace record (the handle is rewound)."""
    try:
        for raw in handle:
            if raw.strip():
                return _foreign(raw.decode("utf-8", errors="replace"))
        return False
    finally:
        handle.seek(0)


def _foreign(line: str) -> bool:
    """The line is JSON but not a trace record (a broken line does not disqualify a file)."""
    try:
        return not is_trace(json.loads(line))
    except ValueError:
        return False
