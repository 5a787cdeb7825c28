"""The ``claude`` provider: agent steps run by Claude Code through the Claude Agent SDK.

One ``query()`` per agent step (one attempt of it):

* the agent document's body is the system prompt; its ``tools`` are the only Claude Code tools
  offered and allowed; ``model`` and ``max_turns`` come from its front matter;
* the working directory is the run's workspace;
* the run is hermetic: ``setting_sources=[]`` (no user or project settings, hooks or CLAUDE.md)
  and an explicit system prompt;
* the permission mode is ``dontAsk`` (nothing prompts; a tool that is not allowed is refused),
  which also works as root, where Claude Code refuses ``bypassPermissions``;
* agents that declare outputs get structured output through the SDK's ``output_format``
  (JSON Schema), validated again on return;
* a fail-closed PreToolUse hook asks the engine's :class:`~llmos.providers.base.ToolCallHooks`
  (the security policy) whether each call may run, and PostToolUse / PostToolUseFailure hooks
  report each call, so every tool call Claude Code makes becomes a recorded transition;
* ``max_budget_usd`` is what remains of the run's budget; the cost is the result message's
  ``total_cost_usd``.

Retries belong to the runner (the component's ``retry`` policy), so Claude Code's own API
retries are off (``CLAUDE_CODE_MAX_RETRIES=0``) unless that variable is set in the environment.
``ANTHROPIC_BASE_URL`` points Claude Code at any Anthropic-compatible endpoint, such as
:class:`llmos.testing.ScriptedModelServer`.

This module imports the SDK only inside :meth:`ClaudeProvider.complete`, so importing it is cheap.
"""

from __future__ import annotations

import importlib.metadata
import importlib.util
import json
import os
import sys
import time
from collections import deque
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from llmos.exceptions import BudgetExceeded, ProviderError
from llmos.providers.base import (
    AgentRequest,
    AgentResponse,
    Provider,
    ToolCall,
    ToolCallHooks,
    ToolResult,
    parse_json_reply,
    validate_output,
)

__all__ = ["SCRIPTED_MESSAGE_ID_PREFIX", "STRUCTURED_OUTPUT_TOOL", "ClaudeProvider", "ClaudeStatus", "claude_status"]

#: Message ids of replies from :class:`llmos.testing.ScriptedModelServer`. When every reply of a
#: step carries it, the step's output came from a script, not a model, and is labelled
#: ``source: generated`` (the tool calls Claude Code ran stay ``real``).
SCRIPTED_MESSAGE_ID_PREFIX = "msg_llmos_scripted_"

#: The tool Claude Code gives the model for structured output (``output_format``); calling it is
#: the answer, not a tool call of the agent's, so it is neither checked nor recorded as one.
STRUCTURED_OUTPUT_TOOL = "StructuredOutput"

#: Environment variables that give Claude Code something to talk to.
CREDENTIAL_VARIABLES = ("ANTHROPIC_API_KEY", "ANTHROPIC_AUTH_TOKEN", "CLAUDE_CODE_OAUTH_TOKEN", "ANTHROPIC_BASE_URL")

#: Defaults for the Claude Code process, each overridden by the same variable in the environment.
DEFAULT_ENV = {
    # The runner retries under the component's retry policy and records every attempt.
    "CLAUDE_CODE_MAX_RETRIES": "0",
    # No telemetry, error reporting or update checks from unattended runs.
    "CLAUDE_CODE_DISABLE_NONESSENTIAL_TRAFFIC": "1",
}

#: HTTP statuses worth another attempt: rate limited, overloaded, server errors.
RETRYABLE_STATUSES = frozenset({408, 409, 429, 500, 502, 503, 504, 529})


