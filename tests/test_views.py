"""Run views: ``llmos runs``, ``llmos status`` and ``llmos graph``, and the Mermaid diagram that
execution_state.md embeds."""

from __future__ import annotations

import json
import re
import subprocess
import sys
import time
from pathlib import Path
from typing import Any

import click
from click.testing import CliRunner, Result

from llmos._cli_runs import graph_command, runs_command, status_command
from llmos.engine import run_scenario
from llmos.graph import escape_label, mermaid
from llmos.project import Project
from llmos.state import load_state

EID = "run-20260101-000000-abcdef"

TWO_STEPS = """---
name: {name}
goal: say hi and keep it
steps:
  - id: hello
    component: RealShellTool
    inputs: {{command: "echo hi"}}
  - id: keep
    component: RealFileSystemTool
    tool: Write
    inputs: {{file_path: kept.txt, content: "{{{{ steps.hello.outputs.stdout }}}}"}}
---
"""

NEEDS_APPROVAL = """---
name: Approve_Task
goal: write a file once a person says yes
steps:
  - id: hello
    component: RealShellTool
    inputs: {command: "echo hi"}
  - id: save
    component: RealFileSystemTool
    tool: Write
    approval: required
    inputs: {file_path: saved.txt, content: "{{ steps.hello.outputs.stdout }}"}
  - id: check
    component: RealFileSystemTool
    tool: Read
    inputs: {file_path: saved.txt}
---
"""

FAILS = """---
name: Fail_Task
goal: fail on purpose
steps:
  - id: fine
    component: RealShellTool
    inputs: {command: "echo fine"}
  - id: broken
    component: RealShellTool
    inputs: {command: "echo went wrong >&2; exit 3"}
  - id: never
    component: RealShellTool
    inputs: {command: "echo never"}
---
"""

# Every kind of edge llmos graph draws: retry, for_each + skip, approval + fallback.
GRAPH_DEMO = """---
name: Graph_Demo
goal: draw every kind of step
inputs:
  files: {type: array, default: [a.txt, b.txt], description: files to read}
steps:
  - id: list
    component: RealShellTool
    on_error: retry
    inputs: {command: ls}
  - id: read
    component: RealFileSystemTool
    tool: Read
    for_each: "{{ inputs.files }}"
    on_error: skip
    inputs: {file_path: "{{ item }}"}
  - id: publish
    component: RealWebFetchTool
    approval: required
    on_error: {fallback: RealSearchTool}
    inputs: {url: "http://127.0.0.1:9/x: y", prompt: summarize}
---
"""

GRAPH_DEMO_MERMAID = """---
title: "Graph_Demo"
---
stateDiagram-v2
    state publish_approval <<choice>>
    [*] --> list
    state "list" as list
    list : RealShellTool (Bash)
    list --> read
    list --> list : retry
    list --> FAILED : error
    state "read" as read
    read : RealFileSystemTool (Read)
    read : for each {{ inputs.files }}
    read --> publish_approval
    read --> publish_approval : skip on error
    publish_approval --> publish : approve
    publish_approval --> [*] : skip
    publish_approval --> FAILED : reject
    state "publish" as publish
    publish : RealWebFetchTool (WebFetch)
    publish : approval required
    publish --> [*]
    state "RealSearchTool (fallback)" as publish_fallback
    publish --> publish_fallback : on error
    publish_fallback --> [*]
    publish_fallback --> FAILED : error
    FAILED --> [*]
"""

