"""Pitch metrics with mir_eval's definitions (raw pitch / chroma accuracy, voicing)."""

from __future__ import annotations

import mir_eval
import numpy as np

from autotune_keras import contract

CENT_TOLERANCES = (50, 25, 10)
# the scores reported everywhere (TensorBoard, evaluation reports, detector comparisons)
SUMMARY_KEYS = (
    "rpa_50", "rpa_25", "rpa_10", "rca_50", "voicing_recall", "voicing_precision", "octave_errors", "median_abs_cents",
)  # fmt: skip


def pitch_metrics(
    ref_hz: np.ndarray,
    ref_voiced: np.ndarray,
    est_hz: np.ndarray,
    est_confidence: np.ndarray,
    threshold: float = contract.CONFIDENCE_THRESHOLD,
) -> dict[str, float]:
    """RPA / RCA at 50, 25 and 10 cents, voicing recall / precision / false alarm, octave errors,
    median absolute cents error. The estimate's pitch counts on every voiced reference frame
    (as CREPE reports RPA); its voicing is ``confidence >= threshold``."""
    ref_hz = np.asarray(ref_hz, np.float64)
    ref_voiced = np.asarray(ref_voiced, bool) & (ref_hz > 0)
    est_hz = np.maximum(np.asarray(est_hz, np.float64), 1e-3)
    est_voiced = np.asarray(est_confidence) >= threshold
    ref_cent = mir_eval.melody.hz2cents(np.where(ref_voiced, ref_hz, 0.0))
    est_cent = mir_eval.melody.hz2cents(est_hz)
    ref_v, est_v = ref_voiced.astype(float), est_voiced.astype(float)
    out: dict[str, float] = {"frames": float(len(ref_hz)), "voiced_frames": float(ref_voiced.sum())}
    for tolerance in CENT_TOLERANCES:
        out[f"rpa_{tolerance}"] = float(
            mir_eval.melody.raw_pitch_accuracy(ref_v, ref_cent, np.ones_like(est_v), est_cent, tolerance)
        )
        out[f"rca_{tolerance}"] = float(
            mir_eval.melody.raw_chroma_accuracy(ref_v, ref_cent, np.ones_like(est_v), est_cent, tolerance)
        )
    recall, false_alarm = mir_eval.melody.voicing_measures(ref_v, est_v)
    out["voicing_recall"] = float(recall)
    out["voicing_false_alarm"] = float(false_alarm)
    out["voicing_precision"] = float((ref_voiced & est_voiced).sum() / max(est_voiced.sum(), 1))
    if ref_voiced.any():
        error = est_cent[ref_voiced] - ref_cent[ref_voiced]
        octave = np.abs(error - 1200.0 * np.round(error / 1200.0)) < 50
        out["octave_errors"] = float(np.mean(octave & (np.abs(np.round(error / 1200.0)) >= 1)))
        out["median_abs_cents"] = float(np.median(np.abs(error)))
    return out


def detection_correct(ref_hz: np.ndarray, ref_voiced: np.ndarray, est_hz: np.ndarray, tolerance_cents: float = 50.0) -> np.ndarray:
    """Per frame: is a detection right? The reference is voiced and the estimate within
    ``tolerance_cents`` of it. What a calibrated confidence is the probability of."""
    ref_hz, est_hz = np.asarray(ref_hz, np.float64), np.maximum(np.asarray(est_hz, np.float64), 1e-3)
    voiced = np.asarray(ref_voiced, bool) & (ref_hz > 0)
    cents = np.abs(1200 * np.log2(est_hz / np.where(voiced, ref_hz, 1.0)))
    return voiced & (cents <= tolerance_cents)


def calibration(confidence: np.ndarray, correct: np.ndarray, bins: int = 10) -> dict:
    """Expected calibration error (bin-weighted mean |accuracy - confidence| over ``bins`` equal
    confidence bins) and the reliability table (per bin: mean confidence, accuracy, count)."""
    confidence, correct = np.asarray(confidence, np.float64), np.asarray(correct, np.float64)
    edges = np.linspace(0.0, 1.0, bins + 1)
    index = np.clip(np.digitize(confidence, edges) - 1, 0, bins - 1)
    table, ece = [], 0.0
    for b in range(bins):
        members = index == b
        if members.any():
            mean_confidence, accuracy = float(confidence[members].mean()), float(correct[members].mean())
            ece += members.mean() * abs(accuracy - mean_confidence)
            table.append({"confidence": mean_confidence, "accuracy": accuracy, "frames": int(members.sum())})
    return {"ece": float(ece), "reliability": table}
