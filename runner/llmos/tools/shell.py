"""Bash: run a shell command in the workspace, with a timeout and the command policy.

The command runs as ``bash -c`` in its own process group with the workspace as working
directory and no standard input. On timeout the whole group is killed. stdout and stderr are
capped at ``ctx.max_bytes`` each.
"""

from __future__ import annotations

import os
import signal
import subprocess
from typing import Any

from llmos.exceptions import ToolError
from llmos.tools.base import Param, Tool, ToolContext

__all__ = ["BashTool"]


class BashTool(Tool):
    """Run a shell command (Claude Code ``Bash``; ``timeout`` is in milliseconds as there).

    Outputs: ``stdout``, ``stderr``, ``exit_code``. A non-zero exit status is a failed call
    (:class:`ToolError` carrying the outputs in its message); a timeout is a retryable failure.
    """

    name = "Bash"
    side_effects = True
    params = {
        "command": Param(type="string", required=True, description="the command line, run by bash -c"),
        "timeout": Param(type="integer", description="milliseconds before the command is killed"),
        "description": Param(type="string", description="what the command does, for people"),
    }

    def run(self, inputs: dict[str, Any], ctx: ToolContext) -> dict[str, Any]:
        command = inputs["command"]
        ctx.policy.check_command(command)
        timeout_s = inputs["timeout"] / 1000 if inputs.get("timeout") else ctx.timeout_s
        proc = subprocess.Popen(
            ["bash", "-c", command],
            cwd=ctx.workspace,
            stdin=subprocess.DEVNULL,
            stdout=subprocess.PIPE,
            stderr=subprocess.PIPE,
            start_new_session=True,
        )
        try:
            out, err = proc.communicate(timeout=timeout_s)
        except subprocess.TimeoutExpired:
            try:
                os.killpg(proc.pid, signal.SIGKILL)
            except ProcessLookupError:
                pass
            proc.communicate()
            raise ToolError(
                f"command timed out after {timeout_s:g} s: {command}", tool=self.name, step=ctx.step, retryable=True
            ) from None
        stdout = out[: ctx.max_bytes].decode("utf-8", errors="replace")
        stderr = err[: ctx.max_bytes].decode("utf-8", errors="replace")
        if proc.returncode != 0:
            detail = (stderr or stdout).strip()[-500:]
            raise ToolError(
                f"command exited with status {proc.returncode}: {command}" + (f"\n{detail}" if detail else ""),
                tool=self.name,
                step=ctx.step,
            )
        return {"stdout": stdout, "stderr": stderr, "exit_code": proc.returncode}
