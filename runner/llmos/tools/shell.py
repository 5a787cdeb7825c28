"""Bash: run a shell command in the workspace, with a timeout and the command policy.

The command runs as ``bash -c`` in its own process group with the workspace as working
directory and no standard input; its output goes to temporary files that are watched while it
runs. On timeout, or once it has written more than twice ``ctx.max_bytes``, the whole group is
killed. stdout and stderr are returned up to ``ctx.max_bytes`` each.
"""

from __future__ import annotations

import os
import signal
import subprocess
import tempfile
import time
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
        with tempfile.TemporaryFile() as out, tempfile.TemporaryFile() as err:
            proc = subprocess.Popen(
                ["bash", "-c", command],
                cwd=ctx.workspace,
                stdin=subprocess.DEVNULL,
                stdout=out,
                stderr=err,
                start_new_session=True,
            )
            deadline = time.monotonic() + timeout_s
            problem = None
            while proc.poll() is None:
                if time.monotonic() > deadline:
                    problem = f"command timed out after {timeout_s:g} s: {command}"
                elif os.fstat(out.fileno()).st_size + os.fstat(err.fileno()).st_size > 2 * ctx.max_bytes:
                    problem = f"command wrote more than {2 * ctx.max_bytes} bytes of output and was stopped: {command}"
                if problem:
                    _kill_group(proc)
                    raise ToolError(problem, tool=self.name, step=ctx.step, retryable="timed out" in problem)
                time.sleep(0.01)
            stdout, stderr = (_head(f, ctx.max_bytes) for f in (out, err))
        if proc.returncode != 0:
            detail = (stderr or stdout).strip()[-500:]
            raise ToolError(
                f"command exited with status {proc.returncode}: {command}" + (f"\n{detail}" if detail else ""),
                tool=self.name,
                step=ctx.step,
            )
        return {"stdout": stdout, "stderr": stderr, "exit_code": proc.returncode}


def _head(handle: Any, limit: int) -> str:
    handle.seek(0)
    return handle.read(limit).decode("utf-8", errors="replace")


def _kill_group(proc: subprocess.Popen[bytes]) -> None:
    try:
        os.killpg(proc.pid, signal.SIGKILL)
    except ProcessLookupError:
        pass
    proc.wait()
