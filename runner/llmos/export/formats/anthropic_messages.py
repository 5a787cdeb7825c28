"""Anthropic Messages JSONL: ``{"system": str, "messages": [...], "tools": [...]}`` per line.

Shape (the Messages API request body, as Claude's tool-use documentation "Handle tool calls" and
the API reference describe it)::

    {"system": "...",
     "messages": [
        {"role": "user", "content": "..."},
        {"role": "assistant", "content": [{"type": "tool_use", "id": "call_5", "name": "WebFetch",
                                           "input": {"url": "..."}}]},
        {"role": "user", "content": [{"type": "tool_result", "tool_use_id": "call_5",
                                      "content": "{...}", "is_error": false}]},
        {"role": "assistant", "content": [{"type": "text", "text": "Outcome: success. ..."}]}],
     "tools": [{"name": "WebFetch", "description": "...", "input_schema": {"type": "object", ...}}]}

Rules :func:`validate_anthropic` checks:

* the record is an object whose keys are among ``system``, ``messages``, ``tools``; ``system`` is a
  string (the system prompt is a top-level parameter, never a message);
* ``messages`` is a non-empty list; roles are ``user`` or ``assistant`` only, strictly alternating,
  the first a user message and the last an assistant message (the training target);
* content is a non-empty string or a non-empty list of blocks: ``text`` (non-empty ``text``),
  ``tool_use`` (assistant only: ``id`` matching ``^[a-zA-Z0-9_-]+$`` and unique, ``name`` matching
  ``^[a-zA-Z0-9_-]{1,64}$`` and declared in ``tools``, ``input`` an object) or ``tool_result`` (user
  only: ``tool_use_id``, ``content`` a string or a list of text blocks, ``is_error`` a boolean if
  present);
* every ``tool_use`` is answered by a ``tool_result`` with its id in the very next (user) message,
  every ``tool_result`` answers a ``tool_use`` of the message just before it, and in that user
  message the ``tool_result`` blocks come before any other block;
* ``tools`` is a list of ``{name, description?, input_schema}`` with unique valid names and
  ``input_schema`` a JSON Schema of ``type: object`` (left out when the example calls no tool).
"""

from __future__ import annotations

import re
from typing import Any

from llmos.export.conversation import Conversation
from llmos.export.formats.base import ConversationFormat, Violation
from llmos.export.schemas import TOOL_NAME

__all__ = ["AnthropicFormat", "validate_anthropic"]

_TOOL_USE_ID = re.compile(r"^[a-zA-Z0-9_-]+$")
_TOP_KEYS = {"system", "messages", "tools"}


def _check_tools(tools: Any, out: list[Violation]) -> set[str]:
    names: set[str] = set()
    if not isinstance(tools, list):
        out.append(Violation("tools_type", "tools must be a list"))
        return names
    for i, tool in enumerate(tools):
        if not isinstance(tool, dict):
            out.append(Violation("tool_shape", f"tools[{i}] must be an object"))
            continue
        name = tool.get("name")
        if not isinstance(name, str) or not TOOL_NAME.match(name):
            out.append(Violation("tool_name", f"tools[{i}].name {name!r} must match {TOOL_NAME.pattern}"))
        elif name in names:
            out.append(Violation("tool_name_duplicate", f"tools[{i}].name {name!r} is declared twice"))
        else:
            names.add(name)
        schema = tool.get("input_schema")
        if not isinstance(schema, dict) or schema.get("type") != "object":
            out.append(Violation("tool_input_schema", f"tools[{i}].input_schema must be a JSON Schema of type object"))
        if "description" in tool and not isinstance(tool["description"], str):
            out.append(Violation("tool_description", f"tools[{i}].description must be a string"))
    return names


def _text_blocks(content: Any) -> bool:
    if isinstance(content, str):
        return bool(content.strip())
    return (
        isinstance(content, list)
        and bool(content)
        and all(isinstance(b, dict) and b.get("type") == "text" and isinstance(b.get("text"), str) for b in content)
    )