@dataclass(kw_only=True)
class ClaudeStatus:
    """Whether the ``claude`` provider can run here (``llmos doctor`` prints this).

    Attributes:
        sdk_version: The installed claude-agent-sdk version, or ``None``.
        cli_path: The Claude Code CLI that will run (bundled with the SDK unless set), or ``None``.
        cli_version: Its version, as the SDK's bundle records it, when known.
        credentials: Where credentials or an endpoint come from (variable names, the login file).
        endpoint: ``ANTHROPIC_BASE_URL``, or the Anthropic API.
        missing: What is missing, in words; empty when the provider can run.
    """

    sdk_version: str | None = None
    cli_path: str | None = None
    cli_version: str | None = None
    credentials: list[str] = field(default_factory=list)
    endpoint: str = "https://api.anthropic.com"
    missing: list[str] = field(default_factory=list)

    @property
    def ready(self) -> bool:
        """Whether nothing is missing."""
        return not self.missing


def _login_file() -> Path:
    config = os.environ.get("CLAUDE_CONFIG_DIR")
    return (Path(config) if config else Path.home() / ".claude") / ".credentials.json"


def claude_status(cli_path: str | Path | None = None) -> ClaudeStatus:
    """Inspect the SDK, the CLI and the credentials without starting anything.

    Args:
        cli_path: A Claude Code CLI to use instead of the bundled one.

    Returns:
        A :class:`ClaudeStatus`; ``missing`` lists what stops the provider from running.
    """
    status = ClaudeStatus()
    if importlib.util.find_spec("claude_agent_sdk") is None:
        status.missing.append("the claude-agent-sdk package is not installed (pip install claude-agent-sdk)")
    else:
        status.sdk_version = importlib.metadata.version("claude-agent-sdk")
        spec = importlib.util.find_spec("claude_agent_sdk")
        bundled = Path(spec.origin).parent / "_bundled" if spec and spec.origin else None
        if cli_path is not None:
            status.cli_path = str(cli_path)
        elif bundled is not None and (bundled / "claude").exists():
            status.cli_path = str(bundled / "claude")
            version_file = bundled / "claude.version"
            if version_file.exists():
                status.cli_version = version_file.read_text(encoding="utf-8").split()[0]
        else:
            import shutil

            found = shutil.which("claude")
            status.cli_path = found
        if status.cli_path is None or not Path(status.cli_path).exists():
            status.missing.append(
                "no Claude Code CLI: the SDK's bundled binary is missing and `claude` is not on PATH "
                "(reinstall claude-agent-sdk, or install Claude Code)"
            )
    status.credentials = [name for name in CREDENTIAL_VARIABLES if os.environ.get(name)]
    if _login_file().exists():
        status.credentials.append(f"Claude Code login ({_login_file()})")
    if os.environ.get("ANTHROPIC_BASE_URL"):
        status.endpoint = os.environ["ANTHROPIC_BASE_URL"]
    if not status.credentials:
        keychain = (
            " (a login kept in the macOS Keychain cannot be seen from here: use --provider claude)"
            if sys.platform == "darwin"
            else ""
        )
        status.missing.append(
            "no credentials: set ANTHROPIC_API_KEY, log in with `claude` (Claude Code), or point "
            f"ANTHROPIC_BASE_URL at an Anthropic-compatible endpoint{keychain}"
        )
    return status


