"""The document model: Markdown files with YAML front matter, parsed into typed objects.

Every LLM-OS document (component, scenario, system document) is Markdown with YAML front matter.
Front matter is read with python-frontmatter's YAML handler, and its keys are mapped to file lines
through PyYAML's node marks, so each problem is reported as ``path:line``. Bodies are split into
sections, tables and code blocks with mistune (see :mod:`llmos._markdown`).

This module holds the generic :class:`Document` and the component model (:class:`Component`,
:class:`FieldSpec`); scenarios live in :mod:`llmos.scenario` and the system documents in
:mod:`llmos.system`.
"""

from __future__ import annotations

import hashlib
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import frontmatter
import yaml

from llmos._markdown import CodeBlock, Section, Table, parse_sections
from llmos._yaml_lines import Key
from llmos._yaml_lines import key_lines as _key_lines
from llmos.exceptions import DocumentError, join_errors

__all__ = [
    "CLAUDE_CODE_TOOLS",
    "FIELD_TYPES",
    "CodeBlock",
    "Component",
    "Document",
    "Example",
    "FieldSpec",
    "RetryPolicy",
    "Section",
    "Table",
    "load_component",
    "load_document",
    "parse_component",
    "parse_document",
]

#: Claude Code's built-in tool names (the Claude Code tool reference). Agents may list these.
#: ``Agent`` is Claude Code 2.x's name for the subagent tool ``Task``; either name allows it.
CLAUDE_CODE_TOOLS = frozenset(
    {
        "WebFetch",
        "WebSearch",
        "Read",
        "Write",
        "Edit",
        "MultiEdit",
        "Bash",
        "Grep",
        "Glob",
        "Task",
        "Agent",
        "TodoWrite",
        "NotebookEdit",
    }
)

#: Field types a component or scenario may declare; ``path`` and ``url`` are strings with meaning.
FIELD_TYPES = frozenset({"string", "integer", "number", "boolean", "array", "object", "path", "url"})

_JSON_TYPES = {"path": "string", "url": "string"}


@dataclass(kw_only=True)
class Document:
    """A parsed Markdown document.

    Attributes:
        path: The file, or ``None`` for a document parsed from a string.
        meta: The front matter, as loaded by YAML (an empty dict when there is none).
        body: The Markdown after the front matter.
        sections: The body's sections in order (see :class:`llmos._markdown.Section`).
        key_lines: 1-based file line of every front matter key, keyed by its path
            (``("steps", 0, "component")``).
        sha256: Hex digest of the file's bytes: the document version recorded by runs.
    """

    path: Path | None
    meta: dict[str, Any]
    body: str
    sections: list[Section]
    key_lines: dict[Key, int] = field(default_factory=dict)
    sha256: str = ""

    def line_of(self, *key: str | int) -> int:
        """The file line of a front matter key, or of its nearest listed parent, or 1."""
        path: Key = tuple(key)
        while path:
            if path in self.key_lines:
                return self.key_lines[path]
            path = path[:-1]
        return 1

    def error(self, message: str, *key: str | int, line: int | None = None) -> DocumentError:
        """A :class:`DocumentError` at a front matter key (or an explicit line) of this document."""
        return DocumentError(message, path=self.path, line=line if line is not None else self.line_of(*key))

    def section(self, title: str) -> Section | None:
        """The first section whose title equals ``title`` (case-insensitive), or ``None``."""
        wanted = title.strip().lower()
        return next((s for s in self.sections if s.title.lower() == wanted), None)


def parse_document(text: str, *, path: str | Path | None = None) -> Document:
    """Parse a document from text.

    Args:
        text: The whole file: optional ``---`` YAML front matter, then Markdown.
        path: Where the text came from, for error messages.

    Returns:
        The parsed :class:`Document`.

    Raises:
        DocumentError: The front matter is not valid YAML or not a mapping (with its line).
    """
    file = Path(path) if path is not None else None
    handler = frontmatter.YAMLHandler()
    meta: dict[str, Any] = {}
    key_lines: dict[Key, int] = {}
    body = text
    line_offset = 0
    if handler.detect(text):
        try:
            fm, body = handler.split(text)
        except ValueError:
            raise DocumentError("front matter starts with '---' but is never closed", path=file, line=1) from None
        # The YAML text and the body are suffixes of ``text``; count the newlines before each to map
        # their lines to file lines (the boundary pattern may or may not swallow a newline).
        fm_first_line = text[: text.find(fm, 3)].count("\n") + 1
        line_offset = text[: len(text) - len(body)].count("\n")
        try:
            loaded = handler.load(fm)
            root = yaml.compose(fm, Loader=yaml.SafeLoader)
        except yaml.MarkedYAMLError as exc:
            mark = exc.problem_mark or exc.context_mark
            line = mark.line + fm_first_line if mark is not None else 1
            problem = exc.problem or exc.context or "invalid YAML"
            raise DocumentError(f"malformed front matter: {problem}", path=file, line=line) from None
        except yaml.YAMLError as exc:
            raise DocumentError(f"malformed front matter: {exc}", path=file, line=1) from None
        if loaded is None:
            loaded = {}
        if not isinstance(loaded, dict):
            raise DocumentError("front matter must be a YAML mapping of keys to values", path=file, line=2)
        meta = loaded
        if root is not None:
            _key_lines(root, (), key_lines)
            key_lines = {k: v + fm_first_line - 1 for k, v in key_lines.items()}
    sections = parse_sections(body, line_offset=line_offset)
    return Document(
        path=file,
        meta=meta,
        body=body.lstrip("\n"),
        sections=sections,
        key_lines=key_lines,
        sha256=hashlib.sha256(text.encode("utf-8")).hexdigest(),
    )


