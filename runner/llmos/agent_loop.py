"""The runner's own agent loop, for providers that return tool calls instead of running them.

A model turn either answers (the step's output) or asks for tool calls. The loop runs each call
through the engine's :class:`~llmos.providers.base.ToolCallHooks` (the security policy first,
then the record) with the runner's own tools, and asks the provider again with the calls and
their results in :attr:`~llmos.providers.base.AgentRequest.history`, until the agent answers,
``max_turns`` is reached, or the step's budget is spent.

Providers that run tools themselves (``claude``) answer in one call: the loop ends at once.
"""

from __future__ import annotations

import dataclasses
from collections.abc import Callable

from llmos.exceptions import BudgetExceeded, ProviderError
from llmos.providers.base import AgentRequest, AgentResponse, AgentTurn, Provider, ToolCall, ToolCallHooks, ToolResult

__all__ = ["run_agent"]


def run_agent(
    provider: Provider,
    request: AgentRequest,
    hooks: ToolCallHooks,
    execute: Callable[[ToolCall], ToolResult],
) -> AgentResponse:
    """Answer one agent step, running the tool calls the provider asks for.

    Args:
        provider: Who answers each model turn.
        request: The step; ``max_turns`` bounds the model turns and ``budget_usd`` the cost.
        hooks: The policy gate and the record, called for every tool call.
        execute: Runs one allowed call with the runner's tools and returns its result (tool
            failures come back as results with ``error`` set, so the agent can react to them).

    Returns:
        The final response, with ``cost_usd``, token counts and ``turns`` summed over all turns.

    Raises:
        ProviderError: The provider failed, or the agent was still calling tools after
            ``max_turns`` turns (retryable); ``cost_usd`` includes the turns already paid for.
        BudgetExceeded: Nothing was left of the budget for a turn, or the turns so far spent it
            before the agent answered.
    """
    history = list(request.history)
    cost, input_tokens, output_tokens, duration = 0.0, 0, 0, 0.0
    for turn in range(1, request.max_turns + 1):
        remaining = None if request.budget_usd is None else round(request.budget_usd - cost, 6)
        if remaining is not None and remaining <= 0:
            raise BudgetExceeded(
                f"nothing is left of the run's budget for this agent step (${cost:.4f} spent in it)",
                budget_usd=request.budget_usd or 0.0,
                cost_usd=round(cost, 6),
                step=request.step,
            )
        ask = dataclasses.replace(request, history=tuple(history), budget_usd=remaining)
        try:
            response = provider.complete(ask, hooks=hooks)
        except ProviderError as exc:
            exc.cost_usd += cost
            raise
        except BudgetExceeded as exc:
            exc.cost_usd += cost
            raise
        cost += response.cost_usd
        input_tokens += response.input_tokens or 0
        output_tokens += response.output_tokens or 0
        duration += response.duration_s
        if not response.tool_calls:
            return dataclasses.replace(
                response,
                cost_usd=round(cost, 6),
                input_tokens=input_tokens or response.input_tokens,
                output_tokens=output_tokens or response.output_tokens,
                duration_s=round(duration, 3),
                turns=turn - 1 + response.turns,
            )
        results = []
        for call in response.tool_calls:
            reason = hooks.before_tool_call(call)
            if reason is not None:
                results.append(ToolResult(call_id=call.id, error=reason, denied=True))
                continue
            result = execute(call)
            hooks.after_tool_call(call, result)
            results.append(result)
        history.append(AgentTurn(text=response.text, tool_calls=tuple(response.tool_calls), results=tuple(results)))
        if request.budget_usd is not None and cost >= request.budget_usd:
            raise BudgetExceeded(
                f"the agent's turns cost ${cost:.4f}, spending the ${request.budget_usd:.4f} left of the run's budget "
                "before it answered",
                budget_usd=request.budget_usd,
                cost_usd=round(cost, 6),
                step=request.step,
            )
    raise ProviderError(
        f"the agent was still calling tools after max_turns ({request.max_turns}) turns",
        provider=provider.name,
        step=request.step,
        cost_usd=round(cost, 6),
    )
