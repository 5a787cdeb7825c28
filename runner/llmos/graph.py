"""A scenario's steps as a Mermaid state diagram (``llmos graph``, and the diagram in execution_state.md).

:func:`mermaid` draws the steps as the state machine the runner walks, a ``stateDiagram-v2``:

* ``[*] --> first step --> next ... --> [*]``. Each step is a state titled with its id
  (``state "fetch" as fetch``: Mermaid would show only the description otherwise) and described by
  its component (and tool), ``for each <template>`` for a ``for_each`` step, and ``approval
  required``.
* A step with ``approval: required`` is entered through a choice state (``<id>_approval``) whose
  edges are the three answers: ``approve`` (to the step), ``skip`` (to the next step) and
  ``reject`` (to ``FAILED``).
* ``on_error``: ``fail`` (the default) adds an ``error`` edge to the ``FAILED`` terminal; ``retry``
  a ``retry`` self-loop as well (the ``error`` edge is taken once the retries are spent); ``skip``
  a ``skip on error`` edge to the next step instead; ``fallback: <component>`` an ``on error``
  edge to a state for the fallback component (``<id>_fallback``), which goes on to the next step
  or fails.
* With ``statuses`` or ``current``, ``classDef`` lines colour the steps by status (completed,
  running, failed, rejected, skipped; pending steps stay plain) and ``class <id> current`` gives
  the current step a thick blue border.

State ids are the step ids (``[A-Za-z_][A-Za-z0-9_]*``), except for the few words Mermaid's
state-diagram grammar reads as keywords where an id goes (``state``, ``note``, ``class``,
``default``, ...) and ids that are not identifiers (a hand-written plan): those become ``s_<id>``.
Every text drawn (titles, descriptions, edge labels, notes) is escaped with Mermaid's entity codes
(``#58;`` for ``:``), so that no label ends a statement early or starts a comment.

The runner draws the diagram of the state file's window of steps at every transition
(:func:`llmos.state.state_diagram`), so the work is split: the states and edges are built once per
distinct window (cached), the status classes at each call. Only the standard library is imported.
"""

from __future__ import annotations

import functools
import json
import re
from collections.abc import Mapping, Sequence
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from llmos.scenario import Step

__all__ = ["STATUS_CLASSES", "Row", "escape_label", "mermaid", "mermaid_rows", "step_row"]

#: The ``classDef`` of each step status drawn in colour, and of the current step, in the order
#: they are written (where two classes of a state set the same property the later one wins:
#: ``current`` comes last, so its border shows over the status colour's).
STATUS_CLASSES: dict[str, str] = {
    "completed": "fill:#d3f9d8,stroke:#2b8a3e",
    "running": "fill:#fff3bf,stroke:#e67700",
    "failed": "fill:#ffe3e3,stroke:#c92a2a",
    "rejected": "fill:#ffe3e3,stroke:#c92a2a",
    "skipped": "fill:#f1f3f5,stroke:#868e96,color:#868e96",
    "current": "stroke:#1971c2,stroke-width:4px",
}

#: One step as drawn: ``(id, component, tool, approval, on_error, for_each)``, with ``approval``
#: ``"required"`` or ``None`` and ``on_error`` one of ``fail``, ``skip``, ``retry`` or
#: ``fallback:<component>``.
Row = tuple[str, str, str | None, str | None, str, str | None]

_INDENT = "    "
_CLASS_DEFS = "".join(f"{_INDENT}classDef {name} {style}\n" for name, style in STATUS_CLASSES.items())
#: Words Mermaid's state-diagram lexer reads as keywords (case-insensitively) where a state id goes.
_RESERVED = frozenset(
    {"as", "class", "classdef", "default", "direction", "end", "hide", "note", "scale", "state", "statediagram"}
    | {"acctitle", "accdescr", "left", "right", "of"}
)
_IDENTIFIER = re.compile(r"[A-Za-z_][A-Za-z0-9_]*\Z")
# Characters that end a description or a label early (``:`` ``;``), start a comment (``%%``), an
# entity code (``#``) or markup (``<`` ``>``), or end a quoted state title (``"``).
_ESCAPES = str.maketrans({"#": "#35;", ":": "#58;", ";": "#59;", '"': "#34;", "%": "#37;", "<": "#60;", ">": "#62;"})
# The lexer reads ``direction LR`` anywhere on a line as a direction statement.
_DIRECTION = re.compile(r"(direction)\s+(tb|bt|rl|lr)", re.IGNORECASE)
_LABEL_LIMIT = 80


def escape_label(text: Any, limit: int = _LABEL_LIMIT) -> str:
    """``text`` as Mermaid state-diagram text: on one line (runs of white space made one space), at
    most ``limit`` characters (cut with ``…``), with the characters the grammar reads as syntax
    written as entity codes (``#58;`` for ``:``)."""
    return _escape(text if isinstance(text, str) else str(text), limit)


