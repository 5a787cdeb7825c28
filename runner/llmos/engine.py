"""The engine: runs a scenario as a persisted state machine.

Phases come from SystemAgent.md's ``## State Machine`` table and every phase change is checked
against it::

    INITIALIZE -> PLAN -> EXECUTE -> UPDATE_MEMORY -> EXPORT_TRACE -> COMPLETED | FAILED
                           EXECUTE <-> AWAIT_APPROVAL -> PAUSED -> AWAIT_APPROVAL | EXECUTE

* INITIALIZE loads the scenario, checks it against the library and resolves the inputs.
* PLAN turns the scenario's steps into the run's plan (planning from a goal alone comes later).
* EXECUTE runs each step: renders its inputs (sandboxed Jinja2), calls the tool (the runner's own
  WebFetch, Read, Write, Edit, Bash, Grep, Glob under the security policy) or the provider (agent
  steps), with the component's retry policy and the step's ``on_error``. Every tool call an agent
  makes inside its step (run by Claude Code, or by the runner's agent loop for other providers)
  passes the same security policy first and is recorded as a ``tool_call`` transition.
  When the run's budget is spent, before a step or during one, the run pauses (exit code 3).
  Before a step that needs a person (``approval: required``, ``--confirm side-effects``, or a
  step caught mid-way by a crash whose component is not idempotent) the run asks its approver
  and pauses when nobody answers (see :mod:`llmos.approval`).
* UPDATE_MEMORY appends an experience to ``system/SmartMemory.md``.
* EXPORT_TRACE appends the run's trace to ``workspace/datasets/traces.jsonl``.

Every transition (phase change, step status change, finished call, decision) is appended to
the run's journal (fsynced) and the state file is rewritten atomically (see :mod:`llmos.state`).
:func:`resume_run` rebuilds a paused or interrupted run from its journal and goes on: a finished
step never runs again. A run holds the workspace's lock (:mod:`llmos.lock`) from start to end.

In SIMULATION mode tool steps never touch the world: each output comes from the component's
``## Examples`` (``source: example``) or is imagined by the provider from the component document
(``source: generated``). A real run never falls back to simulated content.

The engine imports no model SDK: providers sit behind :class:`llmos.providers.Provider`.
"""

from __future__ import annotations

import random
import time
from collections.abc import Callable
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Any
from urllib.parse import urlsplit

import jinja2

from llmos.agent_loop import run_agent
from llmos.approval import ApprovalRequest, Approver, Decision
from llmos.documents import Component, FieldSpec
from llmos.exceptions import (
    BudgetExceeded,
    DocumentError,
    InputError,
    LLMOSError,
    PlanError,
    PolicyError,
    ProviderError,
    RunError,
    StateError,
    TemplateError,
    ToolError,
)
from llmos.policy import Policy
from llmos.project import Project, find_root
from llmos.providers import Provider, choose_provider, create_provider
from llmos.providers.base import AgentRequest, ToolCall, ToolResult, render_prompt
from llmos.reload import DocumentWatcher, Stamp, stamp
from llmos.scenario import Scenario, Step
from llmos.state import (
    FINISHED_STEP_STATUSES,
    RECENT_TRANSITIONS,
    RunState,
    RunStore,
    StepState,
    Transition,
    new_execution_id,
    recover_state,
    utc_now,
)
from llmos.templating import render_value

if TYPE_CHECKING:
    from llmos.memory import MemoryEntry

__all__ = ["CONFIRM_CHOICES", "RunResult", "find_run", "resolve_inputs", "resume_run", "run_scenario"]

MODES = ("execution", "simulation")
#: How deep sub-runs (Task steps) may nest.
MAX_SUBRUN_DEPTH = 3
#: Claude Code tools that change nothing: a step calling one has no side effects, whatever its
#: component (which may map onto writing tools too) declares.
READ_ONLY_TOOLS = frozenset({"Read", "Grep", "Glob", "WebFetch", "WebSearch"})
#: What ``--confirm`` may ask a person about before it runs: nothing, or steps with side effects.
CONFIRM_CHOICES = ("none", "side-effects")

Progress = Callable[[str], None]


@dataclass(kw_only=True)
class RunResult:
    """What a run ended with.

    Attributes:
        execution_id: The run's id.
        status: ``completed``, ``failed`` or ``paused``.
        phase: The final phase.
        scenario: Scenario name (``""`` if it never loaded).
        mode: ``execution`` or ``simulation``.
        provider: The provider name; ``provider_detail`` says what answered (model, why chosen).
        steps: ``{id, component, tool, status, duration_s, cost_usd, attempts, error}`` per step.
        cost_usd: US dollars spent.
        duration_s: Seconds the run took.
        run_dir: ``workspace/runs/<execution_id>``.
        state_path: The run's execution_state.md.
        trace_path: The traces file the run was appended to, or ``None``.
        outputs: Files the run wrote.
        error: The error message of a failed run.
        error_type: The error's class name (``DocumentError``, ``ToolError``, ...).
    """

    execution_id: str
    status: str
    phase: str
    scenario: str
    mode: str
    provider: str
    provider_detail: str
    steps: list[dict[str, Any]]
    cost_usd: float
    duration_s: float
    run_dir: Path
    state_path: Path
    trace_path: Path | None
    outputs: list[str] = field(default_factory=list)
    error: str | None = None
    error_type: str | None = None

    @property
    def exit_code(self) -> int:
        """0 completed, 1 run failed, 2 document or input error, 3 paused."""
        if self.status == "completed":
            return 0
        if self.status == "paused":
            return 3
        if self.error_type in {"DocumentError", "DocumentErrors", "InputError"}:
            return 2
        return 1

    def to_dict(self) -> dict[str, Any]:
        """JSON-ready summary (paths as strings)."""
        out = asdict(self)
        for key in ("run_dir", "state_path", "trace_path"):
            out[key] = str(out[key]) if out[key] is not None else None
        out["exit_code"] = self.exit_code
        return out


def _coerce(spec: FieldSpec, value: Any, *, base: Path, where: str) -> Any:
    if spec.type in {"string", "url", "path"} and not isinstance(value, str):
        value = str(value)
    if spec.type == "integer" and isinstance(value, str):
        try:
            value = int(value)
        except ValueError:
            raise InputError(f"{where}: input {spec.name!r} must be an integer, got {value!r}") from None
    elif spec.type == "number" and isinstance(value, str):
        try:
            value = float(value)
        except ValueError:
            raise InputError(f"{where}: input {spec.name!r} must be a number, got {value!r}") from None
    elif spec.type == "boolean" and isinstance(value, str):
        lowered = value.strip().lower()
        if lowered not in {"true", "false", "1", "0", "yes", "no"}:
            raise InputError(f"{where}: input {spec.name!r} must be true or false, got {value!r}")
        value = lowered in {"true", "1", "yes"}
    elif spec.type == "url":
        try:
            parts = urlsplit(value)
        except ValueError:
            raise InputError(f"{where}: input {spec.name!r} must be an http(s) URL, got {value!r}") from None
        if parts.scheme not in {"http", "https"} or not parts.netloc:
            raise InputError(f"{where}: input {spec.name!r} must be an http(s) URL, got {value!r}")
    elif spec.type == "path":
        path = Path(value).expanduser()
        path = (path if path.is_absolute() else base / path).resolve()
        if not path.exists():
            raise InputError(f"{where}: input {spec.name!r}: no such file or folder: {path}")
        value = str(path)
    return value


def resolve_inputs(scenario: Scenario, given: dict[str, Any], *, root: Path, cwd: Path | None = None) -> dict[str, Any]:
    """The scenario's inputs: given values (``--set``) over defaults, coerced to their types.

    Given ``path`` values resolve against ``cwd``; defaults against the project ``root``.

    Raises:
        InputError: An unknown input, a missing required one, or a value of the wrong type; the
            message names the scenario file and line.
    """
    cwd = cwd or Path.cwd()
    unknown = sorted(set(given) - set(scenario.inputs))
    if unknown:
        raise InputError(
            f"{scenario.path}: the scenario has no input(s) {', '.join(map(repr, unknown))} "
            f"(inputs: {', '.join(scenario.inputs) or 'none'})"
        )
    values: dict[str, Any] = {}
    for name, spec in scenario.inputs.items():
        where = f"{scenario.path}:{spec.line}"
        if name in given:
            values[name] = _coerce(spec, given[name], base=cwd, where=where)
        elif spec.default is not None:
            values[name] = _coerce(spec, spec.default, base=root, where=where)
        elif spec.required:
            raise InputError(
                f"{where}: missing required input {name!r} ({spec.description or spec.type}); "
                f"give it with --set {name}=VALUE"
            )
        else:
            values[name] = None
    return values


