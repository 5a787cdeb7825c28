"""Tool definitions for exported conversations: names, descriptions and argument schemas.

A trace records the arguments each call was given, not the components' declared input schemas,
so the schema of a tool's arguments is **inferred from the argument values present** in the
example: each argument's JSON type (``string``, ``integer``, ``number``, ``boolean``, ``array``,
``object``, ``null``), nested objects and array items inferred the same way, and ``required``
listing the arguments that every call of that tool in the example passed. Two calls passing
different types for one argument give a list of types (``{"type": ["integer", "string"]}``, as
JSON Schema allows). Claude Code's own tools get a fixed one-line description; an agent gets one
naming it as an LLM-OS agent.
"""

from __future__ import annotations

import re
from collections.abc import Iterable, Mapping
from typing import Any

__all__ = ["TOOL_NAME", "ToolSpec", "describe_tool", "infer_schema", "merge_schemas", "safe_tool_name"]

#: Function and tool names accepted by OpenAI (function name rule) and Anthropic (tool name rule).
TOOL_NAME = re.compile(r"^[a-zA-Z0-9_-]{1,64}$")
_UNSAFE = re.compile(r"[^a-zA-Z0-9_-]")

_CLAUDE_TOOLS = {
    "WebFetch": "Fetch a URL and return its content converted to Markdown (Claude Code WebFetch).",
    "Read": "Read a file in the workspace (Claude Code Read).",
    "Write": "Write a file in the workspace, replacing it if it exists (Claude Code Write).",
    "Edit": "Replace a string in a file in the workspace (Claude Code Edit).",
    "Bash": "Run a shell command in the workspace under the security policy (Claude Code Bash).",
    "Grep": "Search file contents with a regular expression (Claude Code Grep).",
    "Glob": "List files matching a glob pattern (Claude Code Glob).",
    "Task": "Delegate a sub-task to a sub-agent (Claude Code Task).",
    "WebSearch": "Search the web (Claude Code WebSearch).",
}


def safe_tool_name(name: str | None, fallback: str = "tool") -> str:
    """``name`` made acceptable as a function/tool name: ``[a-zA-Z0-9_-]``, 1 to 64 characters."""
    cleaned = _UNSAFE.sub("_", name or "")[:64]
    return cleaned or fallback


def describe_tool(name: str, *, agent: bool) -> str:
    """A one-line description of a tool (Claude Code tool) or of an agent component."""
    if agent:
        return f"LLM-OS agent component {name}: runs one agent step with these inputs and answers with a JSON object."
    return _CLAUDE_TOOLS.get(name, f"LLM-OS tool {name}.")


_TYPES: tuple[tuple[type, str], ...] = (
    (bool, "boolean"),  # before int: bool is an int subclass
    (int, "integer"),
    (float, "number"),
    (str, "string"),
    (list, "array"),
    (dict, "object"),
)


def _type_of(value: Any) -> str:
    if value is None:
        return "null"
    for kind, name in _TYPES:
        if isinstance(value, kind):
            return name
    return "string"  # anything else is serialised as text


def infer_schema(value: Any, *, depth: int = 4) -> dict[str, Any]:
    """The JSON Schema of one value (objects and arrays recursively, up to ``depth`` levels).

    Returns:
        e.g. ``{"type": "object", "properties": {"url": {"type": "string"}}, "required": ["url"]}``.
    """
    kind = _type_of(value)
    if kind == "object" and depth > 0:
        props = {str(k): infer_schema(v, depth=depth - 1) for k, v in value.items()}
        return {"type": "object", "properties": props, "required": sorted(props)}
    if kind == "array" and depth > 0:
        items: dict[str, Any] = {}
        for item in value:
            items = (
                merge_schemas(items, infer_schema(item, depth=depth - 1))
                if items
                else infer_schema(item, depth=depth - 1)
            )
        return {"type": "array", "items": items} if items else {"type": "array"}
    return {"type": kind}


def _types(schema: Mapping[str, Any]) -> list[str]:
    kind = schema.get("type")
    if isinstance(kind, list):
        return [str(k) for k in kind]
    return [str(kind)] if kind else []


def merge_schemas(a: Mapping[str, Any], b: Mapping[str, Any]) -> dict[str, Any]:
    """One schema accepting what ``a`` and ``b`` accept: properties united, ``required`` intersected."""
    kinds = sorted(set(_types(a)) | set(_types(b)))
    if "integer" in kinds and "number" in kinds:
        kinds.remove("integer")
    out: dict[str, Any] = {"type": kinds[0] if len(kinds) == 1 else kinds}
    if "object" in kinds:
        pa, pb = a.get("properties", {}), b.get("properties", {})
        props = {
            k: merge_schemas(pa[k], pb[k]) if k in pa and k in pb else dict(pa.get(k) or pb[k]) for k in {**pa, **pb}
        }
        ra = set(a.get("required", [])) if "object" in _types(a) else set(props)
        rb = set(b.get("required", [])) if "object" in _types(b) else set(props)
        out["properties"] = dict(sorted(props.items()))
        out["required"] = sorted(ra & rb)
    if "array" in kinds:
        ia, ib = a.get("items"), b.get("items")
        if ia and ib:
            out["items"] = merge_schemas(ia, ib)
        elif ia or ib:
            out["items"] = dict(ia or ib or {})
    return out


class ToolSpec:
    """A tool definition being built from the calls of one example.

    Attributes:
        name: The tool's name (matches :data:`TOOL_NAME`).
        description: One line.
        parameters: The JSON Schema (``type: object``) of its arguments.
    """

    __slots__ = ("description", "name", "parameters")

    def __init__(self, name: str, description: str, parameters: dict[str, Any]) -> None:
        self.name = name
        self.description = description
        self.parameters = parameters

    @classmethod
    def from_calls(cls, name: str, description: str, arguments: Iterable[Mapping[str, Any]]) -> ToolSpec:
        """The tool ``name`` with the schema inferred from the ``arguments`` of each of its calls."""
        schema: dict[str, Any] = {}
        for args in arguments:
            one = infer_schema(dict(args))
            if not schema:
                schema = one
            elif one != schema:
                schema = merge_schemas(schema, one)
        if not schema:
            schema = {"type": "object", "properties": {}, "required": []}
        return cls(name, description, schema)

    def to_dict(self) -> dict[str, Any]:
        """``{"name", "description", "parameters"}``."""
        return {"name": self.name, "description": self.description, "parameters": self.parameters}