def load_document(path: str | Path) -> Document:
    """Read and parse a document file.

    Raises:
        DocumentError: The file cannot be read, is not UTF-8, or its front matter is malformed.
    """
    file = Path(path)
    try:
        text = file.read_text(encoding="utf-8")
    except FileNotFoundError:
        raise DocumentError("no such document", path=file) from None
    except UnicodeDecodeError as exc:
        raise DocumentError(f"not UTF-8 text ({exc.reason} at byte {exc.start})", path=file) from None
    except OSError as exc:
        raise DocumentError(f"cannot read: {exc.strerror}", path=file) from None
    return parse_document(text, path=file)


# --------------------------------------------------------------------------------------------
# Field checking, shared by components and scenarios.


class Fields:
    """Reads typed values out of a document's front matter, collecting every problem.

    Used by the document parsers: each accessor returns a value (or a default) and records a
    :class:`DocumentError` at the key's line instead of raising, so ``llmos validate`` can list all
    problems at once.
    """

    def __init__(self, doc: Document, mapping: dict[str, Any] | None = None, prefix: Key = ()) -> None:
        self.doc = doc
        self.mapping = doc.meta if mapping is None else mapping
        self.prefix = prefix
        self.errors: list[DocumentError] = []

    def fail(self, message: str, *key: str | int) -> None:
        """Record a problem at ``key`` (relative to this reader's prefix)."""
        self.errors.append(self.doc.error(message, *self.prefix, *key))

    def unknown_keys(self, allowed: set[str], what: str) -> None:
        """Record every key not in ``allowed`` (a typo is an error, not ignored)."""
        for key in self.mapping:
            if key not in allowed:
                self.fail(f"unknown {what} key {key!r} (expected one of: {', '.join(sorted(allowed))})", key)

    def get(
        self,
        key: str,
        types: type | tuple[type, ...],
        *,
        required: bool = False,
        default: Any = None,
        type_name: str = "",
    ) -> Any:
        """The value at ``key`` if it has one of ``types``; else record a problem and return ``default``."""
        if key not in self.mapping or self.mapping[key] is None:
            if required:
                self.fail(f"missing required key {key!r}", key)
            return default
        value = self.mapping[key]
        if isinstance(value, bool) and bool not in (types if isinstance(types, tuple) else (types,)):
            self.fail(f"{key!r} must be {type_name or _type_names(types)}, not a boolean", key)
            return default
        if not isinstance(value, types):
            self.fail(f"{key!r} must be {type_name or _type_names(types)}, got {type(value).__name__}", key)
            return default
        return value

    def string(
        self, key: str, *, required: bool = False, default: str | None = None, choices: set[str] | None = None
    ) -> str | None:
        """A string, optionally one of ``choices``."""
        value = self.get(key, str, required=required, default=default)
        if isinstance(value, str) and choices is not None and value not in choices:
            self.fail(f"{key!r} must be one of {', '.join(sorted(choices))}; got {value!r}", key)
            return default
        return value

    def number(self, key: str, *, default: float | None = None, minimum: float = 0.0) -> float | None:
        """A number (int or float) at least ``minimum``, as a float."""
        value = self.get(key, (int, float), default=default, type_name="a number")
        if isinstance(value, (int, float)) and value < minimum:
            self.fail(f"{key!r} must be at least {minimum:g}; got {value}", key)
            return default
        return float(value) if value is not None else None

    def integer(self, key: str, *, default: int | None = None, minimum: int = 0) -> int | None:
        """An integer at least ``minimum``."""
        value = self.get(key, int, default=default, type_name="an integer")
        if isinstance(value, int) and value < minimum:
            self.fail(f"{key!r} must be at least {minimum}; got {value}", key)
            return default
        return value

    def boolean(self, key: str, *, default: bool = False) -> bool:
        """``true`` or ``false`` (YAML booleans only, not strings)."""
        value = self.get(key, bool, default=default, type_name="true or false")
        return bool(value)

    def string_list(self, key: str, *, default: list[str] | None = None) -> list[str]:
        """A list of strings; a single string is accepted as a one-item list."""
        value = self.get(key, (list, str), default=default, type_name="a list of strings")
        if value is None:
            return []
        if isinstance(value, str):
            return [value]
        out: list[str] = []
        for index, item in enumerate(value):
            if not isinstance(item, str):
                self.fail(f"{key!r} item {index + 1} must be a string, got {type(item).__name__}", key, index)
            else:
                out.append(item)
        return out


