"""Authoring: `llmos new tool|agent|scenario` scaffolds and `llmos export-agents` subagents.

Scaffolded documents validate as written (and the scenarios run), and the exported Claude Code
subagents carry the fields Claude Code requires.
"""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import frontmatter
import pytest
import yaml
from click.testing import CliRunner, Result

from conftest import REPO
from llmos._cli_author import CLAUDE_TOOL_CHOICES, export_agents_command, new_group
from llmos.documents import load_component
from llmos.engine import run_scenario
from llmos.project import Project, validate_paths
from llmos.providers.scripted import ScriptedProvider
from llmos.scaffold import (
    SCAFFOLD_TOOLS,
    check_subagent,
    check_subagent_text,
    kebab_case,
    subagent_model,
    tool_text,
)
from llmos.tools import TOOLS


def new(project: Path, *args: str) -> Result:
    return CliRunner().invoke(new_group, [*args, "--root", str(project)])


def export(project: Path, *args: str) -> Result:
    return CliRunner().invoke(export_agents_command, ["--root", str(project), *args])


def step_scenario(project: Path, name: str, steps: list[dict[str, object]]) -> Path:
    path = project / "scenarios" / f"{name}.md"
    meta = {"name": name, "goal": "try the new component", "steps": steps}
    path.write_text("---\n" + yaml.safe_dump(meta, sort_keys=False) + "---\n")
    return path


# --------------------------------------------------------------------------------------------
# llmos new tool


@pytest.mark.parametrize("claude_tool", SCAFFOLD_TOOLS)
def test_a_new_tool_validates_with_the_claude_tools_input_names(project: Path, claude_tool: str) -> None:
    name = f"My{claude_tool}Tool"
    result = new(project, "tool", name, "--claude-tool", claude_tool)
    assert result.exit_code == 0, result.output
    path = project / "components" / "tools" / f"{name}.md"
    assert f"created components/tools/{name}.md" in result.output
    component = load_component(path)
    assert (component.kind, component.claude_tools, component.real) == ("tool", (claude_tool,), True)
    assert list(component.inputs) == list(TOOLS[claude_tool].params)
    assert {n for n, s in component.inputs.items() if s.required} == {
        n for n, p in TOOLS[claude_tool].params.items() if p.required
    }
    assert component.examples  # simulation has an example to answer from
    # The registry was synced: the whole project validates, drift included.
    assert validate_paths([project]) == []


def test_every_tool_the_runner_implements_can_be_scaffolded() -> None:
    assert set(SCAFFOLD_TOOLS) == set(TOOLS) == set(CLAUDE_TOOL_CHOICES)


def test_every_front_matter_key_has_a_comment(project: Path) -> None:
    assert new(project, "tool", "WordCountTool", "--claude-tool", "Bash").exit_code == 0
    text = (project / "components" / "tools" / "WordCountTool.md").read_text()
    lines = text.split("---\n")[1].splitlines()
    for index, line in enumerate(lines):
        if line and not line.startswith((" ", "#", "-")):
            commented = "#" in line or lines[index - 1].startswith("#")
            assert commented, f"no comment for: {line}"


def test_a_scaffolded_tool_runs_in_a_scenario_step(project: Path) -> None:
    assert new(project, "tool", "WordCountTool", "--claude-tool", "Bash").exit_code == 0
    assert new(project, "tool", "NoteWriterTool", "--claude-tool", "Write").exit_code == 0
    scenario = step_scenario(
        project,
        "Count_Task",
        [
            {"id": "write", "component": "NoteWriterTool", "inputs": {"file_path": "n.txt", "content": "a\nb\nc\n"}},
            {"id": "count", "component": "WordCountTool", "inputs": {"command": "wc -l < n.txt"}},
        ],
    )
    assert validate_paths([project]) == []
    result = run_scenario(scenario, provider="scripted")
    assert result.status == "completed", result.error
    assert (project / "workspace" / "n.txt").read_text() == "a\nb\nc\n"
    assert [s["status"] for s in result.steps] == ["completed", "completed"]


def test_line_numbers_in_errors_point_at_the_key_despite_the_comments(project: Path) -> None:
    assert new(project, "tool", "WordCountTool", "--claude-tool", "Bash").exit_code == 0
    path = project / "components" / "tools" / "WordCountTool.md"
    lines = path.read_text().splitlines()
    index = next(i for i, line in enumerate(lines) if line.startswith("timeout_s:"))
    lines[index] = lines[index].replace("timeout_s: 120", "timeout_s: soon")
    path.write_text("\n".join(lines) + "\n")
    (problem,) = validate_paths([path])
    assert (problem.path, problem.line) == (path, index + 1)
    assert "'timeout_s' must be a number" in problem.message


