"""ShareGPT JSONL in LLaMA-Factory's dialect: ``{"conversations", "system", "tools"}`` per line.

Shape (LLaMA-Factory's ``data/README.md``, "Sharegpt Format", with the default tags ``from`` /
``value`` and ``human``, ``gpt``, ``function_call``, ``observation``)::

    {"conversations": [
        {"from": "human", "value": "..."},
        {"from": "function_call", "value": "{\\"name\\": \\"WebFetch\\", \\"arguments\\": {\\"url\\": ...}}"},
        {"from": "observation", "value": "{...}"},
        {"from": "gpt", "value": "Outcome: success. ..."}],
     "system": "...",
     "tools": "[{\\"name\\": \\"WebFetch\\", \\"description\\": \\"...\\", \\"parameters\\": {...}}]"}

Rules :func:`validate_sharegpt` checks, from that README ("the human and observation should appear
in odd positions, while gpt and function should appear in even positions") and from what its
``SharegptDatasetConverter`` (``src/llamafactory/data/converter.py``) and ``FunctionFormatter``
(``formatter.py``) accept:

* the record is an object whose keys are among ``conversations``, ``system``, ``tools``; ``system``
  and ``tools`` are strings;
* ``conversations`` is a non-empty list of ``{"from", "value"}`` with a string ``value`` and a
  ``from`` among ``human``, ``gpt``, ``function_call``, ``observation``;
* ``human`` and ``observation`` at odd positions (1st, 3rd, ...), ``gpt`` and ``function_call`` at
  even ones; an even number of messages (the converter drops an example with an odd count);
* every ``function_call`` is followed by an ``observation`` and every ``observation`` follows a
  ``function_call``; so the last message is ``gpt``;
* a ``function_call`` value is JSON: ``{"name": str, "arguments": object}`` (or a list of them for
  parallel calls), naming a tool the ``tools`` list declares;
* ``tools`` is the JSON text of a list of ``{name, description?, parameters}`` with
  ``parameters`` an object schema with ``properties`` (LLaMA-Factory's tool formatter reads
  ``parameters["properties"]``); it is left out when the example calls no tool.
"""

from __future__ import annotations

import json
from typing import Any

from llmos.export.conversation import Conversation
from llmos.export.formats.base import ConversationFormat, Violation
from llmos.export.schemas import TOOL_NAME

__all__ = ["ShareGPTFormat", "validate_sharegpt"]

_ODD = ("human", "observation")  # 1st, 3rd, ... (index 0, 2, ...)
_EVEN = ("gpt", "function_call")
_TOP_KEYS = {"conversations", "system", "tools"}


def _check_tools(tools: Any, out: list[Violation]) -> set[str]:
    names: set[str] = set()
    if not isinstance(tools, str):
        out.append(Violation("tools_type", "tools must be a string (the JSON text of the tool list)"))
        return names
    try:
        parsed = json.loads(tools)
    except ValueError as exc:
        out.append(Violation("tools_json", f"tools is not JSON: {exc}"))
        return names
    if not isinstance(parsed, list):
        out.append(Violation("tools_list", "tools must encode a list"))
        return names
    for i, tool in enumerate(parsed):
        if not isinstance(tool, dict):
            out.append(Violation("tool_shape", f"tools[{i}] must be an object"))
            continue
        name = tool.get("name")
        if not isinstance(name, str) or not TOOL_NAME.match(name):
            out.append(Violation("tool_name", f"tools[{i}].name {name!r} must match {TOOL_NAME.pattern}"))
        else:
            names.add(name)
        params = tool.get("parameters")
        if (
            not isinstance(params, dict)
            or params.get("type") != "object"
            or not isinstance(params.get("properties"), dict)
        ):
            out.append(Violation("tool_parameters", f"tools[{i}].parameters must be an object schema with properties"))
    return names


def _check_function_call(value: str, where: str, declared: set[str], out: list[Violation]) -> None:
    try:
        parsed = json.loads(value)
    except ValueError as exc:
        out.append(Violation("function_call_json", f"{where}.value is not JSON: {exc}"))
        return
    for k, call in enumerate(parsed if isinstance(parsed, list) else [parsed]):
        cw = f"{where}.value[{k}]" if isinstance(parsed, list) else f"{where}.value"
        if not isinstance(call, dict) or not isinstance(call.get("arguments"), dict):
            out.append(Violation("function_call_shape", f"{cw} must be {{'name': str, 'arguments': object}}"))
            continue
        name = call.get("name")
        if not isinstance(name, str) or name not in declared:
            out.append(Violation("function_undeclared", f"{cw}.name {name!r} is not in tools"))


def validate_sharegpt(record: Any) -> list[Violation]:
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
    turns = record.get("conversations")
    if not isinstance(turns, list) or not turns:
        out.append(Violation("missing_conversations", "conversations must be a non-empty list"))
        return out
    tags: list[str | None] = []
    for i, turn in enumerate(turns):
        where = f"conversations[{i}]"
        if not isinstance(turn, dict) or not isinstance(turn.get("value"), str):
            out.append(Violation("turn_shape", f"{where} must be {{'from': str, 'value': str}}"))
            tags.append(None)
            continue
        tag = turn.get("from")
        tags.append(tag)
        if tag not in _ODD + _EVEN:
            out.append(
                Violation("unknown_tag", f"{where}.from {tag!r} must be human, gpt, function_call or observation")
            )
            continue
        allowed = _ODD if i % 2 == 0 else _EVEN
        if tag not in allowed:
            out.append(
                Violation(
                    "position",
                    f"{where}.from {tag!r} at position {i + 1}: {' or '.join(allowed)} belong at "
                    f"{'odd' if i % 2 == 0 else 'even'} positions",
                )
            )
        if tag == "function_call":
            _check_function_call(turn["value"], where, declared, out)
        if tag == "observation" and (i == 0 or tags[i - 1] != "function_call"):
            out.append(Violation("observation_without_call", f"{where}: an observation must follow a function_call"))
        if i > 0 and tags[i - 1] == "function_call" and tag != "observation":
            out.append(
                Violation(
                    "function_call_unanswered",
                    f"conversations[{i - 1}]: a function_call must be followed by an observation",
                )
            )
    if len(turns) % 2:
        out.append(Violation("message_count", f"{len(turns)} messages: LLaMA-Factory needs an even number"))
    if tags[-1] == "function_call":
        out.append(
            Violation(
                "function_call_unanswered",
                f"conversations[{len(turns) - 1}]: a function_call must be followed by an observation",
            )
        )
    elif tags[-1] != "gpt":
        out.append(Violation("last_message", "the last message must be gpt (the training target)"))
    return out


class ShareGPTFormat(ConversationFormat):
    """``--format sharegpt``: one LLaMA-Factory ShareGPT object per line."""

    name = "sharegpt"

    def render(self, conv: Conversation) -> dict[str, Any]:
        turns = [{"from": "human", "value": conv.user}]
        for call in conv.calls:
            value = json.dumps({"name": call.name, "arguments": call.arguments}, ensure_ascii=False, default=str)
            turns.append({"from": "function_call", "value": value})
            turns.append({"from": "observation", "value": call.result})
        turns.append({"from": "gpt", "value": conv.final})
        record: dict[str, Any] = {"conversations": turns, "system": conv.system}
        specs = conv.tools()
        if specs:  # LLaMA-Factory adds a tool prompt for any non-empty tools text, "[]" included
            record["tools"] = json.dumps([spec.to_dict() for spec in specs], ensure_ascii=False)
        return record

    def validate(self, record: dict[str, Any]) -> list[Violation]:
        return validate_sharegpt(record)