def _type_names(types: type | tuple[type, ...]) -> str:
    names = {
        str: "a string",
        int: "an integer",
        float: "a number",
        bool: "true or false",
        list: "a list",
        dict: "a mapping",
    }
    seq = types if isinstance(types, tuple) else (types,)
    return " or ".join(names.get(t, t.__name__) for t in seq)


# --------------------------------------------------------------------------------------------
# Field specs (inputs and outputs of components and scenarios).


@dataclass(kw_only=True, frozen=True)
class FieldSpec:
    """One declared input or output.

    Attributes:
        name: The field name.
        type: One of :data:`FIELD_TYPES`.
        description: What it holds.
        required: Whether a value must be given (inputs) or returned (outputs).
        default: The value used when none is given; ``None`` when there is none.
        schema: Extra JSON Schema keywords (``items``, ``minLength``, ``maxItems``, ``enum`` ...).
        line: 1-based line of the declaration in its document.
    """

    name: str
    type: str = "string"
    description: str = ""
    required: bool = False
    default: Any = None
    schema: dict[str, Any] = field(default_factory=dict)
    line: int = 1

    def json_schema(self) -> dict[str, Any]:
        """This field as a JSON Schema (draft 2020-12) fragment; ``path`` and ``url`` become strings."""
        out: dict[str, Any] = {"type": _JSON_TYPES.get(self.type, self.type)}
        if self.type == "url":
            out["format"] = "uri"
        if self.description:
            out["description"] = self.description
        out.update(self.schema)
        return out


_SPEC_KEYS = {"type", "description", "required", "default"}


def parse_field_specs(
    doc: Document, key: str, *, outputs: bool = False
) -> tuple[dict[str, FieldSpec], list[DocumentError]]:
    """Parse an ``inputs`` or ``outputs`` mapping of a document's front matter.

    Each entry is either a type name (``url: string``) or a mapping with ``type``, ``description``,
    ``required``, ``default`` and any JSON Schema keywords. Outputs are required unless they say
    ``required: false``; inputs are required when they say so and have no default.

    Returns:
        The specs by name, and the problems found.
    """
    errors: list[DocumentError] = []
    raw = doc.meta.get(key)
    if raw is None:
        return {}, errors
    if not isinstance(raw, dict):
        return {}, [doc.error(f"{key!r} must be a mapping of field names to types or specs", key)]
    specs: dict[str, FieldSpec] = {}
    for name, value in raw.items():
        line = doc.line_of(key, name)
        if isinstance(value, str):
            value = {"type": value}
        if value is None:
            value = {}
        if not isinstance(value, dict):
            errors.append(doc.error(f"{key}.{name} must be a type name or a mapping", key, name))
            continue
        ftype = value.get("type", "string")
        if ftype not in FIELD_TYPES:
            errors.append(
                doc.error(
                    f"{key}.{name} has unknown type {ftype!r} (expected one of: {', '.join(sorted(FIELD_TYPES))})",
                    key,
                    name,
                    "type",
                )
            )
            continue
        required = value.get("required", outputs and "default" not in value)
        if not isinstance(required, bool):
            errors.append(doc.error(f"{key}.{name}.required must be true or false", key, name, "required"))
            required = False
        schema = {k: v for k, v in value.items() if k not in _SPEC_KEYS}
        specs[str(name)] = FieldSpec(
            name=str(name),
            type=ftype,
            description=str(value.get("description", "")),
            required=required,
            default=value.get("default"),
            schema=schema,
            line=line,
        )
    return specs, errors


