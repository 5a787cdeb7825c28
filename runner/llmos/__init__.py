"""LLM-OS: a document-centric agent framework.

Agents, tools, scenarios and the system itself are Markdown documents; this package parses them
into a state machine, runs it with real tools and an LLM provider, persists every transition to
``execution_state.md`` and records each run as a training trace.

Importing ``llmos`` is cheap: the engine, the tools and the providers load on first use.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

__version__ = "0.1.0"

__all__ = [
    "AgentRequest",
    "AgentResponse",
    "ApprovalRequest",
    "BudgetExceeded",
    "Component",
    "Decision",
    "DocumentError",
    "DocumentErrors",
    "InputError",
    "LLMOSError",
    "PolicyError",
    "Project",
    "ProviderError",
    "RunError",
    "RunResult",
    "RunState",
    "Scenario",
    "StateError",
    "Step",
    "TemplateError",
    "ToolCall",
    "ToolError",
    "ToolResult",
    "WorkspaceLock",
    "WorkspaceLocked",
    "__version__",
    "approve_all",
    "load_state",
    "recover_state",
    "resume_run",
    "run_scenario",
]

from llmos.exceptions import (
    BudgetExceeded,
    DocumentError,
    DocumentErrors,
    InputError,
    LLMOSError,
    PolicyError,
    ProviderError,
    RunError,
    StateError,
    TemplateError,
    ToolError,
    WorkspaceLocked,
)

_LAZY = {
    "AgentRequest": "llmos.providers.base",
    "AgentResponse": "llmos.providers.base",
    "ToolCall": "llmos.providers.base",
    "ToolResult": "llmos.providers.base",
    "Component": "llmos.documents",
    "Project": "llmos.project",
    "Scenario": "llmos.scenario",
    "Step": "llmos.scenario",
    "RunState": "llmos.state",
    "load_state": "llmos.state",
    "recover_state": "llmos.state",
    "RunResult": "llmos.engine",
    "run_scenario": "llmos.engine",
    "resume_run": "llmos.engine",
    "ApprovalRequest": "llmos.approval",
    "Decision": "llmos.approval",
    "approve_all": "llmos.approval",
    "WorkspaceLock": "llmos.lock",
}

if TYPE_CHECKING:
    from llmos.approval import ApprovalRequest, Decision, approve_all
    from llmos.documents import Component
    from llmos.engine import RunResult, resume_run, run_scenario
    from llmos.lock import WorkspaceLock
    from llmos.project import Project
    from llmos.providers.base import AgentRequest, AgentResponse, ToolCall, ToolResult
    from llmos.scenario import Scenario, Step
    from llmos.state import RunState, load_state, recover_state


def __getattr__(name: str) -> Any:
    module = _LAZY.get(name)
    if module is None:
        raise AttributeError(f"module 'llmos' has no attribute {name!r}")
    import importlib

    return getattr(importlib.import_module(module), name)
