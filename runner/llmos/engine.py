"""The engine: runs a scenario as a persisted state machine.

Phases come from SystemAgent.md's ``## State Machine`` table and every phase change is checked
against it::

    INITIALIZE -> PLAN -> EXECUTE -> UPDATE_MEMORY -> EXPORT_TRACE -> COMPLETED | FAILED

* INITIALIZE loads the scenario, checks it against the library and resolves the inputs.
* PLAN turns the scenario's steps into the run's plan (planning from a goal alone comes later).
* EXECUTE runs each step: renders its inputs (sandboxed Jinja2), calls the tool (the runner's own
  WebFetch, Read, Write, Edit, Bash, Grep, Glob under the security policy) or the provider (agent
  steps), with the component's retry policy and the step's ``on_error``. Every tool call an agent
  makes inside its step (run by Claude Code, or by the runner's agent loop for other providers)
  passes the same security policy first and is recorded as a ``tool_call`` transition.
  When the run's budget is spent, before a step or during one, the run pauses (exit code 3).
* UPDATE_MEMORY appends an experience to ``system/SmartMemory.md``.
* EXPORT_TRACE appends the run's trace to ``workspace/datasets/traces.jsonl``.

Every transition (phase change, step status change, finished call) is appended to the run's
journal and the state file is rewritten atomically (see :mod:`llmos.state`).

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
from llmos.documents import Component, FieldSpec
from llmos.exceptions import (
    BudgetExceeded,
    DocumentError,
    InputError,
    LLMOSError,
    PolicyError,
    ProviderError,
    RunError,
    TemplateError,
    ToolError,
)
from llmos.policy import Policy
from llmos.project import Project, find_root
from llmos.providers import Provider, choose_provider, create_provider
from llmos.providers.base import AgentRequest, ToolCall, ToolResult, render_prompt
from llmos.scenario import Scenario, Step
from llmos.state import RunState, RunStore, StepState, Transition, new_execution_id, utc_now
from llmos.templating import render_value

if TYPE_CHECKING:
    from llmos.memory import MemoryEntry

__all__ = ["RunResult", "resolve_inputs", "run_scenario"]

MODES = ("execution", "simulation")

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
    ) -> None:
        self.project = project
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
        execution_id = _claim_execution_id(workspace)
        self.store = RunStore(workspace, execution_id, project.state_template, durable=durable, mirror=mirror)
        now = utc_now()
        self.state = RunState(
            execution_id=execution_id,
            mode=mode,
            provider=self.provider_name,
            started_at=now,
            updated_at=now,
            project_root=str(project.root),
            workspace=str(workspace),
        )
        self.clock = time.perf_counter()
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
    ) -> None:
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
        state.recent_transitions = [*state.recent_transitions[-19:], transition]
        self.store.record(state, transition)

    def advance(self, target: str, detail: str = "") -> None:
        source = self.state.phase
        if not self.project.state_machine.allows(source, target):
            raise RunError(f"SystemAgent.md's state machine has no transition {source} -> {target}")
        self.state.phase = target
        self.record("phase", source, target, detail=detail)
        self.progress(f"{target.lower().replace('_', ' ')}" + (f": {detail}" if detail else ""))

    def set_step(self, st: StepState, status: str, detail: str = "") -> None:
        source = st.status
        st.status = status
        self.state.current_step = st.id if status == "running" else None
        self.record("step", source, status, step=st.id, detail=detail)

    # -- phases --------------------------------------------------------------------------------

    def initialize(self, scenario_path: Path, given: dict[str, Any]) -> None:
        self.state.scenario_path = str(scenario_path)
        self.state.scenario = scenario_path.stem
        self.record("phase", "", "INITIALIZE", detail=f"scenario {scenario_path}")
        scenario = self.project.load_scenario(scenario_path)
        self.scenario = scenario
        self.state.scenario = scenario.name
        self.state.goal = scenario.goal
        self.state.budget_usd = self.budget_override if self.budget_override is not None else scenario.budget_usd
        self.state.inputs = resolve_inputs(scenario, given, root=self.project.root)
        roots = [Path(v) for k, v in self.state.inputs.items() if scenario.inputs[k].type == "path" and v]
        self.policy = Policy(workspace=self.workspace, read_roots=roots)

    def plan(self) -> None:
        assert self.scenario is not None
        if not self.scenario.steps:
            raise DocumentError(
                "the scenario has no steps; planning steps from the goal alone is not supported "
                "by this version of the runner",
                path=self.scenario.path,
                line=self.scenario.line_of("goal"),
            )
        self.state.plan = [s.to_dict() for s in self.scenario.steps]
        for step in self.scenario.steps:
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

    def execute(self) -> None:
        assert self.scenario is not None
        for step in self.scenario.steps:
            st = self.state.step(step.id)
            component = self.project.library.get(step.component)
            assert component is not None
            if self.state.budget_usd is not None and self.state.cost_usd >= self.state.budget_usd:
                self.pause(
                    f"the budget of ${self.state.budget_usd:.4f} is spent (${self.state.cost_usd:.4f}) "
                    f"before step {step.id!r}"
                )
                return
            if step.approval == "required":
                self.advance("AWAIT_APPROVAL", detail=f"step {step.id!r} needs a person's approval")
                self.pause(
                    f"step {step.id!r} ({component.name}) needs approval; nobody can approve it in this "
                    "version of the runner, so the run stops here before the step runs"
                )
                return
            self.run_step(step, st, component)
            if self.budget_stop is not None:
                self.pause(f"{self.budget_stop}; the run is paused before step {step.id!r} completes")
                return
            if st.status == "failed":
                return

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
            st.error = str(exc).removeprefix(f"step {step.id!r}: ")
            st.finished_at = utc_now()
            st.duration_s = round(time.perf_counter() - started, 3)
            if step.on_error == "skip":
                self.set_step(st, "skipped", detail=str(exc))
                self.progress(f"step {step.id} skipped: {exc}")
                self.live[step.id] = {"outputs": {}, "status": "skipped", "error": str(exc)}
                return
            self.set_step(st, "failed", detail=str(exc))
            self.state.error = {
                "message": str(exc),
                "step": step.id,
                "type": type(raised).__name__ if isinstance(raised, LLMOSError) else "RunError",
            }
            self.progress(f"step {step.id} failed: {exc}")
            return
        st.outputs = self.store.offload(f"{st.id}.outputs", outputs)
        st.quality_metrics = quality
        st.finished_at = utc_now()
        st.duration_s = round(time.perf_counter() - started, 3)
        self.live[st.id] = {"outputs": outputs, "status": "completed", "quality_metrics": quality}
        self.set_step(st, "completed", detail=st.note or "")

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
                self.record_call(step, component, inputs, None, duration, attempt, error=exc, meta={"cost_usd": spent})
                if isinstance(exc, BudgetExceeded):
                    raise exc
                if attempt >= attempts or not _retryable(exc):
                    if exc is raised:
                        raise
                    raise exc from raised
                wait = component.retry.backoff_s * (2 ** (attempt - 1)) * self.rng.uniform(0.8, 1.2)
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
        label = component.name if tool is None else f"{component.name}.{tool}"
        self.record(
            kind, "", "ok" if error is None else "error", step=step.id, detail=str(error) if error else label, data=data
        )
        written = outputs.get("file_path") if outputs and tool in {"Write", "Edit"} else None
        if written and meta.get("source") == "real" and written not in self.state.outputs:
            self.state.outputs.append(written)

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
        if self.mode == "simulation":
            return self.simulate_tool(step, component, tool_name, inputs)
        ctx = ToolContext(
            policy=self.policy, timeout_s=component.timeout_s, max_bytes=component.max_bytes, step=step.id
        )
        try:
            outputs = tool.run(inputs, ctx)
        except ToolError as exc:
            exc.step = exc.step or step.id
            raise
        return outputs, {"source": "real", "cost_usd": 0.0}

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
        budget = self.state.budget_usd
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
            budget_usd=None if budget is None else round(budget - self.state.cost_usd, 6),
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
        run.record(
            "tool_call",
            "",
            target,
            step=step.id,
            detail=result.error or f"{self.component.name} -> {call.name}",
            data=data,
        )
        path = call.input.get("file_path")
        if result.ok and source == "real" and call.name in {"Write", "Edit"} and isinstance(path, str):
            full = str((run.workspace / path).resolve()) if not Path(path).is_absolute() else path
            if full not in run.state.outputs:
                run.state.outputs.append(full)

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


def _unexpected(exc: BaseException, step: str) -> RunError:
    return RunError(f"unexpected {type(exc).__name__}: {exc}", step=step)


def _retryable(exc: LLMOSError) -> bool:
    if isinstance(exc, (PolicyError, InputError, TemplateError)):
        return False
    return bool(getattr(exc, "retryable", False))


def _summary_metrics(source: str, summary: str, key_points: Any) -> dict[str, Any]:
    from llmos.quality import summary_metrics

    return summary_metrics(source, summary, key_points if isinstance(key_points, list) else None)


def run_scenario(
    scenario: str | Path,
    *,
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
) -> RunResult:
    """Run a scenario to the end.

    Args:
        scenario: The scenario file.
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

    Returns:
        The :class:`RunResult`; a failed run is a result with ``status == "failed"``, not an
        exception.

    Raises:
        DocumentError: No project root, or the project's system documents are broken, so no run
            could be started (nothing is written).
        ValueError: ``mode`` is not ``execution`` or ``simulation``, or ``budget_usd`` is negative.
    """
    if mode not in MODES:
        raise ValueError(f"mode must be one of {', '.join(MODES)}, not {mode!r}")
    if budget_usd is not None and budget_usd < 0:
        raise ValueError(f"budget_usd must be 0 or more, not {budget_usd}")
    scenario_path = Path(scenario).resolve()
    if project is None:
        root_path = Path(root).resolve() if root else (find_root(scenario_path.parent) or find_root(Path.cwd()))
        if root_path is None:
            raise DocumentError(
                "no project root (a folder with system/SystemAgent.md) above the scenario or the "
                "current folder; pass --root",
                path=scenario_path,
            )
        project = Project.load(root_path)
    ws = Path(workspace).resolve() if workspace else project.root / "workspace"
    run = _Run(
        project,
        workspace=ws,
        mode=mode,
        provider_name=provider,
        script=Path(script) if script else None,
        progress=progress,
        budget_usd=budget_usd,
        replay_from=[Path(p) for p in replay_from] if replay_from is not None else None,
    )
    return _drive(run, scenario_path, dict(inputs or {}))


def _drive(run: _Run, scenario_path: Path, inputs: dict[str, Any]) -> RunResult:
    """Take a fresh :class:`_Run` through every phase (``run_scenario``, and ``llmos.simulate`` for
    runs it sets up itself)."""
    try:
        return _phases(run, scenario_path, inputs)
    finally:
        run.store.close()


def _phases(run: _Run, scenario_path: Path, inputs: dict[str, Any]) -> RunResult:
    try:
        run.initialize(scenario_path, inputs)
        run.advance("PLAN", detail=f"goal: {run.state.goal}")
        run.plan()
        run.advance("EXECUTE", detail=f"{len(run.state.steps)} steps planned")
    except LLMOSError as exc:
        run.fail_early(exc)
        return run.result()
    except Exception as exc:  # a bug or an unforeseen input: still end in a recorded FAILED state
        run.fail_early(RunError(f"unexpected {type(exc).__name__}: {exc}"))
        return run.result()
    run.execute()
    if run.state.status == "paused":
        run.progress(f"paused: {run.state.paused_reason}")
        return run.result()
    run.advance("UPDATE_MEMORY", detail="all steps done" if run.state.error is None else "a step failed")
    run.update_memory()
    run.export_trace()
    run.state.status = "completed" if run.state.error is None else "failed"
    run.state.finished_at = utc_now()
    run.advance("COMPLETED" if run.state.error is None else "FAILED", detail=f"trace appended to {run.trace_path}")
    return run.result()
