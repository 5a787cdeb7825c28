"""Planning: SystemAgent turns a goal into steps, from the SmartLibrary and SmartMemory.

The PLAN phase of a run with a goal and no steps (``llmos-run --goal TEXT``, or a scenario with a
``goal`` and no ``steps``) asks the provider, with ``system/SystemAgent.md`` as its instructions,
for a plan in the scenario ``steps`` schema. The request (:func:`plan_request`) holds:

* the goal and the run's inputs;
* the components to use: the whole library when it is small, else the :data:`MAX_COMPONENTS`
  most relevant to the goal, ranked with BM25 over their names, descriptions, inputs and outputs
  (each with its kind, ``[REAL]`` tag, Claude Code tool, inputs, outputs, cost and latency);
* the most relevant SmartMemory experiences (:func:`llmos.memory.search_memory`): outcome,
  errors, recovery and lessons of earlier runs;
* on a repair, the problems found in the previous answer.

Nothing runs until the plan passes :func:`validate_plan`: every component exists, each step's
inputs match the component's declared inputs (and the tool's parameters), templates read only
declared inputs and earlier steps, and the estimated cost fits the budget. An invalid plan goes
back to the provider with the problems, at most :data:`MAX_REPAIRS` times.
"""

from __future__ import annotations

import json
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any

from llmos.documents import FieldSpec
from llmos.exceptions import DocumentError
from llmos.scenario import Scenario, Step, check_step_references
from llmos.templating import is_template

if TYPE_CHECKING:
    from llmos.documents import Component
    from llmos.memory import MemoryHit
    from llmos.project import Project

__all__ = [
    "MAX_COMPONENTS",
    "MAX_EXPERIENCES",
    "MAX_REPAIRS",
    "MAX_REPLANS",
    "PLAN_SCHEMA",
    "PlanCheck",
    "describe_component",
    "goal_scenario",
    "plan_metrics",
    "plan_prompt",
    "relevant_components",
    "scenario_text",
    "validate_plan",
]

#: How many components a planning request lists at most (the most relevant to the goal).
MAX_COMPONENTS = 12
#: How many times an invalid plan goes back to the provider before the run fails.
MAX_REPAIRS = 2
#: How many revised plans a planned run may ask for after a step fails for good.
MAX_REPLANS = 1
#: How many SmartMemory experiences a planning request shows at most.
MAX_EXPERIENCES = 5

_STEP_SCHEMA: dict[str, Any] = {
    "type": "object",
    "properties": {
        "id": {"type": "string", "description": "letters, digits and underscores; unique"},
        "component": {"type": "string", "description": "a component of the library"},
        "tool": {"type": "string", "description": "the Claude Code tool, for a component mapping onto several"},
        "description": {"type": "string"},
        "inputs": {"type": "object", "description": "Jinja2 templates over inputs.*, steps.<earlier id>.*, run.*"},
        "for_each": {"type": "string", "description": "a template giving a list; the step runs once per item"},
        "on_error": {"type": "string", "description": "fail, skip, retry or 'fallback: <component>'"},
    },
    "required": ["id", "component", "inputs"],
}
#: The JSON Schema of a plan: the scenario ``steps`` schema, plus a one-line rationale.
PLAN_SCHEMA: dict[str, Any] = {
    "type": "object",
    "properties": {
        "steps": {"type": "array", "minItems": 1, "items": _STEP_SCHEMA},
        "rationale": {"type": "string", "description": "why these steps, in one or two sentences"},
    },
    "required": ["steps"],
}


@dataclass(kw_only=True)
class PlanCheck:
    """The outcome of :func:`validate_plan`.

    Attributes:
        steps: The steps parsed from the plan (those that parsed).
        problems: What is wrong, one sentence each naming the step; empty when the plan can run.
        estimated_cost_usd: The sum of the components' ``cost_usd`` (a ``for_each`` step counted once).
    """

    steps: list[Step] = field(default_factory=list)
    problems: list[str] = field(default_factory=list)
    estimated_cost_usd: float = 0.0

    @property
    def ok(self) -> bool:
        """Whether the plan can run."""
        return not self.problems


def relevant_components(project: Project, goal: str, *, limit: int = MAX_COMPONENTS) -> list[Component]:
    """The active components to offer the planner: all when there are at most ``limit``, else the
    ``limit`` most relevant to ``goal`` (BM25 over name, description, inputs and outputs)."""
    components = [c for c in project.library.components.values() if c.status == "active"]
    if len(components) <= limit:
        return components
    order = _rank(goal, [describe_component(c) for c in components], limit)
    return [components[i] for i in order]


