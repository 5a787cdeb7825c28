"""Run state: the machine state of one run, persisted to ``execution_state.md`` at every transition.

``execution_state.md`` has two readers. Its YAML front matter holds the whole machine state
(:meth:`RunState.to_dict`), which the runner reads back with :func:`load_state`; its body is the
same state rendered for people through the Jinja2 template in ``system/ExecutionStateTemplate.md``.
Claude Code, acting as SystemAgent, writes the same format.

Each run lives in ``workspace/runs/<execution_id>/``: ``execution_state.md`` (current state and
the most recent transitions), ``journal.jsonl`` (every transition, append-only) and
``artifacts/`` (outputs too large to inline). ``workspace/execution_state.md`` mirrors the latest
run. Every write is atomic: temporary file, fsync, rename.
"""

from __future__ import annotations

import hashlib
import json
import re
from dataclasses import asdict, dataclass, field
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import frontmatter
import yaml

from llmos._atomic import append_line, atomic_write_text
from llmos._redact import redact, redact_text
from llmos.exceptions import StateError

__all__ = [
    "RECENT_TRANSITIONS",
    "SCHEMA_VERSION",
    "RunState",
    "RunStore",
    "StepState",
    "Transition",
    "load_state",
    "new_execution_id",
    "utc_now",
]

#: Version of the state file format; a file with another version is refused.
SCHEMA_VERSION = 1
#: How many transitions the state file keeps; the journal keeps all of them.
RECENT_TRANSITIONS = 20
#: Strings longer than this (characters) are stored as artifact files and referenced.
INLINE_LIMIT = 2000

RUN_STATUSES = ("running", "paused", "completed", "failed")


def utc_now() -> str:
    """The current UTC time as ISO 8601 with milliseconds and a ``Z``."""
    return datetime.now(UTC).isoformat(timespec="milliseconds").replace("+00:00", "Z")


def new_execution_id() -> str:
    """A new execution id: ``run-YYYYMMDD-HHMMSS-xxxxxx`` (UTC time and 6 random hex digits)."""
    import secrets

    return f"run-{datetime.now(UTC):%Y%m%d-%H%M%S}-{secrets.token_hex(3)}"


@dataclass(kw_only=True)
class Transition:
    """One recorded change of state.

    Attributes:
        seq: 1-based position in the run's journal.
        at: UTC time (ISO 8601).
        kind: ``phase`` (run phase change), ``step`` (step status change), ``tool_call`` or
            ``agent_call`` (a call finished).
        source: The phase or status before (``""`` for calls).
        target: The phase or status after (for calls: ``ok`` or ``error``).
        step: The step id, for step and call transitions.
        detail: A short human-readable note (error message, tool name, reason).
        data: Extra fields (tool, inputs and outputs of calls, duration_s, cost_usd).
    """

    seq: int
    at: str
    kind: str
    source: str
    target: str
    step: str | None = None
    detail: str = ""
    data: dict[str, Any] = field(default_factory=dict)

    def to_dict(self) -> dict[str, Any]:
        """Plain data, omitting empty optional fields."""
        out = asdict(self)
        for key in ("step", "detail", "data"):
            if not out[key]:
                del out[key]
        return out

    @classmethod
    def from_dict(cls, data: dict[str, Any]) -> Transition:
        """Inverse of :meth:`to_dict`."""
        return cls(
            seq=int(data["seq"]),
            at=str(data["at"]),
            kind=str(data["kind"]),
            source=str(data["source"]),
            target=str(data["target"]),
            step=data.get("step"),
            detail=data.get("detail", ""),
            data=dict(data.get("data") or {}),
        )


@dataclass(kw_only=True)
class StepState:
    """The state of one planned step.

    Attributes:
        id: Step id.
        component: Component name.
        tool: The Claude Code tool called, for tool steps.
        kind: ``tool`` or ``agent``.
        status: One of ``pending``, ``running``, ``completed``, ``failed``, ``skipped``.
        attempts: Calls made so far (retries included).
        started_at: UTC ISO time the step started, or ``None``.
        finished_at: UTC ISO time it ended, or ``None``.
        duration_s: Seconds from start to end.
        cost_usd: US dollars spent by the step.
        inputs: The rendered inputs (long strings as artifact references).
        outputs: The outputs (long strings as artifact references).
        error: The error message when the step failed.
        source: Provenance of the outputs: ``real``, ``replayed``, ``example`` or ``generated``.
        document_sha256: Content hash of the component document the step used.
        quality_metrics: Metrics the runner measured on the outputs (summaries), or a list of
            them for a ``for_each`` step; ``None`` when none apply.
        note: How the step ended when it is worth saying (e.g. completed by a fallback).
    """

    id: str
    component: str
    kind: str = "tool"
    tool: str | None = None
    status: str = "pending"
    attempts: int = 0
    started_at: str | None = None
    finished_at: str | None = None
    duration_s: float = 0.0
    cost_usd: float = 0.0
    inputs: dict[str, Any] = field(default_factory=dict)
    outputs: dict[str, Any] = field(default_factory=dict)
    error: str | None = None
    source: str | None = None
    document_sha256: str | None = None
    quality_metrics: Any = None
    note: str | None = None


