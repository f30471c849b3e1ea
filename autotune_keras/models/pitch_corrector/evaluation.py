"""The pitch corrector's evaluation hook: held-out synthetic phrases with in-tune twins, each
corrector (and the DSP baseline) after the shipped detector."""

from __future__ import annotations

from autotune_keras.engine.exports import model_size
from autotune_keras.evaluation import EvaluationRequest
from autotune_keras.evaluation.clips import held_out_phrases
from autotune_keras.evaluation.correction import evaluate_correctors
from autotune_keras.models.pitch_corrector.inference import Autotune, load_corrector, load_detector

DEFAULT_PHRASES = 12
DEFAULT_SNR_DB = 30.0


def evaluate(request: EvaluationRequest) -> dict:
    """Score every corrector of ``request`` (and the DSP baseline when asked) on the same phrases."""
    if request.audio is not None or request.data is not None:
        raise ValueError("a pitch corrector is evaluated on held-out synthetic phrases with in-tune twins; drop --audio / --data")
    detector = load_detector()
    makers, sizes = {}, {}
    for model, label in zip(request.models, request.labels, strict=True):
        makers[label] = lambda model=model: Autotune(detector, *load_corrector(model))
        sizes[label] = model_size(load_corrector(model)[0].path) / 1e6
    if request.compare_baseline:
        makers["DSP baseline"] = lambda: Autotune(detector, *load_corrector(baseline=True))
    phrases = held_out_phrases(request.limit or DEFAULT_PHRASES)
    snr = DEFAULT_SNR_DB if request.snr_db is None else request.snr_db
    return evaluate_correctors(makers, phrases, snr, request.out, sizes)
