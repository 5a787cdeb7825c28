"""Run state: the machine state of one run, persisted to ``execution_state.md`` at every transition.

``execution_state.md`` has two readers. Its YAML front matter holds the machine state
(:meth:`RunState.to_dict`), which the runner reads back with :func:`load_state`; its body is the
same state rendered for people through the Jinja2 template in ``system/ExecutionStateTemplate.md``.
Claude Code, acting as SystemAgent, writes the same format.

Each run lives in ``workspace/runs/<execution_id>/``:

* ``journal.jsonl``: every transition, append-only, one JSON line each, fsynced before the run
  goes on (the write-ahead log). Besides the transition, a line carries the run fields that
  changed with it (``run``), the step's whole state after a step transition (``snapshot``) and
  the files it wrote (``outputs_added``), so the journal alone rebuilds the run
  (:func:`recover_state`).
* ``execution_state.md``: a checkpoint of the journal for people and tools: the run's fields,
  step counts, a window of :data:`STEP_WINDOW` steps around the current one, the last
  :data:`RECENT_TRANSITIONS` transitions and the last :data:`RECENT_OUTPUTS` files written. Its
  size, and so the cost of one transition, does not grow with the length of the run. It is
  replaced atomically (a temporary file renamed over it) at every transition but not fsynced:
  after a power loss the journal is the truth.
* ``plan.json``: the plan (the scenario ``steps`` schema), written once, durably.
* ``artifacts/``: strings too long to inline.

``workspace/execution_state.md`` mirrors the latest run. A simulation batch also skips the
journal's fsyncs and the mirror: see :class:`RunStore`.
"""

from __future__ import annotations

import functools
import hashlib
import json
import os
import re
import sys
import time
from dataclasses import asdict, dataclass, field, fields, is_dataclass
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import frontmatter
import yaml

from llmos._atomic import atomic_write_text
from llmos._redact import redact, redact_text
from llmos.exceptions import StateError

__all__ = [
    "RECENT_OUTPUTS",
    "RECENT_TRANSITIONS",
    "SCHEMA_VERSION",
    "STEP_STATUSES",
    "STEP_WINDOW",
    "RunState",
    "RunStore",
    "StepState",
    "Transition",
    "load_state",
    "new_execution_id",
    "read_journal",
    "recover_state",
    "state_diagram",
    "utc_now",
]

#: Version of the state file format; a file with another version is refused.
SCHEMA_VERSION = 2
#: How many transitions the state file keeps (without their ``data``); the journal keeps all of them whole.
RECENT_TRANSITIONS = 10
#: How many steps the state file shows: up to half of them before the current step, the rest from it on.
STEP_WINDOW = 10
#: How many of the files the run wrote the state file lists (the last ones).
RECENT_OUTPUTS = 20
#: Seconds between two rewrites of ``workspace/execution_state.md`` within a phase (the run's own
#: state file is rewritten at every transition, the mirror at every phase change and pause).
MIRROR_INTERVAL_S = 0.2
#: Strings longer than this (characters) are stored as artifact files and referenced.
INLINE_LIMIT = 2000

