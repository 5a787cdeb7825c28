"""The tool interface: one class per Claude Code tool, same input names as Claude Code's.

A tool is called with its inputs (a dict with Claude Code's input names, e.g. ``file_path``) and a
:class:`ToolContext`, and returns its outputs as a JSON-serialisable dict. It raises
:class:`llmos.exceptions.ToolError` (or :class:`~llmos.exceptions.PolicyError`) when it fails.
"""

from __future__ import annotations

from abc import ABC, abstractmethod
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, ClassVar

from llmos.exceptions import InputError
from llmos.policy import Policy

__all__ = ["Param", "Tool", "ToolContext"]


@dataclass(kw_only=True, frozen=True)
class Param:
    """One tool input: JSON type (``string``, ``integer``, ``boolean``...), whether required, meaning."""

    type: str
    required: bool = False
    description: str = ""


@dataclass(kw_only=True)
class ToolContext:
    """What a tool call may touch and how long it may take.

    Attributes:
        policy: The security policy (workspace, readable roots, command rules).
        timeout_s: Seconds after which the call is abandoned.
        max_bytes: Cap on bytes read from the network or a file.
        step: The step id, for error messages.
        extra: Tool-specific settings (e.g. ``max_redirects``).
    """

    policy: Policy
    timeout_s: float = 60.0
    max_bytes: int = 5_000_000
    step: str | None = None
    extra: dict[str, Any] = field(default_factory=dict)

    @property
    def workspace(self) -> Path:
        """The workspace folder (the working directory of Bash, the base of relative paths)."""
        return self.policy.workspace


_PY_TYPES: dict[str, tuple[type, ...]] = {
    "string": (str,),
    "integer": (int,),
    "number": (int, float),
    "boolean": (bool,),
    "array": (list,),
    "object": (dict,),
}


class Tool(ABC):
    """A runnable Claude Code tool.

    Class attributes:
        name: The Claude Code tool name (``"WebFetch"``).
        params: Its inputs by Claude Code input name.
        side_effects: Whether a call changes the world (files, processes).
    """

    name: ClassVar[str]
    params: ClassVar[dict[str, Param]]
    side_effects: ClassVar[bool] = False

    def check_inputs(self, inputs: dict[str, Any], *, step: str | None = None) -> None:
        """Check input names, required inputs and JSON types.

        Raises:
            InputError: An unknown or missing input, or one of the wrong type.
        """
        unknown = sorted(set(inputs) - set(self.params))
        if unknown:
            raise InputError(
                f"{self.name} has no input(s) {', '.join(map(repr, unknown))} (inputs: {', '.join(self.params)})",
                step=step,
            )
        for name, param in self.params.items():
            if name not in inputs or inputs[name] is None:
                if param.required:
                    raise InputError(f"{self.name} needs the input {name!r} ({param.description})", step=step)
                continue
            value = inputs[name]
            types = _PY_TYPES.get(param.type, (object,))
            if (isinstance(value, bool) and bool not in types) or not isinstance(value, types):
                raise InputError(
                    f"{self.name} input {name!r} must be {param.type}, got {type(value).__name__}", step=step
                )

    def json_schema(self) -> dict[str, Any]:
        """The tool's input schema as JSON Schema (for providers that call tools)."""
        return {
            "type": "object",
            "properties": {n: {"type": p.type, "description": p.description} for n, p in self.params.items()},
            "required": [n for n, p in self.params.items() if p.required],
        }

    @abstractmethod
    def run(self, inputs: dict[str, Any], ctx: ToolContext) -> dict[str, Any]:
        """Run the call.

        Args:
            inputs: Checked inputs (see :meth:`check_inputs`).
            ctx: Policy, timeout and caps.

        Returns:
            The outputs, JSON-serialisable.

        Raises:
            ToolError: The call failed; ``retryable`` says whether trying again may help.
            PolicyError: The policy refused the call.
        """