# What Claude Code writes by hand following ExecutionStateTemplate.md: block-style YAML, the plan
# inline, no journal; the run paused on a step that needs a person's approval.
HAND_WRITTEN = """---
schema_version: 2
execution_id: {eid}
scenario: Hand_Task
scenario_path: {root}/scenarios/Hand_Task.md
goal: copy a note after a person approves
mode: execution
provider: claude-code
script: null
status: paused
phase: PAUSED
started_at: '2026-01-01T00:00:00.000Z'
updated_at: '2026-01-01T00:00:07.500Z'
finished_at: null
duration_s: 7.5
project_root: {root}
workspace: {root}/workspace
inputs:
  note: notes/today.md
plan:
  - id: read_note
    component: RealFileSystemTool
    tool: Read
    inputs:
      file_path: '{{{{ inputs.note }}}}'
  - id: copy_note
    component: RealFileSystemTool
    tool: Write
    approval: required
    inputs:
      file_path: notes/copy.md
      content: '{{{{ steps.read_note.outputs.content }}}}'
steps_total: 2
step_counts:
  completed: 1
  pending: 1
cursor: 1
current_step: null
steps_from: 1
steps:
  - id: read_note
    component: RealFileSystemTool
    kind: tool
    tool: Read
    status: completed
    attempts: 1
    started_at: '2026-01-01T00:00:01.000Z'
    finished_at: '2026-01-01T00:00:01.250Z'
    duration_s: 0.25
    cost_usd: 0.0
    inputs:
      file_path: notes/today.md
    outputs:
      content: Buy milk.
    error: null
    source: real
    document_sha256: null
    quality_metrics: null
    note: null
  - id: copy_note
    component: RealFileSystemTool
    kind: tool
    tool: Write
    status: pending
    attempts: 0
cost_usd: 0.0125
budget_usd: 0.5
transition_count: 9
error: null
paused_reason: step 'copy_note' waits for a person's approval
planning: null
pending:
  step: copy_note
  kind: approval
  reason: the step requires a person's approval (approval required)
  since: '2026-01-01T00:00:07.500Z'
parent: null
subruns: []
recent_transitions:
  - seq: 8
    at: '2026-01-01T00:00:07.000Z'
    kind: phase
    source: EXECUTE
    target: AWAIT_APPROVAL
    detail: step 'copy_note' needs approval
  - seq: 9
    at: '2026-01-01T00:00:07.500Z'
    kind: phase
    source: AWAIT_APPROVAL
    target: PAUSED
    detail: waiting for a person
outputs_total: 0
outputs: []
---

# Execution state · {eid}

Written by Claude Code acting as SystemAgent.
"""


def scenario(project: Path, name: str, text: str) -> Path:
    path = project / "scenarios" / f"{name}.md"
    path.write_text(text)
    return path


def invoke(command: click.Command, *args: str | Path) -> Result:
    return CliRunner().invoke(command, [str(a) for a in args], catch_exceptions=False)


def workspace(project: Path) -> Path:
    return project / "workspace"


def mermaid_block(text: str) -> str:
    """The body of the ```mermaid block in a Markdown text."""
    found = re.search(r"^```mermaid\n(.*?)^```$", text, re.S | re.M)
    assert found, text
    return found.group(1)


# -- llmos runs ----------------------------------------------------------------------------------


def test_runs_lists_every_run_newest_first_with_its_columns(project: Path) -> None:
    first = run_scenario(scenario(project, "First", TWO_STEPS.format(name="First")), provider="scripted")
    time.sleep(0.01)
    second = run_scenario(scenario(project, "Second", FAILS.replace("Fail_Task", "Second")), provider="scripted")
    assert (first.status, second.status) == ("completed", "failed")

    result = invoke(runs_command, "--workspace", workspace(project), "--json")
    assert result.exit_code == 0, result.output
    rows = [json.loads(line) for line in result.stdout.splitlines()]
    assert [r["execution_id"] for r in rows] == [second.execution_id, first.execution_id]
    newest, oldest = rows
    assert newest["scenario"] == "Second" and newest["status"] == "failed" and newest["phase"] == "FAILED"
    assert (newest["steps_done"], newest["steps_total"]) == (1, 3)
    assert newest["error"].startswith("step 'broken': Bash: command exited with status 3")
    assert oldest["status"] == "completed" and (oldest["steps_done"], oldest["steps_total"]) == (2, 2)
    for row in rows:
        assert row["provider"] == "scripted" and row["mode"] == "execution" and row["parent"] is None
        assert row["duration_s"] > 0 and row["cost_usd"] == 0.0 and row["started_at"].endswith("Z")

    table = invoke(runs_command, "--workspace", workspace(project)).stdout
    for header in ("execution id", "scenario", "status", "phase", "steps", "cost (USD)", "time (s)", "provider"):
        assert header in table
    assert table.index(second.execution_id) < table.index(first.execution_id)
    assert "2/2" in table and "1/3" in table

    limited = invoke(runs_command, "--workspace", workspace(project), "--json", "--limit", "1")
    assert [json.loads(line)["execution_id"] for line in limited.stdout.splitlines()] == [second.execution_id]