@functools.lru_cache(maxsize=4096)
def _escape(text: str, limit: int) -> str:
    value = " ".join(text.split())
    if len(value) > limit:
        value = value[: limit - 1].rstrip() + "…"
    value = value.translate(_ESCAPES)
    return _DIRECTION.sub(r"\1#32;\2", value) if "irection" in value or "IRECTION" in value else value


def _field(step: Mapping[str, Any] | Step, name: str) -> Any:
    if type(step) is dict or isinstance(step, Mapping):
        return step.get(name)
    return getattr(step, name, None)


def _on_error(value: Any) -> str:
    """``on_error`` as :class:`~llmos.scenario.Step` holds it (a plan entry may give ``{fallback: X}``)."""
    if value is None or value == "fail":
        return "fail"
    if value in ("skip", "retry"):
        return str(value)
    if isinstance(value, Mapping) and isinstance(value.get("fallback"), str):
        return "fallback:" + value["fallback"].strip()
    if isinstance(value, str) and value.startswith("fallback:") and value[9:].strip():
        return "fallback:" + value[9:].strip()
    return "fail"


def step_row(step: Mapping[str, Any] | Step, plan_entry: Mapping[str, Any] | None = None) -> Row:
    """A step (a :class:`~llmos.scenario.Step`, a plan entry or a state file's step) as a :data:`Row`;
    with ``plan_entry``, ``approval``, ``on_error`` and ``for_each`` come from that entry instead."""
    how = step if plan_entry is None else plan_entry
    if type(step) is dict and type(how) is dict:  # the hot path: the runner's window, every transition
        tool, approval, on_error, for_each = (
            step.get("tool"),
            how.get("approval"),
            how.get("on_error"),
            how.get("for_each"),
        )
        step_id, component = step.get("id"), step.get("component")
    else:
        tool, approval, on_error = _field(step, "tool"), _field(how, "approval"), _field(how, "on_error")
        step_id, component, for_each = _field(step, "id"), _field(step, "component"), _field(how, "for_each")
    return (
        str(step_id),
        str(component or "?"),
        tool or None,
        "required" if approval == "required" else None,
        "fail" if on_error is None else _on_error(on_error),
        None if for_each is None or for_each == "" else str(for_each),
    )


def mermaid(
    steps: Sequence[Mapping[str, Any]] | Sequence[Step],
    *,
    current: str | None = None,
    statuses: Mapping[str, str | None] | None = None,
    title: str | None = None,
    goal: str | None = None,
    before: int = 0,
    after: int = 0,
) -> str:
    """The steps as a Mermaid ``stateDiagram-v2`` (see the module's description).

    Args:
        steps: The steps in plan order: :class:`~llmos.scenario.Step` objects, or dicts in the
            scenario ``steps`` schema (``id``, ``component``, optional ``tool``, ``for_each``,
            ``approval``, ``on_error``), e.g. a run's plan or the steps of its state file.
        current: Id of the step to mark as the current one (``class <id> current``), or ``None``.
        statuses: Step id -> step status (``completed``, ``running``, ...), to colour the states.
        title: A title, written as Mermaid front matter (``---`` / ``title: "..."`` / ``---``).
        goal: For a scenario without steps (planned from its goal): the goal, shown as a note on
            the ``PLAN`` state the diagram is then made of.
        before: How many steps of the plan come before the first one given (a window of a long
            run): drawn as one ``N earlier steps`` state after ``[*]``.
        after: How many come after the last one given: one ``N more steps`` state before ``[*]``.

    Returns:
        The diagram's text (lines indented by four spaces, ending with a newline), without the
        fences of a Markdown code block.
    """
    rows = tuple(step_row(step) for step in steps)
    return mermaid_rows(rows, current=current, statuses=statuses, title=title, goal=goal, before=before, after=after)


def mermaid_rows(
    rows: tuple[Row, ...],
    *,
    current: str | None = None,
    statuses: Mapping[str, str | None] | None = None,
    title: str | None = None,
    goal: str | None = None,
    before: int = 0,
    after: int = 0,
) -> str:
    """:func:`mermaid` of steps already given as :data:`Row` tuples (see :func:`step_row`); the
    states and edges of the same rows are built once (cached), only the classes at each call."""
    body, names = _structure(rows, title or None, None if rows else goal or None, max(before, 0), max(after, 0))
    if not statuses and current is None:
        return body
    groups: dict[str, list[str]] = {}
    for step_id, status in (statuses or {}).items():
        name = names.get(step_id)
        if name is not None and status in STATUS_CLASSES:
            groups.setdefault(status, []).append(name)
    if current is not None and current in names:
        groups["current"] = [names[current]]
    parts = [body, _CLASS_DEFS]
    for css in STATUS_CLASSES:
        if css in groups:
            parts.append(f"{_INDENT}class {','.join(groups[css])} {css}\n")
    return "".join(parts)