@dataclass(kw_only=True)
class RunState:
    """The whole machine state of a run (the front matter of execution_state.md).

    Attributes:
        schema_version: :data:`SCHEMA_VERSION`.
        execution_id: The run's id.
        scenario: Scenario name.
        scenario_path: The scenario file.
        goal: The run's goal.
        mode: ``execution`` or ``simulation``.
        provider: The provider that answers agent steps (``local``, ``scripted``, ...).
        status: One of ``running``, ``paused``, ``completed``, ``failed``.
        phase: The current run phase (see SystemAgent.md's state machine).
        started_at: UTC ISO time.
        updated_at: UTC ISO time of the last transition.
        finished_at: UTC ISO time the run ended, or ``None``.
        duration_s: Seconds from start to the last transition.
        project_root: The project root in use.
        workspace: The workspace folder.
        inputs: The scenario inputs, resolved.
        plan: The steps as planned (the scenario ``steps`` schema).
        steps: Per-step state, in plan order.
        current_step: Id of the step being run, or ``None``.
        cost_usd: US dollars spent so far.
        budget_usd: The cap in US dollars, or ``None``.
        transition_count: Transitions recorded so far (the journal's length).
        recent_transitions: The last :data:`RECENT_TRANSITIONS` transitions.
        error: ``{"message", "step", "type"}`` when the run failed, else ``None``.
        paused_reason: Why the run paused (budget spent, approval needed), else ``None``.
        outputs: Files the run wrote (absolute paths).
    """

    schema_version: int = SCHEMA_VERSION
    execution_id: str
    scenario: str = ""
    scenario_path: str = ""
    goal: str = ""
    mode: str = "execution"
    provider: str = ""
    status: str = "running"
    phase: str = "INITIALIZE"
    started_at: str = ""
    updated_at: str = ""
    finished_at: str | None = None
    duration_s: float = 0.0
    project_root: str = ""
    workspace: str = ""
    inputs: dict[str, Any] = field(default_factory=dict)
    plan: list[dict[str, Any]] = field(default_factory=list)
    steps: list[StepState] = field(default_factory=list)
    current_step: str | None = None
    cost_usd: float = 0.0
    budget_usd: float | None = None
    transition_count: int = 0
    recent_transitions: list[Transition] = field(default_factory=list)
    error: dict[str, Any] | None = None
    paused_reason: str | None = None
    outputs: list[str] = field(default_factory=list)

    def step(self, step_id: str) -> StepState:
        """The state of one step.

        Raises:
            KeyError: No such step.
        """
        for step in self.steps:
            if step.id == step_id:
                return step
        raise KeyError(step_id)

    def to_dict(self) -> dict[str, Any]:
        """The state as plain data (YAML/JSON-safe)."""
        out = asdict(self)
        out["recent_transitions"] = [t.to_dict() for t in self.recent_transitions]
        return out

    @classmethod
    def from_dict(cls, data: dict[str, Any], *, path: Path | None = None) -> RunState:
        """Rebuild a state from :meth:`to_dict` output.

        Raises:
            StateError: Unknown schema version, or a missing or ill-typed field.
        """
        version = data.get("schema_version")
        if version != SCHEMA_VERSION:
            raise StateError(
                f"unknown state schema_version {version!r}; this runner reads version {SCHEMA_VERSION}", path=path
            )
        try:
            fields = dict(data)
            fields["steps"] = [StepState(**s) for s in data.get("steps") or []]
            fields["recent_transitions"] = [Transition.from_dict(t) for t in data.get("recent_transitions") or []]
            state = cls(**fields)
        except (TypeError, KeyError, ValueError) as exc:
            raise StateError(f"malformed run state: {exc}", path=path) from None
        if state.status not in RUN_STATUSES:
            raise StateError(f"unknown run status {state.status!r}", path=path)
        return state


def load_state(path: str | Path) -> RunState:
    """Read an execution_state.md (written by the runner or by Claude Code).

    Raises:
        StateError: The file is missing, has no front matter, or holds an invalid state.
    """
    file = Path(path)
    try:
        post = frontmatter.load(str(file))
    except FileNotFoundError:
        raise StateError("no such state file", path=file) from None
    except yaml.YAMLError as exc:
        raise StateError(f"front matter is not valid YAML: {exc}", path=file) from None
    if not post.metadata:
        raise StateError("no front matter with the run state", path=file)
    return RunState.from_dict(dict(post.metadata), path=file)


# libyaml's emitter when PyYAML was built with it (about 10x faster than the pure-Python one).
_BaseDumper: type[yaml.SafeDumper] = getattr(yaml, "CSafeDumper", yaml.SafeDumper)


