"""The runner's own implementations of the Claude Code tools.

``TOOLS`` maps each Claude Code tool name to its implementation. Heavy libraries (httpx,
markdownify) are imported when a call runs, not here.
"""

from __future__ import annotations

from llmos.tools.base import Param, Tool, ToolContext
from llmos.tools.files import EditTool, ReadTool, WriteTool
from llmos.tools.search import GlobTool, GrepTool
from llmos.tools.shell import BashTool
from llmos.tools.task import TaskTool
from llmos.tools.web import WebFetchTool

__all__ = ["TOOLS", "Param", "Tool", "ToolContext"]

#: Claude Code tool name -> the runner's implementation.
TOOLS: dict[str, Tool] = {
    tool.name: tool
    for tool in (WebFetchTool(), ReadTool(), WriteTool(), EditTool(), BashTool(), GrepTool(), GlobTool(), TaskTool())
}
