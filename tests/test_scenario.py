"""Scenarios and their templates: static checks and sandboxed rendering."""

from __future__ import annotations

import jinja2
import pytest

from llmos.documents import parse_document
from llmos.exceptions import DocumentError, DocumentErrors
from llmos.scenario import parse_scenario
from llmos.templating import Reference, references, render_value

HEAD = "---\nname: S\ngoal: test\ninputs:\n  url: {type: url, required: true}\nsteps:\n"


def problems(steps_yaml: str) -> list[tuple[int | None, str]]:
    with pytest.raises(DocumentError) as info:
        parse_scenario(parse_document(HEAD + steps_yaml + "---\n", path="s.md"))
    errors = info.value.errors if isinstance(info.value, DocumentErrors) else [info.value]
    return [(e.line, e.message) for e in errors]


def test_valid_scenario_parses_steps_in_order() -> None:
    scenario = parse_scenario(
        parse_document(
            HEAD + "  - id: fetch\n    component: Web\n    inputs: {url: '{{ inputs.url }}'}\n"
            "  - id: save\n    component: Files\n    tool: Write\n    on_error: skip\n"
            "    inputs: {content: '{{ steps.fetch.outputs.content }}'}\n---\n"
        )
    )
    assert [(s.id, s.component, s.tool, s.on_error, s.line) for s in scenario.steps] == [
        ("fetch", "Web", None, "fail", 7),
        ("save", "Files", "Write", "skip", 10),
    ]
    assert scenario.inputs["url"].required is True


def test_template_naming_an_unknown_step_is_a_document_error() -> None:
    assert problems("  - id: a\n    component: C\n    inputs: {x: '{{ steps.nope.outputs.y }}'}\n") == [
        (9, "step 'a': template reads steps.nope, which is an unknown step; a step may only read earlier steps (none)")
    ]


def test_template_reading_a_later_step_is_refused() -> None:
    assert problems(
        "  - id: a\n    component: C\n    inputs: {x: '{{ steps.b.outputs }}'}\n  - id: b\n    component: C\n"
    ) == [(9, "step 'a': template reads steps.b, which is a later step; a step may only read earlier steps (none)")]


def test_template_reading_an_undeclared_input_is_refused() -> None:
    assert problems("  - id: a\n    component: C\n    inputs: {x: '{{ inputs.other }}'}\n") == [
        (9, "step 'a': template reads inputs.other, which the scenario does not declare (declared: url)")
    ]


def test_template_syntax_error_is_reported_at_the_input() -> None:
    [(line, message)] = problems("  - id: a\n    component: C\n    inputs: {x: '{{ inputs.url '}\n")
    assert line == 9
    assert message.startswith("step 'a': template syntax error")


def test_duplicate_ids_unknown_keys_and_bad_on_error_are_all_reported() -> None:
    assert problems(
        "  - id: a\n    component: C\n    on_eror: skip\n  - id: a\n    component: C\n    on_error: explode\n"
    ) == [
        (
            9,
            "unknown step key 'on_eror' (expected one of: approval, component, description, for_each, id, inputs, "
            "on_error, tool)",
        ),
        (10, "duplicate step id 'a'"),
        (12, "'on_error' must be fail, skip, retry or 'fallback: <component>'"),
    ]


def test_references_lists_roots_and_first_attributes() -> None:
    assert references("{{ steps.fetch.outputs.content }} {{ inputs['url'] }} {% for p in x %}{{ p }}{% endfor %}") == {
        Reference("steps", "fetch"),
        Reference("inputs", "url"),
        Reference("x", None),
    }


def test_single_expression_keeps_its_native_type() -> None:
    assert render_value("{{ steps.a.outputs.files[:2] }}", {"steps": {"a": {"outputs": {"files": [1, 2, 3]}}}}) == [
        1,
        2,
    ]


def test_mixed_text_renders_to_a_string_and_recurses_into_containers() -> None:
    value = {"a": "n={{ n }}", "b": ["{{ n + 1 }}", 7]}
    assert render_value(value, {"n": 1}) == {"a": "n=1", "b": [2, 7]}


def test_undefined_names_raise_instead_of_rendering_empty() -> None:
    with pytest.raises(jinja2.UndefinedError):
        render_value("x {{ steps.missing.outputs }}", {"steps": {}})


def test_sandbox_refuses_python_internals() -> None:
    with pytest.raises(jinja2.exceptions.SecurityError):
        render_value("{{ ''.__class__.__mro__[1].__subclasses__() }}", {})


def test_a_single_expression_that_is_undefined_raises() -> None:
    with pytest.raises(jinja2.UndefinedError):
        render_value("{{ item.content }}", {"item": {"file_path": "x"}})
    with pytest.raises(jinja2.UndefinedError):
        render_value("{{ [item.content] }}", {"item": {}})
