"""The value a Hydra sweeper optimises: the run's metric named by ``cfg.optimized_metric``."""

from __future__ import annotations

import logging
from collections.abc import Collection, Mapping

log = logging.getLogger(__name__)


def check_metric_name(name: str | None, valid: Collection[str]) -> str | None:
    """Refuse an ``optimized_metric`` the task never computes, before any work (``None``: none wanted).

    Raises:
        ValueError: ``name`` is not one of ``valid``; the message lists them.
    """
    if name is not None and name not in valid:
        raise ValueError(f"optimized_metric={name!r} is not computed by this task; choose one of {sorted(valid)}")
    return name


def sweep_value(
    metrics: Mapping[str, float], name: str | None, fallbacks: Mapping[str, str] | None = None
) -> float | None:
    """``metrics[name]``, else the metric ``fallbacks[name]`` names, else ``None`` with a warning.

    A sweeper fails the trial on ``None``; a plain run just returns it.

    Args:
        metrics: what the run measured, by name (``val/dice``, ``kappa/test``).
        name: the config's ``optimized_metric``; ``None``: nothing is optimised.
        fallbacks: the metric to return when ``name`` was not computed (stage.py: ``kappa/test`` -> ``kappa/cv``).
    """
    if name is None:
        return None
    if name in metrics:
        return float(metrics[name])
    fallback = (fallbacks or {}).get(name)
    if fallback is not None and fallback in metrics:
        log.info("optimized_metric %s was not computed; returning %s instead", name, fallback)
        return float(metrics[fallback])
    log.warning("optimized_metric %s was not computed (the run measured %s)", name, sorted(metrics) or "nothing")
    return None
