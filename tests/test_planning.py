"""Goal-driven runs: SystemAgent plans from the library and memory, the plan is validated,
repaired, executed, revised after a failure, and measured in the trace."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import yaml
from click.testing import CliRunner

from conftest import REPO, Server
from llmos.cli import main
from llmos.engine import run_scenario
from llmos.memory import MemoryEntry, append_entry
from llmos.providers.scripted import ScriptedProvider
from llmos.state import read_journal, recover_state

GOAL = "summarize the page at URL into workspace/notes.md"
SAMPLE = REPO / "samples" / "scripts" / "summarize_page_goal.yaml"

FETCH = {"id": "fetch", "component": "RealWebFetchTool", "inputs": {"url": "{{ inputs.url }}"}}
SAVE = {
    "id": "save",
    "component": "RealFileSystemTool",
    "tool": "Write",
    "inputs": {"file_path": "notes.md", "content": "{{ steps.fetch.outputs.title }}"},
}


def plan_answer(*steps: dict[str, Any], step: str = "plan") -> dict[str, Any]:
    return {"agent": "SystemAgent", "step": step, "output": {"steps": list(steps)}}


def scripted(tmp_path: Path, answers: list[dict[str, Any]]) -> ScriptedProvider:
    path = tmp_path / "answers.yaml"
    path.write_text(yaml.safe_dump(answers, sort_keys=False))
    return ScriptedProvider(script=path)


def plans(result) -> list[dict[str, Any]]:  # type: ignore[no-untyped-def]
    return [line for line in read_journal(result.run_dir / "journal.jsonl") if line["kind"] == "plan"]


def trace(project: Path) -> dict[str, Any]:
    return json.loads((project / "workspace" / "datasets" / "traces.jsonl").read_text().splitlines()[-1])


def test_a_goal_is_planned_validated_and_executed(project: Path, server: Server) -> None:
    result = run_scenario(
        goal=GOAL, inputs={"url": server.url("/page.html")}, provider="scripted", script=SAMPLE, root=project
    )
    assert result.status == "completed", result.error
    assert [s["id"] for s in result.steps] == ["fetch", "summarize", "save"]
    notes = (project / "workspace" / "notes.md").read_text()
    assert notes.startswith("# Chapter 8. I18N and L10N\n\nThe page introduces its subject")
    (accepted,) = plans(result)
    assert (accepted["target"], accepted["data"]["attempt"], accepted["data"]["problems"]) == ("accepted", 1, [])
    state = recover_state(result.run_dir)
    assert (state.scenario, state.goal, state.scenario_path) == ("goal", GOAL, "")
    assert [p["id"] for p in state.plan] == ["fetch", "summarize", "save"]
    assert trace(project)["plan"] == {
        "planned": True,
        "steps": 3,
        "repairs": 0,
        "replans": 0,
        "estimated_cost_usd": 0.01,
        "actual_cost_usd": 0.0,
        "experiences": [],
    }


def test_the_planning_request_holds_the_goal_the_library_and_systemagent_md(project: Path, tmp_path: Path) -> None:
    provider = scripted(tmp_path, [plan_answer(SAVE | {"inputs": {"file_path": "n.md", "content": "x"}})])
    run_scenario(goal="write a note", provider=provider, root=project)
    (request,) = provider.requests
    assert (request.agent, request.step, request.tools) == ("SystemAgent", "plan", ())
    assert request.system_prompt.startswith("\n# SystemAgent") or "# SystemAgent" in request.system_prompt
    assert request.prompt.startswith("# Goal\n\nwrite a note\n")
    for name in ("RealWebFetchTool [REAL]", "RealSummarizationAgent [REAL]", "RealFileSystemTool [REAL]"):
        assert f"### {name}" in request.prompt
    assert request.output_schema is not None and request.output_schema["required"] == ["steps"]


def test_a_plan_naming_an_unknown_component_is_repaired(project: Path, tmp_path: Path, server: Server) -> None:
    provider = scripted(
        tmp_path,
        [
            plan_answer({"id": "fetch", "component": "MagicFetcher", "inputs": {"url": "{{ inputs.url }}"}}),
            plan_answer(FETCH, SAVE),
        ],
    )
    result = run_scenario(goal=GOAL, inputs={"url": server.url("/page.html")}, provider=provider, root=project)
    assert result.status == "completed", result.error
    rejected, accepted = plans(result)
    assert rejected["target"] == "rejected"
    assert rejected["data"]["problems"][0].startswith("step 'fetch': unknown component 'MagicFetcher' (library: ")
    assert accepted["target"] == "accepted"
    assert "# Your previous plan was not valid\n\n- step 'fetch': unknown component 'MagicFetcher'" in (
        provider.requests[1].prompt
    )
    assert recover_state(result.run_dir).planning["repairs"] == 1  # type: ignore[index]


def test_exhausted_repairs_fail_the_run_clearly(project: Path, tmp_path: Path) -> None:
    bad = plan_answer(
        {
            "id": "x",
            "component": "RealFileSystemTool",
            "tool": "Write",
            "inputs": {"content": "{{ steps.y.outputs.z }}"},
        }
    )
    provider = scripted(tmp_path, [bad, bad, bad])
    result = run_scenario(goal="write something", provider=provider, root=project)
    assert (result.status, result.phase, result.exit_code, result.error_type) == ("failed", "FAILED", 1, "PlanError")
    assert result.error is not None and result.error.startswith("no valid plan after 2 repairs; the last one had")
    assert "steps.y" in result.error and "file_path" in result.error
    assert [p["target"] for p in plans(result)] == ["rejected"] * 3
    assert result.steps == []


def test_a_plan_over_the_budget_is_sent_back(project: Path, tmp_path: Path) -> None:
    summarize = {"id": "s", "component": "RealSummarizationAgent", "inputs": {"content": "text"}}
    provider = scripted(tmp_path, [plan_answer(summarize), plan_answer(summarize), plan_answer(summarize)])
    result = run_scenario(goal="summarize", provider=provider, root=project, budget_usd=0.0001)
    assert result.error_type == "PlanError"
    assert "the plan's estimated cost $0.01 is over the budget of $0.0001" in (result.error or "")


def test_a_lesson_in_smartmemory_reaches_the_next_planning_prompt(project: Path, tmp_path: Path) -> None:
    append_entry(
        project / "system" / "SmartMemory.md",
        MemoryEntry(
            id="run-20260101-000000-aaaaaa",
            time="2026-01-01T00:00:00Z",
            goal="summarize the page at https://slow.example.org/ into notes",
            scenario="goal",
            mode="execution",
            provider="claude",
            outcome="completed",
            cost_usd=0.01,
            duration_s=40.0,
            components=["RealWebFetchTool", "RealSummarizationAgent"],
            errors=["fetch: WebFetch timed out after 30 s fetching https://slow.example.org/"],
            recovery=["fetch: retried (2 attempts)"],
            lessons=["slow.example.org times out on the first try; the retry worked"],
        ),
    )
    provider = scripted(tmp_path, [plan_answer(SAVE | {"inputs": {"file_path": "n.md", "content": "x"}})])
    result = run_scenario(
        goal="summarize the page at https://slow.example.org/ into notes", provider=provider, root=project
    )
    prompt = provider.requests[0].prompt
    assert "# Experience from earlier runs (SmartMemory, most relevant first)" in prompt
    assert "lesson: slow.example.org times out on the first try; the retry worked" in prompt
    assert plans(result)[0]["data"]["experiences"] == ["run-20260101-000000-aaaaaa"]
    assert trace(project)["plan"]["experiences"] == ["run-20260101-000000-aaaaaa"]


def test_a_failing_step_of_a_planned_run_is_replanned(project: Path, tmp_path: Path) -> None:
    failing = {"id": "count", "component": "RealShellTool", "inputs": {"command": "exit 3"}}
    instead = {"id": "count_again", "component": "RealShellTool", "inputs": {"command": "echo 3 > count.txt"}}
    provider = scripted(tmp_path, [plan_answer(failing), plan_answer(instead, step="replan")])
    result = run_scenario(goal="count to three", provider=provider, root=project)
    assert result.status == "completed", result.error
    assert [(s["id"], s["status"]) for s in result.steps] == [("count", "failed"), ("count_again", "completed")]
    assert (project / "workspace" / "count.txt").read_text() == "3\n"
    _first, revised = plans(result)
    assert (revised["target"], revised["data"]["replan"]) == ("accepted", True)
    assert "`count` (RealShellTool) failed for good: Bash: command exited with status 3" in provider.requests[1].prompt
    state = recover_state(result.run_dir)
    assert state.planning is not None and state.planning["replans"] == 1
    assert state.steps[0].note == "replaced by a revised plan of 1 step(s)"
    assert trace(project)["plan"]["replans"] == 1


def test_a_hand_written_scenario_is_never_replanned(project: Path) -> None:
    (project / "scenarios" / "Fails.md").write_text(
        "---\nname: Fails\ngoal: g\nsteps:\n  - id: a\n    component: RealShellTool\n"
        "    inputs: {command: exit 3}\n---\n"
    )
    result = run_scenario(project / "scenarios" / "Fails.md", provider="scripted")
    assert result.status == "failed"
    assert plans(result) == []


def test_a_scenario_with_a_goal_and_no_steps_is_planned(project: Path, tmp_path: Path) -> None:
    (project / "scenarios" / "Note.md").write_text(
        "---\nname: Note\ngoal: write a note about owls\ninputs:\n  topic: {type: string, default: owls}\n---\n"
    )
    provider = scripted(
        tmp_path,
        [
            plan_answer(
                {
                    "id": "w",
                    "component": "RealFileSystemTool",
                    "tool": "Write",
                    "inputs": {"file_path": "owl.md", "content": "{{ inputs.topic }}"},
                }
            )
        ],
    )
    result = run_scenario(project / "scenarios" / "Note.md", provider=provider)
    assert result.status == "completed", result.error
    assert (project / "workspace" / "owl.md").read_text() == "owls"


def test_plan_only_prints_the_plan_and_resume_runs_it(project: Path, server: Server) -> None:
    args = [
        "--goal",
        GOAL,
        "--set",
        f"url={server.url('/page.html')}",
        "--provider",
        "scripted",
        "--script",
        str(SAMPLE),
    ]
    out = CliRunner().invoke(main, ["run", *args, "--root", str(project), "--plan-only"])
    assert out.exit_code == 0, out.output
    assert [s["id"] for s in yaml.safe_load(out.stdout)["steps"]] == ["fetch", "summarize", "save"]
    assert server.requests == []
    assert not (project / "workspace" / "notes.md").exists()
    out = CliRunner().invoke(main, ["run", "--resume", "--root", str(project)])
    assert out.exit_code == 0, out.output
    assert (project / "workspace" / "notes.md").exists()


def test_save_scenario_writes_a_scenario_that_validates_and_runs(project: Path, server: Server) -> None:
    saved = project / "scenarios" / "Summarize_Page.md"
    url = server.url("/page.html")
    args = ["--goal", GOAL, "--set", f"url={url}", "--provider", "scripted", "--script", str(SAMPLE)]
    out = CliRunner().invoke(main, ["run", *args, "--root", str(project), "--plan-only", "--save-scenario", str(saved)])
    assert out.exit_code == 0, out.output
    assert CliRunner().invoke(main, ["validate", str(saved)]).exit_code == 0
    front = yaml.safe_load(saved.read_text().split("---")[1])
    assert (front["name"], front["goal"], front["inputs"]) == (
        "Summarize_Page",
        GOAL,
        {"url": {"type": "string", "default": url}},
    )
    again = run_scenario(saved, provider="scripted", script=SAMPLE)
    assert again.status == "completed", again.error


def test_goal_and_scenario_together_is_a_usage_error(project: Path) -> None:
    out = CliRunner().invoke(main, ["run", "x.md", "--goal", "g"])
    assert out.exit_code == 2
    assert "give a SCENARIO to run, or --goal TEXT" in out.output


# -- sub-tasks (SubTaskTool -> Task) -----------------------------------------------------------------

COUNT = """---
name: Count
goal: append a line
steps:
  - id: a
    component: RealShellTool
    inputs: {command: "echo {{ inputs.word }} >> count.txt"}
