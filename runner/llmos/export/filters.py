"""Run-level filters: the run's mode and its quality score.

The quality score is ``quality_metrics.score`` (a number in [0, 1] computed by :mod:`llmos.quality`:
step success rate × schema conformance × summary grounding); traces written before it existed
fall back to ``quality_metrics.step_success_rate``. A run with neither has no score and fails any
``min_quality``.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

__all__ = ["MODES", "RunFilter", "quality_score"]

#: ``--mode`` values.
MODES = ("execution", "simulation", "all")


def quality_score(trace: dict[str, Any]) -> float | None:
    """The run's quality score (see the module docstring), or ``None``."""
    metrics = trace.get("quality_metrics")
    if not isinstance(metrics, dict):
        return None
    for key in ("score", "step_success_rate"):
        value = metrics.get(key)
        if isinstance(value, (int, float)) and not isinstance(value, bool):
            return float(value)
    return None


@dataclass(frozen=True)
class RunFilter:
    """Which runs an export keeps.

    Attributes:
        mode: ``execution``, ``simulation`` or ``all``.
        min_quality: The lowest quality score kept (``None``: no threshold).

    Raises:
        ValueError: ``mode`` is not one of :data:`MODES` or ``min_quality`` is outside [0, 1].
    """

    mode: str = "all"
    min_quality: float | None = None

    def __post_init__(self) -> None:
        if self.mode not in MODES:
            raise ValueError(f"mode must be one of {', '.join(MODES)}, got {self.mode!r}")
        if self.min_quality is not None and not 0.0 <= self.min_quality <= 1.0:
            raise ValueError(f"min_quality must be in [0, 1], got {self.min_quality}")

    def reject(self, trace: dict[str, Any]) -> str | None:
        """Why ``trace`` is left out (``"mode"`` or ``"quality"``), or ``None`` when it is kept."""
        if self.mode != "all" and trace.get("mode") != self.mode:
            return "mode"
        if self.min_quality is not None:
            score = quality_score(trace)
            if score is None or score < self.min_quality:
                return "quality"
        return None