def _rank(query: str, texts: list[str], limit: int) -> list[int]:
    """Indices of the ``limit`` texts most relevant to ``query`` (BM25 with bm25s, words tokenized
    as SmartMemory's search does: stop words out, stemmed, identifiers split), best first; texts
    sharing no word with the query follow in their order."""
    import bm25s

    from llmos._memory_index import tokenizer

    tokenize = tokenizer()
    corpus = [tokenize(text) for text in texts]
    vocabulary = {term: i for i, term in enumerate(sorted({t for doc in corpus for t in doc}))}
    query_ids = [[vocabulary[t] for t in tokenize(query) if t in vocabulary]]
    if not query_ids[0]:
        return list(range(min(limit, len(texts))))
    retriever = bm25s.BM25()
    tokenized = bm25s.tokenization.Tokenized(ids=[[vocabulary[t] for t in doc] for doc in corpus], vocab=vocabulary)
    retriever.index(tokenized, show_progress=False)
    found, scores = retriever.retrieve(query_ids, k=len(texts), show_progress=False)
    ranked = [int(i) for i, score in zip(found[0], scores[0], strict=True) if score > 0]
    rest = [i for i in range(len(texts)) if i not in ranked]
    return (ranked + rest)[:limit]


def _fields(specs: dict[str, FieldSpec]) -> str:
    if not specs:
        return "none"
    return "; ".join(
        f"{s.name} ({s.type}{', required' if s.required else ''}){': ' + s.description if s.description else ''}"
        for s in specs.values()
    )


def describe_component(component: Component) -> str:
    """A component as the planner sees it (Markdown): kind, tag, tool, inputs, outputs, cost, latency."""
    head = f"### {component.name} {component.tag}".rstrip()
    kind = component.kind
    if component.kind == "tool":
        kind += f", Claude Code tool {' or '.join(component.claude_tools)}"
    else:
        kind += f", may call {', '.join(component.tools) or 'no tools'}"
    lines = [
        head,
        f"- kind: {kind}",
        f"- what it does: {component.description}",
        f"- inputs: {_fields(component.inputs)}",
        f"- outputs: {_fields(component.outputs)}",
        f"- cost: ${component.cost_usd:g} per call; latency: {component.latency_s:g} s",
    ]
    if component.side_effects:
        lines.append(f"- side effects: {'; '.join(component.side_effects)}")
    if component.error_modes:
        lines.append(f"- fails when: {'; '.join(component.error_modes)}")
    return "\n".join(lines)


def _describe_experience(hit: MemoryHit) -> str:
    entry = hit.entry
    lines = [f"- {entry.id} ({entry.outcome}, scenario {entry.scenario}, ${entry.cost_usd:g}): goal {entry.goal!r}"]
    lines += [f"  - error: {e}" for e in entry.errors[:3]]
    lines += [f"  - recovery: {r}" for r in entry.recovery[:3]]
    lines += [f"  - lesson: {lesson}" for lesson in entry.lessons[:4]]
    return "\n".join(lines)


def plan_prompt(
    *,
    goal: str,
    inputs: dict[str, Any],
    components: list[Component],
    experiences: list[MemoryHit],
    budget_usd: float | None,
    problems: list[str] | None = None,
    progress: str | None = None,
) -> str:
    """The user message of a planning request (see the module docstring).

    Args:
        goal: What the run is for.
        inputs: The run's inputs (templates read them as ``inputs.<name>``).
        components: The components to offer.
        experiences: Relevant SmartMemory entries.
        budget_usd: The run's budget, or ``None``.
        problems: The problems of the previous answer, for a repair.
        progress: For a revised plan: what has run so far and what failed.
    """
    parts = [f"# Goal\n\n{goal}\n"]
    if inputs:
        listed = "\n".join(f"- `{k}`: {json.dumps(v, ensure_ascii=False)}" for k, v in inputs.items())
        parts.append(f"# Inputs (templates read them as `{{{{ inputs.NAME }}}}`)\n\n{listed}\n")
    if budget_usd is not None:
        parts.append(f"# Budget\n\nThe whole run may spend at most ${budget_usd:g}.\n")
    parts.append(
        "# Components you may use (from the SmartLibrary)\n\n" + "\n\n".join(map(describe_component, components))
    )
    if experiences:
        parts.append(
            "# Experience from earlier runs (SmartMemory, most relevant first)\n\n"
            + "\n".join(_describe_experience(h) for h in experiences)
        )
    if progress:
        parts.append(f"# Progress so far\n\n{progress}\n")
    parts.append(
        "# Your answer\n\n"
        'Answer with one JSON object {"steps": [...], "rationale": "..."}. Each step is '
        '{"id", "component", "tool" (only for a component with several tools), "inputs", '
        '"description", "on_error" (fail, skip, retry or "fallback: <component>"), "for_each"}. '
        "Step inputs use the component's input names; a string input may be a Jinja2 template over "
        "`inputs.*`, `steps.<earlier id>.outputs.*` and `run.*` (`run.dir` is the run's folder, "
        "relative to the workspace). Use only the components listed, and only as many steps as "
        "the goal needs."
    )
    if problems:
        parts.append(
            "# Your previous plan was not valid\n\n"
            + "\n".join(f"- {p}" for p in problems)
            + "\n\nReturn a corrected plan."
        )
    return "\n\n".join(parts)