class _Run:
    """One run in progress: state, store and the live outputs of finished steps.

    The keyword arguments after ``replay_from`` are for runs inside a simulation batch
    (:mod:`llmos.simulate`); their defaults are what :func:`run_scenario` does:

    Args:
        trace_path: The file the trace line is appended to (default ``workspace/datasets/traces.jsonl``).
        remember: Stores the run's SmartMemory experience (default: appended to the project's
            ``system/SmartMemory.md``).
        rng: The random source of retry jitter (default: a fresh unseeded one).
        durable: ``False`` skips the fsyncs of the run's files (see :class:`~llmos.state.RunStore`).
        mirror: ``False`` leaves ``workspace/execution_state.md`` alone.
        approver: Answers the questions the run asks a person (default: nobody; the run pauses).
        confirm: ``side-effects`` asks before every step whose component has side effects.
        state: The state of a run to continue (:func:`resume_run`) instead of a new run.
        depth: How deep a sub-run this is (0: a run of its own).
        reload: Whether edited component documents take effect from the next step on (see
            :mod:`llmos.reload`); a simulation batch runs without.
        on_broken: What a step does when an edit broke its component's document: ``fail`` (the
            step and the run fail with the document's file:line error) or ``wait`` (until the
            file is fixed).
    """

    def __init__(
        self,
        project: Project,
        *,
        workspace: Path,
        mode: str,
        provider_name: str | Provider,
        script: Path | None,
        progress: Progress | None,
        budget_usd: float | None = None,
        replay_from: list[Path] | None = None,
        trace_path: Path | None = None,
        remember: Callable[[MemoryEntry], None] | None = None,
        rng: random.Random | None = None,
        durable: bool = True,
        mirror: bool = True,
        approver: Approver | None = None,
        confirm: str = "none",
        state: RunState | None = None,
        depth: int = 0,
        reload: bool = True,
        on_broken: str = "fail",
    ) -> None:
        self.project = project
        self.depth = depth  # 0 for a run, 1 for its sub-runs, ...
        self.reload = reload
        self.on_broken = on_broken
        self.watcher: DocumentWatcher | None = None
        self.stamps: dict[str, Stamp] = {}  # component name -> the file's stamp when last (re)loaded
        self.changed_documents: set[Path] = set()
        self.approver = approver
        self.confirm = confirm
        self.approved: set[str] = set()  # steps a person approved in this process
        self.resumed = state is not None
        self.steps: list[Step] = []  # the plan
        self.replay_from = replay_from if replay_from is not None else [workspace / "datasets" / "traces.jsonl"]
        self.trace_file = trace_path or workspace / "datasets" / "traces.jsonl"
        self.remember = remember
        self.rng = rng or random.Random()  # retry jitter; a simulation batch seeds it per run
        self.budget_override = budget_usd
        self.budget_stop: BudgetExceeded | None = None
        self.partial: list[Any] = []  # results of the for_each step in progress
        self.attempt = 1  # the attempt of the call in progress (labels an agent's inner tool calls)
        self.workspace = workspace
        self.mode = mode
        self.provider: Provider | None = None
        if isinstance(provider_name, Provider):
            self.provider = provider_name
            self.provider_name, self.provider_reason = provider_name.name, "given by the caller"
        else:
            self.provider_name, self.provider_reason = choose_provider(provider_name)
        self.requested_provider = provider_name if isinstance(provider_name, str) else provider_name.name
        self.script = script
        self.progress = progress or (lambda _msg: None)
        if state is None:
            execution_id = _claim_execution_id(workspace)
            self.store = RunStore(workspace, execution_id, project.state_template, durable=durable, mirror=mirror)
            now = utc_now()
            state = RunState(
                execution_id=execution_id,
                mode=mode,
                provider=self.provider_name,
                script=str(script.resolve()) if script else None,
                started_at=now,
                updated_at=now,
                project_root=str(project.root),
                workspace=str(workspace),
            )
        else:
            self.store = RunStore(workspace, state.execution_id, project.state_template, durable=durable, mirror=mirror)
            self.store.resume_from(state)
        self.state = state
        self.outputs_seen = set(state.outputs)
        self.clock = time.perf_counter() - state.duration_s
        self.live: dict[str, dict[str, Any]] = {}
        self.scenario: Scenario | None = None
        self.policy = Policy(workspace=workspace)
        self.summaries: dict[str, list[dict[str, Any]]] = {}
        self.schema_ok = True
        self.trace_path: Path | None = None

    # -- persistence ---------------------------------------------------------------------------

    def record(
        self,
        kind: str,
        source: str,
        target: str,
        *,
        step: str | None = None,
        detail: str = "",
        data: dict[str, Any] | None = None,
        snapshot: StepState | None = None,
        followed: bool = False,
    ) -> None:
        """Record one transition (journal, then state file).

        ``followed``: another transition comes at once (a step's call returned, the step
        completed), so the state file is left for that one to rewrite.
        """
        state = self.state
        state.transition_count += 1
        state.updated_at = utc_now()
        state.duration_s = round(time.perf_counter() - self.clock, 3)
        transition = Transition(
            seq=state.transition_count,
            at=state.updated_at,
            kind=kind,
            source=source,
            target=target,
            step=step,
            detail=detail,
            data=data or {},
        )
        state.recent_transitions = [*state.recent_transitions[-(RECENT_TRANSITIONS - 1) :], transition.summary()]
        # Durable before the world may change: a step starting, a phase change, a decision.
        sync = kind in {"phase", "decision", "resume"} or (kind == "step" and target == "running")
        self.store.record(state, transition, snapshot=snapshot, sync=sync, checkpoint=not followed)

    def advance(self, target: str, detail: str = "") -> None:
        source = self.state.phase
        if not self.project.state_machine.allows(source, target):
            raise RunError(f"SystemAgent.md's state machine has no transition {source} -> {target}")
        self.state.phase = target
        self.record("phase", source, target, detail=detail)
        self.progress(f"{target.lower().replace('_', ' ')}" + (f": {detail}" if detail else ""))

    def set_step(self, st: StepState, status: str, detail: str = "") -> None:
        source = self.state.set_step_status(st, status)
        self.state.current_step = st.id if status == "running" else None
        done = status in {"completed", "skipped"}  # the next step starts (or the run ends) at once
        self.record("step", source, status, step=st.id, detail=detail, snapshot=st, followed=done)

    def remaining_budget(self) -> float | None:
        """US dollars the run may still spend (never below 0), or ``None`` without a budget."""
        if self.state.budget_usd is None:
            return None
        return max(round(self.state.budget_usd - self.state.cost_usd, 6), 0.0)

    def add_output(self, path: str) -> None:
        """Note a file the run wrote (before recording the call that wrote it)."""
        if path not in self.outputs_seen:
            self.outputs_seen.add(path)
            self.state.outputs.append(path)

    # -- phases --------------------------------------------------------------------------------

    def initialize(
        self, scenario_path: Path | None, given: dict[str, Any], *, goal: str = "", resumed: bool = False
    ) -> None:
        """INITIALIZE: load the scenario (or, for a goal run, make one holding the goal and the
        given inputs) and resolve its inputs. The given inputs are recorded first (in the
        journal's first line), so that a run interrupted before its plan was recorded can be
        planned again on resume (``resumed``: that second time)."""
        from llmos.planning import goal_scenario

        self.state.scenario_path = str(scenario_path) if scenario_path else ""
        if not resumed:
            self.state.scenario = scenario_path.stem if scenario_path else "goal"
            self.state.goal = goal
            self.state.inputs = dict(given)
            what = f"scenario {scenario_path}" if scenario_path else f"goal: {goal}"
            self.record("phase", "", "INITIALIZE", detail=what)
        if scenario_path:
            scenario = self.project.load_scenario(scenario_path)
        else:
            scenario = goal_scenario(goal or self.state.goal, given)
        self.scenario = scenario
        self.state.scenario = scenario.name
        self.state.goal = scenario.goal
        self.state.budget_usd = self.budget_override if self.budget_override is not None else scenario.budget_usd
        self.state.inputs = resolve_inputs(scenario, given, root=self.project.root)
        roots = [Path(v) for k, v in self.state.inputs.items() if scenario.inputs[k].type == "path" and v]
        self.policy = Policy(workspace=self.workspace, read_roots=roots)

    def plan(self) -> None:
        """PLAN: the scenario's steps, or a plan the provider makes from the goal (validated)."""
        assert self.scenario is not None
        if self.scenario.steps:
            self.adopt(list(self.scenario.steps))
            return
        self.adopt(self.plan_from_goal())

    def adopt(self, steps: list[Step]) -> None:
        """Append ``steps`` to the run's plan (stored in ``plan.json``), each ``pending``."""
        self.steps.extend(steps)
        self.state.plan = [s.to_dict() for s in self.steps]
        self.store.write_plan(self.state)
        for step in steps:
            component = self.project.library.get(step.component)
            assert component is not None
            tool = resolve_tool(component, step.tool) if component.kind == "tool" else None
            self.state.steps.append(
                StepState(
                    id=step.id,
                    component=step.component,
                    kind=component.kind,
                    tool=tool,
                    document_sha256=component.sha256,
                )
            )
        self.state.count_steps()

    def plan_from_goal(self, *, failed: StepState | None = None) -> list[Step]:
        """Ask the provider for a plan (or, after ``failed``, a revised plan for the rest of the
        work), validate it and ask again with the problems, at most ``MAX_REPAIRS`` times.

        Every answer is a ``plan`` transition (``accepted`` or ``rejected``) carrying the steps,
        the problems, the components and experiences offered and the cost.

        Raises:
            PlanError: No valid plan after the repairs, or the provider could not answer.
        """
        from llmos.planning import MAX_EXPERIENCES, MAX_REPAIRS, PLAN_SCHEMA, plan_prompt, relevant_components
        from llmos.planning import validate_plan as check_plan

        assert self.scenario is not None
        state, project = self.state, self.project
        goal = state.goal
        provider = self.get_provider()
        components = relevant_components(project, goal)
        experiences = self.experiences(goal, MAX_EXPERIENCES)
        done = [step for step, st in zip(self.steps, state.steps, strict=True) if st.status == "completed"]
        progress = self.progress_report(failed) if failed is not None else None
        planning = dict(state.planning or {})
        planning.update(
            {
                "by": provider.name,
                "components_offered": [c.name for c in components],
                "experiences": [h.entry.id for h in experiences],
            }
        )
        problems: list[str] | None = None
        for attempt in range(1, MAX_REPAIRS + 2):
            budget = self.remaining_budget()
            prompt = plan_prompt(
                goal=goal,
                inputs=state.inputs,
                components=components,
                experiences=experiences,
                budget_usd=budget,
                problems=problems,
                progress=progress,
            )
            request = AgentRequest(
                agent="SystemAgent",
                step="replan" if failed is not None else "plan",
                system_prompt=project.system_agent_prompt,
                prompt=prompt,
                inputs={"goal": goal},
                output_schema=PLAN_SCHEMA,
                max_turns=3,
                timeout_s=300,
                workspace=self.workspace,
                budget_usd=budget,
            )
            data: dict[str, Any] = {
                "attempt": attempt,
                "replan": failed is not None,
                "components_offered": planning["components_offered"],
                "experiences": planning["experiences"],
                "prompt": self.store.offload(f"plan{attempt}.prompt", prompt),
            }
            try:
                response = provider.complete(request)
            except ProviderError as exc:
                spent = float(exc.cost_usd or 0.0)
                state.cost_usd = round(state.cost_usd + spent, 6)
                invalid = bool(getattr(exc, "invalid_output", False))
                self.record(
                    "plan", "", "rejected" if invalid else "error", detail=str(exc), data={**data, "cost_usd": spent}
                )
                if attempt > MAX_REPAIRS or isinstance(exc, BudgetExceeded) or not (invalid or exc.retryable):
                    raise PlanError(f"the provider could not make a plan: {exc.message}") from exc
                problems = [exc.message] if invalid else problems  # an answer not in the plan schema
                continue
            state.cost_usd = round(state.cost_usd + response.cost_usd, 6)
            check = check_plan(
                project,
                response.output,
                goal=goal,
                inputs=self.input_specs(),
                budget_usd=budget,
                done=done,
            )
            data.update(
                {
                    "steps": self.store.offload(f"plan{attempt}.steps", response.output.get("steps")),
                    "rationale": response.output.get("rationale", ""),
                    "problems": check.problems,
                    "estimated_cost_usd": check.estimated_cost_usd,
                    "provider": response.provider,
                    "model": response.model,
                    "source": response.source,
                    "cost_usd": response.cost_usd,
                }
            )
            verdict = "accepted" if check.ok else "rejected"
            detail = f"{len(check.steps)} steps" if check.ok else "; ".join(check.problems)[:500]
            self.record("plan", "", verdict, detail=detail, data=data)
            if check.ok:
                planning["repairs"] = planning.get("repairs", 0) + attempt - 1
                planning["estimated_cost_usd"] = round(
                    planning.get("estimated_cost_usd", 0.0) + check.estimated_cost_usd, 6
                )
                planning["steps"] = len(done) + len(check.steps)
                state.planning = planning
                self.progress(f"plan {verdict}: {' -> '.join(s.component for s in check.steps)}")
                return check.steps
            self.progress(f"plan rejected ({len(check.problems)} problems); asking for a corrected plan")
            problems = check.problems
        planning["repairs"] = planning.get("repairs", 0) + MAX_REPAIRS
        state.planning = planning
        raise PlanError(
            f"no valid plan after {MAX_REPAIRS} repairs; the last one had these problems: " + "; ".join(problems or [])
        )

    def experiences(self, goal: str, limit: int) -> list[Any]:
        """The SmartMemory entries most relevant to ``goal`` (none when the memory cannot be read)."""
        from llmos.memory import search_memory

        try:
            return search_memory(self.project.memory_path, goal, limit=limit)
        except (OSError, LLMOSError) as exc:
            self.progress(f"SmartMemory could not be searched ({exc}); planning without experiences")
            return []

    def input_specs(self) -> dict[str, FieldSpec]:
        """The run's declared inputs (a goal run declares the ones given with ``--set``)."""
        assert self.scenario is not None
        return self.scenario.inputs

    def progress_report(self, failed: StepState) -> str:
        """What a revised plan starts from: the steps that ran, and the failure."""
        lines = []
        for step, st in zip(self.steps, self.state.steps, strict=True):
            if st.status == "completed":
                keys = ", ".join(st.outputs) if isinstance(st.outputs, dict) else ""
                lines.append(f"- `{step.id}` ({step.component}) completed; its outputs: {keys or 'none'}")
            elif st.status == "skipped":
                lines.append(f"- `{step.id}` ({step.component}) was skipped")
        lines.append(f"- `{failed.id}` ({failed.component}) failed for good: {failed.error}")
        lines.append(
            "Plan the remaining work only: new steps with new ids, which may read the outputs of the "
            "completed steps. Avoid what failed."
        )
        return "\n".join(lines)

    def execute(self) -> None:
        """Run the steps from the cursor on; a finished step is never run again. When a step of a
        run planned from its goal fails for good, the provider may revise the rest of the plan
        (at most ``MAX_REPLANS`` times)."""
        index = self.state.cursor - 1
        while index + 1 < len(self.steps):
            index += 1
            step, st = self.steps[index], self.state.steps[index]
            self.state.cursor = index
            if st.status in FINISHED_STEP_STATUSES:
                continue
            component = self.component_for(step, st)
            if component is None:
                return
            if self.state.budget_usd is not None and self.state.cost_usd >= self.state.budget_usd:
                self.pause(
                    f"the budget of ${self.state.budget_usd:.4f} is spent (${self.state.cost_usd:.4f}) "
                    f"before step {step.id!r}"
                )
                return
            if not self.clear_to_run(step, st, component):
                return
            if st.status == "skipped":
                continue
            component = self.component_for(step, st)  # a person may have taken a while
            if component is None:
                return
            self.run_step(step, st, component)
            if self.budget_stop is not None:
                self.pause(f"{self.budget_stop}; the run is paused before step {step.id!r} completes")
                return
            if st.status == "failed" and not self.replan(st):
                return
        self.state.cursor = len(self.steps)

    def replan(self, failed: StepState) -> bool:
        """After ``failed`` failed for good in a run planned from its goal, ask for a revised plan
        for the rest of the work; ``True`` when one was adopted (the run goes on)."""
        from llmos.planning import MAX_REPLANS

        planning = self.state.planning
        if not planning or self.scenario is None or self.scenario.steps:
            return False  # written by hand: no re-planning
        if planning.get("replans", 0) >= MAX_REPLANS:
            return False
        self.progress(f"step {failed.id} failed; asking for a revised plan")
        planning["replans"] = planning.get("replans", 0) + 1
        error = self.state.error
        try:
            steps = self.plan_from_goal(failed=failed)
        except LLMOSError as exc:
            self.progress(f"no revised plan: {exc}")
            self.state.error = error
            return False
        failed.note = f"replaced by a revised plan of {len(steps)} step(s)"
        self.state.error = None
        self.record("step", "failed", "failed", step=failed.id, detail=failed.note, snapshot=failed)
        self.adopt(steps)
        return True

    # -- documents -----------------------------------------------------------------------------

    def component_for(self, step: Step, st: StepState) -> Component | None:
        """The step's component as its document is now (reloaded when it changed on disk); ``None``
        when the step cannot run (the component is gone, or its document is broken and the run
        does not wait), after failing the step and the run with the reason."""
        announced = False
        while True:
            try:
                component = self.current_component(step.component)
            except DocumentError as exc:
                if self.on_broken != "wait":
                    self.fail_step(step, st, exc, allow_skip=False)
                    return None
                if not announced:
                    self.record("step", st.status, st.status, step=step.id, detail=f"waits for a fixed document: {exc}")
                    self.progress(f"step {step.id} waits until this is fixed: {exc}")
                    announced = True
                if self.watcher is not None:
                    self.watcher.wait(0.5)
                else:
                    time.sleep(0.2)
                continue
            if component is None:
                self.fail_step(
                    step,
                    st,
                    RunError(f"the library has no component {step.component!r}", step=step.id),
                    allow_skip=False,
                )
            elif announced:
                self.progress(f"step {step.id}: {component.path} is fixed; going on")
            return component

    def current_component(self, name: str) -> Component | None:
        """The component ``name`` as its file is now.

        Raises:
            DocumentError: The file was edited and no longer parses (file and line).
        """
        library = self.project.library
        component = library.get(name)
        if not self.reload or component is None or component.path is None:
            return component
        if self.watcher is None and self.depth == 0:
            self.watcher = DocumentWatcher([self.project.root / "components", self.project.root / "system"])
        if self.watcher is not None:
            self.changed_documents |= self.watcher.changed()
        path = component.path
        now = stamp(path)
        known = self.stamps.get(name)
        if known is None and path.resolve() not in self.changed_documents:
            self.stamps[name] = now  # first use: the version the library loaded (checked by hash below)
            if now is not None and _sha256(path) == component.sha256:
                return component
        elif known == now and path.resolve() not in self.changed_documents:
            return component
        self.changed_documents.discard(path.resolve())
        from llmos.documents import load_component

        fresh = load_component(path)  # DocumentError when the edit broke it
        self.stamps[name] = now
        if fresh.name != name:
            raise DocumentError(f"the component was renamed to {fresh.name!r}; steps still name {name!r}", path=path)
        if fresh.sha256 != component.sha256:
            library.components[name] = fresh
            library.apply_tool_map(self.project.tool_map)
            self.progress(f"{name}: {path.name} changed; the new version is used from this step on")
        return library.get(name)

    def close(self) -> None:
        """Release what the run holds open (journal, temporary files, the document watcher)."""
        self.store.close()
        if self.watcher is not None:
            self.watcher.close()
            self.watcher = None

    # -- people --------------------------------------------------------------------------------

    def question(self, step: Step, component: Component) -> tuple[str, str] | None:
        """Whether a person must answer before ``step`` runs: ``(kind, reason)`` or ``None``."""
        if step.id in self.approved:
            return None
        if step.approval == "required":
            return "approval", "the step requires a person's approval (approval: required)"
        read_only = component.kind == "tool" and resolve_tool(component, step.tool) in READ_ONLY_TOOLS
        if self.confirm == "side-effects" and self.mode == "execution" and component.side_effects and not read_only:
            return "side_effects", f"{component.name} has side effects ({'; '.join(component.side_effects)})"
        return None

    def clear_to_run(self, step: Step, st: StepState, component: Component) -> bool:
        """Ask a person first when the step needs it; ``False`` when the run must stop here
        (paused for an answer, or rejected)."""
        asked = self.question(step, component)
        if asked is None:
            return True
        return self.ask(step, st, component, *asked)

    def ask(self, step: Step, st: StepState, component: Component, kind: str, reason: str) -> bool:
        if self.state.phase != "AWAIT_APPROVAL":
            self.advance("AWAIT_APPROVAL", detail=f"step {step.id!r}: {reason}")
        decision = self.approver(self.request(step, component, kind, reason)) if self.approver else None
        if decision is None:
            self.state.pending = {"step": step.id, "kind": kind, "reason": reason, "since": utc_now()}
            eid = self.state.execution_id
            self.pause(
                f"step {step.id!r} ({component.name}) waits for a person: {reason}; answer with "
                f"`llmos approve {eid}`, `llmos reject {eid} --reason TEXT` or `llmos skip {eid}`"
            )
            return False
        return self.decide(step, st, decision, kind)

    def request(self, step: Step, component: Component, kind: str, reason: str) -> ApprovalRequest:
        try:
            inputs = self.render(step, step.inputs, self.context(), "inputs") if not step.for_each else step.inputs
        except LLMOSError:
            inputs = step.inputs
        return ApprovalRequest(
            execution_id=self.state.execution_id,
            step=step.id,
            component=component.name,
            kind=kind,
            reason=reason,
            inputs=dict(inputs),
            side_effects=component.side_effects,
        )

    def decide(self, step: Step, st: StepState, decision: Decision, kind: str) -> bool:
        """Apply a person's answer (recorded as a ``decision`` transition); ``False`` when the run
        stops here (rejected)."""
        self.state.pending = None
        past = {"approve": "approved", "reject": "rejected", "skip": "skipped"}[decision.action]
        self.record(
            "decision",
            kind,
            past,
            step=step.id,
            detail=decision.reason or f"{past} by {decision.by}",
            data={"question": kind, "action": decision.action, "reason": decision.reason, "by": decision.by},
        )
        self.progress(f"step {step.id}: {past} by {decision.by}" + (f" ({decision.reason})" if decision.reason else ""))
        if decision.action == "reject":
            message = f"rejected by {decision.by}" + (f": {decision.reason}" if decision.reason else "")
            st.error = message
            st.finished_at = utc_now()
            self.set_step(st, "rejected", detail=message)
            self.state.error = {"message": f"step {step.id!r}: {message}", "step": step.id, "type": "Rejected"}
            return False
        self.advance("EXECUTE", detail=f"step {step.id!r} {past} by {decision.by}")
        if decision.action == "skip":
            st.note = f"skipped by {decision.by}" + (f": {decision.reason}" if decision.reason else "")
            st.finished_at = utc_now()
            self.set_step(st, "skipped", detail=st.note)
            self.live[step.id] = {"outputs": {}, "status": "skipped", "error": None}
            return True
        self.approved.add(step.id)
        if st.status == "running":  # a re-run after a crash, approved
            st.note = f"run again after the runner stopped mid-step (approved by {decision.by})"
            self.set_step(st, "pending", detail=st.note)
        return True

    # -- resuming ------------------------------------------------------------------------------

    def reopen(self, decision: Decision | None) -> bool:
        """Make a run rebuilt from its journal ready to go on, and record how it goes on.

        Returns:
            ``False`` when the run stays paused on a question nobody answered (nothing recorded).

        Raises:
            StateError: The run stopped before its plan was recorded, or the plan is damaged.
        """
        state = self.state
        if not state.plan and state.status == "running" and state.phase in {"INITIALIZE", "PLAN"}:
            # Interrupted before its plan was recorded: nothing ran yet, so plan it again.
            self.record("resume", "interrupted", state.phase, detail="resumed before the plan was recorded")
            try:
                scenario_path = Path(state.scenario_path) if state.scenario_path else None
                self.initialize(scenario_path, dict(state.inputs), goal=state.goal, resumed=True)
                if state.phase == "INITIALIZE":
                    self.advance("PLAN", detail=f"goal: {state.goal}")
                self.plan()
                self.advance("EXECUTE", detail=f"{len(state.steps)} steps planned")
            except LLMOSError as exc:
                self.fail_early(exc)
            return True
        if not state.plan:
            raise StateError(f"run {state.execution_id} has no recorded plan, so it cannot go on")
        self.scenario = self.recorded_scenario()
        try:
            self.steps = [Step.from_dict(entry) for entry in state.plan]
        except ValueError as exc:
            where = self.store.run_dir / state.plan_file
            raise StateError(f"the stored plan is not valid: {exc}", path=where) from None
        if self.budget_override is not None:
            state.budget_usd = self.budget_override
        self.policy = Policy(workspace=self.workspace, read_roots=self.path_inputs())
        for step, st in zip(self.steps, state.steps, strict=True):
            component = self.project.library.get(step.component)
            if component is not None and st.status == "pending" and st.started_at is None:
                st.kind = component.kind
                st.tool = resolve_tool(component, step.tool) if component.kind == "tool" else None
                st.document_sha256 = component.sha256
            if st.status == "completed":
                self.live[st.id] = {
                    "outputs": self.inflate(st.outputs),
                    "status": "completed",
                    "quality_metrics": st.quality_metrics,
                }
                metrics = st.quality_metrics
                if metrics:
                    self.summaries[st.id] = [m for m in (metrics if isinstance(metrics, list) else [metrics]) if m]
            elif st.status == "skipped":
                self.live[st.id] = {"outputs": {}, "status": "skipped", "error": st.error}
        if state.status == "paused":
            return self.reopen_paused(decision)
        # The runner stopped without pausing (a crash, kill -9): the journal says where.
        detail = f"resumed in phase {state.phase} after the runner stopped"
        self.record("resume", "interrupted", state.phase, detail=detail)
        self.progress(f"resuming run {state.execution_id} (interrupted in phase {state.phase})")
        if state.phase == "PLAN":
            self.advance("EXECUTE", detail=f"{len(self.steps)} steps planned")
        if state.phase in {"EXECUTE", "AWAIT_APPROVAL"}:
            for step, st in zip(self.steps, state.steps, strict=True):
                if st.status != "running":
                    continue
                component = self.project.library.get(step.component)
                if component is not None and component.idempotent:
                    st.note = "was running when the runner stopped; its component is idempotent, so it runs again"
                    self.set_step(st, "pending", detail=st.note)
                    continue
                reason = (
                    "the step was running when the runner stopped and "
                    + (f"{component.name} is not idempotent" if component else "its component is gone")
                    + ": running it again may repeat its effects"
                )
                self.ask(step, st, component or _missing(step), "rerun", reason)
                break
        return True

    def reopen_paused(self, decision: Decision | None) -> bool:
        state = self.state
        pending = state.pending
        if not pending:
            budget = "" if state.budget_usd is None else f" with a budget of ${state.budget_usd:.4f}"
            self.unpause("EXECUTE", detail="resumed" + budget)
            return True
        index = next((i for i, s in enumerate(self.steps) if s.id == pending.get("step")), None)
        if index is None:
            raise StateError(f"the run waits on step {pending.get('step')!r}, which is not in its plan")
        step, st = self.steps[index], state.steps[index]
        component = self.project.library.get(step.component) or _missing(step)
        kind, reason = str(pending.get("kind", "approval")), str(pending.get("reason", ""))
        answer = decision
        if answer is None and self.approver is not None:
            answer = self.approver(self.request(step, component, kind, reason))
        if answer is None:
            self.progress(f"still paused: {state.paused_reason}")
            return False
        state.cursor = index
        self.unpause("AWAIT_APPROVAL", detail=f"step {step.id!r}: answered ({answer.action})")
        self.decide(step, st, answer, kind)
        return True

    def unpause(self, phase: str, detail: str) -> None:
        self.state.status = "running"
        self.state.paused_reason = None
        self.advance(phase, detail=detail)

    def recorded_scenario(self) -> Scenario | None:
        """The run's scenario as it is now (for a goal run: the goal and its inputs), or ``None``
        when its file cannot be read any more."""
        from llmos.planning import goal_scenario

        if not self.state.scenario_path:
            return goal_scenario(self.state.goal, self.state.inputs)
        try:
            return self.project.load_scenario(Path(self.state.scenario_path))
        except LLMOSError as exc:
            self.progress(f"the scenario cannot be read now ({exc}); its path inputs are not readable to tools")
            return None

    def path_inputs(self) -> list[Path]:
        """The folders and files the run's ``path`` inputs name (readable by its tools)."""
        scenario = self.scenario or self.recorded_scenario()
        if scenario is None:
            return []
        return [
            Path(v)
            for k, v in self.state.inputs.items()
            if k in scenario.inputs and scenario.inputs[k].type == "path" and isinstance(v, str) and v
        ]

    def inflate(self, value: Any) -> Any:
        """``value`` with artifact references (see :meth:`~llmos.state.RunStore.offload`) replaced by
        the artifact's text.

        Raises:
            StateError: An artifact is missing.
        """
        if isinstance(value, dict):
            if set(value) == {"artifact", "chars", "sha256", "preview"}:
                path = self.store.run_dir / str(value["artifact"])
                try:
                    return path.read_text(encoding="utf-8")
                except OSError as exc:
                    raise StateError(f"cannot read an artifact the run needs: {exc}", path=path) from None
            return {k: self.inflate(v) for k, v in value.items()}
        if isinstance(value, list):
            return [self.inflate(v) for v in value]
        return value

    def pause(self, reason: str) -> None:
        self.state.status = "paused"
        self.state.paused_reason = reason
        self.advance("PAUSED", detail=reason)

    # -- steps ---------------------------------------------------------------------------------

    def context(self, **extra: Any) -> dict[str, Any]:
        return {
            "inputs": self.state.inputs,
            "steps": self.live,
            "run": {
                "id": self.state.execution_id,
                "dir": f"runs/{self.state.execution_id}",
                "mode": self.mode,
                "workspace": str(self.workspace),
            },
            **extra,
        }

    def render(self, step: Step, value: Any, ctx: dict[str, Any], what: str) -> Any:
        try:
            return render_value(value, ctx)
        except jinja2.TemplateError as exc:
            raise TemplateError(f"cannot render {what}: {exc}", step=step.id) from None

    def run_step(self, step: Step, st: StepState, component: Component) -> None:
        st.started_at = utc_now()
        st.document_sha256 = component.sha256  # the version of the document this step uses
        started = time.perf_counter()
        self.set_step(st, "running", detail=f"{component.name}" + (f".{st.tool}" if st.tool else ""))
        self.progress(f"step {step.id}: {component.name}" + (f" ({st.tool})" if st.tool else ""))
        quality: Any = None
        try:
            if step.for_each:
                items = self.render(step, step.for_each, self.context(), "for_each")
                if not isinstance(items, list):
                    raise TemplateError(f"for_each must give a list, got {type(items).__name__}", step=step.id)
                results: list[Any] = []
                metrics, rendered_all = [], []
                self.partial = results
                for index, item in enumerate(items):
                    inputs = self.render(step, step.inputs, self.context(item=item, index=index), "inputs")
                    rendered_all.append(inputs)
                    result, meta = self.call_with_fallback(step, st, component, inputs)
                    results.append(result)
                    metrics.append(meta.get("quality_metrics"))
                st.inputs = self.store.offload(f"{step.id}.inputs", {"for_each": rendered_all})
                outputs: dict[str, Any] = {"results": results, "count": len(results)}
                quality = metrics if any(m is not None for m in metrics) else None
            else:
                inputs = self.render(step, step.inputs, self.context(), "inputs")
                st.inputs = self.store.offload(f"{step.id}.inputs", inputs)
                outputs, meta = self.call_with_fallback(step, st, component, inputs)
                quality = meta.get("quality_metrics")
        except BudgetExceeded as stop:
            self.budget_stop = stop
            st.duration_s = round(time.perf_counter() - started, 3)
            st.note = f"stopped when the budget ran out ({stop.message}); the step has not completed"
            if step.for_each and self.partial:
                # Items already answered were paid for: keep them on record.
                st.outputs = self.store.offload(f"{st.id}.partial", {"completed_items": list(self.partial)})
                st.note += f"; {len(self.partial)} item(s) finished before it stopped"
            self.set_step(st, "pending", detail=stop.message)
            return
        except Exception as raised:
            exc = raised if isinstance(raised, LLMOSError) else _unexpected(raised, step.id)
            st.duration_s = round(time.perf_counter() - started, 3)
            self.fail_step(step, st, exc)
            return
        st.outputs = self.store.offload(f"{st.id}.outputs", outputs)
        st.quality_metrics = quality
        st.finished_at = utc_now()
        st.duration_s = round(time.perf_counter() - started, 3)
        self.live[st.id] = {"outputs": outputs, "status": "completed", "quality_metrics": quality}
        self.set_step(st, "completed", detail=st.note or "")

    def fail_step(self, step: Step, st: StepState, exc: LLMOSError, *, allow_skip: bool = True) -> None:
        """End a step that failed for good: skipped when its ``on_error`` says so (and
        ``allow_skip``), else failed (and the run with it)."""
        st.error = str(exc).removeprefix(f"step {step.id!r}: ")
        st.finished_at = utc_now()
        if step.on_error == "skip" and allow_skip:
            self.set_step(st, "skipped", detail=str(exc))
            self.progress(f"step {step.id} skipped: {exc}")
            self.live[step.id] = {"outputs": {}, "status": "skipped", "error": str(exc)}
            return
        self.set_step(st, "failed", detail=str(exc))
        self.state.error = {"message": str(exc), "step": step.id, "type": type(exc).__name__}
        self.progress(f"step {step.id} failed: {exc}")

    def call_with_fallback(
        self, step: Step, st: StepState, component: Component, inputs: dict[str, Any]
    ) -> tuple[dict[str, Any], dict[str, Any]]:
        """Call the step's component; when it fails for good and the step names a fallback, call that."""
        try:
            return self.call(step, st, component, inputs)
        except (ToolError, ProviderError) as exc:
            fallback = step.on_error.split(":", 1)[1] if step.on_error.startswith("fallback:") else None
            alt = self.project.library.get(fallback) if fallback else None
            if alt is None:
                raise
            self.progress(f"step {step.id}: {component.name} failed ({exc}); trying fallback {alt.name}")
            result = self.call(step, st, alt, inputs)
            st.note = f"completed by fallback {alt.name} after: {exc}"
            return result

    def call(
        self, step: Step, st: StepState, component: Component, inputs: dict[str, Any]
    ) -> tuple[dict[str, Any], dict[str, Any]]:
        """One call of a component, with its retry policy; records each attempt as a transition.

        Returns:
            The outputs and the call's metadata (source, cost, provider details, quality metrics).
        """
        attempts = max(component.retry.attempts, 3 if step.on_error == "retry" else 1)
        for attempt in range(1, attempts + 1):
            st.attempts += 1
            self.attempt = attempt
            began = time.perf_counter()
            try:
                outputs, meta = self.invoke(step, component, inputs)
            except Exception as raised:
                exc = raised if isinstance(raised, LLMOSError) else _unexpected(raised, step.id)
                duration = round(time.perf_counter() - began, 3)
                spent = float(getattr(exc, "cost_usd", 0.0) or 0.0)  # a failed call may still have cost money
                st.cost_usd = round(st.cost_usd + spent, 6)
                self.state.cost_usd = round(self.state.cost_usd + spent, 6)
                final = attempt >= attempts or not _retryable(exc, insist=step.on_error == "retry")
                wait = None if final else component.retry.backoff_s * (2 ** (attempt - 1)) * self.rng.uniform(0.8, 1.2)
                self.record_call(
                    step,
                    component,
                    inputs,
                    None,
                    duration,
                    attempt,
                    error=exc,
                    meta={"cost_usd": spent},
                    retry_in_s=None if wait is None else round(wait, 3),
                )
                if wait is None:
                    if exc is raised:
                        raise
                    raise exc from raised
                self.progress(f"step {step.id}: attempt {attempt} failed ({exc}); retrying in {wait:.1f} s")
                time.sleep(wait)
                continue
            duration = round(time.perf_counter() - began, 3)
            st.cost_usd = round(st.cost_usd + meta.get("cost_usd", 0.0), 6)
            self.state.cost_usd = round(self.state.cost_usd + meta.get("cost_usd", 0.0), 6)
            st.source = meta.get("source", "real")
            self.record_call(step, component, inputs, outputs, duration, attempt, meta=meta)
            return outputs, meta
        raise AssertionError("unreachable")

    def record_call(
        self,
        step: Step,
        component: Component,
        inputs: dict[str, Any],
        outputs: dict[str, Any] | None,
        duration: float,
        attempt: int,
        *,
        error: Exception | None = None,
        meta: dict[str, Any] | None = None,
        retry_in_s: float | None = None,
    ) -> None:
        meta = meta or {}
        kind = "agent_call" if component.kind == "agent" else "tool_call"
        tool = None if component.kind == "agent" else resolve_tool(component, step.tool)
        data: dict[str, Any] = {
            "component": component.name,
            "tool": tool,
            "attempt": attempt,
            "mode": self.mode,
            "source": meta.get("source", "real"),
            "duration_s": duration,
            "cost_usd": meta.get("cost_usd", 0.0),
            "inputs": self.store.offload(f"{step.id}.call{self.state.transition_count + 1}.inputs", inputs),
        }
        if outputs is not None:
            data["outputs"] = self.store.offload(f"{step.id}.call{self.state.transition_count + 1}.outputs", outputs)
        for key in (
            "provider",
            "model",
            "usage",
            "turns",
            "tool_calls",
            "system_prompt",
            "prompt",
            "notes",
            "quality_metrics",
        ):
            if key in meta:
                data[key] = self.store.offload(f"{step.id}.{key}", meta[key])
        if isinstance(error, ProviderError) and error.raw:
            data["raw_reply"] = self.store.offload(f"{step.id}.raw", error.raw)
        if retry_in_s is not None:
            data["retry_in_s"] = retry_in_s
        label = component.name if tool is None else f"{component.name}.{tool}"
        written = outputs.get("file_path") if outputs and tool in {"Write", "Edit"} else None
        if written and meta.get("source") == "real":
            self.add_output(written)
        self.record(
            kind,
            "",
            "ok" if error is None else "error",
            step=step.id,
            detail=str(error) if error else label,
            data=data,
            followed=error is None and not step.for_each,  # the step completes at once
        )

    def get_provider(self) -> Provider:
        if self.provider is None:
            self.provider = create_provider(self.requested_provider, script=self.script)
            self.progress(f"provider: {self.provider.describe()} ({self.provider_reason})")
        return self.provider

    def invoke(self, step: Step, component: Component, inputs: dict[str, Any]) -> tuple[dict[str, Any], dict[str, Any]]:
        if component.kind == "agent":
            return self.invoke_agent(step, component, inputs)
        from llmos.tools import TOOLS, ToolContext

        tool_name = resolve_tool(component, step.tool)
        if tool_name is None or tool_name not in TOOLS:
            raise InputError(
                f"{component.name} cannot run the tool {step.tool!r} "
                f"(it maps onto {', '.join(component.claude_tools)})",
                step=step.id,
            )
        tool = TOOLS[tool_name]
        tool.check_inputs(inputs, step=step.id)
        subtask = tool_name == "Task"  # a sub-run: it simulates itself in simulation mode
        if self.mode == "simulation" and not subtask:
            return self.simulate_tool(step, component, tool_name, inputs)
        spent: list[float] = []
        ctx = ToolContext(
            policy=self.policy,
            timeout_s=component.timeout_s,
            max_bytes=component.max_bytes,
            step=step.id,
            extra={"run_subtask": lambda given: self.run_subtask(step, given, spent)} if subtask else {},
        )
        try:
            outputs = tool.run(inputs, ctx)
        except ToolError as exc:
            exc.step = exc.step or step.id
            exc.cost_usd = round(exc.cost_usd + sum(spent), 6)
            raise
        source = "real" if self.mode == "execution" else "generated"
        return outputs, {"source": source, "cost_usd": round(sum(spent), 6)}

    def run_subtask(self, step: Step, given: dict[str, Any], spent: list[float]) -> dict[str, Any]:
        """Run a Task step's sub-run (see :mod:`llmos.tools.task`) and return its outputs; what it
        spent is appended to ``spent``.

        Raises:
            ToolError: Nested too deep, a scenario outside the project, or the sub-run did not
                complete (names the sub-run).
        """
        if self.depth >= MAX_SUBRUN_DEPTH:
            raise ToolError(f"sub-runs nest at most {MAX_SUBRUN_DEPTH} deep", tool="Task", step=step.id)
        scenario_path: Path | None = None
        if given.get("scenario"):
            scenario_path = (self.project.root / str(given["scenario"])).resolve()
            if not scenario_path.is_relative_to(self.project.root.resolve()) or not scenario_path.is_file():
                raise ToolError(
                    f"no scenario {given['scenario']!r} in the project {self.project.root}", tool="Task", step=step.id
                )
        budget = self.remaining_budget()
        sub = _Run(
            self.project,
            workspace=self.workspace,
            mode=self.mode,
            provider_name=self.provider if self.provider is not None else self.requested_provider,
            script=self.script,
            progress=lambda line: self.progress(f"[{step.id}] {line}"),
            budget_usd=budget,
            replay_from=self.replay_from,
            trace_path=self.trace_file,
            remember=self.remember,
            rng=self.rng,
            durable=self.store.durable,
            mirror=False,
            approver=self.approver,
            confirm=self.confirm,
            depth=self.depth + 1,
            reload=self.reload,
            on_broken=self.on_broken,
        )
        sub.state.parent = {"execution_id": self.state.execution_id, "step": step.id, "depth": self.depth + 1}
        self.progress(f"step {step.id}: sub-run {sub.state.execution_id}")
        result = _drive(sub, scenario_path, dict(given.get("inputs") or {}), goal=str(given.get("prompt") or ""))
        spent.append(result.cost_usd)
        linked = {
            "execution_id": result.execution_id,
            "status": result.status,
            "cost_usd": result.cost_usd,
            "state_path": str(result.state_path.relative_to(self.workspace)),
        }
        self.state.subruns = [*self.state.subruns, linked]
        if result.status == "paused" and sub.state.pending is None and budget is not None:
            raise BudgetExceeded(
                f"sub-run {result.execution_id} spent the budget left (${budget:.4f})",
                budget_usd=budget,
                cost_usd=result.cost_usd,
                step=step.id,
            )
        if result.status != "completed":
            raise ToolError(
                f"sub-run {result.execution_id} ended {result.status}: {result.error}", tool="Task", step=step.id
            )
        outputs_by_step = recover_state(result.run_dir).steps
        return {
            **linked,
            "outputs": list(result.outputs),
            "steps": [{"id": s.id, "status": s.status, "outputs": s.outputs} for s in outputs_by_step],
        }

    def invoke_agent(
        self, step: Step, component: Component, inputs: dict[str, Any]
    ) -> tuple[dict[str, Any], dict[str, Any]]:
        for name, spec in component.inputs.items():
            if name not in inputs and spec.default is not None:
                inputs = {**inputs, name: spec.default}
        schema = component.output_schema() if component.outputs else None
        try:
            provider = self.get_provider()
        except ProviderError as exc:
            exc.step = step.id
            exc.retryable = False  # a provider that cannot start will not start on a second try
            raise
        # In simulation mode nothing touches the world: a provider that runs tools itself gets none.
        tools = () if self.mode == "simulation" and provider.runs_tools else component.tools
        request = AgentRequest(
            agent=component.name,
            step=step.id,
            system_prompt=component.prompt,
            prompt=render_prompt(inputs, schema),
            inputs=inputs,
            output_schema=schema,
            model=component.model,
            max_turns=component.max_turns,
            tools=tools,
            timeout_s=component.timeout_s,
            workspace=self.workspace,
            budget_usd=self.remaining_budget(),
        )
        hooks = _StepHooks(self, step, component, runtime="claude_code" if provider.runs_tools else "llmos")
        try:
            response = run_agent(provider, request, hooks, hooks.execute)
        except ProviderError as exc:
            exc.step = step.id
            if exc.invalid_output:
                self.schema_ok = False
            raise
        outputs = dict(response.output)
        meta: dict[str, Any] = {
            "source": response.source,
            "cost_usd": response.cost_usd,
            "provider": response.provider,
            "model": response.model,
            "system_prompt": component.prompt,
            "prompt": request.prompt,
            "usage": {"input_tokens": response.input_tokens, "output_tokens": response.output_tokens},
            "turns": response.turns,
            "tool_calls": hooks.count,
        }
        if response.notes:
            meta["notes"] = response.notes
        if isinstance(outputs.get("summary"), str):
            # Measured against the text being summarized: the `content` input when there is one.
            source = inputs.get("content")
            if not isinstance(source, str):
                source = "\n".join(v for k, v in inputs.items() if isinstance(v, str) and k != "instructions")
            metrics = _summary_metrics(source, outputs["summary"], outputs.get("key_points"))
            meta["quality_metrics"] = metrics
            self.summaries.setdefault(step.id, []).append(metrics)
        return outputs, meta

    def simulate_tool(
        self, step: Step, component: Component, tool: str, inputs: dict[str, Any]
    ) -> tuple[dict[str, Any], dict[str, Any]]:
        """A simulated tool output: replayed from a recorded real call with equal inputs, else a
        component example, else imagined by the provider; ``meta["source"]`` says which."""
        from llmos.replay import replay_index

        recorded = replay_index(self.replay_from).lookup(tool, inputs)
        if recorded is not None and isinstance(recorded["outputs"], dict):
            return dict(recorded["outputs"]), {
                "source": "replayed",
                "cost_usd": 0.0,
                "notes": [f"replayed from run {recorded['execution_id']} ({recorded['trace']})"],
            }
        examples = [
            e for e in component.examples if e.tool == tool or (e.tool is None and len(component.claude_tools) == 1)
        ]
        for example in examples:
            if example.inputs == inputs:
                return dict(example.outputs), {"source": "example", "cost_usd": 0.0}
        if examples:
            return dict(examples[0].outputs), {"source": "example", "cost_usd": 0.0}
        provider = self.get_provider()
        schema = component.output_schema() if component.outputs else None
        prompt = (
            "You are simulating a tool; nothing is executed. Reply with the output this tool would "
            f"most plausibly return for these inputs.\n\n# Tool: {component.name} ({tool})\n\n{component.prompt}"
        )
        response = provider.complete(
            AgentRequest(
                agent=component.name,
                step=step.id,
                system_prompt=prompt,
                prompt=render_prompt(inputs, schema),
                inputs=inputs,
                output_schema=schema,
                timeout_s=component.timeout_s,
            )
        )
        return dict(response.output), {
            "source": "generated",
            "cost_usd": response.cost_usd,
            "provider": response.provider,
            "model": response.model,
        }

    # -- ending --------------------------------------------------------------------------------

    def update_memory(self) -> None:
        from llmos.memory import MemoryEntry, append_entry, lessons_from

        state = self.state
        outcome = "completed" if state.error is None else "failed"
        components: list[str] = []
        for st in state.steps:
            if st.status != "pending" and st.component not in components:
                components.append(st.component)
        entry = MemoryEntry(
            id=state.execution_id,
            time=utc_now(),
            goal=state.goal,
            scenario=state.scenario,
            mode=state.mode,
            provider=state.provider,
            outcome=outcome,
            cost_usd=state.cost_usd,
            duration_s=state.duration_s,
            components=components,
            errors=[f"{st.id}: {st.error.splitlines()[0][:300]}" for st in state.steps if st.error],
            recovery=[f"{st.id}: retried ({st.attempts} attempts)" for st in state.steps if st.attempts > 1]
            + [f"{st.id}: skipped" for st in state.steps if st.status == "skipped"],
            lessons=lessons_from(state.steps, outcome, state.duration_s, state.cost_usd),
        )
        try:
            if self.remember is not None:
                self.remember(entry)
            else:
                append_entry(self.project.memory_path, entry)
        except OSError as exc:
            self.progress(f"could not update SmartMemory.md: {exc}")
            self.advance("EXPORT_TRACE", detail=f"memory not updated: {exc}")
            return
        self.advance("EXPORT_TRACE", detail=f"experience {state.execution_id} added to SmartMemory.md")

    def export_trace(self) -> None:
        import json

        from llmos.quality import run_metrics
        from llmos.traces import append_trace, build_trace

        quality = run_metrics(self.state.steps, self.summaries, self.schema_ok)
        record = build_trace(self.state, self.store.journal(), self.store.run_dir, quality)
        self.trace_path = self.trace_file
        if not (self.resumed and _has_trace(self.trace_path, self.state.execution_id)):
            append_trace(self.trace_path, record)
        self.store.write(self.store.run_dir / "trace.json", json.dumps(record, ensure_ascii=False, indent=2))

    def fail_early(self, exc: LLMOSError) -> None:
        if self.state.phase not in {"INITIALIZE", "PLAN"}:
            raise exc
        self.state.error = {"message": str(exc), "step": getattr(exc, "step", None), "type": type(exc).__name__}
        self.state.status = "failed"
        self.state.finished_at = utc_now()
        self.advance("FAILED", detail=str(exc).splitlines()[0])

    def result(self) -> RunResult:
        state = self.state
        detail = self.provider.describe() if self.provider else f"{self.provider_name} ({self.provider_reason})"
        return RunResult(
            execution_id=state.execution_id,
            status=state.status,
            phase=state.phase,
            scenario=state.scenario,
            mode=state.mode,
            provider=state.provider,
            provider_detail=detail,
            steps=[
                {
                    "id": s.id,
                    "component": s.component,
                    "tool": s.tool,
                    "status": s.status,
                    "duration_s": s.duration_s,
                    "cost_usd": s.cost_usd,
                    "attempts": s.attempts,
                    "source": s.source,
                    "error": s.error,
                }
                for s in state.steps
            ],
            cost_usd=state.cost_usd,
            duration_s=state.duration_s,
            run_dir=self.store.run_dir,
            state_path=self.store.state_path,
            trace_path=self.trace_path,
            outputs=list(state.outputs),
            error=state.error["message"] if state.error else state.paused_reason,
            error_type=state.error["type"] if state.error else None,
        )


