"""OpenAI chat fine-tuning JSONL: ``{"messages": [...], "tools": [...]}`` per line.

Shape (OpenAI's supervised fine-tuning input, ``FineTuneChatRequestInput`` in the API reference,
and the tool-calling training examples of the fine-tuning guide)::

    {"messages": [
        {"role": "system", "content": "..."},
        {"role": "user", "content": "..."},
        {"role": "assistant", "tool_calls": [{"id": "call_5", "type": "function",
                                              "function": {"name": "WebFetch", "arguments": "{\\"url\\": ...}"}}]},
        {"role": "tool", "tool_call_id": "call_5", "content": "{...}"},
        {"role": "assistant", "content": "Outcome: success. ..."}],
     "tools": [{"type": "function", "function": {"name": "WebFetch", "description": "...",
                                                 "parameters": {"type": "object", ...}}}]}

Rules :func:`validate_openai` checks, from the OpenAI cookbook "Data preparation and analysis for
chat model fine-tuning" (format error checks ``data_type``, ``missing_messages_list``,
``message_missing_key``, ``message_unrecognized_key``, ``unrecognized_role``, ``missing_content``,
``example_missing_assistant_message``), the API reference (assistant ``weight`` 0 or 1, ``tools``,
``parallel_tool_calls``; a function name "must be a-z, A-Z, 0-9, or contain underscores and dashes,
with a maximum length of 64") and the tool-calling format (``arguments`` is a JSON string; every
tool call is answered by a ``tool`` message with its id):

* the record is an object whose keys are among ``messages``, ``tools``, ``parallel_tool_calls``;
* ``messages`` is a non-empty list of objects, each with a known ``role`` (system, user, assistant,
  tool) and only the keys that role takes;
* system, user and tool messages have non-empty text content (a string or a list of text parts);
  an assistant message has text content or tool calls;
* a system message comes first or not at all; the first other message is a user message;
* each tool call has a unique non-empty ``id``, ``type: "function"``, a valid function name that
  ``tools`` declares, and ``arguments`` that is a JSON string parsing to an object;
* every tool call is answered by exactly one ``tool`` message with the same ``tool_call_id`` before
  the next assistant or user message, and every ``tool`` message answers a pending call;
* at least one assistant message, and the last message is an assistant's (the training target);
* ``tools`` is a list of ``{"type": "function", "function": {name, description?, parameters}}`` with
  unique valid names and ``parameters`` a JSON Schema of ``type: object`` (left out when the example
  calls no tool).
"""

from __future__ import annotations

import json
from typing import Any

from llmos.export.conversation import Conversation
from llmos.export.formats.base import ConversationFormat, Violation
from llmos.export.schemas import TOOL_NAME

__all__ = ["OpenAIFormat", "openai_messages", "openai_tools", "validate_openai"]

_ROLE_KEYS = {
    "system": {"role", "content", "name"},
    "user": {"role", "content", "name"},
    "assistant": {"role", "content", "name", "tool_calls", "weight", "refusal"},
    "tool": {"role", "content", "tool_call_id"},
}
_TOP_KEYS = {"messages", "tools", "parallel_tool_calls"}


def openai_messages(conv: Conversation, *, uniform: bool = False) -> list[dict[str, Any]]:
    """The conversation as OpenAI chat messages.

    Args:
        conv: The conversation.
        uniform: Give every message the same keys (``role``, ``content``, ``tool_calls``,
            ``tool_call_id``; ``None`` where unused), as a table column needs.
    """
    out: list[dict[str, Any]] = [{"role": "system", "content": conv.system}, {"role": "user", "content": conv.user}]
    for call in conv.calls:
        fn = {"name": call.name, "arguments": call.arguments_json}
        out.append({"role": "assistant", "tool_calls": [{"id": call.id, "type": "function", "function": fn}]})
        out.append({"role": "tool", "tool_call_id": call.id, "content": call.result})
    out.append({"role": "assistant", "content": conv.final})
    if uniform:
        keys = ("role", "content", "tool_calls", "tool_call_id")
        out = [{k: m.get(k) for k in keys} for m in out]
    return out


