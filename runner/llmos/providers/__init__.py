"""Providers: who answers agent steps (see :mod:`llmos.providers.base` for the interface).

* ``scripted``: answers from a script file, or schema-valid placeholders (tests, docs).
* ``local``: an embedded GGUF model through llama-cpp-python (offline default).
* ``claude``: Claude Code through the Claude Agent SDK (the default when credentials exist).
* ``auto``: ``claude`` when the SDK, its CLI and credentials (``ANTHROPIC_API_KEY``,
  ``ANTHROPIC_AUTH_TOKEN``, ``CLAUDE_CODE_OAUTH_TOKEN``, ``ANTHROPIC_BASE_URL`` or a Claude Code
  login) are present, else ``local`` when the embedded model is installed; when neither can run,
  it fails and says what is missing (placeholders are never picked silently).
"""

from __future__ import annotations

from pathlib import Path

from llmos.exceptions import ProviderError
from llmos.providers.base import AgentRequest, AgentResponse, Provider

__all__ = ["PROVIDER_NAMES", "AgentRequest", "AgentResponse", "Provider", "choose_provider", "create_provider"]

#: Names accepted by ``--provider``.
PROVIDER_NAMES = ("auto", "local", "scripted", "claude")


def choose_provider(name: str) -> tuple[str, str]:
    """Resolve ``auto`` to a concrete provider name.

    Returns:
        ``(name, reason)``: the provider that will answer and why it was chosen.
    """
    if name != "auto":
        return name, "chosen with --provider"
    from llmos.providers.claude import claude_status
    from llmos.providers.local import local_available

    claude = claude_status()
    if claude.ready:
        return "claude", f"auto: Claude Code can run ({', '.join(claude.credentials)})"
    ok, why = local_available()
    if ok:
        return "local", f"auto: claude cannot run ({'; '.join(claude.missing)}); the embedded model is installed"
    return "local", (
        f"auto: no provider can answer agent steps here: claude cannot run ({'; '.join(claude.missing)}), "
        f"and the embedded model cannot either ({why}); see `llmos doctor`, or use --provider scripted "
        "for schema-valid placeholders"
    )


def create_provider(name: str, *, script: str | Path | None = None) -> Provider:
    """Create a provider by name (``auto`` is resolved first).

    Raises:
        ProviderError: Unknown name, or the provider cannot run here (missing package or model).
        DocumentError: The scripted provider's script file is wrong.
    """
    concrete, reason = choose_provider(name)
    if name == "auto" and concrete == "local":
        from llmos.providers.local import local_available

        if not local_available()[0]:
            raise ProviderError(reason, provider="auto", retryable=False)
    if concrete == "scripted":
        from llmos.providers.scripted import ScriptedProvider

        return ScriptedProvider(script)
    if concrete == "local":
        from llmos.providers.local import LocalProvider

        return LocalProvider()
    if concrete == "claude":
        from llmos.providers.claude import ClaudeProvider, claude_status

        status = claude_status()
        if status.sdk_version is None:
            raise ProviderError("; ".join(status.missing), provider="claude", retryable=False)
        return ClaudeProvider()
    raise ProviderError(
        f"unknown provider {name!r} (choose from {', '.join(PROVIDER_NAMES)})", provider=name, retryable=False
    )