# --------------------------------------------------------------------------------------------
# llmos new agent


def test_a_new_agent_validates_and_is_registered(project: Path) -> None:
    result = new(project, "agent", "ReviewAgent", "--tools", "Read, Grep", "--model", "claude-sonnet-4-5")
    assert result.exit_code == 0, result.output
    assert "updated system/SmartLibrary.md" in result.output
    assert "review-agent" in result.output  # the subagent it exports as
    component = load_component(project / "components" / "agents" / "ReviewAgent.md")
    assert (component.kind, component.tools, component.model, component.max_turns) == (
        "agent",
        ("Read", "Grep"),
        "claude-sonnet-4-5",
        10,
    )
    assert component.prompt.startswith("You are ReviewAgent")
    assert set(component.outputs) == {"result", "notes"}
    assert component.output_schema()["required"] == ["result"]
    assert "ReviewAgent" in Project.load(project).library.components
    assert validate_paths([project]) == []


def test_a_new_agent_without_tools_answers_in_one_turn(project: Path) -> None:
    assert new(project, "agent", "PlainAgent").exit_code == 0
    component = load_component(project / "components" / "agents" / "PlainAgent.md")
    assert (component.tools, component.model, component.max_turns, component.side_effects) == ((), None, 1, ())


def test_a_scaffolded_agent_runs_in_a_scenario_step(project: Path) -> None:
    assert new(project, "agent", "PlainAgent").exit_code == 0
    scenario = step_scenario(
        project, "Ask_Task", [{"id": "ask", "component": "PlainAgent", "inputs": {"request": "Say hello."}}]
    )
    result = run_scenario(scenario, provider="scripted")
    assert result.status == "completed", result.error
    assert result.steps[0]["source"] == "generated"  # schema-valid placeholders, labelled so


def test_unknown_agent_tools_are_refused(project: Path) -> None:
    result = new(project, "agent", "ReviewAgent", "--tools", "Read,Telepathy")
    assert result.exit_code == 2
    assert "unknown Claude Code tool(s) Telepathy" in result.output
    assert not (project / "components" / "agents" / "ReviewAgent.md").exists()


# --------------------------------------------------------------------------------------------
# llmos new scenario


def test_a_new_scenario_validates_and_runs(project: Path) -> None:
    result = new(project, "scenario", "Note_Task")
    assert result.exit_code == 0, result.output
    path = project / "scenarios" / "Note_Task.md"
    scenario = Project.load(project).load_scenario(path)
    assert scenario.inputs["topic"].default == "state machines"
    assert [(s.component, s.tool) for s in scenario.steps] == [
        ("RealFileSystemTool", "Write"),
        ("RealFileSystemTool", "Read"),
    ]
    assert validate_paths([project]) == []
    run = run_scenario(path, provider="scripted", inputs={"topic": "owls"})
    assert run.status == "completed", run.error
    note = run.run_dir / "note.md"
    assert note.read_text().startswith("# owls\n\nA note written by run ")
    assert run.steps[1]["status"] == "completed"


def test_a_goal_scenario_has_no_steps_and_is_planned(project: Path, tmp_path: Path) -> None:
    goal = "Write a haiku about owls into the workspace"
    assert new(project, "scenario", "Haiku_Task", "--goal", goal).exit_code == 0
    path = project / "scenarios" / "Haiku_Task.md"
    scenario = Project.load(project).load_scenario(path)
    assert (scenario.goal, scenario.steps, scenario.budget_usd) == (goal, (), 0.5)
    plan = {
        "agent": "SystemAgent",
        "step": "plan",
        "output": {
            "steps": [
                {
                    "id": "w",
                    "component": "RealFileSystemTool",
                    "tool": "Write",
                    "inputs": {"file_path": "haiku.md", "content": "owls at dusk"},
                }
            ]
        },
    }
    script = tmp_path / "plan.yaml"
    script.write_text(yaml.safe_dump([plan]))
    result = run_scenario(path, provider=ScriptedProvider(script=script))
    assert result.status == "completed", result.error
    assert (project / "workspace" / "haiku.md").read_text() == "owls at dusk"


