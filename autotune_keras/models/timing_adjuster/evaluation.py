"""The timing model's evaluation hook: held-out phrases played off the grid (the test split of the
given datasets), the model, the slicing baseline and the input, against the on-grid twins."""

from __future__ import annotations

from autotune_keras.engine.exports import latency_samples
from autotune_keras.engine.runners import load_runner
from autotune_keras.evaluation import EvaluationRequest
from autotune_keras.evaluation.clips import load_timing_clips
from autotune_keras.evaluation.timing import evaluate_timing
from autotune_keras.models.timing_adjuster.inference import Retimer, lookahead_samples

DEFAULT_RECORDS = ["tf_records/heldout_fluidr3", "tf_records/soundfont", "tf_records/voice"]


def evaluate(request: EvaluationRequest) -> dict:
    """Score every model of ``request`` (and the slicing baseline when asked) on the same phrases."""
    from autotune_keras.dsp.retime import slice_retime

    if request.audio is not None:
        raise ValueError("a timing model is scored against on-grid twins: evaluate it on --data RECORDS")
    folders = request.data or DEFAULT_RECORDS
    clips = [clip for folder in folders for clip in load_timing_clips(folder, request.split, request.limit)]
    if not clips:
        raise FileNotFoundError(f"{', '.join(map(str, folders))}: no '{request.split}' phrases with on-grid twins")
    systems = {"input": lambda clip: clip.audio}
    for model, label in zip(request.models, request.labels, strict=True):
        retimer = Retimer(load_runner(model), latency_samples(model), lookahead_samples(model))
        systems[label] = lambda clip, retimer=retimer: retimer.run(clip.audio, clip.tempo, 0.25, clip.grid()[1])["audio"]
    if request.compare_baseline:
        systems["slicing baseline"] = lambda clip: slice_retime(clip.audio, clip.tempo, 0.25, clip.grid()[1])
    label = f"{' + '.join(map(str, folders))} [{request.split}]: {len(clips)} phrases off a 16th-note grid"
    return evaluate_timing(systems, clips, request.out, label)
