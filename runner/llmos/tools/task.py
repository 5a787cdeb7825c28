"""Task: run a sub-task as a run of its own (Claude Code ``Task``; ``Agent`` in Claude Code 2.x).

In Claude Code, Task hands a prompt to a subagent. In the runner, a Task step starts a *sub-run*:
another scenario (``scenario``), or a goal SystemAgent plans (``prompt``), with its own state
machine, ``execution_state.md``, journal and trace, linked to the step that started it. The engine
runs it (:meth:`llmos.engine._Run.run_subtask`, given to the tool as ``ctx.extra["run_subtask"]``):
the sub-run may spend what is left of the parent's budget, its cost counts against it, it shares
the parent's workspace, lock, provider and approver, and sub-runs nest at most
:data:`llmos.engine.MAX_SUBRUN_DEPTH` deep.

Outputs: ``execution_id``, ``status`` (completed), ``cost_usd``, ``state_path`` (relative to the
workspace), ``outputs`` (the files the sub-run wrote) and ``steps`` (each step's id, status and
outputs). A sub-run that fails or pauses fails the call (not retryable), naming the sub-run.
"""

from __future__ import annotations

from typing import Any

from llmos.exceptions import ToolError
from llmos.tools.base import Param, Tool, ToolContext

__all__ = ["TaskTool"]


class TaskTool(Tool):
    """Run a sub-task as a sub-run (Claude Code ``Task``)."""

    name = "Task"
    side_effects = True
    params = {
        "description": Param(type="string", description="a short name for the sub-task"),
        "prompt": Param(type="string", description="the sub-task's goal, planned by SystemAgent (no scenario given)"),
        "scenario": Param(type="string", description="a scenario file to run, relative to the project root"),
        "inputs": Param(type="object", description="the sub-run's inputs (scenario inputs, or the goal's)"),
        "subagent_type": Param(type="string", description="accepted for Claude Code compatibility; unused"),
    }

    def run(self, inputs: dict[str, Any], ctx: ToolContext) -> dict[str, Any]:
        if bool(inputs.get("scenario")) == bool(inputs.get("prompt")):
            raise ToolError(
                "Task needs a 'scenario' to run or a 'prompt' (a goal), one of them", tool=self.name, step=ctx.step
            )
        runner = ctx.extra.get("run_subtask")
        if runner is None:
            raise ToolError(
                "Task starts a sub-run, which only a Task step of a run can do (not an agent's own tool call)",
                tool=self.name,
                step=ctx.step,
            )
        result: dict[str, Any] = runner(inputs)
        return result
