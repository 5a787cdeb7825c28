"""execution_state.md: render -> parse round trip, atomic writes, the journal and schema versions."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest

from llmos.exceptions import StateError
from llmos.project import Project
from llmos.state import RunState, RunStore, StepState, Transition, load_state


def sample_state() -> RunState:
    state = RunState(
        execution_id="run-20260101-000000-abcdef",
        scenario="S",
        scenario_path="/p/scenarios/S.md",
        goal="g",
        mode="execution",
        provider="scripted",
        status="running",
        phase="EXECUTE",
        started_at="2026-01-01T00:00:00.000Z",
        updated_at="2026-01-01T00:00:01.000Z",
        duration_s=1.0,
        project_root="/p",
        workspace="/p/workspace",
        inputs={"url": "http://127.0.0.1/x", "n": 3, "flag": True},
        plan=[{"id": "a", "component": "C", "inputs": {"x": "{{ inputs.url }}"}}],
        steps=[
            StepState(
                id="a",
                component="C",
                tool="Read",
                status="completed",
                attempts=2,
                outputs={"content": "line one\nline two\n", "n": 1.5},
                document_sha256="ab" * 32,
            ),
            StepState(id="b", component="D", kind="agent", status="pending"),
        ],
        current_step=None,
        cost_usd=0.0123,
        budget_usd=1.0,
        transition_count=2,
        recent_transitions=[
            Transition(seq=1, at="t1", kind="phase", source="", target="INITIALIZE"),
            Transition(
                seq=2,
                at="t2",
                kind="tool_call",
                source="",
                target="ok",
                step="a",
                detail="C.Read",
                data={"duration_s": 0.1},
            ),
        ],
        error=None,
        outputs=["/p/workspace/x.md"],
    )
    state.count_steps()
    return state


def store(tmp_path: Path, project: Path) -> RunStore:
    return RunStore(tmp_path / "ws", "run-20260101-000000-abcdef", Project.load(project).state_template)


def test_render_then_parse_gives_the_same_state(tmp_path: Path, project: Path) -> None:
    s = store(tmp_path, project)
    state = sample_state()
    s.record(state, state.recent_transitions[-1])
    assert load_state(s.state_path) == state
    assert load_state(s.mirror_path) == state


def test_rendered_body_shows_the_plan_to_people(tmp_path: Path, project: Path) -> None:
    text = store(tmp_path, project).render(sample_state())
    body = text.split("\n---\n", 1)[1]
    assert body.startswith("# Execution state · run-20260101-000000-abcdef\n")
    assert "| 1 | `a` | C | Read | completed | 2 | 0.00 | 0.0000 | - |" in body
    assert "| Cost | $0.0123 of $1.00 |" in body


def test_every_record_appends_one_journal_line_and_leaves_no_temp_files(tmp_path: Path, project: Path) -> None:
    s = store(tmp_path, project)
    state = sample_state()
    for t in state.recent_transitions:
        s.record(state, t)
    assert s.journal() == state.recent_transitions
    assert sorted(p.name for p in s.run_dir.iterdir()) == ["execution_state.md", "journal.jsonl"]


def test_long_strings_become_artifact_references(tmp_path: Path, project: Path) -> None:
    s = store(tmp_path, project)
    ref = s.offload("fetch.outputs", {"content": "x" * 5000, "short": "y"})
    assert ref["short"] == "y"
    assert ref["content"]["chars"] == 5000
    assert (s.run_dir / ref["content"]["artifact"]).read_text() == "x" * 5000


def test_secrets_never_reach_the_state_file(tmp_path: Path, project: Path) -> None:
    s = store(tmp_path, project)
    state = sample_state()
    state.inputs["token"] = "api_key=sk-ant-abcdefghijklmnopqrstuvwxyz0123"
    s.record(state, state.recent_transitions[-1])
    text = s.state_path.read_text()
    assert "sk-ant-abcdef" not in text
    assert "[REDACTED]" in text


def test_unknown_schema_version_is_refused(tmp_path: Path) -> None:
    path = tmp_path / "execution_state.md"
    path.write_text("---\nschema_version: 99\nexecution_id: x\n---\n")
    with pytest.raises(StateError, match="unknown state schema_version 99; this runner reads version 2"):
        load_state(path)


def test_a_file_without_front_matter_is_refused(tmp_path: Path) -> None:
    path = tmp_path / "execution_state.md"
    path.write_text("# nothing here\n")
    with pytest.raises(StateError, match="no front matter"):
        load_state(path)


def test_artifact_names_cannot_leave_the_artifacts_folder_and_are_redacted(tmp_path: Path, project: Path) -> None:
    s = store(tmp_path, project)
    secret = "token=sk-ant-abcdefghijklmnopqrstuvwxyz0123 " + "x" * 3000
    ref = s.offload("step.outputs", {"a/../../../../escaped": secret})
    written = s.run_dir / ref["a/../../../../escaped"]["artifact"]
    assert written.parent == s.artifacts_dir
    assert "sk-ant-abcdef" not in written.read_text()
    assert not list(tmp_path.glob("escaped*"))


def test_the_front_matter_reads_back_as_the_state_whatever_the_values(tmp_path: Path, project: Path) -> None:
    """RunStore.render writes the front matter as flow-style YAML (adjusted JSON) and reuses the
    text of unchanged steps and transitions; any YAML reader must get the state back, whatever the
    values: line breaks, YAML's own syntax, exponents, infinities, characters YAML cannot hold raw."""
    import random

    import yaml

    from llmos._redact import redact

    rng = random.Random(5)
    strings = [
        "plain",
        "two\nlines\n",
        "kept\n\n",
        "\n",
        "trailing space \nnext",
        "tab\there\n",
        "x" * 130 + " folded words " * 12,
        "é ü 漢字 😀\n\n\n",
        "'quoted': yes",
        '"double" and \\ backslash',
        "2026-01-01T00:00:00.000Z",
        "",
        "yes",
        "~",
        "- not a list",
        "\x85 next line, \u2028 line separator, \x7f delete, \ufeff bom",
        "token=sk-ant-abcdefghijklmnopqrstuvwxyz0123\n",
    ]
    values: list[Any] = [*strings, 0, 1.5, 1e-7, 1e22, -2.5e-300, float("inf"), float("-inf"), True, None, [], {}]

    def value(depth: int = 0) -> Any:
        kind = rng.random()
        if depth < 2 and kind < 0.2:
            return {
                rng.choice(["k", "multi\nline key", "n: x"]) + str(i): value(depth + 1)
                for i in range(rng.randint(0, 3))
            }
        if depth < 2 and kind < 0.3:
            return [value(depth + 1) for _ in range(rng.randint(0, 3))]
        return rng.choice(values)

    s = store(tmp_path, project)
    state = sample_state()
    for round_ in range(150):
        step = rng.choice(state.steps)
        setattr(step, rng.choice(["error", "note", "tool"]), rng.choice(strings))
        step.outputs = {"content": value(), "n": value()} if rng.random() < 0.5 else step.outputs
        step.attempts += 1
        state.inputs[rng.choice(["url", "n", "extra"])] = value()
        state.paused_reason = rng.choice([None, *strings])
        state.error = rng.choice([None, {"message": rng.choice(strings), "step": "a", "type": "RunError"}])
        state.outputs = rng.choice([[], [rng.choice(strings)]])
        state.transition_count += 1
        state.recent_transitions = [
            *state.recent_transitions[-9:],
            Transition(seq=state.transition_count, at="t", kind="tool_call", source="", target="ok", detail=value()),
        ]
        text = s.render(state)
        front = text.split("\n---\n", 1)[0].removeprefix("---\n")
        assert yaml.safe_load(front) == redact(state.to_dict()), f"round {round_}"
        assert yaml.load(front, Loader=yaml.SafeLoader) == yaml.load(front, Loader=yaml.CSafeLoader)