class _StepHooks:
    """The engine's side of the tool calls one agent step makes (see :class:`~llmos.providers.base.ToolCallHooks`).

    Every call is checked (the agent's own ``tools`` list, then the security policy; fail closed)
    and recorded as a ``tool_call`` transition, whichever runtime made it: ``claude_code`` (Claude
    Code ran it and reported it through its hooks) or ``llmos`` (the runner's agent loop ran it
    with the runner's tools).
    """

    def __init__(self, run: _Run, step: Step, component: Component, *, runtime: str) -> None:
        self.run = run
        self.step = step
        self.component = component
        self.runtime = runtime
        self.count = 0

    def before_tool_call(self, call: ToolCall) -> str | None:
        if _tool_alias(call.name) not in {_tool_alias(t) for t in self.component.tools}:
            allowed = ", ".join(self.component.tools) or "none"
            reason = f"{call.name} is not one of {self.component.name}'s tools ({allowed})"
        else:
            try:
                self.run.policy.check_tool_call(call.name, call.input)
                return None
            except PolicyError as exc:
                reason = exc.message
        self.record(call, ToolResult(call_id=call.id, error=f"denied by the security policy: {reason}", denied=True))
        self.run.progress(f"step {self.step.id}: {call.name} denied: {reason}")
        return f"denied by the LLM-OS security policy: {reason}"

    def after_tool_call(self, call: ToolCall, result: ToolResult) -> None:
        self.record(call, result)

    def record(self, call: ToolCall, result: ToolResult) -> None:
        run, step, source = self.run, self.step, result.source
        self.count += 1
        n = run.state.transition_count + 1
        data: dict[str, Any] = {
            "component": self.component.name,
            "tool": call.name,
            "call_id": call.id,
            "runtime": self.runtime,
            "attempt": run.attempt,
            "mode": run.mode,
            "source": source,
            "duration_s": result.duration_s,
            "cost_usd": 0.0,
            "inputs": run.store.offload(f"{step.id}.call{n}.inputs", call.input),
        }
        if result.ok:
            data["outputs"] = run.store.offload(f"{step.id}.call{n}.outputs", result.output)
        target = "denied" if result.denied else ("ok" if result.ok else "error")
        path = call.input.get("file_path")
        if result.ok and source == "real" and call.name in {"Write", "Edit"} and isinstance(path, str):
            run.add_output(str((run.workspace / path).resolve()) if not Path(path).is_absolute() else path)
        run.record(
            "tool_call",
            "",
            target,
            step=step.id,
            detail=result.error or f"{self.component.name} -> {call.name}",
            data=data,
        )

    def execute(self, call: ToolCall) -> ToolResult:
        """Run one allowed call with the runner's own tools (the runner's agent loop)."""
        from llmos.tools import TOOLS, ToolContext

        began = time.perf_counter()
        tool = TOOLS.get(call.name)
        if tool is None:
            return ToolResult(call_id=call.id, error=f"the runner has no {call.name} tool")
        try:
            tool.check_inputs(call.input, step=self.step.id)
            if self.run.mode == "simulation":
                return self.simulate(call, began)
            ctx = ToolContext(
                policy=self.run.policy,
                timeout_s=self.component.timeout_s,
                max_bytes=self.component.max_bytes,
                step=self.step.id,
            )
            output = tool.run(call.input, ctx)
        except LLMOSError as exc:
            message = exc.message if isinstance(exc, RunError) else str(exc)
            return ToolResult(call_id=call.id, error=message, duration_s=round(time.perf_counter() - began, 3))
        return ToolResult(call_id=call.id, output=output, duration_s=round(time.perf_counter() - began, 3))

    def simulate(self, call: ToolCall, began: float) -> ToolResult:
        """Simulation mode: the output comes from the examples of a tool component that maps
        onto this tool, else the provider imagines it; nothing runs."""
        component = next(
            (
                c
                for c in self.run.project.library.components.values()
                if c.kind == "tool" and call.name in c.claude_tools
            ),
            None,
        )
        if component is None:
            raise ToolError(f"simulation mode: no tool component maps onto {call.name}", tool=call.name)
        outputs, meta = self.run.simulate_tool(self.step, component, call.name, call.input)
        return ToolResult(
            call_id=call.id,
            output=outputs,
            duration_s=round(time.perf_counter() - began, 3),
            source=str(meta.get("source", "generated")),
        )