def test_runs_skips_and_names_unreadable_runs_and_finds_the_workspace_from_the_root(project: Path) -> None:
    done = run_scenario(scenario(project, "First", TWO_STEPS.format(name="First")), provider="scripted")
    broken = workspace(project) / "runs" / "run-20250101-000000-badbad"
    broken.mkdir(parents=True)
    (broken / "execution_state.md").write_text("---\nschema_version: 99\nexecution_id: x\n---\n")
    (workspace(project) / "runs" / "not-a-run").mkdir()

    result = invoke(runs_command, "--root", project, "--json")
    assert result.exit_code == 0
    assert [json.loads(line)["execution_id"] for line in result.stdout.splitlines()] == [done.execution_id]
    assert "warning: skipped run run-20250101-000000-badbad: unknown state schema_version 99" in result.stderr
    assert "not-a-run" not in result.stderr


def test_runs_shows_a_sub_run_under_the_run_that_started_it(project: Path) -> None:
    runs = workspace(project) / "runs"
    for eid, started, parent in (
        ("run-20260101-000000-aaaaaa", "2026-01-01T00:00:00.000Z", None),
        ("run-20260101-000001-bbbbbb", "2026-01-01T00:00:01.000Z", "run-20260101-000000-aaaaaa"),
        ("run-20260101-000002-cccccc", "2026-01-01T00:00:02.000Z", None),
    ):
        (runs / eid).mkdir(parents=True)
        link = f"{{execution_id: {parent}, step: delegate, depth: 1}}" if parent else "null"
        (runs / eid / "execution_state.md").write_text(
            f"---\nschema_version: 2\nexecution_id: {eid}\nstatus: completed\nphase: COMPLETED\n"
            f"started_at: '{started}'\nparent: {link}\n---\n"
        )
    rows = [
        json.loads(line)
        for line in invoke(runs_command, "--workspace", workspace(project), "--json").stdout.splitlines()
    ]
    assert [(r["execution_id"][-6:], r["depth"], r["parent"]) for r in rows] == [
        ("cccccc", 0, None),
        ("aaaaaa", 0, None),
        ("bbbbbb", 1, "run-20260101-000000-aaaaaa"),
    ]
    table = invoke(runs_command, "--workspace", workspace(project)).stdout
    assert "└ run-20260101-000001-bbbbbb" in table


def test_runs_in_an_empty_workspace_says_so(project: Path) -> None:
    result = invoke(runs_command, "--workspace", workspace(project))
    assert result.exit_code == 0
    assert result.stdout == ""
    assert f"no runs in {workspace(project) / 'runs'}" in result.stderr


# -- llmos status --------------------------------------------------------------------------------


def test_status_of_a_completed_run_shows_every_step(project: Path) -> None:
    done = run_scenario(scenario(project, "First", TWO_STEPS.format(name="First")), provider="scripted")
    result = invoke(status_command, "--workspace", workspace(project))  # the latest run
    assert result.exit_code == 0, result.output
    out = result.stdout
    assert f"First · {done.execution_id}" in out
    assert "say hi and keep it" in out
    assert "completed  phase: COMPLETED" in out
    assert "scripted  mode: execution" in out
    assert re.search(r"│ 1 │ hello +│ RealShellTool \(Bash\) +│ completed │ +1 │", out)
    assert re.search(r"│ 2 │ keep +│ RealFileSystemTool \(Write\) +│ completed │", out)
    assert str(workspace(project) / "kept.txt") in out  # the outputs
    assert "Last 10 transitions" in out and "COMPLETED" in out
    assert "Waiting for a person" not in out and "Error" not in out

    as_json = json.loads(invoke(status_command, done.execution_id, "--workspace", workspace(project), "--json").stdout)
    assert as_json["execution_id"] == done.execution_id and as_json["status"] == "completed"
    assert [s["id"] for s in as_json["steps"]] == ["hello", "keep"]
    assert as_json["steps"][0]["outputs"]["stdout"] == "hi\n"


def test_status_of_a_paused_run_shows_the_question_and_the_commands_that_answer_it(project: Path) -> None:
    paused = run_scenario(scenario(project, "Approve_Task", NEEDS_APPROVAL), provider="scripted")
    assert paused.status == "paused"
    eid = paused.execution_id
    out = invoke(status_command, eid, "--workspace", workspace(project)).stdout
    assert "paused  phase: PAUSED" in out
    assert "Waiting for a person since" in out
    assert "step save (approval): the step requires a person's approval (approval: required)" in out
    for command in (f"llmos approve {eid}", f"llmos reject {eid} --reason TEXT", f"llmos skip {eid}"):
        assert f"  {command}\n" in out
    assert re.search(r"│ 2 │ ▶ save +│ RealFileSystemTool \(Write\) +│ pending", out)
    assert re.search(r"│ 3 │ check +│ RealFileSystemTool \(Read\) +│ pending", out)

    data = json.loads(invoke(status_command, eid, "--workspace", workspace(project), "--json").stdout)
    assert data["pending"]["step"] == "save" and data["pending"]["kind"] == "approval"


