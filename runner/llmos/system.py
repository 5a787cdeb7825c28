"""The system documents: SystemAgent's state machine, the SmartLibrary registry, the Claude Code
tool map, the execution-state template and the training-data schema.

Each parser takes a :class:`llmos.documents.Document` and returns a typed model, raising
:class:`llmos.exceptions.DocumentError` (with the table row's line) for anything wrong.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

from llmos._markdown import Table
from llmos.documents import Document
from llmos.exceptions import DocumentError, join_errors

__all__ = [
    "ENGINE_TRANSITIONS",
    "PHASES",
    "LibraryRow",
    "StateMachine",
    "ToolMapRow",
    "parse_library_table",
    "parse_state_machine",
    "parse_state_template",
    "parse_tool_map",
    "parse_trace_schema",
]

#: The run phases the runner implements.
PHASES = (
    "INITIALIZE",
    "PLAN",
    "EXECUTE",
    "AWAIT_APPROVAL",
    "PAUSED",
    "UPDATE_MEMORY",
    "EXPORT_TRACE",
    "COMPLETED",
    "FAILED",
)

#: Transitions the runner makes; SystemAgent.md's table must allow every one of them.
ENGINE_TRANSITIONS = frozenset(
    {
        ("INITIALIZE", "PLAN"),
        ("INITIALIZE", "FAILED"),
        ("PLAN", "EXECUTE"),
        ("PLAN", "FAILED"),
        ("PLAN", "PAUSED"),
        ("EXECUTE", "AWAIT_APPROVAL"),
        ("EXECUTE", "PAUSED"),
        ("AWAIT_APPROVAL", "EXECUTE"),
        ("AWAIT_APPROVAL", "PAUSED"),
        ("AWAIT_APPROVAL", "UPDATE_MEMORY"),
        ("PAUSED", "EXECUTE"),
        ("PAUSED", "AWAIT_APPROVAL"),
        ("EXECUTE", "UPDATE_MEMORY"),
        ("UPDATE_MEMORY", "EXPORT_TRACE"),
        ("EXPORT_TRACE", "COMPLETED"),
        ("EXPORT_TRACE", "FAILED"),
    }
)


def _table(doc: Document, title: str, columns: list[str]) -> Table:
    section = doc.section(title)
    if section is None:
        raise doc.error(f"missing a '## {title}' section", line=1)
    if not section.tables:
        raise DocumentError(f"the '{title}' section must hold a table", path=doc.path, line=section.line)
    table = section.tables[0]
    header = [h.strip().lower() for h in table.header]
    missing = [c for c in columns if c not in header]
    if missing:
        raise DocumentError(
            f"the '{title}' table lacks column(s) {', '.join(missing)} (has: {', '.join(table.header)})",
            path=doc.path,
            line=table.line,
        )
    return table


def _plain(cell: str) -> str:
    return cell.replace("`", "").replace("*", "").strip()


@dataclass(kw_only=True, frozen=True)
class StateMachine:
    """The run phases and allowed transitions from SystemAgent.md's ``## State Machine`` table.

    Attributes:
        transitions: ``(from, to) -> condition`` for every row.
        lines: ``(from, to) -> 1-based line`` of the row.
    """

    transitions: dict[tuple[str, str], str]
    lines: dict[tuple[str, str], int] = field(default_factory=dict)

    @property
    def phases(self) -> set[str]:
        """Every phase named in the table."""
        return {p for pair in self.transitions for p in pair}

    def allows(self, source: str, target: str) -> bool:
        """Whether the table has a row from ``source`` to ``target``."""
        return (source, target) in self.transitions


def parse_state_machine(doc: Document) -> StateMachine:
    """Parse and check SystemAgent.md's ``## State Machine`` table (columns From, To, When).

    Raises:
        DocumentError: The section or table is missing, a phase is unknown to the runner, or a
            transition the runner makes is absent.
    """
    table = _table(doc, "State Machine", ["from", "to", "when"])
    errors: list[DocumentError] = []
    transitions: dict[tuple[str, str], str] = {}
    lines: dict[tuple[str, str], int] = {}
    for record, line in zip(table.records(), table.row_lines, strict=True):
        source, target = _plain(record.get("from", "")).upper(), _plain(record.get("to", "")).upper()
        for phase in (source, target):
            if phase not in PHASES:
                errors.append(
                    DocumentError(
                        f"unknown run phase {phase!r} (the runner implements {', '.join(PHASES)})",
                        path=doc.path,
                        line=line,
                    )
                )
        transitions[(source, target)] = record.get("when", "").strip()
        lines[(source, target)] = line
    for source, target in sorted(ENGINE_TRANSITIONS - set(transitions)):
        errors.append(
            DocumentError(
                f"the state machine lacks the transition {source} -> {target}, which the runner makes",
                path=doc.path,
                line=table.line,
            )
        )
    if errors:
        raise join_errors(errors)
    return StateMachine(transitions=transitions, lines=lines)


@dataclass(kw_only=True, frozen=True)
class LibraryRow:
    """One row of SmartLibrary.md's registry table (1-based ``line``)."""

    name: str
    kind: str
    tag: str
    path: str
    claude_tool: str
    cost_usd: str
    latency_s: str
    status: str
    line: int

    def as_tuple(self) -> tuple[str, ...]:
        """The comparable cells, in column order."""
        return (self.name, self.kind, self.tag, self.path, self.claude_tool, self.cost_usd, self.latency_s, self.status)