def _claim_execution_id(workspace: Path) -> str:
    """A new execution id whose run folder this call creates, so two runs started in the same
    second (a simulation batch starts many) never share one."""
    (workspace / "runs").mkdir(parents=True, exist_ok=True)
    while True:
        execution_id = new_execution_id()
        try:
            (workspace / "runs" / execution_id).mkdir()
        except FileExistsError:
            continue
        return execution_id


def _tool_alias(name: str) -> str:
    """Claude Code 2.x calls the subagent tool ``Agent``; documents may name it ``Task``."""
    return "Task" if name == "Agent" else name


def resolve_tool(component: Component, requested: str | None) -> str | None:
    """The Claude Code tool a tool component runs for a step: the requested one if the component
    maps onto it, the component's only tool when none is requested, else ``None``."""
    if requested:
        return requested if requested in component.claude_tools else None
    return component.claude_tools[0] if len(component.claude_tools) == 1 else None


def _sha256(path: Path) -> str:
    import hashlib

    try:
        return hashlib.sha256(path.read_bytes()).hexdigest()
    except OSError:
        return ""


def _has_trace(path: Path, execution_id: str) -> bool:
    """Whether the traces file already holds the run's record (a resumed run that was
    interrupted after appending it)."""
    needle = f'"execution_id": "{execution_id}"'.encode()
    try:
        with path.open("rb") as handle:
            return any(needle in line for line in handle)
    except FileNotFoundError:
        return False


