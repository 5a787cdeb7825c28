"""Hot reload: an edited document takes effect from the next step on; a broken edit never breaks
the run (it fails clearly with file:line, or waits until the file is fixed)."""

from __future__ import annotations

import threading
import time
from pathlib import Path

import pytest

from llmos.approval import ApprovalRequest, Decision
from llmos.engine import run_scenario
from llmos.project import Project
from llmos.providers.scripted import ScriptedProvider
from llmos.reload import DocumentWatcher
from llmos.state import load_state, read_journal, recover_state

AGENT = """---
name: EchoAgent
kind: agent
real: false
description: Answers with one line.
tools: []
model: claude-sonnet-4-5
max_turns: 1
inputs:
  text: {{type: string, required: true, description: what to answer about}}
outputs:
  line: {{type: string, description: the answer}}
cost_usd: 0
latency_s: 1
side_effects: none
error_modes: [none]
timeout_s: 30
retry: {{attempts: 1, backoff_s: 0}}
idempotent: true
---

{prompt}
"""

SCENARIO = """---
name: Twice
goal: ask the same agent twice
steps:
  - id: first
    component: EchoAgent
    inputs: {text: one}
  - id: second
    component: EchoAgent
    approval: required
    inputs: {text: two}
---
"""


@pytest.fixture
def twice(project: Path) -> Path:
    (project / "components" / "agents" / "EchoAgent.md").write_text(AGENT.format(prompt="You are version one."))
    Project.load(project).sync_library()
    path = project / "scenarios" / "Twice.md"
    path.write_text(SCENARIO)
    return path


def edit_agent(project: Path, prompt: str) -> None:
    (project / "components" / "agents" / "EchoAgent.md").write_text(AGENT.format(prompt=prompt))


def test_an_agent_edited_between_two_steps_answers_with_its_new_text(project: Path, twice: Path) -> None:
    provider = ScriptedProvider()

    def person(request: ApprovalRequest) -> Decision:
        edit_agent(project, "You are version two.")  # while the run waits before its second step
        return Decision(action="approve")

    result = run_scenario(twice, provider=provider, approver=person)
    assert result.status == "completed", result.error
    assert [r.system_prompt.strip() for r in provider.requests] == ["You are version one.", "You are version two."]
    first, second = recover_state(result.run_dir).steps
    assert first.document_sha256 != second.document_sha256
    assert second.document_sha256 == Project.load(project).library.components["EchoAgent"].sha256


def test_a_broken_edit_fails_the_step_naming_the_file_and_line(project: Path, twice: Path) -> None:
    def person(request: ApprovalRequest) -> Decision:
        (project / "components" / "agents" / "EchoAgent.md").write_text(
            AGENT.format(prompt="x").replace("max_turns: 1", "max_turns: many")
        )
        return Decision(action="approve")

    provider = ScriptedProvider()
    result = run_scenario(twice, provider=provider, approver=person)
    assert (result.status, result.exit_code, result.error_type) == ("failed", 2, "DocumentError")
    path = project / "components" / "agents" / "EchoAgent.md"
    assert result.error == f"{path}:8: 'max_turns' must be an integer, got str"
    assert len(provider.requests) == 1  # the second step never ran, with either version
    state = load_state(result.state_path)  # the state file is whole
    assert [(s.id, s.status) for s in state.steps] == [("first", "completed"), ("second", "failed")]
    assert [line["seq"] for line in read_journal(result.run_dir / "journal.jsonl")][-1] == state.transition_count


def test_with_wait_a_broken_step_waits_until_the_file_is_fixed(project: Path, twice: Path) -> None:
    def fix_later() -> None:
        time.sleep(0.6)
        edit_agent(project, "You are fixed.")

    def person(request: ApprovalRequest) -> Decision:
        (project / "components" / "agents" / "EchoAgent.md").write_text("---\nname: EchoAgent\nkind: [\n---\n")
        threading.Thread(target=fix_later, daemon=True).start()
        return Decision(action="approve")

    provider = ScriptedProvider()
    lines: list[str] = []
    result = run_scenario(twice, provider=provider, approver=person, on_broken="wait", progress=lines.append)
    assert result.status == "completed", result.error
    assert provider.requests[-1].system_prompt.strip() == "You are fixed."
    assert any(line.startswith("step second waits until this is fixed: ") for line in lines)
    waits = [
        line
        for line in read_journal(result.run_dir / "journal.jsonl")
        if "waits for a fixed document" in line.get("detail", "")
    ]
    assert len(waits) == 1 and "EchoAgent.md:" in waits[0]["detail"]


def test_the_watcher_reports_edited_documents_but_not_smartmemory(project: Path) -> None:
    with DocumentWatcher([project / "components", project / "system"]) as watcher:
        assert watcher.events
        (project / "components" / "tools" / "RealShellTool.md").write_text(
            (project / "components" / "tools" / "RealShellTool.md").read_text() + "\n"
        )
        (project / "system" / "SmartMemory.md").write_text((project / "system" / "SmartMemory.md").read_text() + "\n")
        assert watcher.wait(5)
        time.sleep(0.2)
        assert watcher.changed() == {(project / "components" / "tools" / "RealShellTool.md").resolve()}
