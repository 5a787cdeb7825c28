"""The document parser: front matter with lines, sections and tables, components and their errors."""

from __future__ import annotations

from pathlib import Path

import pytest

from llmos.documents import load_component, load_document, parse_document
from llmos.exceptions import DocumentError, DocumentErrors

MALFORMED = Path(__file__).parent / "fixtures" / "malformed"


def messages(exc: DocumentError) -> list[tuple[int | None, str]]:
    errors = exc.errors if isinstance(exc, DocumentErrors) else [exc]
    return [(e.line, e.message) for e in errors]


def test_front_matter_keys_map_to_file_lines() -> None:
    doc = parse_document("---\nname: x\nsteps:\n  - id: a\n    component: B\n---\n# Title\n", path="s.md")
    assert doc.meta == {"name": "x", "steps": [{"id": "a", "component": "B"}]}
    assert doc.line_of("name") == 2
    assert doc.line_of("steps", 0, "component") == 5
    assert doc.line_of("steps", 0, "inputs", "missing") == 4  # nearest known parent


def test_sections_tables_and_code_blocks_carry_file_lines() -> None:
    text = (
        "---\na: 1\n---\n# Top\n\nIntro.\n\n## Table\n\n| X | Y |\n|---|---|\n| 1 | 2 |\n| 3 | 4 |\n\n"
        "## Code\n\n```yaml\nk: v\n```\n"
    )
    doc = parse_document(text)
    titles = [(s.title, s.level, s.line) for s in doc.sections]
    assert titles == [("Top", 1, 4), ("Table", 2, 8), ("Code", 2, 15)]
    table = doc.section("table").tables[0]  # type: ignore[union-attr]
    assert (table.header, table.rows, table.line, table.row_lines) == (
        ["X", "Y"],
        [["1", "2"], ["3", "4"]],
        10,
        [12, 13],
    )
    block = doc.section("Code").code_blocks[0]  # type: ignore[union-attr]
    assert (block.info, block.code, block.line) == ("yaml", "k: v\n", 17)


def test_document_without_front_matter_is_all_body() -> None:
    doc = parse_document("# Just Markdown\n")
    assert doc.meta == {}
    assert doc.sections[0].title == "Just Markdown"


def test_malformed_yaml_names_the_line() -> None:
    with pytest.raises(DocumentError) as info:
        load_document(MALFORMED / "bad_yaml.md")
    assert info.value.path == MALFORMED / "bad_yaml.md"
    assert info.value.line == 5
    assert "malformed front matter" in info.value.message
    assert str(info.value).startswith(f"{MALFORMED / 'bad_yaml.md'}:5: ")


def test_unclosed_front_matter_is_reported_at_line_one() -> None:
    with pytest.raises(DocumentError) as info:
        load_document(MALFORMED / "unclosed.md")
    assert messages(info.value) == [(1, "front matter starts with '---' but is never closed")]


def test_front_matter_must_be_a_mapping() -> None:
    with pytest.raises(DocumentError) as info:
        load_document(MALFORMED / "not_mapping.md")
    assert messages(info.value) == [(2, "front matter must be a YAML mapping of keys to values")]


def test_unknown_kind_is_reported_at_its_key() -> None:
    with pytest.raises(DocumentError) as info:
        load_component(MALFORMED / "unknown_kind.md")
    assert messages(info.value) == [(3, "'kind' must be one of agent, tool; got 'robot'")]


def test_unknown_claude_tool_is_reported() -> None:
    with pytest.raises(DocumentError) as info:
        load_component(MALFORMED / "unknown_tool.md")
    [(line, message)] = messages(info.value)
    assert line == 5
    assert message.startswith("unknown Claude Code tool 'Teleport'")


def test_missing_required_fields_are_all_listed() -> None:
    with pytest.raises(DocumentErrors) as info:
        load_component(MALFORMED / "missing_fields.md")
    assert messages(info.value) == [
        (1, "missing required key 'name'"),
        (1, "missing required key 'description'"),
    ]


def test_every_wrong_type_is_listed_with_its_line() -> None:
    with pytest.raises(DocumentErrors) as info:
        load_component(MALFORMED / "bad_types.md")
    assert messages(info.value) == [
        (6, "'real' must be true or false, got str"),
        (7, "'cost_usd' must be a number, got str"),
        (8, "'attempts' must be at least 1; got 0"),
        (
            10,
            "inputs.url has unknown type 'link' (expected one of: array, boolean, integer, number, object, path, "
            "string, url)",
        ),
        (
            11,
            "unknown component key 'typo_key' (expected one of: claude_tool, cost_usd, description, error_modes, "
            "idempotent, inputs, kind, latency_s, max_bytes, max_turns, model, name, outputs, real, retry, "
            "side_effects, status, timeout_s, tools, version)",
        ),
    ]


def test_shipped_agent_parses_with_outputs_schema_and_examples() -> None:
    agent = load_component(Path(__file__).parent.parent / "components" / "agents" / "RealSummarizationAgent.md")
    assert (agent.kind, agent.real, agent.tag) == ("agent", True, "[REAL]")
    schema = agent.output_schema()
    assert schema["required"] == ["summary", "key_points"]
    assert schema["properties"]["summary"] == {
        "type": "string",
        "description": "the summary: 2 to 5 sentences in plain prose",
        "minLength": 40,
        "maxLength": 600,
    }
    assert schema["additionalProperties"] is False
    assert len(agent.examples) == 1
    assert agent.prompt.startswith("You are RealSummarizationAgent")


def test_component_name_must_match_file_name(tmp_path: Path) -> None:
    path = tmp_path / "Actual.md"
    path.write_text("---\nname: Other\nkind: tool\ndescription: d\nclaude_tool: Read\n---\n")
    with pytest.raises(DocumentError) as info:
        load_component(path)
    assert messages(info.value) == [(2, "component name 'Other' must equal the file name 'Actual'")]