def _missing(step: Step) -> Component:
    """A stand-in for a component the library no longer has (to ask a person about its step)."""
    return Component(
        name=step.component, kind="tool", real=False, description="(no longer in the library)", inputs={}, outputs={}
    )


def _unexpected(exc: BaseException, step: str) -> RunError:
    return RunError(f"unexpected {type(exc).__name__}: {exc}", step=step)


def _retryable(exc: LLMOSError, *, insist: bool = False) -> bool:
    """Whether another attempt may succeed: a transient error, or (``insist``: the step says
    ``on_error: retry``) any failed call; never a refusal, a bad input or a broken template."""
    if isinstance(exc, (PolicyError, InputError, TemplateError, BudgetExceeded)):
        return False
    return insist or bool(getattr(exc, "retryable", False))


def _summary_metrics(source: str, summary: str, key_points: Any) -> dict[str, Any]:
    from llmos.quality import summary_metrics

    return summary_metrics(source, summary, key_points if isinstance(key_points, list) else None)


def run_scenario(
    scenario: str | Path | None = None,
    *,
    goal: str | None = None,
    plan_only: bool = False,
    root: str | Path | None = None,
    inputs: dict[str, Any] | None = None,
    mode: str = "execution",
    provider: str | Provider = "auto",
    script: str | Path | None = None,
    workspace: str | Path | None = None,
    progress: Progress | None = None,
    budget_usd: float | None = None,
    replay_from: list[str | Path] | None = None,
    project: Project | None = None,
    approver: Approver | None = None,
    confirm: str = "none",
    lock: bool = True,
    on_broken: str = "fail",
    remember: bool = True,
) -> RunResult:
    """Run a scenario to the end (or until it pauses).

    Args:
        scenario: The scenario file; ``None`` with ``goal`` for a run planned from a goal alone.
        goal: What the run is for, when there is no scenario: SystemAgent plans the steps (see
            :mod:`llmos.planning`); ``inputs`` become its inputs.
        plan_only: Stop once the plan is recorded (the run pauses; ``--resume`` runs it).
        root: The project root; default: the nearest folder above the scenario (or the current
            folder) holding ``system/SystemAgent.md``. Ignored when ``project`` is given.
        inputs: Scenario input values (strings are coerced to the declared types).
        mode: ``execution`` (real tools) or ``simulation`` (tools never touch the world).
        provider: ``auto``, ``local``, ``scripted`` or ``claude``, or a :class:`~llmos.providers.Provider`
            instance (e.g. a :class:`~llmos.providers.scripted.ScriptedProvider` a test inspects afterwards).
        script: The scripted provider's script file.
        workspace: Where runs, outputs and traces go; default ``ROOT/workspace``.
        progress: Called with one line per notable event (for a progress display).
        budget_usd: Caps the run's cost in US dollars, instead of the scenario's ``budget_usd``.
            When it is spent, before or during a step, the run pauses (status ``paused``).
        replay_from: Trace files whose recorded real tool outputs simulation mode replays
            (default: the workspace's ``datasets/traces.jsonl``).
        project: An already loaded project to run in, so that many runs load it once (a
            simulation batch); default: loaded from ``root``.
        approver: Answers the questions the run asks a person (:mod:`llmos.approval`); default:
            nobody, so a step that needs a person pauses the run (status ``paused``).
            :func:`llmos.approval.approve_all` approves everything (``--yes``).
        confirm: ``side-effects`` asks before every step whose component declares side effects
            (execution mode only); ``none`` (default) asks only where a step says ``approval: required``.
        lock: ``False`` runs without taking the workspace's lock, for a caller that holds it
            already (a simulation batch).
        on_broken: When an edit during the run breaks a component document a step needs:
            ``fail`` (default: the run fails with the file:line error) or ``wait`` (until fixed).
        remember: ``False`` leaves SmartMemory.md alone (``llmos watch``'s development runs).

    Returns:
        The :class:`RunResult`; a failed run is a result with ``status == "failed"``, not an
        exception.

    Raises:
        DocumentError: No project root, or the project's system documents are broken, so no run
            could be started (nothing is written).
        WorkspaceLocked: Another run holds the workspace (nothing is written).
        ValueError: ``mode`` is not ``execution`` or ``simulation``, ``confirm`` is unknown, or
            ``budget_usd`` is negative.
    """
    if mode not in MODES:
        raise ValueError(f"mode must be one of {', '.join(MODES)}, not {mode!r}")
    if confirm not in CONFIRM_CHOICES:
        raise ValueError(f"confirm must be one of {', '.join(CONFIRM_CHOICES)}, not {confirm!r}")
    if on_broken not in {"fail", "wait"}:
        raise ValueError(f"on_broken must be fail or wait, not {on_broken!r}")
    if budget_usd is not None and budget_usd < 0:
        raise ValueError(f"budget_usd must be 0 or more, not {budget_usd}")
    if (scenario is None) == (goal is None):
        raise ValueError("give a scenario or a goal (one of them)")
    if goal is not None and not goal.strip():
        raise ValueError("the goal is empty")
    scenario_path = Path(scenario).resolve() if scenario is not None else None
    here = scenario_path.parent if scenario_path else Path.cwd()
    if project is None:
        root_path = Path(root).resolve() if root else (find_root(here) or find_root(Path.cwd()))
        if root_path is None:
            raise DocumentError(
                "no project root (a folder with system/SystemAgent.md) above the scenario or the "
                "current folder; pass --root",
                path=scenario_path,
            )
        project = Project.load(root_path)
    ws = Path(workspace).resolve() if workspace else project.root / "workspace"
    from contextlib import nullcontext

    from llmos.lock import WorkspaceLock

    with WorkspaceLock(ws) if lock else nullcontext() as held:
        run = _Run(
            project,
            workspace=ws,
            mode=mode,
            provider_name=provider,
            script=Path(script) if script else None,
            progress=progress,
            budget_usd=budget_usd,
            replay_from=[Path(p) for p in replay_from] if replay_from is not None else None,
            approver=approver,
            confirm=confirm,
            on_broken=on_broken,
            remember=None if remember else _forget,
        )
        if held is not None:
            held.update(run.state.execution_id)
            if held.took_over:
                run.progress(_took_over(held.took_over))
        return _drive(run, scenario_path, dict(inputs or {}), goal=(goal or "").strip(), plan_only=plan_only)