def openai_tools(conv: Conversation) -> list[dict[str, Any]]:
    """The conversation's tool definitions in OpenAI's ``tools`` shape."""
    return [{"type": "function", "function": spec.to_dict()} for spec in conv.tools()]


def _text_content(content: Any) -> bool:
    if isinstance(content, str):
        return bool(content.strip())
    if isinstance(content, list) and content:
        return all(
            isinstance(p, dict) and p.get("type") == "text" and isinstance(p.get("text"), str) and p["text"]
            for p in content
        )
    return False


def _check_tools(tools: Any, out: list[Violation]) -> set[str]:
    names: set[str] = set()
    if not isinstance(tools, list):
        out.append(Violation("tools_type", "tools must be a list"))
        return names
    for i, tool in enumerate(tools):
        fn = tool.get("function") if isinstance(tool, dict) else None
        if not isinstance(tool, dict) or tool.get("type") != "function" or not isinstance(fn, dict):
            out.append(Violation("tool_shape", f"tools[{i}] must be {{'type': 'function', 'function': {{...}}}}"))
            continue
        name = fn.get("name")
        if not isinstance(name, str) or not TOOL_NAME.match(name):
            out.append(Violation("tool_name", f"tools[{i}].function.name {name!r} must match {TOOL_NAME.pattern}"))
        elif name in names:
            out.append(Violation("tool_name_duplicate", f"tools[{i}].function.name {name!r} is declared twice"))
        else:
            names.add(name)
        if "description" in fn and not isinstance(fn["description"], str):
            out.append(Violation("tool_description", f"tools[{i}].function.description must be a string"))
        params = fn.get("parameters")
        if params is not None and (not isinstance(params, dict) or params.get("type") != "object"):
            out.append(
                Violation("tool_parameters", f"tools[{i}].function.parameters must be a JSON Schema of type object")
            )
    return names


def _check_call(call: Any, where: str, declared: set[str] | None, seen: set[str], out: list[Violation]) -> str | None:
    if not isinstance(call, dict):
        out.append(Violation("tool_call_shape", f"{where} must be an object"))
        return None
    cid = call.get("id")
    if not isinstance(cid, str) or not cid:
        out.append(Violation("tool_call_id", f"{where}.id must be a non-empty string"))
        cid = None
    elif cid in seen:
        out.append(Violation("tool_call_id_duplicate", f"{where}.id {cid!r} is used twice"))
    else:
        seen.add(cid)
    if call.get("type") != "function":
        out.append(Violation("tool_call_type", f"{where}.type must be 'function'"))
    fn = call.get("function")
    if not isinstance(fn, dict):
        out.append(Violation("tool_call_function", f"{where}.function must be an object"))
        return cid
    name = fn.get("name")
    if not isinstance(name, str) or not TOOL_NAME.match(name):
        out.append(Violation("function_name", f"{where}.function.name {name!r} must match {TOOL_NAME.pattern}"))
    elif declared is not None and name not in declared:
        out.append(Violation("function_undeclared", f"{where}.function.name {name!r} is not in tools"))
    args = fn.get("arguments")
    if not isinstance(args, str):
        out.append(Violation("arguments_type", f"{where}.function.arguments must be a JSON string"))
    else:
        try:
            parsed = json.loads(args)
        except ValueError as exc:
            out.append(Violation("arguments_json", f"{where}.function.arguments is not JSON: {exc}"))
        else:
            if not isinstance(parsed, dict):
                out.append(Violation("arguments_object", f"{where}.function.arguments must encode a JSON object"))
    return cid