def test_a_long_run_s_state_file_holds_a_window_of_its_steps(tmp_path: Path, project: Path) -> None:
    from llmos.state import STEP_WINDOW

    s = store(tmp_path, project)
    state = RunState(execution_id="run-20260101-000000-abcdef", plan_file="plan.json")
    state.steps = [
        StepState(id=f"s{i}", component="C", status="completed" if i < 500 else "pending") for i in range(1000)
    ]
    state.count_steps()
    state.cursor = 500
    s.record(state, Transition(seq=1, at="t", kind="phase", source="", target="EXECUTE"))
    loaded = load_state(s.state_path)
    assert [st.id for st in loaded.steps] == [f"s{i}" for i in range(500 - STEP_WINDOW // 2, 500 + STEP_WINDOW // 2)]
    assert loaded.step_counts == {"completed": 500, "pending": 500}
    assert s.state_path.stat().st_size < 10_000


def test_a_batch_store_writes_without_mirror_and_leaves_no_temporary_file_once_closed(
    tmp_path: Path, project: Path
) -> None:
    s = RunStore(
        tmp_path / "ws",
        "run-20260101-000000-abcdef",
        Project.load(project).state_template,
        durable=False,
        mirror=False,
    )
    state = sample_state()
    for t in state.recent_transitions:
        s.record(state, t)
        assert load_state(s.state_path) == state
    s.close()
    assert s.journal() == state.recent_transitions
    assert sorted(p.name for p in s.run_dir.iterdir()) == ["execution_state.md", "journal.jsonl"]
    assert not s.mirror_path.exists()