class ClaudeProvider(Provider):
    """Runs agent steps with Claude Code through the Claude Agent SDK.

    Args:
        cli_path: The Claude Code CLI to run (default: the one bundled with the SDK).
        env: Extra environment variables for the Claude Code process (over the defaults in
            :data:`DEFAULT_ENV` and the current environment).
        model: The model when the agent names none (default: Claude Code's default).
    """

    name = "claude"
    runs_tools = True

    def __init__(
        self, *, cli_path: str | Path | None = None, env: dict[str, str] | None = None, model: str | None = None
    ) -> None:
        self.cli_path = cli_path
        self.env = dict(env or {})
        self.model = model

    def describe(self) -> str:
        status = claude_status(self.cli_path)
        cli = f"Claude Code {status.cli_version}" if status.cli_version else f"Claude Code at {status.cli_path}"
        return (
            f"claude ({cli}, SDK {status.sdk_version}, endpoint {self.env.get('ANTHROPIC_BASE_URL', status.endpoint)})"
        )

    def process_env(self) -> dict[str, str]:
        """The variables given to the Claude Code process on top of the inherited environment."""
        env = {key: value for key, value in DEFAULT_ENV.items() if key not in os.environ}
        env.update(self.env)
        return env

    def complete(self, request: AgentRequest, *, hooks: ToolCallHooks | None = None) -> AgentResponse:
        import anyio

        try:
            return anyio.run(self._complete, request, hooks)
        except (ProviderError, BudgetExceeded):
            raise
        except TimeoutError:
            raise ProviderError(
                f"Claude Code did not finish within the agent's timeout_s ({request.timeout_s:g} s); "
                "the cost of this attempt is unknown (Claude Code reports it only at the end)",
                provider=self.name,
                step=request.step,
            ) from None

    async def _complete(self, request: AgentRequest, hooks: ToolCallHooks | None) -> AgentResponse:
        import anyio
        from claude_agent_sdk import (
            AssistantMessage,
            ClaudeAgentOptions,
            ClaudeSDKError,
            CLINotFoundError,
            HookMatcher,
            ResultMessage,
            query,
        )

        stderr: deque[str] = deque(maxlen=20)
        began = time.perf_counter()
        record_failures: list[BaseException] = []

        async def pre_tool_use(data: Any, tool_use_id: str | None, _context: Any) -> dict[str, Any]:
            call = _tool_call(data, tool_use_id)
            if call.name == STRUCTURED_OUTPUT_TOOL or hooks is None:
                return {}
            try:
                reason = hooks.before_tool_call(call)
            except Exception as exc:  # fail closed: a hook that cannot decide denies
                reason = f"the runner could not check this call ({type(exc).__name__}: {exc}); denied"
            if reason is None:
                return {}
            return {
                "hookSpecificOutput": {
                    "hookEventName": "PreToolUse",
                    "permissionDecision": "deny",
                    "permissionDecisionReason": reason,
                }
            }

        async def post_tool_use(data: Any, tool_use_id: str | None, _context: Any) -> dict[str, Any]:
            call = _tool_call(data, tool_use_id)
            if call.name != STRUCTURED_OUTPUT_TOOL and hooks is not None:
                failed = data.get("hook_event_name") == "PostToolUseFailure"
                result = ToolResult(
                    call_id=call.id,
                    output=None if failed else data.get("tool_response"),
                    error=str(data.get("error") or "the tool failed") if failed else None,
                    duration_s=round(float(data.get("duration_ms") or 0) / 1000, 3),
                )
                try:
                    hooks.after_tool_call(call, result)
                except Exception as exc:  # the SDK would swallow it: re-raised once the query ends
                    record_failures.append(exc)
            return {}

        workspace = request.workspace
        if workspace is not None:
            workspace.mkdir(parents=True, exist_ok=True)
        options = ClaudeAgentOptions(
            system_prompt=request.system_prompt,
            setting_sources=[],
            tools=_cli_tools(request.tools),
            allowed_tools=_cli_tools(request.tools),
            permission_mode="dontAsk",
            cwd=str(workspace) if workspace else None,
            model=request.model or self.model,
            max_turns=request.max_turns,
            max_budget_usd=request.budget_usd,
            output_format={"type": "json_schema", "schema": request.output_schema} if request.output_schema else None,
            hooks={
                "PreToolUse": [HookMatcher(hooks=[pre_tool_use], on_failure="block")],  # type: ignore[list-item]
                "PostToolUse": [HookMatcher(hooks=[post_tool_use])],  # type: ignore[list-item]
                "PostToolUseFailure": [HookMatcher(hooks=[post_tool_use])],  # type: ignore[list-item]
            },
            env=self.process_env(),
            cli_path=self.cli_path,
            stderr=stderr.append,
        )
        result: Any = None
        model = request.model or self.model or "claude-code-default"
        message_ids: list[str] = []
        failure: Exception | None = None
        try:
            with anyio.fail_after(request.timeout_s):
                async for message in query(prompt=request.prompt, options=options):
                    if isinstance(message, AssistantMessage) and message.model != "<synthetic>":
                        model = message.model
                        message_ids.append(message.message_id or "")
                    elif isinstance(message, ResultMessage):
                        result = message
        except CLINotFoundError as exc:
            raise ProviderError(
                f"the Claude Code CLI was not found ({exc}); reinstall claude-agent-sdk, which bundles it",
                provider=self.name,
                step=request.step,
                retryable=False,
            ) from None
        except ClaudeSDKError as exc:
            failure = exc
        if record_failures:
            raise record_failures[0]
        scripted = bool(message_ids) and all(i.startswith(SCRIPTED_MESSAGE_ID_PREFIX) for i in message_ids)
        response = self._response(request, result, failure, model, stderr, time.perf_counter() - began)
        if scripted:
            response.source = "generated"
            response.notes.append(
                "answered by the llmos scripted model server: the output is scripted, and the cost is Claude "
                "Code's price for the token counts the script reported"
            )
        return response

    def _response(
        self,
        request: AgentRequest,
        result: Any,
        failure: Exception | None,
        model: str,
        stderr: deque[str],
        duration: float,
    ) -> AgentResponse:
        step = request.step
        if result is None:
            tail = " | ".join(line.strip() for line in stderr if line.strip())[-800:]
            what = f"failed before it reported a result: {failure}" if failure else "ended without a result"
            raise ProviderError(
                f"Claude Code {what}; the cost of this attempt is unknown" + (f" (stderr: {tail})" if tail else ""),
                provider=self.name,
                step=step,
            )
        cost = float(result.total_cost_usd or 0.0)
        if result.subtype == "error_max_budget_usd":
            raise BudgetExceeded(
                f"Claude Code stopped the step at ${cost:.4f}: the ${request.budget_usd or 0:.4f} left of the "
                "run's budget is spent",
                budget_usd=request.budget_usd or 0.0,
                cost_usd=cost,
                step=step,
            )
        if result.subtype == "error_max_turns":
            raise ProviderError(
                f"the agent did not finish within max_turns ({request.max_turns})",
                provider=self.name,
                step=step,
                cost_usd=cost,
            )
        if result.is_error or result.subtype != "success":
            status = result.api_error_status
            detail = result.result or "; ".join(result.errors or []) or result.subtype
            raise ProviderError(
                (f"API error {status}: " if status else f"Claude Code ended with {result.subtype}: ") + str(detail),
                provider=self.name,
                step=step,
                retryable=status is None or status in RETRYABLE_STATUSES,
                cost_usd=cost,
            )
        text = result.result or ""
        if request.output_schema:
            output = result.structured_output
            if output is None:
                try:
                    output = parse_json_reply(text, provider=self.name, step=step)
                except ProviderError as exc:
                    exc.cost_usd = cost
                    raise
            if not isinstance(output, dict):
                raise ProviderError(
                    f"structured output is {type(output).__name__}, not an object",
                    provider=self.name,
                    step=step,
                    raw=json.dumps(output),
                    invalid_output=True,
                    cost_usd=cost,
                )
            try:
                validate_output(output, request.output_schema, provider=self.name, step=step)
            except ProviderError as exc:
                exc.cost_usd = cost
                raise
            text = text or json.dumps(output, ensure_ascii=False)
        else:
            output = {"text": text}
        usage = result.usage or {}
        return AgentResponse(
            output=output,
            text=text,
            provider=self.name,
            model=model,
            source="real",
            cost_usd=cost,
            input_tokens=usage.get("input_tokens"),
            output_tokens=usage.get("output_tokens"),
            duration_s=round(duration, 3),
            turns=int(result.num_turns or 1),
            notes=[f"Claude Code session {result.session_id}"],
        )


def _cli_tools(tools: tuple[str, ...]) -> list[str]:
    """The agent's tools as Claude Code names them: ``Task`` is ``Agent`` in Claude Code 2.x."""
    names = list(tools)
    if "Task" in names and "Agent" not in names:
        names.append("Agent")
    if "Agent" in names and "Task" not in names:
        names.append("Task")
    return names


def _tool_call(data: Any, tool_use_id: str | None) -> ToolCall:
    return ToolCall(
        id=str(tool_use_id or data.get("tool_use_id") or ""),
        name=str(data.get("tool_name", "")),
        input=dict(data.get("tool_input") or {}),
    )