inputs:
  word: {type: string, default: one}
---
"""


def test_a_task_step_runs_a_scenario_as_a_linked_sub_run(project: Path) -> None:
    (project / "scenarios" / "Count.md").write_text(COUNT)
    (project / "scenarios" / "Parent.md").write_text(
        "---\nname: Parent\ngoal: count twice\nsteps:\n"
        "  - id: first\n    component: RealSubTaskTool\n"
        "    inputs: {scenario: scenarios/Count.md, inputs: {word: two}}\n"
        "  - id: after\n    component: RealFileSystemTool\n    tool: Read\n    inputs: {file_path: count.txt}\n---\n"
    )
    result = run_scenario(project / "scenarios" / "Parent.md", provider="scripted")
    assert result.status == "completed", result.error
    assert (project / "workspace" / "count.txt").read_text() == "two\n"
    parent = recover_state(result.run_dir)
    (linked,) = parent.subruns
    sub = recover_state(project / "workspace" / "runs" / linked["execution_id"])
    assert (sub.status, sub.scenario, sub.parent) == (
        "completed",
        "Count",
        {"execution_id": result.execution_id, "step": "first", "depth": 1},
    )
    assert parent.steps[0].outputs["execution_id"] == linked["execution_id"]
    assert parent.steps[0].outputs["steps"] == [{"id": "a", "status": "completed", "outputs": sub.steps[0].outputs}]
    lines = (project / "workspace" / "datasets" / "traces.jsonl").read_text().splitlines()
    assert [json.loads(line)["execution_id"] for line in lines] == [linked["execution_id"], result.execution_id]
    assert load_mirror(project) == result.execution_id  # the mirror shows the parent run


def load_mirror(project: Path) -> str:
    from llmos.state import load_state

    return load_state(project / "workspace" / "execution_state.md").execution_id


def test_a_sub_run_s_cost_counts_against_the_parent_s_budget(project: Path, tmp_path: Path) -> None:
    provider = scripted(
        tmp_path,
        [
            plan_answer({"id": "sub", "component": "RealSubTaskTool", "inputs": {"prompt": "summarize a text"}}),
            plan_answer(
                {"id": "s", "component": "RealSummarizationAgent", "inputs": {"content": "Owls hunt at night."}}
            )
            | {"cost_usd": 0.2},
            {
                "agent": "RealSummarizationAgent",
                "cost_usd": 0.25,
                "output": {
                    "summary": "Owls are birds that hunt at night, mostly small mammals.",
                    "key_points": ["Owls hunt at night."],
                },
            },
        ],
    )
    result = run_scenario(goal="split the work", provider=provider, root=project, budget_usd=1.0)
    assert result.status == "completed", result.error
    assert result.cost_usd == 0.45
    (linked,) = recover_state(result.run_dir).subruns
    assert linked["cost_usd"] == 0.45
    assert provider.requests[1].budget_usd == 1.0  # what the parent had left


def test_sub_runs_nest_at_most_three_deep(project: Path) -> None:
    (project / "scenarios" / "Loop.md").write_text(
        "---\nname: Loop\ngoal: run myself\nsteps:\n"
        "  - id: again\n    component: RealSubTaskTool\n    inputs: {scenario: scenarios/Loop.md}\n---\n"
    )
    result = run_scenario(project / "scenarios" / "Loop.md", provider="scripted")
    assert result.status == "failed"
    assert "sub-runs nest at most 3 deep" in (result.error or "")
    assert len(list((project / "workspace" / "runs").iterdir())) == 4


FILLER = """---
name: {name}
kind: tool
real: true
description: Reads {topic} records from the archive.
claude_tool: Read
inputs:
  file_path: {{type: path, required: true, description: the {topic} file}}
