"""A project root: the system documents, the component library and the scenarios, loaded together.

A project root is any folder holding ``system/SystemAgent.md``. :meth:`Project.load` reads and
checks the system documents and the library; :meth:`Project.check_scenario` checks a scenario
against the library (components exist, tools fit, step inputs are known); :func:`validate_paths`
powers ``llmos validate``.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from llmos.documents import iter_markdown, load_document
from llmos.exceptions import DocumentError, DocumentErrors, join_errors
from llmos.library import Library, load_library
from llmos.scenario import Scenario, build_scenario, parse_scenario
from llmos.system import (
    StateMachine,
    ToolMapRow,
    parse_library_table,
    parse_state_machine,
    parse_state_template,
    parse_tool_map,
    parse_trace_schema,
)

__all__ = ["Project", "find_root", "validate_paths"]

SYSTEM_FILES = (
    "SystemAgent.md",
    "SmartLibrary.md",
    "SmartMemory.md",
    "ClaudeCodeToolMap.md",
    "ExecutionStateTemplate.md",
    "TrainingDataCollector.md",
)


def find_root(start: Path) -> Path | None:
    """The nearest folder at or above ``start`` that holds ``system/SystemAgent.md``."""
    here = start.resolve()
    for folder in (here, *here.parents):
        if (folder / "system" / "SystemAgent.md").is_file():
            return folder
    return None


@dataclass(kw_only=True)
class Project:
    """A loaded project root.

    Attributes:
        root: The folder.
        state_machine: SystemAgent.md's phases and transitions.
        library: The components.
        tool_map: ClaudeCodeToolMap.md's rows.
        state_template: The Jinja2 source of execution_state.md's body.
        trace_schema: Field names of trace records and tool calls.
        problems: Non-fatal problems found while loading (library drift, broken components).
    """

    root: Path
    state_machine: StateMachine
    library: Library
    tool_map: list[ToolMapRow]
    state_template: str
    trace_schema: dict[str, list[str]]
    problems: list[DocumentError] = field(default_factory=list)
    # Checked scenarios by file, with the (mtime_ns, size) they were read at: see load_scenario.
    _scenarios: dict[Path, tuple[tuple[int, int], Scenario]] = field(
        default_factory=dict, init=False, repr=False, compare=False
    )

    @property
    def memory_path(self) -> Path:
        """``system/SmartMemory.md``."""
        return self.root / "system" / "SmartMemory.md"

    @property
    def system_agent_prompt(self) -> str:
        """The body of ``system/SystemAgent.md``: the planner's instructions."""
        import frontmatter

        return str(frontmatter.load(str(self.root / "system" / "SystemAgent.md")).content)

    @classmethod
    def load(cls, root: str | Path) -> Project:
        """Load and check the project's system documents and library.

        Raises:
            DocumentError: Every problem that keeps the project from running (all of them, as
                :class:`DocumentErrors` when there are several). Library drift and broken
                components are kept in :attr:`problems` instead: they stop only the runs that use
                them.
        """
        folder = Path(root).resolve()
        system = folder / "system"
        if not (system / "SystemAgent.md").is_file():
            raise DocumentError("not a project root: no system/SystemAgent.md here", path=folder)
        errors: list[DocumentError] = []

        def attempt(fn: Any, name: str) -> Any:
            try:
                return fn(load_document(system / name))
            except DocumentErrors as exc:
                errors.extend(exc.errors)
            except DocumentError as exc:
                errors.append(exc)
            return None

        machine = attempt(parse_state_machine, "SystemAgent.md")
        tool_map = attempt(parse_tool_map, "ClaudeCodeToolMap.md")
        template = attempt(parse_state_template, "ExecutionStateTemplate.md")
        schema = attempt(parse_trace_schema, "TrainingDataCollector.md")
        rows = attempt(parse_library_table, "SmartLibrary.md")
        if not (system / "SmartMemory.md").is_file():
            errors.append(DocumentError("missing system/SmartMemory.md", path=system / "SmartMemory.md"))
        if template is not None:
            errors.extend(_check_template(template, system / "ExecutionStateTemplate.md"))
        if errors:
            raise join_errors(errors)
        library = load_library(folder)
        library.apply_tool_map(tool_map)
        problems = list(library.errors)
        if rows is not None:
            problems.extend(library.drift(rows, system / "SmartLibrary.md"))
        return cls(
            root=folder,
            state_machine=machine,
            library=library,
            tool_map=tool_map,
            state_template=template[0],
            trace_schema=schema,
            problems=problems,
        )

    def check_scenario(self, scenario: Scenario) -> list[DocumentError]:
        """Problems between a scenario and the library: unknown components, wrong tools, unknown or
        missing step inputs, unknown fallbacks. Empty when the scenario can run."""
        from llmos.tools import TOOLS

        problems: list[DocumentError] = []
        known = ", ".join(sorted(self.library.components)) or "none"
        for index, step in enumerate(scenario.steps):
            component = self.library.get(step.component)
            if component is None and step.component in self.library.broken:
                continue  # the component file exists but is broken; its own errors say why
            if component is None:
                problems.append(
                    scenario.error(
                        f"step {step.id!r}: unknown component {step.component!r} (library: {known})",
                        "steps",
                        index,
                        "component",
                    )
                )
                continue
            if step.on_error.startswith("fallback:") and self.library.get(step.on_error.split(":", 1)[1]) is None:
                problems.append(
                    scenario.error(
                        f"step {step.id!r}: unknown fallback component {step.on_error.split(':', 1)[1]!r}",
                        "steps",
                        index,
                        "on_error",
                    )
                )
            if component.kind == "tool":
                tool_name = step.tool or (component.claude_tools[0] if len(component.claude_tools) == 1 else None)
                if tool_name is None:
                    problems.append(
                        scenario.error(
                            f"step {step.id!r}: {component.name} maps onto {', '.join(component.claude_tools)}; "
                            "say which with 'tool:'",
                            "steps",
                            index,
                        )
                    )
                    continue
                if tool_name not in component.claude_tools:
                    problems.append(
                        scenario.error(
                            f"step {step.id!r}: {component.name} has no tool {tool_name!r} "
                            f"(it maps onto {', '.join(component.claude_tools)})",
                            "steps",
                            index,
                            "tool",
                        )
                    )
                    continue
                tool = TOOLS.get(tool_name)
                if tool is None:
                    problems.append(
                        scenario.error(
                            f"step {step.id!r}: the runner has no implementation of the Claude Code tool {tool_name!r}",
                            "steps",
                            index,
                            "component",
                        )
                    )
                    continue
                params: dict[str, Any] = dict(tool.params)
            else:
                if step.tool:
                    problems.append(
                        scenario.error(f"step {step.id!r}: 'tool' is only for tool components", "steps", index, "tool")
                    )
                params = dict(component.inputs)
            for name in step.inputs:
                if name not in params:
                    problems.append(
                        scenario.error(
                            f"step {step.id!r}: {component.name} has no input {name!r} (inputs: {', '.join(params)})",
                            "steps",
                            index,
                            "inputs",
                            name,
                        )
                    )
            for name, param in params.items():
                has_default = getattr(param, "default", None) is not None
                if param.required and name not in step.inputs and not has_default:
                    problems.append(
                        scenario.error(
                            f"step {step.id!r}: missing required input {name!r} of {component.name}",
                            "steps",
                            index,
                            "inputs",
                        )
                    )
        return problems

    def load_scenario(self, path: str | Path) -> Scenario:
        """Load a scenario and check it against this project.

        A project that runs many times (a simulation batch) reads and checks each scenario file
        once: the checked scenario is kept and given again while the file's modification time and
        size stay the same.

        Raises:
            DocumentError: Every problem, with file and line.
        """
        file = Path(path)
        try:
            info = file.stat()
            stamp = (info.st_mtime_ns, info.st_size)
        except OSError:
            stamp = None
        cached = self._scenarios.get(file)
        if cached is not None and stamp is not None and cached[0] == stamp:
            return cached[1]
        scenario = self._load_scenario(file)
        if stamp is not None:
            self._scenarios[file] = (stamp, scenario)
        return scenario

    def _load_scenario(self, path: Path) -> Scenario:
        scenario = parse_scenario(load_document(path))
        problems = self.check_scenario(scenario)
        used = {s.component for s in scenario.steps}
        problems.extend(p for p in self.library.errors if p.path and p.path.stem in used)
        if problems:
            raise join_errors(problems)
        return scenario

    def sync_library(self) -> bool:
        """Rewrite SmartLibrary.md's ``## Registry`` table from the component files, atomically.

        Returns:
            Whether the file changed.

        Raises:
            DocumentError: SmartLibrary.md has no registry table to replace.
        """
        from llmos._atomic import atomic_write_text

        path = self.root / "system" / "SmartLibrary.md"
        doc = load_document(path)
        rows = parse_library_table(doc)
        section = doc.section("Registry")
        assert section is not None and section.tables
        table = section.tables[0]
        lines = path.read_text(encoding="utf-8").split("\n")
        first = table.line - 1
        last = (table.row_lines[-1] if rows else table.line + 1) - 1
        updated = "\n".join([*lines[:first], self.library.table().rstrip("\n"), *lines[last + 1 :]])
        if updated == "\n".join(lines):
            return False
        atomic_write_text(path, updated)
        return True

    def scenario_paths(self) -> list[Path]:
        """The ``scenarios/*.md`` files, sorted."""
        return list(iter_markdown(self.root / "scenarios"))


