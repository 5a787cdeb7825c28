"""Secret redaction for state files, journals, traces and memory.

Replaces API keys, bearer tokens, private keys and ``key=value`` credentials with
``[REDACTED]`` in every string of a JSON-like value.
"""

from __future__ import annotations

import re
from typing import Any

_PATTERNS = [
    re.compile(r"sk-ant-[A-Za-z0-9_\-]{10,}"),
    re.compile(r"\bsk-[A-Za-z0-9_\-]{20,}"),
    re.compile(r"\bgh[pousr]_[A-Za-z0-9]{20,}"),
    re.compile(r"\bxox[abpr]-[A-Za-z0-9\-]{10,}"),
    re.compile(r"\bAKIA[0-9A-Z]{16}\b"),
    re.compile(r"\bAIza[0-9A-Za-z_\-]{35}\b"),
    re.compile(r"-----BEGIN [A-Z ]*PRIVATE KEY-----[\s\S]*?-----END [A-Z ]*PRIVATE KEY-----"),
]
_BEARER = re.compile(r"(?i)\b(bearer)\s+[A-Za-z0-9._\-]{16,}")
_ASSIGNED = re.compile(
    r"(?i)\b((?:api[_-]?key|secret|token|password|passwd|auth[_-]?token|access[_-]?key)\s*[=:]\s*)"
    r"(['\"]?)[^\s'\"&]{8,}\2"
)

REDACTED = "[REDACTED]"

# What every pattern above needs somewhere in the text: one search rules most strings out.
_CANDIDATE = re.compile(
    r"sk-|gh[pousr]_|xox[abpr]-|AKIA|AIza|-----BEGIN|(?i:bearer)|(?i:api[_-]?key|secret|token|passw|access[_-]?key)"
)


def redact_text(text: str) -> str:
    """``text`` with every secret-looking substring replaced by ``[REDACTED]``."""
    if len(text) < 8 or not _CANDIDATE.search(text):
        return text
    for pattern in _PATTERNS:
        text = pattern.sub(REDACTED, text)
    text = _BEARER.sub(lambda m: f"{m.group(1)} {REDACTED}", text)
    return _ASSIGNED.sub(lambda m: f"{m.group(1)}{REDACTED}", text)


def redact(value: Any) -> Any:
    """A copy of a JSON-like value with :func:`redact_text` applied to every string."""
    if isinstance(value, str):
        return redact_text(value)
    if isinstance(value, dict):
        return {k: redact(v) for k, v in value.items()}
    if isinstance(value, (list, tuple)):
        return [redact(v) for v in value]
    return value