def validate_anthropic(record: Any) -> list[Violation]:
    """The rules of the module docstring that ``record`` breaks."""
    out: list[Violation] = []
    if not isinstance(record, dict):
        return [Violation("data_type", "the record must be a JSON object")]
    extra = set(record) - _TOP_KEYS
    if extra:
        out.append(Violation("unrecognized_key", f"unknown top-level key(s): {', '.join(sorted(extra))}"))
    if "system" in record and not isinstance(record["system"], str):
        out.append(Violation("system_type", "system must be a string"))
    declared = _check_tools(record["tools"], out) if "tools" in record else set()
    messages = record.get("messages")
    if not isinstance(messages, list) or not messages:
        out.append(Violation("missing_messages_list", "messages must be a non-empty list"))
        return out
    seen: set[str] = set()
    asked: set[str] = set()  # tool_use ids of the previous assistant message, to be answered next
    previous = None
    for i, msg in enumerate(messages):
        where = f"messages[{i}]"
        if not isinstance(msg, dict):
            out.append(Violation("message_type", f"{where} must be an object"))
            continue
        role = msg.get("role")
        if role not in ("user", "assistant"):
            out.append(Violation("role", f"{where}.role {role!r} must be user or assistant"))
            continue
        if i == 0 and role != "user":
            out.append(Violation("first_message", f"{where}: the first message must be a user message"))
        if role == previous:
            out.append(Violation("alternation", f"{where}: two {role} messages in a row (roles must alternate)"))
        content = msg.get("content")
        blocks: list[Any]
        if isinstance(content, str):
            if not content.strip():
                out.append(Violation("empty_content", f"{where}.content is empty"))
            blocks = []
        elif isinstance(content, list) and content:
            blocks = content
        else:
            out.append(Violation("content_type", f"{where}.content must be a non-empty string or list of blocks"))
            blocks = []
        answered: set[str] = set()
        results_done = False
        uses: set[str] = set()
        for j, block in enumerate(blocks):
            bw = f"{where}.content[{j}]"
            kind = block.get("type") if isinstance(block, dict) else None
            if kind == "text":
                results_done = True
                if not isinstance(block.get("text"), str) or not block["text"].strip():
                    out.append(Violation("text_block", f"{bw}.text must be a non-empty string"))
            elif kind == "tool_use":
                if role != "assistant":
                    out.append(Violation("tool_use_role", f"{bw}: tool_use blocks belong in assistant messages"))
                bid, name = block.get("id"), block.get("name")
                if not isinstance(bid, str) or not _TOOL_USE_ID.match(bid):
                    out.append(Violation("tool_use_id", f"{bw}.id {bid!r} must match {_TOOL_USE_ID.pattern}"))
                elif bid in seen:
                    out.append(Violation("tool_use_id_duplicate", f"{bw}.id {bid!r} is used twice"))
                else:
                    seen.add(bid)
                    uses.add(bid)
                if not isinstance(name, str) or not TOOL_NAME.match(name):
                    out.append(Violation("tool_name", f"{bw}.name {name!r} must match {TOOL_NAME.pattern}"))
                elif name not in declared:
                    out.append(Violation("tool_undeclared", f"{bw}.name {name!r} is not in tools"))
                if not isinstance(block.get("input"), dict):
                    out.append(Violation("tool_use_input", f"{bw}.input must be an object"))
            elif kind == "tool_result":
                if role != "user":
                    out.append(Violation("tool_result_role", f"{bw}: tool_result blocks belong in user messages"))
                if results_done:
                    out.append(
                        Violation("tool_result_first", f"{bw}: tool_result blocks must come first in the message")
                    )
                tid = block.get("tool_use_id")
                if not isinstance(tid, str) or tid not in asked:
                    out.append(
                        Violation(
                            "tool_result_orphan", f"{bw}.tool_use_id {tid!r} answers no tool_use of the message before"
                        )
                    )
                else:
                    answered.add(tid)
                    asked.discard(tid)
                if "content" in block and not (_text_blocks(block["content"]) or block["content"] == ""):
                    out.append(
                        Violation("tool_result_content", f"{bw}.content must be a string or a list of text blocks")
                    )
                if "is_error" in block and not isinstance(block["is_error"], bool):
                    out.append(Violation("tool_result_is_error", f"{bw}.is_error must be a boolean"))
            else:
                out.append(Violation("block_type", f"{bw}.type {kind!r} must be text, tool_use or tool_result"))
        if asked:
            out.append(Violation("tool_use_unanswered", f"tool_use {', '.join(sorted(asked))} not answered in {where}"))
        asked = uses
        previous = role
    if asked:
        out.append(Violation("tool_use_unanswered", f"tool_use {', '.join(sorted(asked))} never answered"))
    last = messages[-1]
    if isinstance(last, dict) and last.get("role") != "assistant":
        out.append(Violation("last_message", "the last message must be an assistant message (the training target)"))
    return out


class AnthropicFormat(ConversationFormat):
    """``--format anthropic``: one ``{"system", "messages", "tools"}`` object per line."""

    name = "anthropic"

    def render(self, conv: Conversation) -> dict[str, Any]:
        messages: list[dict[str, Any]] = [{"role": "user", "content": conv.user}]
        for call in conv.calls:
            use = {"type": "tool_use", "id": call.id, "name": call.name, "input": call.arguments}
            result = {"type": "tool_result", "tool_use_id": call.id, "content": call.result, "is_error": call.is_error}
            messages.append({"role": "assistant", "content": [use]})
            messages.append({"role": "user", "content": [result]})
        messages.append({"role": "assistant", "content": [{"type": "text", "text": conv.final}]})
        tools = [
            {"name": spec.name, "description": spec.description, "input_schema": spec.parameters}
            for spec in conv.tools()
        ]
        return {"system": conv.system, "messages": messages, **({"tools": tools} if tools else {})}

    def validate(self, record: dict[str, Any]) -> list[Violation]:
        return validate_anthropic(record)