LIBRARY_COLUMNS = ["name", "kind", "tag", "path", "claude code tool", "cost (usd)", "latency (s)", "status"]


def parse_library_table(doc: Document) -> list[LibraryRow]:
    """Parse SmartLibrary.md's ``## Registry`` table.

    Raises:
        DocumentError: The section, the table or a column is missing.
    """
    table = _table(doc, "Registry", LIBRARY_COLUMNS)
    rows = []
    for record, line in zip(table.records(), table.row_lines, strict=True):
        cells = [_plain(record.get(c, "")) for c in LIBRARY_COLUMNS]
        rows.append(
            LibraryRow(
                name=cells[0],
                kind=cells[1],
                tag=cells[2],
                path=cells[3],
                claude_tool=cells[4],
                cost_usd=cells[5],
                latency_s=cells[6],
                status=cells[7],
                line=line,
            )
        )
    return rows


@dataclass(kw_only=True, frozen=True)
class ToolMapRow:
    """One row of ClaudeCodeToolMap.md: a framework tool and the Claude Code tool it maps onto.

    ``cost_usd`` is US dollars per call, ``latency_s`` seconds per call; ``line`` is 1-based.
    """

    framework_tool: str
    claude_tools: tuple[str, ...]
    cost_usd: float
    latency_s: float
    side_effects: str
    error_modes: str
    line: int


def _number(cell: str, doc: Document, line: int, what: str) -> float:
    text = _plain(cell).lstrip("$~").strip()
    try:
        return float(text)
    except ValueError:
        raise DocumentError(f"{what} must be a number, got {cell!r}", path=doc.path, line=line) from None


def parse_tool_map(doc: Document) -> list[ToolMapRow]:
    """Parse ClaudeCodeToolMap.md's ``## Tool Map`` table.

    Raises:
        DocumentError: A missing section/column, or a cost or latency that is not a number.
    """
    columns = ["framework tool", "claude code tool", "cost (usd)", "latency (s)", "side effects", "error modes"]
    table = _table(doc, "Tool Map", columns)
    rows: list[ToolMapRow] = []
    errors: list[DocumentError] = []
    for record, line in zip(table.records(), table.row_lines, strict=True):
        try:
            rows.append(
                ToolMapRow(
                    framework_tool=_plain(record["framework tool"]),
                    claude_tools=tuple(t.strip() for t in _plain(record["claude code tool"]).split(",") if t.strip()),
                    cost_usd=_number(record["cost (usd)"], doc, line, "cost (USD)"),
                    latency_s=_number(record["latency (s)"], doc, line, "latency (s)"),
                    side_effects=record["side effects"].strip(),
                    error_modes=record["error modes"].strip(),
                    line=line,
                )
            )
        except DocumentError as exc:
            errors.append(exc)
    if errors:
        raise join_errors(errors)
    return rows


def parse_state_template(doc: Document) -> tuple[str, int]:
    """The Jinja2 template of execution_state.md: the ``jinja`` code block under ``## Template``.

    Returns:
        The template source and the 1-based file line of its first line.

    Raises:
        DocumentError: No such section or code block, or the template does not parse.
    """
    import jinja2

    section = doc.section("Template")
    if section is None or not section.code_blocks:
        raise doc.error("missing a '## Template' section with a fenced jinja code block", line=1)
    block = section.code_blocks[0]
    try:
        jinja2.Environment().parse(block.code)
    except jinja2.TemplateSyntaxError as exc:
        raise DocumentError(
            f"template syntax error: {exc.message}", path=doc.path, line=block.line + (exc.lineno or 1)
        ) from None
    return block.code, block.line + 1


def parse_trace_schema(doc: Document) -> dict[str, list[str]]:
    """The field names of the trace record and of one tool call, from TrainingDataCollector.md.

    Returns:
        ``{"trace": [...], "tool_call": [...]}`` from the ``## Trace Record`` and ``## Tool Call``
        tables (column Field).

    Raises:
        DocumentError: A section or its table is missing, or the fields differ from the records the
            runner writes (:data:`llmos.traces.TRACE_FIELDS`, :data:`llmos.traces.TOOL_CALL_FIELDS`).
    """
    from llmos.traces import TOOL_CALL_FIELDS, TRACE_FIELDS

    out: dict[str, Any] = {}
    errors: list[DocumentError] = []
    for key, title, expected in (("trace", "Trace Record", TRACE_FIELDS), ("tool_call", "Tool Call", TOOL_CALL_FIELDS)):
        table = _table(doc, title, ["field", "type", "description"])
        out[key] = [_plain(r["field"]) for r in table.records()]
        missing = [f for f in expected if f not in out[key]]
        extra = [f for f in out[key] if f not in expected]
        if missing or extra:
            detail = "; ".join(
                filter(
                    None,
                    [
                        f"missing {', '.join(missing)}" if missing else "",
                        f"unknown {', '.join(extra)}" if extra else "",
                    ],
                )
            )
            errors.append(
                DocumentError(
                    f"the '{title}' table does not match the runner's records ({detail})",
                    path=doc.path,
                    line=table.line,
                )
            )
    if errors:
        raise join_errors(errors)
    return out
