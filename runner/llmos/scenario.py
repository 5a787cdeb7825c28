"""Scenarios: a goal, typed inputs and the steps that reach it (``scenarios/*.md``).

A scenario's front matter holds ``name``, ``goal``, ``description``, ``inputs`` (field specs with
defaults), an optional ``budget_usd`` and ``steps``. Each step names a component from the library
and gives its inputs as Jinja2 templates (see :mod:`llmos.templating`). The body is free Markdown
for people (and for Claude Code when it acts as SystemAgent).
"""

from __future__ import annotations

import re
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from llmos.documents import Document, Fields, FieldSpec, load_document, parse_field_specs
from llmos.exceptions import DocumentError, join_errors
from llmos.templating import TemplateSyntaxProblem, is_template, references

__all__ = [
    "ON_ERROR_ACTIONS",
    "Scenario",
    "Step",
    "build_scenario",
    "check_step_references",
    "load_scenario",
    "parse_scenario",
]

#: What a step may do when it fails for good: stop the run, skip the step, or retry it.
#: ``fallback: <component>`` is also accepted (a mapping).
ON_ERROR_ACTIONS = frozenset({"fail", "skip", "retry"})

_STEP_ID = re.compile(r"^[A-Za-z_][A-Za-z0-9_]*$")
_STEP_KEYS = {"id", "component", "tool", "description", "inputs", "for_each", "approval", "on_error"}
_SCENARIO_KEYS = {"name", "description", "goal", "inputs", "steps", "budget_usd", "mode", "tags", "variations"}
_TEMPLATE_ROOTS = {"inputs", "steps", "run"}


@dataclass(kw_only=True, frozen=True)
class Step:
    """One planned step.

    Attributes:
        id: Unique within the scenario; a Python-style identifier (templates read ``steps.<id>``).
        component: The component's name in the library.
        tool: For a tool component mapping onto several Claude Code tools, which one to call.
        description: What the step is for.
        inputs: The step's inputs as written: strings are Jinja2 templates.
        for_each: A template giving a list; the step runs once per item, with ``item`` and
            ``index`` bound, and its outputs are ``{"results": [...], "count": n}``.
        approval: ``"required"`` pauses the run for a person before the step.
        on_error: ``"fail"`` (default), ``"skip"``, ``"retry"`` or ``"fallback:<component>"``.
        line: 1-based line of the step in the scenario file.
    """

    id: str
    component: str
    tool: str | None = None
    description: str = ""
    inputs: dict[str, Any] = field(default_factory=dict)
    for_each: str | None = None
    approval: str | None = None
    on_error: str = "fail"
    line: int = 1

    @classmethod
    def from_dict(cls, data: Any) -> Step:
        """A step from plain data in the scenario ``steps`` schema (a stored plan's entry).

        Raises:
            ValueError: Not a mapping, an unknown key, a missing ``id`` or ``component``, or an
                invalid ``on_error``.
        """
        if not isinstance(data, dict):
            raise ValueError(f"a step must be a mapping, not {type(data).__name__}")
        unknown = sorted(set(data) - _STEP_KEYS)
        if unknown:
            raise ValueError(f"unknown step key(s) {', '.join(unknown)}")
        step_id, component = data.get("id"), data.get("component")
        if not isinstance(step_id, str) or not _STEP_ID.match(step_id):
            raise ValueError(f"step id {step_id!r} is not letters, digits and underscores")
        if not isinstance(component, str) or not component:
            raise ValueError(f"step {step_id!r} names no component")
        on_error = _parse_on_error(data.get("on_error"))
        if on_error is None:
            raise ValueError(f"step {step_id!r}: 'on_error' must be fail, skip, retry or 'fallback: <component>'")
        approval = data.get("approval")
        return cls(
            id=step_id,
            component=component,
            tool=data.get("tool"),
            description=str(data.get("description") or ""),
            inputs=dict(data.get("inputs") or {}),
            for_each=data.get("for_each"),
            approval=approval if approval not in (None, "none") else None,
            on_error=on_error,
        )

    def to_dict(self) -> dict[str, Any]:
        """The step as plain data (the scenario ``steps`` schema), omitting defaults."""
        out: dict[str, Any] = {"id": self.id, "component": self.component}
        if self.tool:
            out["tool"] = self.tool
        if self.description:
            out["description"] = self.description
        out["inputs"] = dict(self.inputs)
        if self.for_each:
            out["for_each"] = self.for_each
        if self.approval:
            out["approval"] = self.approval
        if self.on_error != "fail":
            out["on_error"] = self.on_error
        return out