def _forget(entry: MemoryEntry) -> None:
    """The ``remember`` of a run that leaves SmartMemory.md alone."""


def _took_over(holder: dict[str, Any]) -> str:
    return (
        f"took over the workspace lock left by {holder.get('execution_id') or 'a run'} "
        f"(pid {holder.get('pid')}, no longer running)"
    )


def _drive(
    run: _Run, scenario_path: Path | None, inputs: dict[str, Any], *, goal: str = "", plan_only: bool = False
) -> RunResult:
    """Take a fresh :class:`_Run` through every phase (``run_scenario``, and ``llmos.simulate`` for
    runs it sets up itself)."""
    try:
        return _phases(run, scenario_path, inputs, goal=goal, plan_only=plan_only)
    finally:
        run.close()


def _phases(
    run: _Run, scenario_path: Path | None, inputs: dict[str, Any], *, goal: str = "", plan_only: bool = False
) -> RunResult:
    try:
        run.initialize(scenario_path, inputs, goal=goal)
        run.advance("PLAN", detail=f"goal: {run.state.goal}")
        run.plan()
        if plan_only:
            run.pause(
                f"--plan-only: the plan of {len(run.state.steps)} steps is recorded; run it with "
                f"`llmos-run --resume {run.state.execution_id}`"
            )
            return run.result()
        run.advance("EXECUTE", detail=f"{len(run.state.steps)} steps planned")
    except LLMOSError as exc:
        run.fail_early(exc)
        return run.result()
    except Exception as exc:  # a bug or an unforeseen input: still end in a recorded FAILED state
        run.fail_early(RunError(f"unexpected {type(exc).__name__}: {exc}"))
        return run.result()
    run.execute()
    return _finish(run)


