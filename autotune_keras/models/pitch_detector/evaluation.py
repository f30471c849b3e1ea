"""The pitch detector's evaluation hook: streamed pitch accuracy on a dataset split or an audio folder."""

from __future__ import annotations

from autotune_keras.config import DatasetConfig
from autotune_keras.evaluation import EvaluationRequest
from autotune_keras.evaluation.detection import evaluate_detectors

DEFAULT_RECORDS = "tf_records/pitch_detector"


def evaluate(request: EvaluationRequest) -> dict:
    """Score every model of ``request`` on the same clips (default: the detector's test split)."""
    if request.compare_baseline:
        raise ValueError("--compare baseline: the DSP baseline is a corrector; evaluate a pitch_corrector model")
    if request.audio is None and not request.data:
        request.data = [DEFAULT_RECORDS]
    return evaluate_detectors(request, DatasetConfig().label_hop)