@dataclass(kw_only=True, frozen=True)
class Scenario:
    """A parsed scenario.

    Attributes:
        name: The scenario's name (by convention the file stem).
        goal: What the run is for, in one sentence.
        description: Longer text.
        inputs: Declared inputs by name, with defaults.
        steps: The explicit steps; empty when SystemAgent is to plan them from the goal.
        budget_usd: The most the run may spend in US dollars, or ``None`` for no cap.
        path: The file, or ``None``.
        sha256: Content hash of the file.
        document: The parsed document (for line lookups).
    """

    name: str
    goal: str
    description: str = ""
    inputs: dict[str, FieldSpec] = field(default_factory=dict)
    steps: tuple[Step, ...] = ()
    budget_usd: float | None = None
    path: Path | None = None
    sha256: str = ""
    document: Document | None = field(default=None, compare=False, repr=False)

    def line_of(self, *key: str | int) -> int:
        """File line of a front matter key (see :meth:`llmos.documents.Document.line_of`)."""
        return self.document.line_of(*key) if self.document else 1

    def error(self, message: str, *key: str | int) -> DocumentError:
        """A :class:`DocumentError` at a key of this scenario's file."""
        return DocumentError(message, path=self.path, line=self.line_of(*key))


def _parse_on_error(value: Any) -> str | None:
    if value is None:
        return "fail"
    if isinstance(value, str) and value in ON_ERROR_ACTIONS:
        return value
    if isinstance(value, str) and value.startswith("fallback:") and value.split(":", 1)[1].strip():
        return "fallback:" + value.split(":", 1)[1].strip()
    if isinstance(value, dict) and list(value) == ["fallback"] and isinstance(value["fallback"], str):
        return "fallback:" + value["fallback"]
    return None


def _parse_step(doc: Document, index: int, raw: Any, errors: list[DocumentError]) -> Step | None:
    if not isinstance(raw, dict):
        errors.append(doc.error(f"step {index + 1} must be a mapping with 'id' and 'component'", "steps", index))
        return None
    f = Fields(doc, raw, ("steps", index))
    f.unknown_keys(_STEP_KEYS, "step")
    step_id = f.string("id", required=True) or f"step{index + 1}"
    if not _STEP_ID.match(step_id):
        f.fail(f"step id {step_id!r} must be letters, digits and underscores, not starting with a digit", "id")
    component = f.string("component", required=True) or ""
    inputs = f.get("inputs", dict, default={}) or {}
    for key in inputs:
        if not isinstance(key, str):
            f.fail(f"step input names must be strings; got {key!r}", "inputs")
    approval = f.string("approval", choices={"required", "none"})
    on_error = _parse_on_error(raw.get("on_error"))
    if on_error is None:
        f.fail("'on_error' must be fail, skip, retry or 'fallback: <component>'", "on_error")
        on_error = "fail"
    for_each = f.string("for_each")
    errors.extend(f.errors)
    return Step(
        id=step_id,
        component=component,
        tool=f.string("tool"),
        description=f.string("description") or "",
        inputs=dict(inputs),
        for_each=for_each,
        approval=approval if approval != "none" else None,
        on_error=on_error,
        line=doc.line_of("steps", index),
    )


def _walk_templates(value: Any, key: tuple[str | int, ...]) -> Iterator[tuple[tuple[str | int, ...], str]]:
    if isinstance(value, str):
        if is_template(value):
            yield key, value
    elif isinstance(value, list):
        for i, item in enumerate(value):
            yield from _walk_templates(item, (*key, i))
    elif isinstance(value, dict):
        for k, item in value.items():
            yield from _walk_templates(item, (*key, str(k)))