def test_status_of_a_failed_run_shows_its_error(project: Path) -> None:
    failed = run_scenario(scenario(project, "Fail_Task", FAILS), provider="scripted")
    assert failed.status == "failed"
    out = invoke(status_command, failed.execution_id, "--workspace", workspace(project)).stdout
    assert "failed  phase: FAILED" in out
    assert "Error in step broken (ToolError): step 'broken': Bash: command exited with status 3" in out
    assert re.search(
        r"│ 2 │ broken +│ RealShellTool \(Bash\) +│ failed +│ +1 │.*│ Bash: command exited with status 3", out
    )
    assert re.search(r"│ 3 │ never +│ RealShellTool +│ pending", out)  # never started: its tool is not recorded


def test_status_reads_a_state_file_written_by_hand(project: Path) -> None:
    run_dir = workspace(project) / "runs" / EID
    run_dir.mkdir(parents=True)
    (run_dir / "execution_state.md").write_text(HAND_WRITTEN.format(eid=EID, root=project))
    assert not (run_dir / "journal.jsonl").exists()

    result = invoke(status_command, EID, "--workspace", workspace(project))
    assert result.exit_code == 0, result.output
    out = result.stdout
    assert f"Hand_Task · {EID}" in out
    assert "copy a note after a person approves" in out
    assert "paused  phase: PAUSED" in out and "claude-code  mode: execution" in out
    assert "$0.0125 of $0.50" in out
    assert "7.50 s  transitions: 9" in out
    assert re.search(r"│ 1 │ read_note +│ RealFileSystemTool \(Read\) +│ completed │ +1 │ +0\.25 │", out)
    assert re.search(r"│ 2 │ ▶ copy_note +│ RealFileSystemTool \(Write\) +│ pending", out)
    assert "step copy_note (approval)" in out and f"llmos approve {EID}" in out
    assert "AWAIT_APPROVAL" in out and "waiting for a person" in out
    assert "note:" not in out

    data = json.loads(invoke(status_command, EID, "--workspace", workspace(project), "--json").stdout)
    assert [s["id"] for s in data["steps"]] == ["read_note", "copy_note"]
    assert data["steps"][0]["outputs"] == {"content": "Buy milk."}
    assert data["plan"][1]["approval"] == "required"
    assert data["provider"] == "claude-code" and data["transition_count"] == 9


def test_status_shows_a_hand_written_file_that_lists_only_some_steps_as_it_is(project: Path) -> None:
    run_dir = workspace(project) / "runs" / EID
    run_dir.mkdir(parents=True)
    text = HAND_WRITTEN.format(eid=EID, root=project)
    text = (
        text[: text.index("  - id: copy_note\n    component: RealFileSystemTool\n    kind")]
        + text[text.index("cost_usd: 0.0125") :]
    )
    (run_dir / "execution_state.md").write_text(text)

    result = invoke(status_command, EID, "--workspace", workspace(project))
    assert result.exit_code == 0, result.output
    assert "note: shown as its state file lists it (the state file lists 1 of 2 steps" in result.stdout
    assert re.search(r"│ 1 │ read_note +│ RealFileSystemTool \(Read\) +│ completed", result.stdout)


def test_status_of_a_long_run_lists_every_step_not_the_state_file_s_window(project: Path) -> None:
    steps = "".join(
        f"  - id: s{i}\n    component: RealShellTool\n    inputs: {{command: 'echo {i}'}}\n" for i in range(14)
    )
    done = run_scenario(
        scenario(project, "Long", f"---\nname: Long\ngoal: g\nsteps:\n{steps}---\n"), provider="scripted"
    )
    assert len(load_state(done.state_path).steps) == 10
    data = json.loads(invoke(status_command, "--workspace", workspace(project), "--json").stdout)
    assert [s["id"] for s in data["steps"]] == [f"s{i}" for i in range(14)]
    assert data["steps_from"] == 1
    more = json.loads(invoke(status_command, "--workspace", workspace(project), "--json", "--transitions", "25").stdout)
    assert [t["seq"] for t in more["recent_transitions"]] == list(range(done_total(done) - 24, done_total(done) + 1))