def _finish(run: _Run) -> RunResult:
    """Take a run whose steps are done (or stopped) through the ending phases, from wherever it is."""
    state = run.state
    if state.status == "paused" or state.phase in {"COMPLETED", "FAILED"}:
        return run.result()
    if state.phase in {"EXECUTE", "AWAIT_APPROVAL"}:
        run.advance("UPDATE_MEMORY", detail="all steps done" if state.error is None else "a step did not complete")
    if state.phase == "UPDATE_MEMORY":
        run.update_memory()
    run.export_trace()
    state.status = "completed" if state.error is None else "failed"
    state.finished_at = utc_now()
    run.advance("COMPLETED" if state.error is None else "FAILED", detail=f"trace appended to {run.trace_path}")
    return run.result()


def find_run(workspace: str | Path, execution_id: str | None = None) -> Path:
    """The folder of a run in a workspace: the one named, or the latest.

    The latest run is the one ``workspace/execution_state.md`` mirrors, else the run whose state
    file changed last.

    Raises:
        StateError: No such run, or no run at all in the workspace.
    """
    ws = Path(workspace)
    runs = ws / "runs"
    if execution_id:
        folder = runs / execution_id
        if not (folder / "execution_state.md").exists() and not (folder / "journal.jsonl").exists():
            known = sorted(p.name for p in runs.iterdir()) if runs.is_dir() else []
            hint = f" (latest: {known[-1]})" if known else ""
            raise StateError(f"no run {execution_id!r} in {runs}{hint}")
        return folder
    mirror = ws / "execution_state.md"
    try:
        import frontmatter

        latest = frontmatter.load(str(mirror)).metadata.get("execution_id")
    except Exception:  # no mirror, or not readable: fall back to the run folders
        latest = None
    if isinstance(latest, str) and (runs / latest).is_dir():
        return runs / latest
    candidates = [*runs.glob("*/execution_state.md"), *runs.glob("*/journal.jsonl")] if runs.is_dir() else []
    if not candidates:
        raise StateError(f"no runs in {runs}")
    return max(candidates, key=lambda p: p.stat().st_mtime).parent