RUN_STATUSES = ("running", "paused", "completed", "failed")
#: What a step can be: ``rejected`` means a person said no (``llmos reject``).
STEP_STATUSES = ("pending", "running", "completed", "failed", "skipped", "rejected")
#: Steps that never run again once they are in one of these.
FINISHED_STEP_STATUSES = frozenset({"completed", "skipped", "failed", "rejected"})


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
            ``agent_call`` (a call finished), ``decision`` (a person, or ``--yes``, approved,
            rejected or skipped a step) or ``resume`` (a runner took the run up again).
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

    def summary(self) -> Transition:
        """This transition without its ``data`` (as the state file lists recent transitions)."""
        return Transition(
            seq=self.seq,
            at=self.at,
            kind=self.kind,
            source=self.source,
            target=self.target,
            step=self.step,
            detail=self.detail,
        )

    def to_dict(self) -> dict[str, Any]:
        """Plain data, omitting empty optional fields (``data`` is shared, not copied)."""
        out: dict[str, Any] = {
            "seq": self.seq,
            "at": self.at,
            "kind": self.kind,
            "source": self.source,
            "target": self.target,
        }
        if self.step:
            out["step"] = self.step
        if self.detail:
            out["detail"] = self.detail
        if self.data:
            out["data"] = self.data
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
        status: One of :data:`STEP_STATUSES`.
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
    """The machine state of a run.

    In memory it is the whole state; the front matter of execution_state.md (:meth:`to_dict`)
    holds all of it but the plan (in ``plan.json``, named by ``plan_file``), keeping only a window
    of the steps, the recent transitions and the recent outputs, so that its size does not grow
    with the run. A state read back with :func:`load_state` therefore holds the window only when
    the run has more than :data:`STEP_WINDOW` steps; :func:`recover_state` rebuilds the whole.

    Attributes:
        schema_version: :data:`SCHEMA_VERSION`.
        execution_id: The run's id.
        scenario: Scenario name.
        scenario_path: The scenario file.
        goal: The run's goal.
        mode: ``execution`` or ``simulation``.
        provider: The provider that answers agent steps (``local``, ``scripted``, ...).
        script: The scripted provider's script file, when one was given (a resumed run uses it again).
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
        plan_file: Where the plan is stored, relative to the run's folder (``plan.json``); ``""``
            when the front matter holds the plan itself (as a hand-written state file may).
        steps: Per-step state, in plan order.
        step_counts: How many steps are in each status (kept by :meth:`set_step_status`).
        cursor: 0-based index in ``steps`` of the step in progress, or of the next one to run.
        current_step: Id of the step being run, or ``None``.
        cost_usd: US dollars spent so far.
        budget_usd: The cap in US dollars, or ``None``.
        transition_count: Transitions recorded so far (the journal's length).
        recent_transitions: The last :data:`RECENT_TRANSITIONS` transitions, without their
            ``data`` (:meth:`Transition.summary`; the journal has them whole).
        error: ``{"message", "step", "type"}`` when the run failed, else ``None``.
        paused_reason: Why the run paused (budget spent, approval needed), else ``None``.
        planning: How the plan was made, for a run planned from its goal, else ``None``:
            ``{"by", "steps", "repairs", "replans", "estimated_cost_usd", "components_offered",
            "experiences"}`` (the provider, the plan's length, invalid plans sent back, revised
            plans after a failure, the sum of the components' costs, what the request offered).
        pending: The question a paused run waits on, else ``None``: ``{"step", "kind", "reason",
            "since"}``, where ``kind`` is ``approval`` (the step says ``approval: required``),
            ``side_effects`` (``--confirm side-effects``) or ``rerun`` (the step was running when
            the runner stopped and its component is not idempotent). ``llmos approve`` runs the
            step, ``llmos reject`` stops the run, ``llmos skip`` skips the step.
        outputs: Files the run wrote (absolute paths).
        parent: For a sub-run (a Task step's run), ``{"execution_id", "step", "depth"}`` of the
            step that started it, else ``None``.
        subruns: The sub-runs this run's Task steps started: ``{"execution_id", "status",
            "cost_usd", "state_path"}`` each.
    """

    schema_version: int = SCHEMA_VERSION
    execution_id: str
    scenario: str = ""
    scenario_path: str = ""
    goal: str = ""
    mode: str = "execution"
    provider: str = ""
    script: str | None = None
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
    plan_file: str = ""
    steps: list[StepState] = field(default_factory=list)
    step_counts: dict[str, int] = field(default_factory=dict)
    cursor: int = 0
    current_step: str | None = None
    cost_usd: float = 0.0
    budget_usd: float | None = None
    transition_count: int = 0
    recent_transitions: list[Transition] = field(default_factory=list)
    error: dict[str, Any] | None = None
    paused_reason: str | None = None
    planning: dict[str, Any] | None = None
    pending: dict[str, Any] | None = None
    parent: dict[str, Any] | None = None
    subruns: list[dict[str, Any]] = field(default_factory=list)
    outputs: list[str] = field(default_factory=list)

    def step(self, step_id: str) -> StepState:
        """The state of one step.

        Raises:
            KeyError: No such step.
        """
        cached = self.__dict__.get("_index")  # (the list it indexes, its length, id -> step)
        if cached is None or cached[0] is not self.steps or cached[1] != len(self.steps):
            cached = (self.steps, len(self.steps), {s.id: s for s in self.steps})
            self.__dict__["_index"] = cached
        return cached[2][step_id]

    def count_steps(self) -> None:
        """Recount :attr:`step_counts` from the steps."""
        counts: dict[str, int] = {}
        for step in self.steps:
            counts[step.status] = counts.get(step.status, 0) + 1
        self.step_counts = counts

    def set_step_status(self, step: StepState, status: str) -> str:
        """Move ``step`` to ``status``, keeping :attr:`step_counts`; returns the old status."""
        old = step.status
        if old != status:
            counts = self.step_counts
            if counts.get(old, 0) > 1:
                counts[old] -= 1
            else:
                counts.pop(old, None)
            counts[status] = counts.get(status, 0) + 1
            step.status = status
        return old

    def window(self) -> tuple[int, list[StepState]]:
        """The steps the state file shows and the 0-based index of the first: up to
        ``STEP_WINDOW // 2`` before the cursor, the rest from it on (all of them when the run has
        at most :data:`STEP_WINDOW`)."""
        if len(self.steps) <= STEP_WINDOW:
            return 0, self.steps
        first = min(max(0, self.cursor - STEP_WINDOW // 2), len(self.steps) - STEP_WINDOW)
        return first, self.steps[first : first + STEP_WINDOW]

    def front_matter(self) -> list[tuple[str, Any]]:
        """The front matter's keys and values, in order (values not yet converted to plain data)."""
        out: list[tuple[str, Any]] = []
        for name in _HEADER_FIELDS[: _HEADER_FIELDS.index("plan_file")]:
            out.append((name, getattr(self, name)))
        if self.plan_file:
            out.append(("plan_file", self.plan_file))
        else:
            out.append(("plan", self.plan))
        out += [
            ("steps_total", len(self.steps)),
            ("step_counts", self.step_counts),
            ("cursor", self.cursor),
            ("current_step", self.current_step),
        ]
        first, window = self.window()
        out += [("steps_from", first + 1), ("steps", window)]
        for name in _HEADER_FIELDS[_HEADER_FIELDS.index("cost_usd") :]:
            out.append((name, getattr(self, name)))
        out += [
            ("recent_transitions", self.recent_transitions),
            ("outputs_total", len(self.outputs)),
            ("outputs", self.outputs[-RECENT_OUTPUTS:]),
        ]
        return out

    def header(self) -> dict[str, Any]:
        """The run's own fields (no steps, transitions or outputs), as the journal records them."""
        return {name: getattr(self, name) for name in _HEADER_FIELDS}

    def to_dict(self) -> dict[str, Any]:
        """The front matter of the state file as plain data (YAML/JSON-safe)."""
        out = {name: _as_plain(value) for name, value in self.front_matter()}
        out["recent_transitions"] = [t.to_dict() for t in self.recent_transitions]
        return out

    @classmethod
    def from_dict(cls, data: dict[str, Any], *, path: Path | None = None) -> RunState:
        """Rebuild a state from :meth:`to_dict` output (or a hand-written front matter).

        Raises:
            StateError: Unknown schema version, or a missing or ill-typed field.
        """
        version = data.get("schema_version")
        if version != SCHEMA_VERSION:
            raise StateError(
                f"unknown state schema_version {version!r}; this runner reads version {SCHEMA_VERSION}"
                + (" (the file was written by an older runner: start the run again)" if version == 1 else ""),
                path=path,
            )
        try:
            fields = {k: v for k, v in data.items() if k not in {"steps_total", "steps_from", "outputs_total"}}
            fields["steps"] = [StepState(**s) for s in data.get("steps") or []]
            fields["recent_transitions"] = [Transition.from_dict(t) for t in data.get("recent_transitions") or []]
            fields["plan"] = list(data.get("plan") or [])
            fields["outputs"] = list(data.get("outputs") or [])
            state = cls(**fields)
        except (TypeError, KeyError, ValueError) as exc:
            raise StateError(f"malformed run state: {exc}", path=path) from None
        if state.status not in RUN_STATUSES:
            raise StateError(f"unknown run status {state.status!r}", path=path)
        for step in state.steps:
            if step.status not in STEP_STATUSES:
                raise StateError(f"step {step.id!r}: unknown status {step.status!r}", path=path)
        if not state.step_counts:
            state.count_steps()
        return state


#: The run's own fields, in front matter order.
_HEADER_FIELDS = (
    "schema_version",
    "execution_id",
    "scenario",
    "scenario_path",
    "goal",
    "mode",
    "provider",
    "script",
    "status",
    "phase",
    "started_at",
    "updated_at",
    "finished_at",
    "duration_s",
    "project_root",
    "workspace",
    "inputs",
    "plan_file",
    "cost_usd",
    "budget_usd",
    "transition_count",
    "error",
    "paused_reason",
    "planning",
    "pending",
    "parent",
    "subruns",
)


def load_state(path: str | Path) -> RunState:
    """Read an execution_state.md (written by the runner or by Claude Code).

    The state holds what the file holds: for a run of more than :data:`STEP_WINDOW` steps, a
    window of them (``step_counts`` counts them all), and the plan only when the file has it
    inline. :func:`recover_state` rebuilds the whole run.

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


_STEP_FIELDS = tuple(f.name for f in fields(StepState))

# -- the front matter ----------------------------------------------------------------------------
#
# The runner writes the front matter as YAML whose values are in flow style: each top-level key on
# its own line, each step and recent transition as one list item, every value written as JSON
# (a subset of YAML's flow style) with the few adjustments YAML 1.1 needs. Dumping the state with
# PyYAML's representer at every transition cost more than everything else a transition does; the
# JSON encoder is C code. People read the rendered body; the front matter is for programs, and any
# YAML (a block-style file written by hand, as Claude Code does) reads back the same.

# Characters a YAML stream may not hold raw (non-printable) or reads as line breaks.
_YAML_UNSAFE = re.compile("[\x7f-\x9f\u2028\u2029\ufeff\ufffe\uffff\ud800-\udfff]")
# Numbers with an exponent but no point, which YAML 1.1 reads as strings, and JSON's non-finite numbers.
_JSON_ODD = re.compile(r"\d[eE][-+]\d|Infinity|NaN")
_JSON_TOKEN = re.compile(r'"(?:[^"\\]|\\.)*"|-?Infinity|NaN|-?\d+(?:\.\d+)?(?:[eE][-+]?\d+)?')


def _fix_token(match: re.Match[str]) -> str:
    token = match.group(0)
    if token[0] == '"':
        return _YAML_UNSAFE.sub(lambda c: f"\\u{ord(c.group()):04x}", token)
    if token.endswith("Infinity"):
        return token.replace("Infinity", ".inf")
    if token == "NaN":
        return ".nan"
    if "." not in token and ("e" in token or "E" in token):
        mantissa, _, exponent = token.replace("E", "e").partition("e")
        return f"{mantissa}.0e{exponent}"
    return token


def flow_yaml(value: Any) -> str:
    """``value`` (plain data) as one line of YAML flow style: JSON, adjusted where YAML 1.1 reads
    JSON otherwise (``1e-07`` becomes ``1.0e-07``, ``Infinity`` ``.inf``, and characters YAML
    cannot hold raw are escaped as ``\\uXXXX``)."""
    text = json.dumps(value, ensure_ascii=False, default=str)
    if _YAML_UNSAFE.search(text) or _JSON_ODD.search(text):
        text = _JSON_TOKEN.sub(_fix_token, text)
    return text


def dump_front_matter(data: dict[str, Any]) -> str:
    """The front matter text for plain ``data``: a line per key, a line per item of ``steps`` and
    ``recent_transitions`` (see :func:`flow_yaml`)."""
    lines = []
    for key, value in data.items():
        if key in {"steps", "recent_transitions"} and value:
            lines.append(f"{key}:")
            lines.extend(f"- {flow_yaml(item)}" for item in value)
        else:
            lines.append(f"{key}: {flow_yaml(value)}")
    return "\n".join(lines) + "\n"


def _as_plain(value: Any) -> Any:
    """``value`` with any dataclass inside turned into a dict, as ``dataclasses.asdict`` does."""
    if isinstance(value, StepState):  # the hot path: its fields hold plain data already
        return {name: _as_plain(getattr(value, name)) for name in _STEP_FIELDS}
    if is_dataclass(value) and not isinstance(value, type):
        return asdict(value)
    if isinstance(value, dict):
        return {k: _as_plain(v) for k, v in value.items()}
    if isinstance(value, (list, tuple)):
        return [_as_plain(v) for v in value]
    return value


@functools.lru_cache(maxsize=16)
def compile_template(source: str) -> Any:
    """Compile the Jinja2 source of execution_state.md's body (blocks trimmed, no autoescape).

    Compiled once per source and process (a template renders any number of states), so runs after
    the first skip the compilation.
    """
    env = _environment()(autoescape=False, trim_blocks=True, lstrip_blocks=True, keep_trailing_newline=True)
    return env.from_string(source)


@functools.cache
def _environment() -> Any:
    """A Jinja2 environment class that looks ``state.key`` up in a dict before trying an attribute.

    The template's data is plain dicts, and Jinja2 tries ``getattr`` first, raising and catching
    an AttributeError for each of the hundreds of lookups a render makes. The names of dict's own
    methods (``items``, ``get``, ...) still find the method.
    """
    import jinja2

    methods = frozenset(dir(dict))

    class Environment(jinja2.Environment):
        def getattr(self, obj: Any, attribute: str) -> Any:
            if type(obj) is dict and attribute not in methods:
                try:
                    return obj[attribute]
                except KeyError:
                    pass
            return super().getattr(obj, attribute)

    return Environment


def state_diagram(data: dict[str, Any], plan: list[dict[str, Any]] | None = None) -> str:
    """The Mermaid diagram of a state file's steps (:func:`llmos.graph.mermaid`), without its last newline.

    Drawn from the window of steps the front matter lists (``steps``, from position ``steps_from``
    of ``steps_total``): their statuses coloured, the current step marked (``current_step``, else
    the step a paused run waits on, else the one at ``cursor`` unless it is done), and the steps
    outside the window summed up as ``N earlier steps`` and ``N more steps``. The plan's entries
    for the same steps, when given, add what the steps do not hold: ``approval``, ``on_error`` and
    ``for_each``. Only the window is read, so the cost does not grow with the run.

    Args:
        data: The front matter as plain data (:meth:`RunState.to_dict`, or a hand-written one).
        plan: The whole plan (the scenario ``steps`` schema); default: the front matter's ``plan``.
    """
    from llmos.graph import mermaid_rows, step_row

    steps = data.get("steps") or []
    first = max(int(data.get("steps_from") or 1) - 1, 0)
    total = max(int(data.get("steps_total") or 0), first + len(steps))
    plan = plan or data.get("plan") or []
    rows = []
    statuses: dict[str, Any] = {}
    for offset, step in enumerate(steps):
        step_id = step.get("id")
        entry = plan[first + offset] if first + offset < len(plan) else None
        row = step_row(step, entry) if type(entry) is dict and entry.get("id") == step_id else step_row(step)
        if row[5] is not None:  # a for_each template, as the plan holds it
            row = (*row[:5], redact_text(row[5]))
        rows.append(row)
        statuses[step_id] = step.get("status")
    current = data.get("current_step") or (data.get("pending") or {}).get("step")
    cursor = data.get("cursor")
    if current is None and isinstance(cursor, int) and 0 <= cursor - first < len(steps):
        at = steps[cursor - first]
        if at.get("status") not in {"completed", "skipped"}:  # just done: the next one has not started
            current = at.get("id")
    text = mermaid_rows(
        tuple(rows),
        current=current,
        statuses=statuses,
        goal=data.get("goal"),
        before=first,
        after=total - first - len(steps),
    )
    return text[:-1]


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


@functools.cache
def _renameat2() -> Any:
    """Linux's renameat2(2) from the C library, or ``None``."""
    if sys.platform != "linux":
        return None
    import ctypes

    try:
        function = ctypes.CDLL(None, use_errno=True).renameat2
    except (OSError, AttributeError):
        return None
    function.argtypes = [ctypes.c_int, ctypes.c_char_p, ctypes.c_int, ctypes.c_char_p, ctypes.c_uint]
    function.restype = ctypes.c_int
    return function


_AT_FDCWD, _RENAME_EXCHANGE = -100, 2


def _exchange(tmp: Path, path: Path) -> bool:
    """Swap ``tmp`` and an existing ``path`` (``RENAME_EXCHANGE``: as atomic as a rename);
    ``False`` when that cannot be done here (not Linux, no such file yet, a file system without it)."""
    renameat2 = _renameat2()
    if renameat2 is None:
        return False
    return bool(renameat2(_AT_FDCWD, os.fsencode(tmp), _AT_FDCWD, os.fsencode(path), _RENAME_EXCHANGE) == 0)


class RunStore:
    """Persists one run: state file, mirror, journal and artifacts.

    Args:
        workspace: The workspace folder.
        execution_id: The run's id; its folder is ``workspace/runs/<execution_id>``.
        template: The Jinja2 source of the state file body (from ExecutionStateTemplate.md).
        durable: ``True`` fsyncs each journal line before the run goes on, and the plan and
            artifacts once; the state file and mirror are replaced atomically without an fsync
            (the journal rebuilds them). ``False`` skips every fsync, for simulation batches
            (:mod:`llmos.simulate`), whose runs can simply be run again. Writes stay atomic (a
            temporary file renamed, or swapped, into place: whoever opens a file finds a whole
            version) and a journal line is still one ``write``; but without durability the file a
            write replaces is reused for the next one (see :meth:`write`), so a reader that keeps
            a state file open across two transitions may see it change under it. Call
            :meth:`close` when the run ends.
        mirror: ``False`` leaves ``workspace/execution_state.md`` alone (a simulation batch runs
            many runs at once; "the latest run" means nothing there).
    """

    def __init__(
        self, workspace: Path, execution_id: str, template: str, *, durable: bool = True, mirror: bool = True
    ) -> None:
        self.workspace = workspace
        self.run_dir = workspace / "runs" / execution_id
        self.state_path = self.run_dir / "execution_state.md"
        self.journal_path = self.run_dir / "journal.jsonl"
        self.artifacts_dir = self.run_dir / "artifacts"
        self.mirror_path = workspace / "execution_state.md"
        self.durable = durable
        self.mirror = mirror
        self._template = compile_template(template)
        self._parts: dict[tuple[str, str], tuple[Any, str]] = {}
        self._spares: set[Path] = set()
        self._journaled: dict[str, Any] = {}  # the run fields as the journal last recorded them
        self._outputs_journaled = 0
        self._mirrored = 0.0  # time.monotonic() of the last mirror write
        self._snapshot_all = False  # the next journal line carries every step (see resume_from)
        self._journal_fd: int | None = None
        self.run_dir.mkdir(parents=True, exist_ok=True)

    def resume_from(self, state: RunState) -> None:
        """Continue the journal of a run rebuilt by :func:`recover_state` (records only what changes).

        A last line cut short (the runner was killed in the middle of appending it; a long line
        is written a page at a time) is cut off first, so the next line starts on a line of its
        own; :func:`read_journal` had left it out already.
        """
        try:
            data = self.journal_path.read_bytes()
        except FileNotFoundError:
            data = b""
        if data and not data.endswith(b"\n"):
            os.truncate(self.journal_path, data.rfind(b"\n") + 1)
        self._journaled = _plain_json(state.header())
        del self._journaled["transition_count"], self._journaled["updated_at"]
        self._outputs_journaled = len(state.outputs)
        if b'"run":' not in data:
            # A run written by hand (no journal, or one of plain transitions): the next line
            # carries the whole run and every step, so the journal alone rebuilds it from there.
            self._journaled = {}
            self._snapshot_all = True

    def write_plan(self, state: RunState) -> None:
        """Store the plan in ``plan.json`` (durably) and point ``state.plan_file`` at it."""
        text = json.dumps(redact(state.plan), ensure_ascii=False, indent=1)
        if self.durable:
            atomic_write_text(self.run_dir / "plan.json", text)
        else:
            self.write(self.run_dir / "plan.json", text)
        state.plan_file = "plan.json"

    def write(self, path: Path, text: str) -> None:
        """Replace a file of the run atomically (fsynced when the store is durable).

        Without fsync (a batch), the new text goes to a temporary file that is swapped with the
        old file where Linux can (see :func:`_exchange`), and the old file is kept as the
        temporary file of the next write, removed by :meth:`close`. A batch rewrites thousands of
        state files a second, and on ext4 each plain rename over a file first writes the new data
        to disk (its auto_da_alloc safeguard), and each new file costs an inode that ext4 finds
        more slowly the more files were deleted lately; swapped and reused, a version the next
        transition replaces never reaches the disk and no inode is made or freed.
        """
        if self.durable:
            atomic_write_text(path, text)
            return
        self._swap(path, text)

    def checkpoint(self, path: Path, text: str) -> None:
        """Replace the state file or the mirror atomically, without fsync when durable (the
        journal is the durable record): a new temporary file renamed over the old one."""
        if not self.durable:
            self._swap(path, text)
            return
        tmp = path.parent / f".{path.name}.{os.getpid()}.new"
        try:
            fd = os.open(tmp, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o644)
            try:
                data = memoryview(text.encode("utf-8"))
                while data:
                    data = data[os.write(fd, data) :]
            finally:
                os.close(fd)
            # Swapped in, then the old version unlinked: as atomic as a rename, without the flush
            # ext4 starts on a rename over a file (auto_da_alloc), which would double the cost of
            # a transition; a reader that has the old version open keeps reading it whole.
            if _exchange(tmp, path):
                os.unlink(tmp)
            else:
                os.replace(tmp, path)
        except BaseException:
            tmp.unlink(missing_ok=True)
            raise

    def _swap(self, path: Path, text: str) -> None:
        tmp = path.parent / f".{path.name}.{os.getpid()}.tmp"  # one process writes a run's files
        try:
            fd = os.open(tmp, os.O_WRONLY | os.O_CREAT, 0o644)
        except FileNotFoundError:
            path.parent.mkdir(parents=True, exist_ok=True)
            fd = os.open(tmp, os.O_WRONLY | os.O_CREAT, 0o644)
        try:
            try:
                encoded = text.encode("utf-8")
                data = memoryview(encoded)
                while data:
                    data = data[os.write(fd, data) :]
                # Cut what is left of the old text; not with O_TRUNC, as ext4 also writes a file
                # out to disk when it was truncated to nothing.
                os.ftruncate(fd, len(encoded))
            finally:
                os.close(fd)
            if _exchange(tmp, path):
                self._spares.add(tmp)  # now the old file
            else:
                os.replace(tmp, path)
                self._spares.discard(tmp)
        except BaseException:
            self._spares.discard(tmp)
            tmp.unlink(missing_ok=True)
            raise

    def _append(self, line: str, *, sync: bool) -> None:
        """One journal line: a single O_APPEND ``write`` on the journal, kept open for the run,
        then ``fdatasync`` when ``sync``."""
        if self._journal_fd is None:
            self._journal_fd = os.open(self.journal_path, os.O_WRONLY | os.O_APPEND | os.O_CREAT, 0o644)
        os.write(self._journal_fd, (line + "\n").encode("utf-8"))
        if sync:
            os.fdatasync(self._journal_fd)

    def close(self) -> None:
        """Close the journal and remove the temporary files kept for the next write (call once
        the run has ended)."""
        if self._journal_fd is not None:
            os.close(self._journal_fd)
            self._journal_fd = None
        for tmp in self._spares:
            tmp.unlink(missing_ok=True)
        self._spares.clear()

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
                self.write(target, value)
            return {"artifact": rel, "chars": len(value), "sha256": digest, "preview": value[:200]}
        if isinstance(value, dict):
            return {k: self.offload(f"{name}.{k}", v) for k, v in value.items()}
        if isinstance(value, list):
            return [self.offload(f"{name}.{i}", v) for i, v in enumerate(value)]
        return value

    def render(self, state: RunState) -> str:
        """The full text of execution_state.md for ``state``: front matter plus rendered body.

        The template gets the front matter as ``state`` and, as ``diagram``, the Mermaid state
        diagram of the steps the front matter lists (:func:`state_diagram`).
        """
        data, front = self._plain(state)
        body = self._template.render(state=data, diagram=state_diagram(data, state.plan))
        return f"---\n{front}---\n{body}"

    def _plain(self, state: RunState) -> tuple[dict[str, Any], str]:
        """``redact(state.to_dict())`` and its :func:`dump_front_matter` text.

        Each step, recent transition and container field is converted, redacted and dumped once
        and reused while its ``repr`` stays the same (the cache keeps what the previous state
        used), so a transition costs about what changed in it.
        """
        previous = self._parts
        cache: dict[tuple[str, str], tuple[Any, str]] = {}

        def piece(name: str, value: Any, make: Any) -> tuple[Any, str]:
            key = (name, repr(value))
            hit = previous.get(key) or cache.get(key)
            if hit is None:
                plain = redact(make(value))
                hit = (plain, flow_yaml(plain))
            cache[key] = hit
            return hit

        data: dict[str, Any] = {}
        lines: list[str] = []
        for name, value in state.front_matter():
            if value is None or isinstance(value, (bool, int, float)):
                data[name] = value
                lines.append(f"{name}: {flow_yaml(value)}")
            elif name in {"steps", "recent_transitions"} and value:
                make = _as_plain if name == "steps" else Transition.to_dict
                lines.append(f"{name}:")
                items = data[name] = []
                for item in value:
                    plain, text = piece(name, item, make)
                    items.append(plain)
                    lines.append(f"- {text}")
            else:
                plain, text = piece(name, value, _as_plain)
                data[name] = plain
                lines.append(f"{name}: {text}")
        self._parts = cache
        return data, "\n".join(lines) + "\n"

    def record(
        self,
        state: RunState,
        transition: Transition,
        *,
        snapshot: StepState | None = None,
        sync: bool = True,
        checkpoint: bool = True,
    ) -> None:
        """Persist one transition: append it to the journal, then rewrite the state file and mirror.

        ``checkpoint=False`` only appends to the journal, for a transition the caller follows at
        once with another one (a step's call returning, the step completing, then the next step
        starting): the state file skips a version that would stand for microseconds.

        ``sync=False`` appends without the fsync (in a durable store): the line becomes durable
        with the next synced one. The engine syncs every transition after which the world may
        change (a step starting, a phase change, a decision), so a power loss can only lose the
        record of calls and step endings since then, and the step then reads as interrupted.
        The mirror is rewritten at most every :data:`MIRROR_INTERVAL_S` seconds, and at every
        synced transition.

        The journal line is the transition (:meth:`Transition.to_dict`) plus ``run`` (the run
        fields that changed since the previous line: :meth:`RunState.header`), ``snapshot``
        (the whole state of the step after a step transition), ``snapshots`` (every step, on the
        first line a runner writes for a run written by hand) and ``outputs_added`` (files the run
        wrote since the previous line), secrets redacted.

        Raises:
            StateError: The disk refused the write.
        """
        text = ""
        if checkpoint:
            try:
                text = self.render(state)
            except Exception as exc:  # a template that parses but cannot render this state
                message = f"ExecutionStateTemplate.md cannot render the state: {exc}"
                raise StateError(message, path=self.state_path) from exc
        try:
            plain = redact(transition.to_dict())
            header = _plain_json(state.header())
            del header["transition_count"], header["updated_at"]  # the line's seq and at
            last = self._journaled
            changed = {k: v for k, v in header.items() if k not in last or last[k] != v}
            if changed:
                plain["run"] = redact(changed)
                self._journaled = header
            if snapshot is not None:
                plain["snapshot"] = redact(_as_plain(snapshot))
            if self._snapshot_all:
                plain["snapshots"] = [redact(_as_plain(step)) for step in state.steps]
                plain["outputs_added"] = list(state.outputs)
                self._outputs_journaled = len(state.outputs)
                self._snapshot_all = False
            if len(state.outputs) > self._outputs_journaled:
                plain["outputs_added"] = state.outputs[self._outputs_journaled :]
                self._outputs_journaled = len(state.outputs)
            line = json.dumps(plain, ensure_ascii=False, default=str)
            self._append(line, sync=self.durable and sync)
            if not checkpoint:
                return
            self.checkpoint(self.state_path, text)
            now = time.monotonic()
            if self.mirror and (sync or now - self._mirrored >= MIRROR_INTERVAL_S):
                self.checkpoint(self.mirror_path, text)
                self._mirrored = now
        except OSError as exc:
            raise StateError(f"cannot persist the run state: {exc}", path=self.state_path) from exc

    def refresh(self, state: RunState) -> None:
        """Rewrite the state file (and mirror) from ``state`` without recording a transition.

        Raises:
            StateError: The disk refused the write.
        """
        try:
            text = self.render(state)
            self.checkpoint(self.state_path, text)
            if self.mirror:
                self.checkpoint(self.mirror_path, text)
        except OSError as exc:
            raise StateError(f"cannot persist the run state: {exc}", path=self.state_path) from exc

    def journal(self) -> list[Transition]:
        """Every transition recorded so far, from the journal."""
        return [Transition.from_dict(line) for line in read_journal(self.journal_path)]


def _plain_json(value: dict[str, Any]) -> dict[str, Any]:
    """``value`` as JSON would give it back (tuples as lists), so that comparisons hold after a reload."""
    return {k: _as_plain(v) for k, v in value.items()}


def read_journal(path: Path) -> list[dict[str, Any]]:
    """The lines of a journal as dicts, in order.

    A last line cut short (the process or the machine stopped in the middle of an append) is
    left out; it was never acknowledged, so nothing depended on it.

    Raises:
        StateError: A line other than the last is not JSON (the journal was damaged).
    """
    try:
        raw = path.read_bytes()
    except FileNotFoundError:
        return []
    lines = raw.split(b"\n")
    out: list[dict[str, Any]] = []
    for number, line in enumerate(lines, 1):
        if not line.strip():
            continue
        try:
            out.append(json.loads(line))
        except ValueError:
            if number >= len(lines) - 1 and not raw.endswith(b"\n"):
                break  # a torn last line
            raise StateError(f"line {number} of the journal is not JSON", path=path) from None
    return out


def recover_state(run_dir: Path) -> RunState:
    """Rebuild the whole state of a run from its folder, for resuming it.

    With a journal, the journal is the truth: the run's fields, each step's last snapshot, the
    outputs, the transition count and the last transitions all come from it, and the plan from
    ``plan.json`` (or the front matter). The state file is only read for its schema version, so a
    state file one transition behind the journal (the runner stopped between the two writes) or
    damaged (a power loss) loses nothing. Without a journal (a state file written by hand, as
    Claude Code does), the state file is the state and must list every step.

    Raises:
        StateError: No run there, an unknown schema version, a damaged journal, or a state that
            does not hold every step of its plan.
    """
    state_path = run_dir / "execution_state.md"
    journal_path = run_dir / "journal.jsonl"
    lines = read_journal(journal_path)
    from_file: RunState | None = None
    try:
        from_file = load_state(state_path)
    except StateError as exc:
        if not lines or "schema_version" in exc.message:
            raise
    if not any("run" in line for line in lines):
        # Written by hand (Claude Code acting as SystemAgent): the state file is the state; a
        # journal of plain transitions only counts them.
        if from_file is None:
            raise StateError("the state file is unreadable and the journal holds no run state", path=state_path)
        state = from_file
        last_seq = int(lines[-1]["seq"]) if lines else 0
        state.transition_count = max(state.transition_count, len(state.recent_transitions), last_seq)
    else:
        state = _fold(lines, run_dir)
    if not state.plan and state.plan_file:
        plan_path = run_dir / state.plan_file
        try:
            state.plan = json.loads(plan_path.read_text(encoding="utf-8"))
        except (OSError, ValueError) as exc:
            raise StateError(f"cannot read the plan {plan_path}: {exc}", path=state_path) from None
    if state.plan:
        known: dict[str, StepState | None] = {s.id: s for s in state.steps}
        steps = []
        for entry in state.plan:
            step_id = str(entry.get("id"))
            steps.append(known.pop(step_id, None) or StepState(id=step_id, component=str(entry.get("component"))))
        if known:
            raise StateError(f"steps {sorted(known)} are not in the plan", path=state_path)
        if not lines and from_file is not None and len(from_file.steps) < len(steps):
            missing = [s.id for s in steps if s.status == "pending" and s.started_at is None]
            raise StateError(
                f"the state file lists {len(from_file.steps)} of {len(steps)} steps and there is no journal "
                f"to rebuild the others from (e.g. {missing[:3]})",
                path=state_path,
            )
        state.steps = steps
    state.count_steps()
    return state


def _fold(lines: list[dict[str, Any]], run_dir: Path) -> RunState:
    """The state that the journal's lines add up to."""
    header: dict[str, Any] = {}
    snapshots: dict[str, dict[str, Any]] = {}
    outputs: list[str] = []
    recent: list[Transition] = []
    for line in lines:
        header.update(line.get("run") or {})
        for snapshot in [*(line.get("snapshots") or []), *([line["snapshot"]] if line.get("snapshot") else [])]:
            snapshots[snapshot["id"]] = snapshot
        outputs.extend(line.get("outputs_added") or [])
        recent.append(Transition.from_dict(line).summary())
        del recent[:-RECENT_TRANSITIONS]
    header.setdefault("execution_id", run_dir.name)
    header.pop("schema_version", None)
    try:
        state = RunState(**header)
        state.steps = [StepState(**snap) for snap in snapshots.values()]
    except TypeError as exc:
        raise StateError(f"the journal holds an unexpected field: {exc}", path=run_dir / "journal.jsonl") from None
    state.transition_count = int(lines[-1]["seq"])
    state.updated_at = str(lines[-1]["at"])
    state.recent_transitions = recent
    state.outputs = outputs
    return state