class _Ids:
    """Mermaid state ids, unique within one diagram."""

    def __init__(self) -> None:
        self.used: set[str] = set()

    def take(self, wanted: str) -> str:
        base = _safe_id(wanted)
        name, n = base, 1
        while name in self.used:
            n += 1
            name = f"{base}_{n}"
        self.used.add(name)
        return name


@functools.lru_cache(maxsize=4096)
def _safe_id(wanted: str) -> str:
    if _IDENTIFIER.match(wanted) and wanted.lower() not in _RESERVED:
        return wanted
    return "s_" + (re.sub(r"\W", "_", wanted, flags=re.ASCII) or "_")


@functools.lru_cache(maxsize=256)
def _structure(
    rows: tuple[Row, ...], title: str | None, goal: str | None, before: int, after: int
) -> tuple[str, dict[str, str]]:
    """The diagram's text but for its classes, and the state id of each step id (read-only: cached)."""
    lines: list[str] = []
    out = lines.append
    if title:
        out("---")
        out(f"title: {json.dumps(' '.join(title.split())[:120], ensure_ascii=False)}")
        out("---")
    out("stateDiagram-v2")
    if not rows:
        out(f"{_INDENT}[*] --> PLAN")
        out(f'{_INDENT}state "PLAN" as PLAN')
        out(f"{_INDENT}PLAN : SystemAgent plans the steps from the goal")
        out(f"{_INDENT}PLAN --> [*]")
        if goal:
            out(f"{_INDENT}note right of PLAN : {escape_label(goal, 120)}")
        return "\n".join(lines) + "\n", {}

    ids = _Ids()
    names = [ids.take(row[0]) for row in rows]
    choices = [ids.take(f"{name}_approval") if row[3] else "" for name, row in zip(names, rows, strict=True)]
    fallbacks = [
        ids.take(f"{name}_fallback") if row[4].startswith("fallback:") else ""
        for name, row in zip(names, rows, strict=True)
    ]
    earlier = ids.take("earlier") if before else ""
    more = ids.take("more") if after else ""
    failed = ids.take("FAILED")
    entries = [choice or name for name, choice in zip(names, choices, strict=True)]
    finish = more or "[*]"

    for choice in choices:  # declared before an edge reaches them, or Mermaid draws plain states
        if choice:
            out(f"{_INDENT}state {choice} <<choice>>")
    if earlier:
        out(f'{_INDENT}state "{before} earlier step{"" if before == 1 else "s"}" as {earlier}')
        out(f"{_INDENT}[*] --> {earlier}")
        out(f"{_INDENT}{earlier} --> {entries[0]}")
    else:
        out(f"{_INDENT}[*] --> {entries[0]}")
    fails = False
    last = len(rows) - 1
    for index, row in enumerate(rows):
        following = entries[index + 1] if index < last else finish
        block, can_fail = _block(row, names[index], choices[index], fallbacks[index], following, failed)
        out(block)
        fails = fails or can_fail
    if more:
        out(f'{_INDENT}state "{after} more step{"" if after == 1 else "s"}" as {more}')
        out(f"{_INDENT}{more} --> [*]")
    if fails:
        out(f"{_INDENT}{failed} --> [*]")
    return "\n".join(lines) + "\n", {row[0]: name for row, name in zip(rows, names, strict=True)}


@functools.lru_cache(maxsize=4096)
def _block(row: Row, name: str, choice: str, fallback: str, following: str, failed: str) -> tuple[str, bool]:
    """The lines of one step (its state, the choice before it, its edges; without the last line
    break) and whether it can end in ``failed``. Cached: a long run's window slides by one step at
    a time, so a new window is mostly blocks drawn before."""
    step_id, component, tool, approval, on_error, for_each = row
    lines: list[str] = []
    out = lines.append
    if approval:
        out(f"{_INDENT}{choice} --> {name} : approve")
        out(f"{_INDENT}{choice} --> {following} : skip")
        out(f"{_INDENT}{choice} --> {failed} : reject")
    out(f'{_INDENT}state "{escape_label(step_id)}" as {name}')
    out(f"{_INDENT}{name} : {escape_label(component)}" + (f" ({escape_label(tool)})" if tool else ""))
    if for_each:
        out(f"{_INDENT}{name} : for each {escape_label(for_each)}")
    if approval:
        out(f"{_INDENT}{name} : approval required")
    out(f"{_INDENT}{name} --> {following}")
    if on_error == "skip":
        out(f"{_INDENT}{name} --> {following} : skip on error")
        return "\n".join(lines), bool(approval)
    if on_error == "retry":
        out(f"{_INDENT}{name} --> {name} : retry")
    if on_error.startswith("fallback:"):
        out(f'{_INDENT}state "{escape_label(on_error[9:])} (fallback)" as {fallback}')
        out(f"{_INDENT}{name} --> {fallback} : on error")
        out(f"{_INDENT}{fallback} --> {following}")
        out(f"{_INDENT}{fallback} --> {failed} : error")
    else:
        out(f"{_INDENT}{name} --> {failed} : error")
    return "\n".join(lines), True