def check_step_references(
    steps: tuple[Step, ...] | list[Step],
    inputs: dict[str, FieldSpec],
    error: Any,
) -> list[DocumentError]:
    """Check every template in the steps statically.

    A template may read ``inputs.<name>`` for declared inputs, ``steps.<id>`` for *earlier*
    steps, ``run.*``, and ``item``/``index`` inside a ``for_each`` step.

    Args:
        steps: The steps in order.
        inputs: The scenario's declared inputs.
        error: ``error(message, *key) -> DocumentError`` placing a problem at a front matter key
            (``("steps", i, "inputs", name)``).

    Returns:
        The problems found; empty when all templates are sound.
    """
    problems: list[DocumentError] = []
    seen: set[str] = set()
    for index, step in enumerate(steps):
        roots = _TEMPLATE_ROOTS | ({"item", "index"} if step.for_each else set())
        values: list[tuple[tuple[str | int, ...], str]] = list(_walk_templates(step.inputs, ("steps", index, "inputs")))
        if step.for_each:
            values.append((("steps", index, "for_each"), step.for_each))
        for key, template in values:
            try:
                refs = references(template)
            except TemplateSyntaxProblem as exc:
                problems.append(error(f"step {step.id!r}: template syntax error: {exc}", *key))
                continue
            for ref in sorted(refs, key=lambda r: (r.root, r.attr or "")):
                if ref.root not in roots:
                    problems.append(
                        error(
                            f"step {step.id!r}: template names unknown variable {ref.root!r} "
                            f"(use {', '.join(sorted(roots))})",
                            *key,
                        )
                    )
                elif ref.root == "steps" and ref.attr is not None and ref.attr not in seen:
                    where = "a later step" if any(s.id == ref.attr for s in steps) else "an unknown step"
                    problems.append(
                        error(
                            f"step {step.id!r}: template reads steps.{ref.attr}, which is {where}; "
                            f"a step may only read earlier steps ({', '.join(sorted(seen)) or 'none'})",
                            *key,
                        )
                    )
                elif ref.root == "inputs" and ref.attr is not None and ref.attr not in inputs:
                    problems.append(
                        error(
                            f"step {step.id!r}: template reads inputs.{ref.attr}, which the scenario does not "
                            f"declare (declared: {', '.join(sorted(inputs)) or 'none'})",
                            *key,
                        )
                    )
        seen.add(step.id)
    return problems


def parse_scenario(doc: Document) -> Scenario:
    """Build a :class:`Scenario` from a parsed document and check it on its own.

    Checks the keys, the steps' shape, unique step ids and every template's references. Whether
    the components exist is checked against a library by :meth:`llmos.project.Project.check_scenario`.

    Raises:
        DocumentError: Every problem found, each with its line.
    """
    scenario, errors = build_scenario(doc)
    if errors:
        raise join_errors(errors)
    return scenario


def build_scenario(doc: Document) -> tuple[Scenario, list[DocumentError]]:
    """Like :func:`parse_scenario`, but returns the problems with a best-effort scenario instead of
    raising, so a validator can go on to check the steps against the library."""
    f = Fields(doc)
    f.unknown_keys(_SCENARIO_KEYS, "scenario")
    name = f.string("name", required=True) or (doc.path.stem if doc.path else "scenario")
    goal = f.string("goal", required=True) or ""
    inputs, errs = parse_field_specs(doc, "inputs")
    f.errors.extend(errs)
    budget = f.number("budget_usd")
    raw_steps = f.get("steps", list, default=[]) or []
    steps: list[Step] = []
    ids: set[str] = set()
    for index, raw in enumerate(raw_steps):
        step = _parse_step(doc, index, raw, f.errors)
        if step is None:
            continue
        if step.id in ids:
            f.fail(f"duplicate step id {step.id!r}", "steps", index, "id")
        ids.add(step.id)
        steps.append(step)
    f.errors.extend(check_step_references(steps, inputs, lambda msg, *key: doc.error(msg, *key)))
    scenario = Scenario(
        name=name,
        goal=goal,
        description=f.string("description") or "",
        inputs=inputs,
        steps=tuple(steps),
        budget_usd=budget,
        path=doc.path,
        sha256=doc.sha256,
        document=doc,
    )
    return scenario, f.errors


def load_scenario(path: str | Path) -> Scenario:
    """Load and check a scenario file.

    Raises:
        DocumentError: The file is unreadable or wrong (file and line in the message).
    """
    return parse_scenario(load_document(path))