def _check_template(template: tuple[str, int], path: Path) -> list[DocumentError]:
    """Render sample states through the execution-state template; a failure is a document error."""
    from llmos._redact import redact
    from llmos.state import compile_template, sample_states

    source, line = template
    try:
        compiled = compile_template(source)
        for state in sample_states():
            compiled.render(state=redact(state.to_dict()))
    except Exception as exc:
        return [
            DocumentError(f"the template cannot render a run state: {type(exc).__name__}: {exc}", path=path, line=line)
        ]
    return []


def _flatten(exc: DocumentError) -> list[DocumentError]:
    return list(exc.errors) if isinstance(exc, DocumentErrors) else [exc]


def _check_scenario_file(path: Path, project: Project | None) -> list[DocumentError]:
    try:
        scenario, problems = build_scenario(load_document(path))
    except DocumentError as exc:
        return _flatten(exc)
    if project is not None:
        problems.extend(project.check_scenario(scenario))
    return problems


def validate_paths(paths: list[Path]) -> list[DocumentError]:
    """Every problem in the given documents or project roots (``llmos validate``).

    A folder that is a project root is checked whole: system documents, every component, library
    drift and every scenario against the library. A single file is checked as what its place says
    it is (component, scenario or system document) against its project when one is found.
    """
    problems: list[DocumentError] = []
    projects: dict[Path, Project | None] = {}

    def project_for(root: Path) -> Project | None:
        if root not in projects:
            try:
                projects[root] = Project.load(root)
            except DocumentError as exc:
                problems.extend(_flatten(exc))
                projects[root] = None
        return projects[root]

    for raw in paths:
        path = raw.resolve()
        if path.is_dir():
            root = find_root(path) if (path / "system" / "SystemAgent.md").is_file() else None
            if root is None:
                problems.append(
                    DocumentError("not a project root (no system/SystemAgent.md) and not a document", path=raw)
                )
                continue
            project = project_for(root)
            if project is None:
                continue
            problems.extend(project.problems)
            for scenario_path in project.scenario_paths():
                problems.extend(_check_scenario_file(scenario_path, project))
            continue
        if not path.exists():
            problems.append(DocumentError("no such file", path=raw))
            continue
        root = find_root(path.parent)
        kind = path.parent.name
        try:
            if kind in {"tools", "agents"} and path.parent.parent.name == "components":
                from llmos.documents import load_component

                load_component(path)
            elif kind == "scenarios":
                problems.extend(_check_scenario_file(path, project_for(root) if root else None))
            elif kind == "system" and root is not None:
                project_for(root)
            else:
                load_document(path)
        except DocumentError as exc:
            problems.extend(_flatten(exc))
    unique: dict[str, DocumentError] = {}
    for problem in problems:
        unique.setdefault(str(problem), problem)
    return sorted(unique.values(), key=lambda e: (str(e.path or ""), e.line or 0))
