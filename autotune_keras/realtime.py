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
import time
from dataclasses import asdict, dataclass
from pathlib import Path

import numpy as np

from autotune_keras import contract
from autotune_keras.benchmark import model_size, peak_rss_mb
from autotune_keras.cli import run

BUFFER_INPUTS = (contract.PitchDetectorTensors.AUDIO_BUFFER, contract.TimingTensors.AUDIO_SEQUENCE)


@dataclass
class BudgetCheck:
    """One measured figure against its budget."""

    name: str
    measured: float
    budget: float
    unit: str

    @property
    def passed(self) -> bool:
        return self.measured < self.budget


def current_rss_mb() -> float:
    """Resident memory of this process now (MB, as :func:`peak_rss_mb` counts them)."""
    import psutil

    return psutil.Process().memory_info().rss / 1024.0**2


def stream_audio(seconds: float, audio_path: str | None = None) -> np.ndarray:
    """``seconds`` of a file (looped if shorter), or of the embedded synthetic phrases."""
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


def stream_realtime(model: str | Path, audio: np.ndarray, threads: int = 1, paced: bool = True) -> dict:
    """Stream ``audio`` through ``model``; returns latencies (ms), CPU fraction, memory and size."""
    from autotune_keras.runtime import Stream, load_runner

    rss_before = current_rss_mb()
    runner = load_runner(model, threads)
    buffer_input = next((name for name in BUFFER_INPUTS if name in runner.inputs), None)
    if buffer_input is None:
        raise ValueError(f"{model}: no audio input among {sorted(runner.inputs)}")
    stream = Stream(runner, buffer_input)
    extra = stream.control_feeds()
    size = int(runner.inputs[buffer_input][1])
    buffers = audio[: len(audio) // size * size].reshape(-1, size)
    period = size / contract.SAMPLE_RATE
    for buffer in buffers[:20]:  # warm-up, as an engine's first callbacks
        stream.process(buffer, **extra)
    stream.reset()
    latencies = np.empty(len(buffers))
    cpu_started = time.thread_time()
    wall_started = deadline = time.perf_counter()
    from tqdm import tqdm

    progress = tqdm(total=len(buffers), unit="buffer", desc="streaming", mininterval=1.0, leave=False)
    for i, buffer in enumerate(buffers):
        if paced:
            deadline += period
        started = time.perf_counter()
        stream.process(buffer, **extra)
        latencies[i] = time.perf_counter() - started
        progress.update()
        if paced:
            pause = deadline - time.perf_counter()
            if pause > 0:
                time.sleep(pause)
    cpu_seconds = time.thread_time() - cpu_started
    wall_seconds = time.perf_counter() - wall_started
    progress.close()
    latencies *= 1e3
    histogram, edges = np.histogram(latencies, bins=30)
    path = Path(getattr(runner, "path", model))
    return {
        "model": str(path),
        "threads": threads,
        "paced": paced,
        "buffers": len(buffers),
        "buffer_samples": size,
        "audio_seconds": len(buffers) * period,
        "wall_seconds": wall_seconds,
        "buffer_period_ms": period * 1e3,
        "latency_ms": {
            "min": float(latencies.min()),
            "median": float(np.median(latencies)),
            "p95": float(np.percentile(latencies, 95)),
            "p99": float(np.percentile(latencies, 99)),
            "p99_9": float(np.percentile(latencies, 99.9)),
            "max": float(latencies.max()),
        },
        "latency_histogram_ms": histogram.tolist(),
        "latency_histogram_edges_ms": edges.tolist(),
        "buffers_under_budget": float(np.mean(latencies < contract.LATENCY_BUDGET_MS)),
        "deadline_misses": int(np.sum(latencies > period * 1e3)),
        "cpu_fraction": cpu_seconds / (len(buffers) * period),
        "peak_rss_mb": peak_rss_mb(),
        "model_rss_mb": current_rss_mb() - rss_before,  # what loading and running the model added
        "model_size_mb": model_size(path) / 1e6,
    }


def budget_checks(result: dict) -> list[BudgetCheck]:
    """The engine's four budgets against what was measured."""
    return [
        BudgetCheck("latency p99 per buffer", result["latency_ms"]["p99"], contract.LATENCY_BUDGET_MS, "ms"),
        BudgetCheck("CPU of one core", result["cpu_fraction"] * 100, contract.CPU_BUDGET_FRACTION * 100, "%"),
        BudgetCheck("memory (runtime + model)", result["model_rss_mb"], contract.RAM_BUDGET_MB, "MB"),
        BudgetCheck("model size", result["model_size_mb"], contract.MODEL_SIZE_BUDGET_MB, "MB"),
    ]


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
    model: str = "saved_models/pitch_detector/pitch_detector_int8.tflite",
    audio: str | None = None,
    seconds: float = 60.0,
    threads: int = 1,
    paced: bool = True,
    json_out: str | None = None,
) -> None:
    """Stream audio through a model in real time and judge it against the engine's budgets.

    Args:
      model: .tflite, .onnx, SavedModel folder or export folder.
      audio: a file to stream (looped to --seconds); default: the embedded synthetic voice.
      seconds: how much audio to stream.
      threads: inference threads (the budget is for one).
      paced: wait for each buffer's slot as a real callback does (False: back to back).
      json_out: also write the figures to this JSON file.
    """
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
