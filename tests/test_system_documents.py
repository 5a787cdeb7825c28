"""The system documents: the state machine table, the trace schema, the tool map and library drift."""

from __future__ import annotations

from pathlib import Path

import pytest

from llmos.exceptions import DocumentError, DocumentErrors
from llmos.project import Project, validate_paths
from llmos.system import ENGINE_TRANSITIONS


def test_shipped_project_loads_with_no_problems(project: Path) -> None:
    loaded = Project.load(project)
    assert loaded.problems == []
    assert set(loaded.state_machine.transitions) >= ENGINE_TRANSITIONS
    assert [r.framework_tool for r in loaded.tool_map][:2] == ["WebFetcherTool", "FileReaderTool"]
    assert sorted(loaded.library.components) == [
        "RealFileSystemTool",
        "RealSearchTool",
        "RealShellTool",
        "RealSubTaskTool",
        "RealSummarizationAgent",
        "RealWebFetchTool",
    ]


def test_state_machine_missing_a_transition_the_runner_makes(project: Path) -> None:
    path = project / "system" / "SystemAgent.md"
    path.write_text(path.read_text().replace("| UPDATE_MEMORY | EXPORT_TRACE |", "| UPDATE_MEMORY | COMPLETED |"))
    with pytest.raises(DocumentError) as info:
        Project.load(project)
    assert "lacks the transition UPDATE_MEMORY -> EXPORT_TRACE, which the runner makes" in str(info.value)
    assert info.value.path == path


def test_state_machine_with_an_unknown_phase_names_the_row(project: Path) -> None:
    path = project / "system" / "SystemAgent.md"
    lines = path.read_text().splitlines()
    row = next(i for i, line in enumerate(lines) if line.startswith("| PAUSED | EXECUTE |")) + 1
    lines.insert(row, "| PAUSED | DREAMING | never |")
    path.write_text("\n".join(lines) + "\n")
    with pytest.raises(DocumentError) as info:
        Project.load(project)
    errors = info.value.errors if isinstance(info.value, DocumentErrors) else [info.value]
    assert [(e.line, e.message.split(" (")[0]) for e in errors] == [(row + 1, "unknown run phase 'DREAMING'")]


def test_trace_schema_must_match_the_records(project: Path) -> None:
    path = project / "system" / "TrainingDataCollector.md"
    path.write_text(path.read_text().replace("| total_cost_usd | number |", "| cost | number |"))
    with pytest.raises(
        DocumentError, match=r"does not match the runner's records \(missing total_cost_usd; unknown cost\)"
    ):
        Project.load(project)


def test_library_drift_is_reported_per_row(project: Path) -> None:
    path = project / "system" / "SmartLibrary.md"
    text = path.read_text().replace(
        "| RealShellTool | tool | [REAL] | components/tools/RealShellTool.md | Bash | 0 | 0.5 |",
        "| RealShellTool | tool | [REAL] | components/tools/RealShellTool.md | Bash | 0 | 9 |",
    )
    path.write_text(text + "| Ghost | tool | | components/tools/Ghost.md | Read | 0 | 0 | active |\n")
    messages = [e.message for e in validate_paths([project])]
    assert messages == [
        "registry row 'RealShellTool': latency (s) is '9' but the component file says '0.5' (run 'llmos library sync')",
        "registry lists 'Ghost', but no component file defines it",
    ]


def test_validate_lists_every_broken_document_at_once(project: Path) -> None:
    (project / "components" / "tools" / "Broken.md").write_text("---\nname: Broken\nkind: tool\n---\n")
    scenario = project / "scenarios" / "Bad.md"
    scenario.write_text(
        "---\nname: Bad\ngoal: g\nsteps:\n  - id: a\n    component: Nope\n"
        "  - id: b\n    component: RealShellTool\n    inputs: {command: '{{ steps.zz.outputs }}'}\n---\n"
    )
    found = [(e.path.name if e.path else None, e.line, e.message.split(" (")[0]) for e in validate_paths([project])]
    assert found == [
        ("Broken.md", 1, "missing required key 'description'"),
        ("Broken.md", 2, "a tool component must name its 'claude_tool'"),
        ("Bad.md", 6, "step 'a': unknown component 'Nope'"),
        (
            "Bad.md",
            9,
            "step 'b': template reads steps.zz, which is an unknown step; a step may only read earlier steps",
        ),
    ]


def test_a_template_that_cannot_render_a_state_is_a_document_error(project: Path) -> None:
    path = project / "system" / "ExecutionStateTemplate.md"
    path.write_text(
        path.read_text().replace(
            '{{ "%.2f" | format(state.duration_s) }} s', '{{ "%.2f" | format(state.finished_at) }} s'
        )
    )
    with pytest.raises(DocumentError, match="the template cannot render a run state: TypeError"):
        Project.load(project)


def test_tool_components_without_cost_take_the_tool_map_defaults(project: Path) -> None:
    path = project / "components" / "tools" / "RealShellTool.md"
    path.write_text(path.read_text().replace("cost_usd: 0\nlatency_s: 0.5\n", ""))
    tool_map = project / "system" / "ClaudeCodeToolMap.md"
    tool_map.write_text(
        tool_map.read_text().replace("| SystemTool | Bash | 0 | 0.5 |", "| SystemTool | Bash | 0.002 | 2.5 |")
    )
    shell = Project.load(project).library.get("RealShellTool")
    assert shell is not None
    assert (shell.cost_usd, shell.latency_s) == (0.002, 2.5)


def test_library_sync_rewrites_the_registry_table(project: Path) -> None:
    path = project / "system" / "SmartLibrary.md"
    path.write_text(path.read_text().replace("| Bash | 0 | 0.5 | active |", "| Bash | 0 | 99 | active |"))
    loaded = Project.load(project)
    assert loaded.problems
    assert loaded.sync_library() is True
    assert Project.load(project).problems == []
    assert loaded.sync_library() is False
