"""Step input templates: Jinja2 in a sandbox.

A step's inputs are Jinja2 templates over ``inputs.*`` (the scenario inputs), ``steps.<id>.*``
(what earlier steps produced: ``steps.fetch.outputs.content``), ``run.*`` (``run.id``,
``run.dir``, ``run.mode``) and, inside a ``for_each`` step, ``item`` and ``index``.

Rendering uses :class:`jinja2.sandbox.SandboxedEnvironment` with ``StrictUndefined``, so a name
that does not exist is an error rather than an empty string, and templates cannot reach Python
internals. A value that is exactly one expression (``"{{ steps.find.outputs.files }}"``) renders to
the expression's native value (a list stays a list); any other string renders to a string.
"""

from __future__ import annotations

import functools
import re
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

import jinja2
from jinja2 import nodes
from jinja2.sandbox import SandboxedEnvironment

__all__ = ["Reference", "TemplateSyntaxProblem", "is_template", "references", "render_value"]

_ENV = SandboxedEnvironment(
    undefined=jinja2.StrictUndefined, autoescape=False, keep_trailing_newline=True, trim_blocks=True, lstrip_blocks=True
)
_SINGLE_EXPRESSION = re.compile(r"^\s*\{\{(?P<expr>.*?)\}\}\s*$", re.DOTALL)


@dataclass(frozen=True)
class Reference:
    """A name a template reads: ``root`` is the top-level variable, ``attr`` its first attribute."""

    root: str
    attr: str | None


class TemplateSyntaxProblem(ValueError):
    """A template that does not parse; ``lineno`` is the line inside the template (1-based)."""

    def __init__(self, message: str, lineno: int) -> None:
        self.lineno = lineno
        super().__init__(message)


def is_template(value: str) -> bool:
    """Whether a string contains Jinja2 markup."""
    return "{{" in value or "{%" in value


def references(template: str) -> set[Reference]:
    """The variables a template reads, each with the attribute read from it when literal.

    ``"{{ steps.fetch.outputs.content }}"`` gives ``{Reference("steps", "fetch")}``.

    Raises:
        TemplateSyntaxProblem: The template does not parse.
    """
    try:
        tree = _ENV.parse(template)
    except jinja2.TemplateSyntaxError as exc:
        raise TemplateSyntaxProblem(exc.message or "syntax error", exc.lineno) from None
    found: set[Reference] = set()
    covered: set[int] = set()
    node: Any
    for node in tree.find_all((nodes.Getattr, nodes.Getitem)):
        inner = node.node
        if isinstance(inner, nodes.Name) and inner.ctx == "load":
            attr: str | None = None
            if isinstance(node, nodes.Getattr):
                attr = node.attr
            elif isinstance(node.arg, nodes.Const) and isinstance(node.arg.value, str):
                attr = node.arg.value
            found.add(Reference(inner.name, attr))
            covered.add(id(inner))
    assigned = {n.name for n in tree.find_all(nodes.Name) if n.ctx in {"store", "param"}}
    assigned |= set(_ENV.globals) | {"loop"}
    for name in tree.find_all(nodes.Name):
        if name.ctx == "load" and id(name) not in covered and name.name not in assigned:
            found.add(Reference(name.name, None))
    return {r for r in found if r.root not in assigned}


def _check_defined(value: Any) -> None:
    """Raise the undefined-name error that an expression evaluated to (or holds) an Undefined."""
    if isinstance(value, jinja2.Undefined):
        str(value)  # StrictUndefined raises UndefinedError naming what was missing
        raise jinja2.UndefinedError("the expression is undefined")
    if isinstance(value, (list, tuple)):
        for item in value:
            _check_defined(item)
    elif isinstance(value, dict):
        for item in value.values():
            _check_defined(item)


# Compiled once per source and process: a step's templates are the same in every run (and every
# item of a for_each step), and compiling costs far more than rendering.
@functools.lru_cache(maxsize=512)
def _expression(source: str) -> Any:
    return _ENV.compile_expression(source, undefined_to_none=False)


@functools.lru_cache(maxsize=512)
def _template(source: str) -> jinja2.Template:
    return _ENV.from_string(source)


def render_value(value: Any, context: Mapping[str, Any]) -> Any:
    """Render a template value recursively.

    Args:
        value: A string template, or a list/dict holding templates, or any other value (returned
            as is).
        context: The variables (``inputs``, ``steps``, ``run``, ...).

    Returns:
        The rendered value: a single-expression string gives the native value, other strings give
        strings, lists and dicts are rendered item by item.

    Raises:
        jinja2.TemplateError: Rendering failed (undefined name, sandbox violation, syntax).
    """
    if isinstance(value, str):
        if not is_template(value):
            return value
        single = _SINGLE_EXPRESSION.match(value)
        if single and "}}" not in single.group("expr") and "{%" not in value:
            result = _expression(single.group("expr").strip())(**context)
            _check_defined(result)
            return result
        return _template(value).render(**context)
    if isinstance(value, list):
        return [render_value(item, context) for item in value]
    if isinstance(value, dict):
        return {key: render_value(item, context) for key, item in value.items()}
    return value
