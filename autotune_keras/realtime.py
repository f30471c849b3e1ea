"""Real-time tester: stream audio through an exported model at the engine's pace and judge it
against the engine's budgets.

    python -m autotune_keras.realtime --model saved_models/pitch_detector/pitch_detector_int8.tflite

Feeds 60 s of audio (a file, or the embedded synthetic voice) buffer by buffer on one thread,
carrying the state tensors, one 512-sample buffer every 11.6 ms as an audio callback would, and
reports per-buffer latency percentiles, CPU time as % of one core over the buffer period, peak
memory, model size and deadline misses, each against contract's budget with PASS / FAIL.
"""

from __future__ import annotations

import json
from dataclasses import asdict
from pathlib import Path

import numpy as np

from autotune_keras import contract
from autotune_keras.cli import run
from autotune_keras.engine.exports import DEFAULT_FILE, shipped_model
from autotune_keras.engine.measure import BudgetCheck, budget_checks, stream_realtime


def stream_audio(seconds: float, audio_path: str | None = None) -> np.ndarray:
    """``seconds`` of a file (looped if shorter), or of the embedded synthetic phrases."""
    if seconds <= 0:
        raise ValueError(f"--seconds must be positive, got {seconds}")
    if audio_path is not None:
        from autotune_keras.audio import load_audio

        audio = load_audio(audio_path)
    else:
        from autotune_keras.config import SyntheticConfig
        from autotune_keras.data.synth import synthesize_phrase

        cfg = SyntheticConfig(phrase_seconds=5.0)
        audio = np.concatenate([synthesize_phrase(i, cfg).audio for i in range(max(1, int(np.ceil(min(seconds, 30) / 5))))])
    n = int(seconds * contract.SAMPLE_RATE)
    return np.resize(audio.astype(np.float32), n)


def format_report(result: dict, checks: list[BudgetCheck]) -> str:
    """Human-readable verdict."""
    lat = result["latency_ms"]
    lines = [
        f"Model: {result['model']}  ({result['threads']} thread, {'paced at' if result['paced'] else 'unpaced,'} "
        f"{result['buffer_period_ms']:.1f} ms per {result['buffer_samples']}-sample buffer)",
        f"Streamed {result['audio_seconds']:.1f} s of audio = {result['buffers']} buffers in {result['wall_seconds']:.1f} s",
        f"Latency per buffer (ms): min {lat['min']:.3f}  median {lat['median']:.3f}  p95 {lat['p95']:.3f}  "
        f"p99 {lat['p99']:.3f}  p99.9 {lat['p99_9']:.3f}  max {lat['max']:.3f}",
        f"Buffers under {contract.LATENCY_BUDGET_MS:g} ms: {result['buffers_under_budget'] * 100:.2f} %;  "
        f"deadline misses (> buffer period): {result['deadline_misses']}",
        f"Peak RSS of this Python process: {result['peak_rss_mb']:.1f} MB (runtime + model: {result['model_rss_mb']:.1f} MB)",
        "",
        f"{'budget':28}{'measured':>12}{'limit':>10}  verdict",
    ]
    for check in checks:
        lines.append(
            f"{check.name:28}{check.measured:>10.3f} {check.unit:<2}{check.budget:>8g} {check.unit:<2} {'PASS' if check.passed else 'FAIL'}"
        )
    verdict = "PASS" if all(c.passed for c in checks) else "FAIL"
    lines.append(f"\nOverall: {verdict}")
    return "\n".join(lines)


def main(
    model: str | None = None,
    audio: str | None = None,
    seconds: float = 60.0,
    threads: int = 1,
    paced: bool = True,
    json_out: str | None = None,
) -> None:
    """Stream audio through a model in real time and judge it against the engine's budgets.

    Args:
      model: .tflite, .onnx, SavedModel folder or export folder (default: the shipped pitch
        detector's INT8 TFLite).
      audio: a file to stream (looped to --seconds); default: the embedded synthetic voice.
      seconds: how much audio to stream.
      threads: inference threads (the budget is for one).
      paced: wait for each buffer's slot as a real callback does (False: back to back).
      json_out: also write the figures to this JSON file.
    """
    model = model or str(shipped_model("pitch_detector") / DEFAULT_FILE.format(name="pitch_detector"))
    result = stream_realtime(model, stream_audio(seconds, audio), threads, paced)
    checks = budget_checks(result)
    result["checks"] = [asdict(c) | {"passed": c.passed} for c in checks]
    print(format_report(result, checks))
    if json_out:
        Path(json_out).write_text(json.dumps(result, indent=1))


def cli() -> None:
    """Console-script entry point."""
    run(main, "autotune_keras.realtime")


if __name__ == "__main__":
    cli()
