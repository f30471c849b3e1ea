"""Run the same inputs through every exported format and compare with the Keras model."""

from __future__ import annotations

import numpy as np

from autotune_keras import music


class ParityError(ValueError):
    """An exported format differs from its reference beyond the stated tolerance."""


def compare(
    reference: dict[str, np.ndarray],
    candidate: dict[str, np.ndarray],
    pitch_name: str | None,
    confidence_name: str,
    threshold: float,
) -> dict[str, float]:
    """Errors of ``candidate`` against ``reference``: max abs per output, and for pitch (when the
    model outputs one) the cents error on frames the reference calls voiced (median, p95, share
    within 50 cents)."""
    errors: dict[str, float] = {}
    for name, ref in reference.items():
        errors[f"{name}_max_abs"] = float(np.max(np.abs(np.asarray(candidate[name], np.float64) - np.asarray(ref, np.float64))))
    voiced = np.asarray(reference[confidence_name]).reshape(-1) >= threshold
    if pitch_name is None:
        return errors | {"voiced_frames": int(voiced.sum())}
    ref_pitch = np.asarray(reference[pitch_name]).reshape(-1)[voiced]
    cand_pitch = np.asarray(candidate[pitch_name]).reshape(-1)[voiced]
    if voiced.any():
        cents = np.abs(music.cents_between(np.maximum(cand_pitch, 1e-3), np.maximum(ref_pitch, 1e-3)))
        errors["pitch_cents_median"] = float(np.median(cents))
        errors["pitch_cents_p95"] = float(np.percentile(cents, 95))
        errors["pitch_within_50_cents"] = float(np.mean(cents <= 50.0))
    errors["voiced_frames"] = int(voiced.sum())
    return errors


def check(label: str, errors: dict[str, float], tolerance: dict[str, float]) -> None:
    """Raise :class:`ParityError` naming every error past its tolerance (``*_min`` keys are floors)."""
    failures = []
    for key, limit in tolerance.items():
        if key.endswith("_min"):
            value = errors.get(key[:-4])
            if value is not None and value < limit:
                failures.append(f"{key[:-4]}={value:.4g} < {limit}")
        else:
            value = errors.get(key)
            if value is not None and value > limit:
                failures.append(f"{key}={value:.4g} > {limit}")
    if failures:
        raise ParityError(f"{label} differs from its reference: {', '.join(failures)}")