def test_an_empty_goal_is_refused(project: Path) -> None:
    result = new(project, "scenario", "Empty_Task", "--goal", "  ")
    assert result.exit_code == 2
    assert "the goal is empty" in result.output


# --------------------------------------------------------------------------------------------
# Names, existing files, --force


@pytest.mark.parametrize(
    ("kind", "name"),
    [
        ("tool", "wordCountTool"),
        ("tool", "Word_Count_Tool"),
        ("tool", "9Tool"),
        ("tool", "../EvilTool"),
        ("agent", "Review Agent"),
        ("agent", "A" * 65),
        ("scenario", "my scenario"),
        ("scenario", "_Hidden"),
        ("scenario", "../Escape"),
    ],
)
def test_invalid_names_are_refused(project: Path, kind: str, name: str) -> None:
    result = new(project, kind, name)
    assert result.exit_code == 2
    assert f"invalid {kind} name" in result.output
    assert validate_paths([project]) == []  # nothing was written


def test_system_document_names_are_refused(project: Path) -> None:
    result = new(project, "agent", "SystemAgent")
    assert result.exit_code == 2
    assert "the name of a system document" in result.output


def test_an_existing_document_is_kept_unless_forced(project: Path) -> None:
    assert new(project, "tool", "WordCountTool", "--claude-tool", "Bash").exit_code == 0
    path = project / "components" / "tools" / "WordCountTool.md"
    path.write_text(path.read_text().replace("status: active", "status: deprecated"))
    again = new(project, "tool", "WordCountTool", "--claude-tool", "Glob")
    assert again.exit_code == 2
    assert "components/tools/WordCountTool.md exists (use --force to replace it)" in again.output
    assert load_component(path).status == "deprecated"
    forced = new(project, "tool", "WordCountTool", "--claude-tool", "Glob", "--force")
    assert forced.exit_code == 0, forced.output
    assert load_component(path).claude_tools == ("Glob",)
    assert validate_paths([project]) == []


def test_an_existing_scenario_is_kept_unless_forced(project: Path) -> None:
    path = project / "scenarios" / "RealWorld_Research_Task.md"
    before = path.read_text()
    assert new(project, "scenario", "RealWorld_Research_Task").exit_code == 2
    assert path.read_text() == before
    assert new(project, "scenario", "RealWorld_Research_Task", "--force").exit_code == 0
    assert "Write a short note" in path.read_text()


@pytest.mark.parametrize(
    ("kind", "name", "message"),
    [
        ("agent", "RealShellTool", "the name 'RealShellTool' is taken"),  # a tool of that name
        ("tool", "RealShellTool", "exists"),
        ("tool", "Realshelltool", "the name 'Realshelltool' is taken"),  # case-insensitive file systems
        ("agent", "REALSummarizationAgent", "the name 'REALSummarizationAgent' is taken"),
    ],
)
def test_names_that_clash_with_components_are_refused(project: Path, kind: str, name: str, message: str) -> None:
    result = new(project, kind, name, "--force") if message != "exists" else new(project, kind, name)
    assert result.exit_code == 2
    assert message in result.output
    assert validate_paths([project]) == []


def test_names_that_would_export_as_the_same_subagent_are_refused(project: Path) -> None:
    agents = project / "components" / "agents"
    text = (agents / "RealSummarizationAgent.md").read_text()
    (agents / "Summary_Agent.md").write_text(text.replace("name: RealSummarizationAgent", "name: Summary_Agent"))
    result = new(project, "agent", "SummaryAgent")
    assert result.exit_code == 2
    assert "would export as the same Claude Code subagent (summary-agent) as 'Summary_Agent'" in result.output