def done_total(result: Any) -> int:
    return int(load_state(result.state_path).transition_count)


def test_status_of_no_such_run_or_an_unreadable_state_exits_2(project: Path) -> None:
    missing = invoke(status_command, "run-nope", "--workspace", workspace(project))
    assert missing.exit_code == 2
    assert "error: no run 'run-nope' in" in missing.stderr

    empty = invoke(status_command, "--workspace", workspace(project))
    assert empty.exit_code == 2 and "error: no runs in" in empty.stderr

    run_dir = workspace(project) / "runs" / EID
    run_dir.mkdir(parents=True)
    (run_dir / "execution_state.md").write_text("---\nschema_version: 99\nexecution_id: x\n---\n")
    broken = invoke(status_command, EID, "--workspace", workspace(project))
    assert broken.exit_code == 2
    assert "unknown state schema_version 99" in broken.stderr


# -- llmos graph and the diagram in execution_state.md -------------------------------------------


def test_graph_prints_the_scenario_as_a_mermaid_state_machine(project: Path) -> None:
    path = scenario(project, "Graph_Demo", GRAPH_DEMO)
    result = invoke(graph_command, path)
    assert result.exit_code == 0, result.output
    assert result.stdout == GRAPH_DEMO_MERMAID

    fenced = invoke(graph_command, path, "--markdown").stdout
    assert fenced == f"```mermaid\n{GRAPH_DEMO_MERMAID}```\n"

    steps = Project.load(project).load_scenario(path).steps  # Step objects draw as their dicts do
    assert mermaid(steps, current="read") == mermaid([s.to_dict() for s in steps], current="read")


def test_graph_of_a_scenario_without_steps_shows_the_goal_to_plan(project: Path) -> None:
    path = scenario(
        project, "Goal_Only", "---\nname: Goal_Only\ngoal: 'Find the three biggest files: report them'\n---\n"
    )
    assert invoke(graph_command, path, "--root", project).stdout == (
        '---\ntitle: "Goal_Only"\n---\n'
        "stateDiagram-v2\n"
        "    [*] --> PLAN\n"
        '    state "PLAN" as PLAN\n'
        "    PLAN : SystemAgent plans the steps from the goal\n"
        "    PLAN --> [*]\n"
        "    note right of PLAN : Find the three biggest files#58; report them\n"
    )


def test_graph_of_a_broken_scenario_exits_2_naming_file_and_line(project: Path) -> None:
    path = scenario(
        project, "Broken", "---\nname: Broken\ngoal: g\nsteps:\n  - id: a\n    component: NoSuchTool\n---\n"
    )
    result = invoke(graph_command, path)
    assert result.exit_code == 2
    assert result.stdout == ""
    assert f"error: {path}:6: step 'a': unknown component 'NoSuchTool'" in result.stderr


def test_the_state_file_embeds_the_same_diagram_with_the_current_step_marked(project: Path) -> None:
    path = scenario(project, "Approve_Task", NEEDS_APPROVAL)
    paused = run_scenario(path, provider="scripted")
    diagram = mermaid_block(paused.state_path.read_text())
    graph = invoke(graph_command, path).stdout.split("---\n", 2)[2]  # without its title
    assert diagram.startswith(graph)
    assert diagram[len(graph) :].splitlines() == [
        "    classDef completed fill:#d3f9d8,stroke:#2b8a3e",
        "    classDef running fill:#fff3bf,stroke:#e67700",
        "    classDef failed fill:#ffe3e3,stroke:#c92a2a",
        "    classDef rejected fill:#ffe3e3,stroke:#c92a2a",
        "    classDef skipped fill:#f1f3f5,stroke:#868e96,color:#868e96",
        "    classDef current stroke:#1971c2,stroke-width:4px",
        "    class hello completed",
        "    class save current",
    ]
    assert mermaid_block((workspace(project) / "execution_state.md").read_text()) == diagram  # the mirror

    done = run_scenario(scenario(project, "First", TWO_STEPS.format(name="First")), provider="scripted")
    finished = mermaid_block(done.state_path.read_text())
    assert finished.endswith("    class hello,keep completed\n")  # a completed run has no current step