outputs:
  content: {{type: string, description: the {topic} text}}
cost_usd: 0
latency_s: 0.1
side_effects: none
error_modes: [missing file]
timeout_s: 5
retry: {{attempts: 1, backoff_s: 0}}
idempotent: true
---

# {name}

Reads {topic} records.
"""


def test_a_large_library_offers_the_planner_only_the_most_relevant_components(project: Path, tmp_path: Path) -> None:
    from llmos.planning import MAX_COMPONENTS
    from llmos.project import Project

    topics = ["tax", "invoice", "payroll", "inventory", "pension", "mortgage", "customs", "census", "zoning", "tariff"]
    for topic in topics:
        name = f"{topic.title()}ArchiveTool"
        (project / "components" / "tools" / f"{name}.md").write_text(FILLER.format(name=name, topic=topic))
    Project.load(project).sync_library()
    provider = scripted(tmp_path, [plan_answer(SAVE | {"inputs": {"file_path": "n.md", "content": "x"}})])
    result = run_scenario(goal="fetch the web page and summarize it into a note", provider=provider, root=project)
    offered = plans(result)[0]["data"]["components_offered"]
    assert len(offered) == MAX_COMPONENTS < len(Project.load(project).library.components)
    assert offered[:2] == ["RealWebFetchTool", "RealSummarizationAgent"]  # the ones the goal's words match
    prompt = provider.requests[0].prompt
    assert "### RealWebFetchTool [REAL]" in prompt and "### TaxArchiveTool" not in prompt