def resume_run(
    execution_id: str | None = None,
    *,
    workspace: str | Path | None = None,
    root: str | Path | None = None,
    provider: str | Provider | None = None,
    script: str | Path | None = None,
    progress: Progress | None = None,
    budget_usd: float | None = None,
    approver: Approver | None = None,
    decision: Decision | None = None,
    confirm: str | None = None,
    on_broken: str = "fail",
) -> RunResult:
    """Continue a paused or interrupted run from its journal (``llmos-run --resume``,
    ``llmos approve``, ``llmos reject``, ``llmos skip``).

    What happens depends on how the run stopped:

    * paused on a question (``pending``): ``decision`` answers it, else the approver is asked;
      with no answer the run stays paused and nothing is recorded;
    * paused for its budget: it goes on (give a higher ``budget_usd``);
    * already ended (completed or failed): nothing runs; its state file is brought up to date
      with the journal and its result returned;
    * interrupted (status still ``running``: the runner was killed): a ``resume`` transition is
      recorded; a step caught running runs again when its component is ``idempotent``, otherwise
      the run asks (question kind ``rerun``); a run interrupted while ending finishes its ending.

    Completed and skipped steps never run again; their outputs feed later steps' templates.

    Args:
        execution_id: The run; default: the latest in the workspace.
        workspace: The workspace; default: ``ROOT/workspace`` (``ROOT`` found from the current folder).
        root: The project root; default: the one the run recorded.
        provider: The provider for agent steps; default: the one the run recorded.
        script: The scripted provider's script.
        progress: Called with one line per notable event.
        budget_usd: A new cap for the run's cost in US dollars.
        approver: Answers questions the run asks from here on.
        decision: The answer to the question the run is paused on.
        confirm: ``side-effects`` asks before steps with side effects from here on (default: none).
        on_broken: ``fail`` or ``wait`` when an edit broke a document a step needs (see
            :func:`run_scenario`).

    Returns:
        The :class:`RunResult` once the run ends or pauses again.

    Raises:
        StateError: No such run, an unreadable state or journal, or a ``decision`` for a run
            that asks nothing.
        WorkspaceLocked: Another run holds the workspace.
        DocumentError: The project's documents are broken.
    """
    from llmos.lock import WorkspaceLock

    if workspace is None:
        here = find_root(Path.cwd()) if root is None else Path(root)
        if here is None:
            raise StateError("no project root here to find the workspace in; pass --workspace or --root")
        workspace = Path(here) / "workspace"
    ws = Path(workspace).resolve()
    run_dir = find_run(ws, execution_id)
    with WorkspaceLock(ws, execution_id=run_dir.name) as lock:
        state = recover_state(run_dir)
        if decision is not None and not state.pending:
            raise StateError(
                f"run {state.execution_id} is {state.status} and waits for no answer"
                + (f" ({state.paused_reason})" if state.paused_reason else "")
                + "; continue it with llmos-run --resume"
            )
        root_path = Path(root).resolve() if root else Path(state.project_root)
        project = Project.load(root_path)
        run = _Run(
            project,
            workspace=ws,
            mode=state.mode,
            provider_name=provider if provider is not None else (state.provider or "auto"),
            script=Path(script) if script else (Path(state.script) if state.script else None),
            progress=progress,
            budget_usd=budget_usd,
            approver=approver,
            confirm=confirm or "none",
            state=state,
            on_broken=on_broken,
        )
        if provider is not None:
            state.provider = run.provider_name  # who answers from here on
        if lock.took_over:
            run.progress(_took_over(lock.took_over))
        # The state file may lag the journal by its last transition (the runner stopped between
        # the two writes): bring it, and the mirror, up to date first.
        run.store.refresh(state)
        if state.status in {"completed", "failed"}:
            run.trace_path = run.trace_file if run.trace_file.exists() else None
            run.progress(f"run {state.execution_id} already {state.status}; nothing to resume")
            return run.result()
        try:
            if not run.reopen(decision):
                return run.result()
            state = run.state
            if state.status == "running" and state.error is None and state.phase in {"EXECUTE", "AWAIT_APPROVAL"}:
                run.execute()
            return _finish(run)
        finally:
            run.close()
