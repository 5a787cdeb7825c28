"""Providers: who answers agent steps (see :mod:`llmos.providers.base` for the interface).

* ``scripted``: answers from a script file, or schema-valid placeholders (tests, docs).
* ``local``: an embedded GGUF model through llama-cpp-python (offline default).
* ``auto``: ``claude`` when that provider exists and credentials are present, else ``local``.
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
    from llmos.providers.local import local_available

    ok, why = local_available()
    if ok:
        return "local", "auto: the claude provider is not available in this version; the embedded model is installed"
    return "local", f"auto: the embedded model is the default, but it cannot run here: {why}"


def create_provider(name: str, *, script: str | Path | None = None) -> Provider:
    """Create a provider by name (``auto`` is resolved first).

    Raises:
        ProviderError: Unknown name, or the provider cannot run here (missing package or model).
        DocumentError: The scripted provider's script file is wrong.
    """
    concrete, _reason = choose_provider(name)
    if concrete == "scripted":
        from llmos.providers.scripted import ScriptedProvider

        return ScriptedProvider(script)
    if concrete == "local":
        from llmos.providers.local import LocalProvider

        return LocalProvider()
    if concrete == "claude":
        raise ProviderError(
            "the claude provider (Claude Agent SDK) is not part of this version yet; "
            "use --provider local or --provider scripted",
            provider="claude",
            retryable=False,
        )
    raise ProviderError(
        f"unknown provider {name!r} (choose from {', '.join(PROVIDER_NAMES)})", provider=name, retryable=False
    )