class _Dumper(_BaseDumper):  # type: ignore[valid-type,misc]
    pass


def _str_presenter(dumper: yaml.SafeDumper, value: str) -> yaml.ScalarNode:
    style = "|" if "\n" in value else None
    return dumper.represent_scalar("tag:yaml.org,2002:str", value, style=style)


_Dumper.add_representer(str, _str_presenter)


def dump_front_matter(data: dict[str, Any]) -> str:
    """YAML for a front matter block (block style, keys in order, Unicode kept)."""
    return yaml.dump(data, Dumper=_Dumper, sort_keys=False, allow_unicode=True, width=120)


def compile_template(source: str) -> Any:
    """Compile the Jinja2 source of execution_state.md's body (blocks trimmed, no autoescape)."""
    import jinja2

    env = jinja2.Environment(autoescape=False, trim_blocks=True, lstrip_blocks=True, keep_trailing_newline=True)
    return env.from_string(source)


def sample_states() -> list[RunState]:
    """States covering every field shape, for checking that a template renders before any run."""
    step = StepState(id="s", component="C", tool="Read", status="failed", attempts=2, error="e", duration_s=1.0)
    return [
        RunState(execution_id="check-fresh"),
        RunState(
            execution_id="check-full",
            budget_usd=1.0,
            cost_usd=0.5,
            steps=[step],
            current_step="s",
            inputs={"k": "v"},
            error={"message": "m", "step": "s", "type": "RunError"},
            paused_reason="p",
            outputs=["/x"],
            recent_transitions=[Transition(seq=1, at="t", kind="phase", source="", target="X")],
        ),
    ]


class RunStore:
    """Persists one run: state file, mirror, journal and artifacts.

    Args:
        workspace: The workspace folder.
        execution_id: The run's id; its folder is ``workspace/runs/<execution_id>``.
        template: The Jinja2 source of the state file body (from ExecutionStateTemplate.md).
    """

    def __init__(self, workspace: Path, execution_id: str, template: str) -> None:
        self.workspace = workspace
        self.run_dir = workspace / "runs" / execution_id
        self.state_path = self.run_dir / "execution_state.md"
        self.journal_path = self.run_dir / "journal.jsonl"
        self.artifacts_dir = self.run_dir / "artifacts"
        self.mirror_path = workspace / "execution_state.md"
        self._template = compile_template(template)
        self.run_dir.mkdir(parents=True, exist_ok=True)

    def offload(self, name: str, value: Any) -> Any:
        """Replace long strings inside ``value`` with artifact references.

        Strings longer than :data:`INLINE_LIMIT` characters are written to
        ``artifacts/<name>.<sha12>.txt`` (the name reduced to ``[A-Za-z0-9_.-]``, secrets redacted)
        and replaced by
        ``{"artifact": "artifacts/...", "chars": N, "sha256": ..., "preview": first 200 chars}``.
        """
        if isinstance(value, str) and len(value) > INLINE_LIMIT:
            value = redact_text(value)
            digest = hashlib.sha256(value.encode("utf-8")).hexdigest()
            stem = re.sub(r"[^A-Za-z0-9_.-]+", "_", name).strip("._")[:80] or "value"
            rel = f"artifacts/{stem}.{digest[:12]}.txt"
            target = self.run_dir / rel
            if not target.exists():
                atomic_write_text(target, value)
            return {"artifact": rel, "chars": len(value), "sha256": digest, "preview": value[:200]}
        if isinstance(value, dict):
            return {k: self.offload(f"{name}.{k}", v) for k, v in value.items()}
        if isinstance(value, list):
            return [self.offload(f"{name}.{i}", v) for i, v in enumerate(value)]
        return value

    def render(self, state: RunState) -> str:
        """The full text of execution_state.md for ``state``: front matter plus rendered body."""
        data = redact(state.to_dict())
        body = self._template.render(state=data)
        return f"---\n{dump_front_matter(data)}---\n{body}"

    def record(self, state: RunState, transition: Transition) -> None:
        """Persist one transition: append it to the journal, then rewrite the state file and mirror.

        Raises:
            StateError: The disk refused the write.
        """
        try:
            text = self.render(state)
        except Exception as exc:  # a template that parses but cannot render this state
            raise StateError(f"ExecutionStateTemplate.md cannot render the state: {exc}", path=self.state_path) from exc
        try:
            append_line(self.journal_path, json.dumps(redact(transition.to_dict()), ensure_ascii=False, default=str))
            atomic_write_text(self.state_path, text)
            atomic_write_text(self.mirror_path, text)
        except OSError as exc:
            raise StateError(f"cannot persist the run state: {exc}", path=self.state_path) from exc

    def journal(self) -> list[Transition]:
        """Every transition recorded so far, from the journal."""
        if not self.journal_path.exists():
            return []
        with self.journal_path.open(encoding="utf-8") as handle:
            return [Transition.from_dict(json.loads(line)) for line in handle if line.strip()]
