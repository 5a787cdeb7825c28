"""Human in the loop: the questions a run asks a person, and the answers.

A run stops before a step and asks when:

* the step says ``approval: required`` (kind ``approval``);
* the run was started with ``--confirm side-effects`` and the step's component declares
  ``side_effects`` (kind ``side_effects``; never in simulation mode, which touches nothing);
* the step was running when the runner stopped (a crash, ``kill -9``) and its component is not
  ``idempotent``, so running it again might repeat its effect (kind ``rerun``).

Whoever answers is an :data:`Approver`: the terminal (``llmos-run`` asks in place when stdin is
a terminal), :func:`approve_all` (``--yes``), or nobody, in which case the run pauses (exit code 3)
with the question in its state file (``pending``) until ``llmos approve``, ``llmos reject`` or
``llmos skip`` answers it. Every answer is recorded as a ``decision`` transition and reaches the
trace as human feedback.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

__all__ = ["ACTIONS", "QUESTION_KINDS", "ApprovalRequest", "Approver", "Decision", "approve_all"]

#: What a person can answer.
ACTIONS = ("approve", "reject", "skip")
#: Why a run asks.
QUESTION_KINDS = ("approval", "side_effects", "rerun")


@dataclass(kw_only=True, frozen=True)
class ApprovalRequest:
    """A question a run asks before a step.

    Attributes:
        execution_id: The run.
        step: The step's id.
        component: The step's component.
        kind: One of :data:`QUESTION_KINDS`.
        reason: Why the run asks, in one sentence.
        inputs: The step's inputs as they will be given (rendered), or as written when they
            cannot be rendered yet.
        side_effects: What the component declares it changes in the world.
    """

    execution_id: str
    step: str
    component: str
    kind: str
    reason: str
    inputs: dict[str, Any] = field(default_factory=dict)
    side_effects: tuple[str, ...] = ()


@dataclass(kw_only=True, frozen=True)
class Decision:
    """An answer to an :class:`ApprovalRequest`.

    Attributes:
        action: ``approve`` (run the step), ``reject`` (stop the run; the step is ``rejected``)
            or ``skip`` (go on without the step).
        reason: Why, in the person's words (recorded as human feedback in the trace).
        by: Who answered: ``person`` (terminal or ``llmos approve``/``reject``/``skip``) or ``--yes``.

    Raises:
        ValueError: An unknown action.
    """

    action: str
    reason: str = ""
    by: str = "person"

    def __post_init__(self) -> None:
        if self.action not in ACTIONS:
            raise ValueError(f"a decision's action is one of {', '.join(ACTIONS)}, not {self.action!r}")


#: Answers a question, or returns ``None`` when nobody can answer now (the run pauses).
Approver = Callable[[ApprovalRequest], Decision | None]


def approve_all(request: ApprovalRequest) -> Decision:
    """The approver of ``--yes``: approves every question."""
    return Decision(action="approve", reason=f"approved by --yes ({request.kind})", by="--yes")