def _type_problem(spec: FieldSpec, value: Any) -> str | None:
    if isinstance(value, str) and is_template(value):
        return None  # known at run time
    expected: Any = {
        "string": str,
        "url": str,
        "path": str,
        "integer": int,
        "number": (int, float),
        "boolean": bool,
        "array": list,
        "object": dict,
    }.get(spec.type)
    if expected is None or isinstance(value, expected):
        return None
    return f"input {spec.name!r} must be {spec.type}, got {type(value).__name__}"


def validate_plan(
    project: Project,
    raw: Any,
    *,
    goal: str,
    inputs: dict[str, FieldSpec],
    budget_usd: float | None,
    done: list[Step] | None = None,
) -> PlanCheck:
    """Check a plan before anything runs.

    Args:
        project: The project whose library the plan must use.
        raw: The provider's answer: ``{"steps": [...]}`` (or the list itself).
        goal: The run's goal (names the plan's scenario in messages).
        inputs: The run's declared inputs.
        budget_usd: What the run may still spend, or ``None``.
        done: Steps that already ran (a revised plan may read their outputs; its ids must differ).

    Returns:
        The :class:`PlanCheck`; its ``problems`` name the step and what is wrong.
    """
    check = PlanCheck()
    items = raw.get("steps") if isinstance(raw, dict) else raw
    if not isinstance(items, list) or not items:
        check.problems.append("the plan must be an object with a non-empty 'steps' list")
        return check
    done = list(done or [])
    seen = {s.id for s in done}
    for index, item in enumerate(items, 1):
        try:
            step = Step.from_dict(item)
        except ValueError as exc:
            check.problems.append(f"step {index}: {exc}")
            continue
        if step.id in seen:
            check.problems.append(f"step {index}: the id {step.id!r} is used twice")
            continue
        seen.add(step.id)
        check.steps.append(step)
    scenario = Scenario(name="plan", goal=goal, inputs=inputs, steps=tuple(check.steps))
    check.problems += [e.message for e in project.check_scenario(scenario)]
    check.problems += [
        e.message
        for e in check_step_references([*done, *check.steps], inputs, lambda message, *_key: DocumentError(message))
    ]
    for step in check.steps:
        component = project.library.get(step.component)
        if component is None:
            continue
        if component.kind == "agent":
            unknown = sorted(set(step.inputs) - set(component.inputs))
            if unknown:
                check.problems.append(
                    f"step {step.id!r}: {component.name} has no input(s) {', '.join(unknown)} "
                    f"(inputs: {', '.join(component.inputs) or 'none'})"
                )
            missing = [
                n for n, s in component.inputs.items() if s.required and s.default is None and n not in step.inputs
            ]
            if missing:
                check.problems.append(f"step {step.id!r}: {component.name} needs input(s) {', '.join(missing)}")
        for name, value in step.inputs.items():
            spec = component.inputs.get(name)
            problem = _type_problem(spec, value) if spec else None
            if problem:
                check.problems.append(f"step {step.id!r}: {problem}")
        check.estimated_cost_usd += component.cost_usd
    check.estimated_cost_usd = round(check.estimated_cost_usd, 6)
    if budget_usd is not None and check.estimated_cost_usd > budget_usd:
        check.problems.append(
            f"the plan's estimated cost ${check.estimated_cost_usd:g} is over the budget of ${budget_usd:g}"
        )
    return check


def goal_scenario(goal: str, given: dict[str, Any]) -> Scenario:
    """The scenario of a goal run (``llmos-run --goal TEXT --set KEY=VALUE``): the goal, no steps,
    and each given input declared as a string with its value as default."""
    specs = {
        name: FieldSpec(name=name, type="string", default=value if isinstance(value, str) else json.dumps(value))
        for name, value in given.items()
    }
    return Scenario(name="goal", goal=goal, inputs=specs)


def scenario_text(*, name: str, goal: str, inputs: dict[str, Any], plan: list[dict[str, Any]]) -> str:
    """A scenario document (front matter only, plus a line of body) for a plan (``--save-scenario``)."""
    import yaml

    front = {
        "name": name,
        "goal": goal,
        "inputs": {
            k: {"type": "string", "default": v if isinstance(v, str) else json.dumps(v)} for k, v in inputs.items()
        },
        "steps": plan,
    }
    if not inputs:
        del front["inputs"]
    text = yaml.safe_dump(front, sort_keys=False, allow_unicode=True, width=100)
    return f"---\n{text}---\n\n# {name}\n\nPlanned by SystemAgent from the goal: {goal}\n"


def plan_metrics(planning: dict[str, Any] | None, *, steps: int, cost_usd: float) -> dict[str, Any]:
    """The plan's quality figures for a trace: whether the run was planned from its goal, the
    number of steps, validation repairs, re-plans, and estimated versus actual cost (US dollars)."""
    planning = planning or {}
    return {
        "planned": bool(planning),
        "steps": steps,
        "repairs": int(planning.get("repairs", 0)),
        "replans": int(planning.get("replans", 0)),
        "estimated_cost_usd": planning.get("estimated_cost_usd"),
        "actual_cost_usd": round(cost_usd, 6),
        "experiences": list(planning.get("experiences", [])),
    }