def test_new_outside_a_project_exits_2(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.chdir(tmp_path)
    result = CliRunner().invoke(new_group, ["tool", "WordCountTool"])
    assert result.exit_code == 2
    assert "no project root here" in result.output
    assert CliRunner().invoke(new_group, ["tool", "WordCountTool", "--root", str(tmp_path)]).exit_code == 2


def test_unknown_claude_tool_for_a_tool() -> None:
    with pytest.raises(Exception, match="unknown Claude Code tool 'Teleport'"):
        tool_text("TeleportTool", claude_tool="Teleport")


# --------------------------------------------------------------------------------------------
# llmos export-agents


def test_export_writes_a_valid_subagent_per_agent(project: Path) -> None:
    assert new(project, "agent", "ReviewAgent", "--tools", "Read,Grep", "--model", "claude-sonnet-4-5").exit_code == 0
    result = export(project)
    assert result.exit_code == 0, result.output
    out = project / ".claude" / "agents"
    assert sorted(p.name for p in out.iterdir()) == ["real-summarization-agent.md", "review-agent.md"]
    assert "wrote .claude/agents/review-agent.md" in result.output
    for path in out.iterdir():
        assert check_subagent(path) == [], path

    review = frontmatter.load(str(out / "review-agent.md"))
    assert review.metadata == {
        "name": "review-agent",
        "description": review.metadata["description"],
        "tools": "Read, Grep",
        "model": "sonnet",
        "maxTurns": 10,
    }
    assert "Use it for the LLM-OS agent ReviewAgent" in review.metadata["description"]
    component = load_component(project / "components" / "agents" / "ReviewAgent.md")
    assert review.content.startswith(component.prompt)
    assert "- `result` (string, required): the answer, in plain prose" in review.content
    assert "- `notes` (array of strings, optional)" in review.content


def test_an_agent_with_no_tools_gets_none(project: Path) -> None:
    assert export(project).exit_code == 0
    path = project / ".claude" / "agents" / "real-summarization-agent.md"
    post = frontmatter.load(str(path))
    # An absent `tools` would inherit every tool: the export says "none" twice over.
    assert post.metadata["tools"] == []
    assert set(post.metadata["disallowedTools"].split(", ")) >= {"Bash", "Write", "Edit", "Read", "WebFetch"}
    assert (post.metadata["name"], post.metadata["model"], post.metadata["maxTurns"]) == (
        "real-summarization-agent",
        "inherit",
        1,
    )
    assert "- `content` (string, required)" in post.content
    assert '- `instructions` (string, default "Summarize the text for a busy reader.")' in post.content
    assert '"required": ["summary", "key_points"]' in post.content
    assert check_subagent(path) == []


def test_check_detects_drift_and_export_repairs_it(project: Path) -> None:
    out = project / "custom"
    assert export(project, "--out", str(out), "--check").exit_code == 1  # nothing exported yet
    assert export(project, "--out", str(out)).exit_code == 0
    up = export(project, "--out", str(out), "--check")
    assert (up.exit_code, up.output) == (0, "up to date: 1 subagent(s) in custom\n")
    again = export(project, "--out", str(out))
    assert again.output == "unchanged custom/real-summarization-agent.md\n"

    agent = project / "components" / "agents" / "RealSummarizationAgent.md"
    agent.write_text(agent.read_text().replace("max_turns: 1", "max_turns: 2"))
    drift = export(project, "--out", str(out), "--check")
    assert drift.exit_code == 1
    assert "out of date: custom/real-summarization-agent.md" in drift.output
    assert frontmatter.load(str(out / "real-summarization-agent.md")).metadata["maxTurns"] == 1  # untouched
    assert export(project, "--out", str(out)).exit_code == 0
    assert frontmatter.load(str(out / "real-summarization-agent.md")).metadata["maxTurns"] == 2
    assert export(project, "--out", str(out), "--check").exit_code == 0


def test_exports_of_removed_agents_go_and_other_files_stay(project: Path) -> None:
    assert new(project, "agent", "PlainAgent").exit_code == 0
    assert export(project).exit_code == 0
    out = project / ".claude" / "agents"
    mine = out / "my-own.md"
    mine.write_text("---\nname: my-own\ndescription: Hand-written.\n---\n\nDo things.\n")
    (project / "components" / "agents" / "PlainAgent.md").unlink()
    check = export(project, "--check")
    assert check.exit_code == 1
    assert "stale: .claude/agents/plain-agent.md" in check.output
    result = export(project)
    assert "removed .claude/agents/plain-agent.md" in result.output
    assert sorted(p.name for p in out.iterdir()) == ["my-own.md", "real-summarization-agent.md"]


@pytest.mark.parametrize(
    ("model", "alias"),
    [
        (None, "inherit"),
        ("claude-sonnet-4-5", "sonnet"),
        ("claude-opus-4-1-20250805", "opus"),
        ("claude-3-5-haiku-latest", "haiku"),
        ("haiku", "haiku"),
        ("smollm2-135m-instruct.gguf", "inherit"),
    ],
)
def test_models_map_onto_claude_code_aliases(model: str | None, alias: str) -> None:
    assert subagent_model(model) == alias


def test_a_model_claude_code_cannot_use_is_inherited_with_a_note(project: Path) -> None:
    assert new(project, "agent", "LocalAgent", "--model", "smollm2-135m").exit_code == 0
    result = export(project)
    assert result.exit_code == 0
    assert "note: LocalAgent: model 'smollm2-135m' is not a Claude model" in result.output
    assert frontmatter.load(str(project / ".claude" / "agents" / "local-agent.md")).metadata["model"] == "inherit"


@pytest.mark.parametrize(
    ("name", "kebab"),
    [
        ("RealSummarizationAgent", "real-summarization-agent"),
        ("HTMLParserAgent", "html-parser-agent"),
        ("Gpt4Agent", "gpt4-agent"),
        ("My_Agent", "my-agent"),
        ("A", "a"),
    ],
)
def test_kebab_case_names(name: str, kebab: str) -> None:
    assert kebab_case(name) == kebab


def test_broken_agents_stop_the_export(project: Path) -> None:
    agent = project / "components" / "agents" / "RealSummarizationAgent.md"
    shipped = {p: p.read_bytes() for p in (project / ".claude" / "agents").iterdir()}
    agent.write_text(agent.read_text().replace("max_turns: 1", "max_turns: many"))
    result = export(project)
    assert result.exit_code == 2
    assert f"error: {agent}:8: 'max_turns' must be an integer" in result.output
    assert {p: p.read_bytes() for p in (project / ".claude" / "agents").iterdir()} == shipped  # untouched


@pytest.mark.parametrize(
    ("text", "problem"),
    [
        ("---\nname: Bad_Name\ndescription: x\n---\nbody\n", "'name' must be lowercase letters, digits and hyphens"),
        ("---\ndescription: x\n---\nbody\n", "missing required field 'name'"),
        ("---\nname: a\ndescription: ''\n---\nbody\n", "missing required field 'description'"),
        ("---\nname: a\ndescription: x\ntools: Read, Telepathy\n---\nb\n", "unknown Claude Code tool 'Telepathy'"),
        ("---\nname: a\ndescription: x\nmodel: gpt-4o\n---\nbody\n", "'model' must be one of haiku, inherit"),
        ("---\nname: a\ndescription: x\nmaxTurns: 0\n---\nbody\n", "'maxTurns' must be a positive integer"),
        ("---\nname: a\ndescription: x: y\n---\nbody\n", "not valid YAML"),
        ("---\nname: a\ndescription: x\n---\n\n", "the body (the subagent's system prompt) is empty"),
        ("name: a\n", "no YAML front matter"),
        ("---\r\nname: a\r\ndescription: x\r\n---\r\nbody\r\n", "CRLF line endings"),
    ],
)
def test_check_subagent_names_each_problem(text: str, problem: str) -> None:
    problems = check_subagent_text(text)
    assert any(problem in p for p in problems), problems


def test_check_subagent_accepts_what_claude_code_accepts() -> None:
    ok = (
        "---\nname: code-reviewer\ndescription: Reviews code.\ntools: Read, Grep, Bash(git *), mcp__github__pr\n"
        "model: claude-opus-4-1\n---\n\nYou review code.\n"
    )
    assert check_subagent_text(ok) == []
    assert check_subagent_text("---\nname: a\ndescription: x\ntools: [Read, Glob]\n---\nbody\n") == []


# --------------------------------------------------------------------------------------------
# The CLI objects


def test_help_of_the_authoring_commands_stays_cheap() -> None:
    code = (
        "import sys; from click.testing import CliRunner\n"
        "from llmos._cli_author import new_group, export_agents_command\n"
        "for cmd, args in ((new_group, ['--help']), (new_group, ['tool', '--help']), "
        "(export_agents_command, ['--help'])):\n"
        "    assert CliRunner().invoke(cmd, args).exit_code == 0\n"
        "heavy = sorted(m for m in ('httpx','mistune','frontmatter','rich','jsonschema','llmos.engine','llmos.tools',"
        "'llmos.scaffold','llmos.documents','claude_agent_sdk') if m in sys.modules)\n"
        "print('HEAVY', heavy)"
    )
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True, cwd=REPO).stdout
    assert out.splitlines()[-1] == "HEAVY []"


def test_command_names() -> None:
    assert (new_group.name, export_agents_command.name) == ("new", "export-agents")
    assert sorted(new_group.commands) == ["agent", "scenario", "tool"]
