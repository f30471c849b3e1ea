"""The pitch corrector's evaluation hook: detuned phrases with exactly-in-tune twins (held-out
synthetic phrases, or the test split of datasets such as the real-timbre ones), each corrector
(and the DSP baseline) after the shipped detector."""

from __future__ import annotations

from autotune_keras.engine.exports import model_size
from autotune_keras.evaluation import EvaluationRequest
from autotune_keras.evaluation.clips import held_out_phrases, load_clips
from autotune_keras.evaluation.correction import CorrectionCase, evaluate_correctors
from autotune_keras.models.pitch_corrector.inference import Autotune, load_corrector, load_detector

DEFAULT_PHRASES = 12
DEFAULT_SNR_DB = 30.0


def evaluate(request: EvaluationRequest) -> dict:
    """Score every corrector of ``request`` (and the DSP baseline when asked) on the same phrases."""
    if request.audio is not None:
        raise ValueError("a pitch corrector is scored against in-tune twins: evaluate it on --data RECORDS (or the default phrases)")
    detector = load_detector()
    makers, sizes = {}, {}
    for model, label in zip(request.models, request.labels, strict=True):
        makers[label] = lambda model=model: Autotune(detector, *load_corrector(model))
        sizes[label] = model_size(load_corrector(model)[0].path) / 1e6
    if request.compare_baseline:
        makers["DSP baseline"] = lambda: Autotune(detector, *load_corrector(baseline=True))
    if request.data:
        clips = [c for folder in request.data for c in load_clips(folder, request.split, request.limit) if c.target_audio is not None]
        if not clips:
            raise FileNotFoundError(f"{', '.join(map(str, request.data))}: no '{request.split}' examples with in-tune twins")
        cases = [CorrectionCase.from_clip(c) for c in clips]
        label = f"{' + '.join(map(str, request.data))} [{request.split}]: {len(cases)} phrases"
    else:
        count = request.limit or DEFAULT_PHRASES
        cases = [CorrectionCase.from_phrase(f"synthetic/{i}", p) for i, p in enumerate(held_out_phrases(count))]
        label = f"{count} held-out synthetic phrases (voices and instruments, detuned, vibrato)"
    snr = DEFAULT_SNR_DB if request.snr_db is None else request.snr_db
    return evaluate_correctors(makers, cases, snr, request.out, sizes, label)