def object_schema(specs: dict[str, FieldSpec]) -> dict[str, Any]:
    """A JSON Schema ``object`` with one property per spec; required specs are listed as required."""
    return {
        "type": "object",
        "properties": {name: spec.json_schema() for name, spec in specs.items()},
        "required": [name for name, spec in specs.items() if spec.required],
        "additionalProperties": False,
    }


# --------------------------------------------------------------------------------------------
# Components.


@dataclass(kw_only=True, frozen=True)
class RetryPolicy:
    """How often a failed call is tried again: ``attempts`` in all, waiting ``backoff_s`` × 2^n."""

    attempts: int = 1
    backoff_s: float = 1.0


@dataclass(kw_only=True, frozen=True)
class Example:
    """An input/output pair from a component's ``## Examples`` section (1-based ``line``).

    ``tool`` names the Claude Code tool the pair belongs to, for components mapping onto several.
    """

    inputs: dict[str, Any]
    outputs: dict[str, Any]
    line: int
    tool: str | None = None


@dataclass(kw_only=True, frozen=True)
class Component:
    """A tool or agent component (``components/tools/*.md``, ``components/agents/*.md``).

    Attributes:
        name: Unique name; equals the file stem.
        kind: ``"tool"`` or ``"agent"``.
        real: ``True`` renders the ``[REAL]`` tag: the component runs for real in EXECUTION mode.
        description: One or two sentences.
        inputs: Declared inputs by name.
        outputs: Declared outputs by name.
        claude_tools: For tools: the Claude Code tools it maps onto (``["WebFetch"]``,
            ``["Read", "Write", "Edit"]``).
        tools: For agents: the Claude Code tools the agent may call.
        model: For agents: the model name given to the provider (``None``: provider default).
        max_turns: For agents: the most model turns one step may take.
        cost_usd: Expected cost of one call in US dollars.
        latency_s: Expected duration of one call in seconds.
        side_effects: What a call changes in the world (empty: nothing).
        error_modes: How calls are known to fail.
        timeout_s: Seconds after which one call is abandoned.
        max_bytes: Cap on bytes one call may read (a fetched page, a file); default 5,000,000.
        retry: The retry policy for failed calls.
        idempotent: Whether running a call twice has the same effect as once.
        status: ``"active"`` or ``"deprecated"``.
        prompt: The Markdown body; for agents it is the system prompt.
        examples: Input/output pairs from the ``## Examples`` section.
        path: The file.
        sha256: The file's content hash (the document version).
        line: 1-based line of the front matter's ``name`` key.
        declared: The front matter keys the document sets (the others took defaults).
    """

    name: str
    kind: str
    real: bool
    description: str
    inputs: dict[str, FieldSpec]
    outputs: dict[str, FieldSpec]
    claude_tools: tuple[str, ...] = ()
    tools: tuple[str, ...] = ()
    model: str | None = None
    max_turns: int = 10
    cost_usd: float = 0.0
    latency_s: float = 0.0
    side_effects: tuple[str, ...] = ()
    error_modes: tuple[str, ...] = ()
    timeout_s: float = 60.0
    max_bytes: int = 5_000_000
    retry: RetryPolicy = RetryPolicy()
    idempotent: bool = False
    status: str = "active"
    prompt: str = ""
    examples: tuple[Example, ...] = ()
    path: Path | None = None
    sha256: str = ""
    line: int = 1
    declared: frozenset[str] = frozenset()

    @property
    def tag(self) -> str:
        """``"[REAL]"`` for real components, ``""`` otherwise."""
        return "[REAL]" if self.real else ""

    def output_schema(self) -> dict[str, Any]:
        """The JSON Schema of this component's outputs (an object with one property per output)."""
        return object_schema(self.outputs)


_COMPONENT_KEYS = {
    "name",
    "kind",
    "real",
    "description",
    "inputs",
    "outputs",
    "claude_tool",
    "tools",
    "model",
    "max_turns",
    "cost_usd",
    "latency_s",
    "side_effects",
    "error_modes",
    "timeout_s",
    "retry",
    "idempotent",
    "status",
    "version",
    "max_bytes",
}


