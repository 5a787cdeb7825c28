"""Exceptions raised by LLM-OS.

Every error the framework raises on purpose derives from :class:`LLMOSError`, so a caller can
catch one type. The tree::

    LLMOSError
    ├── DocumentError            a document (component, scenario, system file) is wrong: names file and line
    │   └── DocumentErrors       several DocumentErrors found at once (``llmos validate``)
    ├── RunError                 a run could not go on; names the step when there is one
    │   ├── InputError           a scenario input or a step input is missing or has the wrong type
    │   ├── TemplateError        a step's Jinja2 template failed to render
    │   ├── ToolError            a tool call failed (network, file system, command)
    │   │   └── PolicyError      a tool call was refused by the security policy (sandbox, command policy)
    │   ├── ProviderError        the provider could not answer an agent step, or answered wrongly
    │   ├── PlanError            no valid plan could be made from the goal (after the repairs)
    │   ├── BudgetExceeded       the run's budget ran out during a step (the run pauses, it does not fail)
    │   └── WorkspaceLocked      another run holds the workspace (one run per workspace at a time)
    └── StateError               an execution_state.md or journal could not be read or written

Exceptions carry data only; constructing one has no side effects.
"""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from pathlib import Path

__all__ = [
    "BudgetExceeded",
    "DocumentError",
    "DocumentErrors",
    "InputError",
    "LLMOSError",
    "PlanError",
    "PolicyError",
    "ProviderError",
    "RunError",
    "StateError",
    "TemplateError",
    "ToolError",
    "WorkspaceLocked",
]


class LLMOSError(Exception):
    """Root of every error LLM-OS raises on purpose."""


class DocumentError(LLMOSError):
    """A document is malformed or inconsistent.

    Args:
        message: What is wrong, in one sentence.
        path: The document's file, or ``None`` when the document came from a string.
        line: The 1-based line of the problem in that file, or ``None`` when unknown.

    ``str(error)`` reads ``path:line: message`` like a compiler diagnostic.
    """

    def __init__(self, message: str, *, path: str | Path | None = None, line: int | None = None) -> None:
        self.message = message
        self.path = Path(path) if path is not None else None
        self.line = line
        super().__init__(self.__str__())

    @property
    def location(self) -> str:
        """``path:line``, ``path`` or ``<string>``."""
        where = str(self.path) if self.path is not None else "<string>"
        return f"{where}:{self.line}" if self.line is not None else where

    def __str__(self) -> str:
        return f"{self.location}: {self.message}"


class DocumentErrors(DocumentError):
    """Several document problems, reported together.

    Args:
        errors: The individual problems, in file and line order. Must not be empty.
    """

    def __init__(self, errors: Iterable[DocumentError]) -> None:
        self.errors: list[DocumentError] = sorted(errors, key=lambda e: (str(e.path or ""), e.line or 0))
        if not self.errors:
            raise ValueError("DocumentErrors needs at least one error")
        first = self.errors[0]
        super().__init__(first.message, path=first.path, line=first.line)

    def __str__(self) -> str:
        return "\n".join(DocumentError.__str__(e) for e in self.errors)


class RunError(LLMOSError):
    """A run could not go on.

    Args:
        message: What went wrong.
        step: The id of the step that failed, when the failure belongs to a step.
    """

    def __init__(self, message: str, *, step: str | None = None) -> None:
        self.message = message
        self.step = step
        super().__init__(self.__str__())

    def __str__(self) -> str:
        return f"step {self.step!r}: {self.message}" if self.step else self.message


class InputError(RunError):
    """A scenario input or a step input is missing or has the wrong type."""


class TemplateError(RunError):
    """A step input template could not be rendered (unknown name, bad syntax, sandbox refusal)."""


class ToolError(RunError):
    """A tool call failed.

    Args:
        message: What went wrong.
        tool: The Claude Code tool name (``WebFetch``, ``Read``, ...).
        step: The step id, when known.
        retryable: Whether trying again may succeed (timeouts, 5xx, connection errors).
        cost_usd: US dollars the failed call spent anyway (a Task step's sub-run), else 0.
    """

    def __init__(
        self, message: str, *, tool: str, step: str | None = None, retryable: bool = False, cost_usd: float = 0.0
    ) -> None:
        self.tool = tool
        self.retryable = retryable
        self.cost_usd = cost_usd
        super().__init__(message, step=step)

    def __str__(self) -> str:
        base = f"{self.tool}: {self.message}"
        return f"step {self.step!r}: {base}" if self.step else base


class PolicyError(ToolError):
    """A tool call was refused by the security policy; it never touched the world."""


class ProviderError(RunError):
    """The provider could not answer an agent step, or its answer was invalid.

    Args:
        message: What went wrong.
        provider: The provider name (``scripted``, ``local``, ...).
        step: The step id, when known.
        raw: The provider's raw reply when it was invalid, for the record.
        invalid_output: The provider answered, but not with output matching the agent's schema.
        retryable: Whether trying again may help (a model may answer validly the next time).
        cost_usd: US dollars the failed call spent anyway (counted in the run's totals).
    """

    def __init__(
        self,
        message: str,
        *,
        provider: str,
        step: str | None = None,
        raw: str | None = None,
        invalid_output: bool = False,
        retryable: bool = True,
        cost_usd: float = 0.0,
    ) -> None:
        self.provider = provider
        self.raw = raw
        self.invalid_output = invalid_output
        self.retryable = retryable
        self.cost_usd = cost_usd
        super().__init__(message, step=step)

    def __str__(self) -> str:
        base = f"provider {self.provider!r}: {self.message}"
        return f"step {self.step!r}: {base}" if self.step else base


class BudgetExceeded(RunError):
    """The run's budget ran out while a step was running; the engine pauses the run.

    Args:
        message: What ran out, in words.
        budget_usd: The budget the step was given (what remained of the run's), in US dollars.
        cost_usd: US dollars the step spent before it was stopped (counted in the run's totals).
        step: The step id, when known.
    """

    def __init__(self, message: str, *, budget_usd: float, cost_usd: float, step: str | None = None) -> None:
        self.budget_usd = budget_usd
        self.cost_usd = cost_usd
        super().__init__(message, step=step)


class PlanError(RunError):
    """No valid plan could be made from the goal: the provider failed, or every plan it gave (after
    the allowed repairs) had problems; the message lists the last ones."""


class WorkspaceLocked(RunError):
    """Another run holds the workspace's lock.

    Args:
        message: Who holds it and what to do.
        holder: What the holder recorded: ``execution_id``, ``pid``, ``host``, ``since``,
            ``command`` (any may be missing when the holder could not record it).
    """

    def __init__(self, message: str, *, holder: dict[str, object] | None = None) -> None:
        super().__init__(message)
        self.holder = dict(holder or {})


class StateError(LLMOSError):
    """An execution_state.md or journal could not be read or written.

    Args:
        message: What is wrong.
        path: The state file concerned.
    """

    def __init__(self, message: str, *, path: str | Path | None = None) -> None:
        self.message = message
        self.path = Path(path) if path is not None else None
        super().__init__(f"{self.path}: {message}" if self.path else message)


def join_errors(errors: Sequence[DocumentError]) -> DocumentError:
    """One DocumentError for a non-empty list: the error itself or a :class:`DocumentErrors`."""
    return errors[0] if len(errors) == 1 else DocumentErrors(errors)