def validate_openai(record: Any) -> list[Violation]:
    """The rules of the module docstring that ``record`` breaks."""
    out: list[Violation] = []
    if not isinstance(record, dict):
        return [Violation("data_type", "the record must be a JSON object")]
    extra = set(record) - _TOP_KEYS
    if extra:
        out.append(Violation("unrecognized_key", f"unknown top-level key(s): {', '.join(sorted(extra))}"))
    declared = _check_tools(record["tools"], out) if "tools" in record else None
    if "parallel_tool_calls" in record and not isinstance(record["parallel_tool_calls"], bool):
        out.append(Violation("parallel_tool_calls", "parallel_tool_calls must be a boolean"))
    messages = record.get("messages")
    if not isinstance(messages, list) or not messages:
        out.append(Violation("missing_messages_list", "messages must be a non-empty list"))
        return out
    pending: dict[str, int] = {}
    seen: set[str] = set()
    first_other = True
    for i, msg in enumerate(messages):
        where = f"messages[{i}]"
        if not isinstance(msg, dict) or "role" not in msg:
            out.append(Violation("message_missing_key", f"{where} must be an object with a role"))
            continue
        role = msg["role"]
        if role not in _ROLE_KEYS:
            out.append(Violation("unrecognized_role", f"{where}.role {role!r} is not system, user, assistant or tool"))
            continue
        extra = set(msg) - _ROLE_KEYS[role]
        if extra:
            out.append(
                Violation(
                    "message_unrecognized_key", f"{where} ({role}) has unknown key(s): {', '.join(sorted(extra))}"
                )
            )
        if role in ("assistant", "user") and pending:
            out.append(
                Violation("tool_call_unanswered", f"call(s) {', '.join(sorted(pending))} unanswered before {where}")
            )
            pending.clear()
        if role == "system":
            if i != 0:
                out.append(Violation("system_position", f"{where}: a system message must come first"))
        elif first_other:
            first_other = False
            if role != "user":
                out.append(Violation("first_message", f"{where}: the first non-system message must be a user message"))
        if role in ("system", "user", "tool") and not _text_content(msg.get("content")):
            out.append(Violation("missing_content", f"{where} ({role}) needs non-empty text content"))
        if role == "tool":
            cid = msg.get("tool_call_id")
            if not isinstance(cid, str) or cid not in pending:
                out.append(Violation("tool_message_orphan", f"{where}.tool_call_id {cid!r} answers no pending call"))
            else:
                del pending[cid]
        if role == "assistant":
            calls = msg.get("tool_calls")
            content = msg.get("content")
            if calls is not None and (not isinstance(calls, list) or not calls):
                out.append(Violation("tool_calls_type", f"{where}.tool_calls must be a non-empty list"))
                calls = None
            if content is not None and not isinstance(content, (str, list)):
                out.append(Violation("content_type", f"{where}.content must be a string, a list of text parts or null"))
            if not calls and not _text_content(content):
                out.append(Violation("missing_content", f"{where} (assistant) needs text content or tool_calls"))
            for j, call in enumerate(calls or []):
                cid = _check_call(call, f"{where}.tool_calls[{j}]", declared, seen, out)
                if cid is not None:
                    pending[cid] = i
            if "weight" in msg and msg["weight"] not in (0, 1):
                out.append(Violation("weight", f"{where}.weight must be 0 or 1"))
    if pending:
        out.append(Violation("tool_call_unanswered", f"call(s) {', '.join(sorted(pending))} are never answered"))
    roles = [m.get("role") for m in messages if isinstance(m, dict)]
    if "assistant" not in roles:
        out.append(Violation("example_missing_assistant_message", "no assistant message"))
    elif roles and roles[-1] != "assistant":
        out.append(Violation("last_message", "the last message must be an assistant message (the training target)"))
    return out


class OpenAIFormat(ConversationFormat):
    """``--format openai``: one ``{"messages", "tools"}`` object per line."""

    name = "openai"

    def render(self, conv: Conversation) -> dict[str, Any]:
        tools = openai_tools(conv)
        return {"messages": openai_messages(conv), **({"tools": tools} if tools else {})}

    def validate(self, record: dict[str, Any]) -> list[Violation]:
        return validate_openai(record)
