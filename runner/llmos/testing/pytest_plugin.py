"""The ``model_server`` pytest fixture, registered for every project that installs llmos.

The ``pytest11`` entry point ``llmos = "llmos.testing.pytest_plugin"`` loads this module when
pytest starts, so it imports nothing heavy; the server loads when the fixture is first used::

    def test_agent(model_server, tmp_path):
        server = model_server([{"text": "Hello"}])     # or a script file path
        run_my_agent(env=server.env())                # ANTHROPIC_BASE_URL, ANTHROPIC_API_KEY
        assert server.turns_left == 0

See :mod:`llmos.testing` for the script format.
"""

from __future__ import annotations

from collections.abc import Iterator, Mapping, Sequence
from pathlib import Path
from typing import TYPE_CHECKING, Any, Protocol

import pytest

if TYPE_CHECKING:
    from llmos.testing._server import ScriptedModelServer

__all__ = ["ModelServerFactory", "model_server"]


class ModelServerFactory(Protocol):
    """``model_server(script, *, host="127.0.0.1", port=0)``: a started :class:`~llmos.testing.ScriptedModelServer`."""

    def __call__(
        self,
        script: str | Path | Sequence[Any] | Mapping[str, Any],
        *,
        host: str = "127.0.0.1",
        port: int = 0,
    ) -> ScriptedModelServer: ...


@pytest.fixture
def model_server() -> Iterator[ModelServerFactory]:
    """A factory of started scripted model servers; every server it started is stopped at teardown.

    Call it with a script file or the script as Python data (a list of turn mappings, or
    ``{"turns": [...]}``); it raises :class:`~llmos.exceptions.DocumentError` for an invalid script.
    """
    from llmos.testing._server import ScriptedModelServer

    started: list[ScriptedModelServer] = []

    def start(
        script: str | Path | Sequence[Any] | Mapping[str, Any],
        *,
        host: str = "127.0.0.1",
        port: int = 0,
    ) -> ScriptedModelServer:
        server = ScriptedModelServer(script, host=host, port=port).start()
        started.append(server)
        return server

    try:
        yield start
    finally:
        for server in reversed(started):
            server.stop()