def test_a_long_run_s_diagram_draws_its_window_and_sums_up_the_other_steps(project: Path) -> None:
    steps = "".join(
        f"  - id: s{i}\n    component: RealShellTool\n    inputs: {{command: 'echo {i}'}}\n" for i in range(14)
    )
    steps += "  - id: last\n    component: RealShellTool\n    approval: required\n    inputs: {command: 'echo last'}\n"
    paused = run_scenario(
        scenario(project, "Long", f"---\nname: Long\ngoal: g\nsteps:\n{steps}---\n"), provider="scripted"
    )
    assert paused.status == "paused"
    diagram = mermaid_block(paused.state_path.read_text())
    assert '    state "5 earlier steps" as earlier\n    [*] --> earlier\n    earlier --> s5\n' in diagram
    assert not re.search(r"\bs[0-4]\b", diagram)  # the steps before the window are not drawn
    assert "    state last_approval <<choice>>\n" in diagram
    assert "    s13 --> last_approval\n" in diagram and "    last --> [*]\n" in diagram
    assert "more steps" not in diagram
    assert diagram.endswith("    class s5,s6,s7,s8,s9,s10,s11,s12,s13 completed\n    class last current\n")


def test_mermaid_keeps_ids_safe_and_escapes_labels() -> None:
    steps: list[dict[str, Any]] = [
        {"id": "state", "component": "C", "approval": "required", "for_each": '{{ a: b; c }} % # <x> "q"\nnext'},
        {"id": "step-2", "component": "D", "on_error": {"fallback": "E"}},
        {"id": "s_state_approval", "component": "F", "on_error": "skip"},
    ]
    text = mermaid(
        steps,
        statuses={"state": "completed", "step-2": "failed", "unknown": "completed"},
        current="step-2",
        before=1,
        after=2,
    )
    assert text == (
        "stateDiagram-v2\n"
        "    state s_state_approval_2 <<choice>>\n"
        '    state "1 earlier step" as earlier\n'
        "    [*] --> earlier\n"
        "    earlier --> s_state_approval_2\n"
        "    s_state_approval_2 --> s_state : approve\n"
        "    s_state_approval_2 --> s_step_2 : skip\n"
        "    s_state_approval_2 --> FAILED : reject\n"
        '    state "state" as s_state\n'
        "    s_state : C\n"
        "    s_state : for each {{ a#58; b#59; c }} #37; #35; #60;x#62; #34;q#34; next\n"
        "    s_state : approval required\n"
        "    s_state --> s_step_2\n"
        "    s_state --> FAILED : error\n"
        '    state "step-2" as s_step_2\n'
        "    s_step_2 : D\n"
        "    s_step_2 --> s_state_approval\n"
        '    state "E (fallback)" as s_step_2_fallback\n'
        "    s_step_2 --> s_step_2_fallback : on error\n"
        "    s_step_2_fallback --> s_state_approval\n"
        "    s_step_2_fallback --> FAILED : error\n"
        '    state "s_state_approval" as s_state_approval\n'
        "    s_state_approval : F\n"
        "    s_state_approval --> more\n"
        "    s_state_approval --> more : skip on error\n"
        '    state "2 more steps" as more\n'
        "    more --> [*]\n"
        "    FAILED --> [*]\n"
        "    classDef completed fill:#d3f9d8,stroke:#2b8a3e\n"
        "    classDef running fill:#fff3bf,stroke:#e67700\n"
        "    classDef failed fill:#ffe3e3,stroke:#c92a2a\n"
        "    classDef rejected fill:#ffe3e3,stroke:#c92a2a\n"
        "    classDef skipped fill:#f1f3f5,stroke:#868e96,color:#868e96\n"
        "    classDef current stroke:#1971c2,stroke-width:4px\n"
        "    class s_state completed\n"
        "    class s_step_2 failed\n"
        "    class s_step_2 current\n"
    )
    assert escape_label("set direction LR now") == "set direction#32;LR now"
    assert escape_label("x" * 100) == "x" * 79 + "…"


def test_importing_the_views_loads_no_heavy_module() -> None:
    code = (
        "import sys, llmos._cli_runs\n"
        "print(sorted(m for m in ('rich', 'jinja2', 'llmos.engine', 'llmos.project', 'llmos.state', 'mistune') "
        "if m in sys.modules))"
    )
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True).stdout
    assert out.strip() == "[]"