def _examples(doc: Document, errors: list[DocumentError]) -> tuple[Example, ...]:
    section = doc.section("Examples")
    if section is None:
        return ()
    out: list[Example] = []
    for block in section.code_blocks:
        if block.info.split()[:1] not in (["yaml"], ["json"], ["yml"]):
            continue
        try:
            data = yaml.safe_load(block.code)
        except yaml.YAMLError as exc:
            mark = getattr(exc, "problem_mark", None)
            line = block.line + 1 + (mark.line if mark is not None else 0)
            errors.append(DocumentError(f"example is not valid YAML/JSON: {exc}", path=doc.path, line=line))
            continue
        if (
            not isinstance(data, dict)
            or not isinstance(data.get("inputs"), dict)
            or not isinstance(data.get("outputs"), dict)
        ):
            errors.append(
                DocumentError(
                    "an example must be a mapping with 'inputs' and 'outputs' mappings", path=doc.path, line=block.line
                )
            )
            continue
        tool = data.get("tool")
        if tool is not None and not isinstance(tool, str):
            errors.append(
                DocumentError("an example's 'tool' must be a Claude Code tool name", path=doc.path, line=block.line)
            )
            continue
        out.append(Example(inputs=data["inputs"], outputs=data["outputs"], line=block.line, tool=tool))
    return tuple(out)


def parse_component(doc: Document) -> Component:
    """Build a :class:`Component` from a parsed document.

    Raises:
        DocumentError: Every problem found (a :class:`DocumentErrors` when there are several).
    """
    f = Fields(doc)
    f.unknown_keys(_COMPONENT_KEYS, "component")
    name = f.string("name", required=True) or (doc.path.stem if doc.path else "?")
    if doc.path is not None and name != doc.path.stem:
        f.fail(f"component name {name!r} must equal the file name {doc.path.stem!r}", "name")
    kind = f.string("kind", required=True, choices={"tool", "agent"}) or "tool"
    real = f.boolean("real", default=False)
    description = f.string("description", required=True) or ""
    claude_tools = f.string_list("claude_tool")
    tools = f.string_list("tools")
    for key, names in (("claude_tool", claude_tools), ("tools", tools)):
        for index, tool in enumerate(names):
            if tool not in CLAUDE_CODE_TOOLS:
                f.fail(f"unknown Claude Code tool {tool!r} (known: {', '.join(sorted(CLAUDE_CODE_TOOLS))})", key, index)
    if kind == "tool" and not claude_tools:
        f.fail("a tool component must name its 'claude_tool'", "name")
    if kind == "agent" and claude_tools:
        f.fail("an agent component lists the tools it may call under 'tools', not 'claude_tool'", "claude_tool")
    retry = RetryPolicy()
    raw_retry = f.get("retry", dict)
    if isinstance(raw_retry, dict):
        rf = Fields(doc, raw_retry, ("retry",))
        rf.unknown_keys({"attempts", "backoff_s"}, "retry")
        retry = RetryPolicy(
            attempts=rf.integer("attempts", default=1, minimum=1) or 1,
            backoff_s=rf.number("backoff_s", default=1.0) or 0.0,
        )
        f.errors.extend(rf.errors)
    inputs, errs = parse_field_specs(doc, "inputs")
    f.errors.extend(errs)
    outputs, errs = parse_field_specs(doc, "outputs", outputs=True)
    f.errors.extend(errs)
    examples = _examples(doc, f.errors)
    component = Component(
        name=name,
        kind=kind,
        real=real,
        description=description,
        inputs=inputs,
        outputs=outputs,
        claude_tools=tuple(claude_tools),
        tools=tuple(tools),
        model=f.string("model"),
        max_turns=f.integer("max_turns", default=10, minimum=1) or 10,
        cost_usd=f.number("cost_usd", default=0.0) or 0.0,
        latency_s=f.number("latency_s", default=0.0) or 0.0,
        side_effects=tuple(s for s in f.string_list("side_effects") if s.lower() != "none"),
        error_modes=tuple(f.string_list("error_modes")),
        timeout_s=f.number("timeout_s", default=60.0) or 60.0,
        max_bytes=f.integer("max_bytes", default=5_000_000, minimum=1) or 5_000_000,
        retry=retry,
        idempotent=f.boolean("idempotent", default=False),
        status=f.string("status", default="active", choices={"active", "deprecated"}) or "active",
        prompt=doc.body.strip(),
        examples=examples,
        path=doc.path,
        sha256=doc.sha256,
        line=doc.line_of("name"),
        declared=frozenset(doc.meta),
    )
    if f.errors:
        raise join_errors(f.errors)
    return component


def load_component(path: str | Path) -> Component:
    """Load and check one component file.

    Raises:
        DocumentError: The file is unreadable or wrong; the message names the file and line.
    """
    return parse_component(load_document(path))


def iter_markdown(folder: Path) -> Iterator[Path]:
    """The ``*.md`` files under ``folder``, sorted, skipping hidden names and README files."""
    if not folder.is_dir():
        return
    for path in sorted(folder.rglob("*.md")):
        if any(part.startswith(".") for part in path.relative_to(folder).parts):
            continue
        if path.name.lower() == "readme.md":
            continue
        yield path
