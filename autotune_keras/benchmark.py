"""Per-buffer latency of an exported model, measured the way TFLite's benchmark_model reports it.

    python -m autotune_keras.benchmark --model saved_models/pitch_detector/pitch_detector_int8.tflite

Streams 512-sample buffers (with the state fed back) on one thread and prints init time, first
inference, warm-up mean, latency min / median / p95 / p99 / max, model size and peak memory.
"""

from __future__ import annotations

import resource
import time
from pathlib import Path

import numpy as np

from autotune_keras import contract
from autotune_keras.cli import run
from autotune_keras.runtime import Stream, load_runner


def model_size(path: Path) -> int:
    """Bytes on disk (a SavedModel folder counts every file)."""
    if path.is_dir():
        return sum(p.stat().st_size for p in path.rglob("*") if p.is_file())
    return path.stat().st_size


def peak_rss_mb() -> float:
    """Peak resident memory of this process so far (MB)."""
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024.0


def benchmark(model: str | Path, runs: int = 1000, warmup: int = 50, threads: int = 1, seed: int = 0) -> dict:
    """Measure one model; returns the figures (seconds in ms)."""
    model = Path(model)
    rss_before = peak_rss_mb()
    started = time.perf_counter()
    runner = load_runner(model, threads)
    stream = Stream(runner)
    controls = stream.control_feeds()  # a corrector's target pitch and strength
    init_ms = (time.perf_counter() - started) * 1e3
    rng = np.random.default_rng(seed)
    t = np.arange((runs + warmup + 1) * contract.BUFFER_SIZE) / contract.SAMPLE_RATE
    audio = (0.3 * np.sin(2 * np.pi * 220 * t) + 0.01 * rng.standard_normal(len(t))).astype(np.float32)
    buffers = audio.reshape(-1, contract.BUFFER_SIZE)
    started = time.perf_counter()
    stream.process(buffers[0], **controls)
    first_ms = (time.perf_counter() - started) * 1e3
    started = time.perf_counter()
    for buffer in buffers[1 : warmup + 1]:
        stream.process(buffer, **controls)
    warmup_ms = (time.perf_counter() - started) * 1e3 / max(warmup, 1)
    latencies = np.empty(runs)
    for i, buffer in enumerate(buffers[warmup + 1 : warmup + 1 + runs]):
        started = time.perf_counter()
        stream.process(buffer, **controls)
        latencies[i] = time.perf_counter() - started
    latencies *= 1e3
    path = runner.path if hasattr(runner, "path") else model
    return {
        "model": str(path),
        "threads": threads,
        "init_ms": init_ms,
        "first_inference_ms": first_ms,
        "warmup_mean_ms": warmup_ms,
        "runs": runs,
        "min_ms": float(latencies.min()),
        "median_ms": float(np.median(latencies)),
        "p95_ms": float(np.percentile(latencies, 95)),
        "p99_ms": float(np.percentile(latencies, 99)),
        "max_ms": float(latencies.max()),
        "mean_ms": float(latencies.mean()),
        "model_size_mb": model_size(Path(path)) / 1e6,
        "peak_rss_mb": peak_rss_mb(),
        "rss_growth_mb": peak_rss_mb() - rss_before,
        "buffer_period_ms": contract.BUFFER_SIZE / contract.SAMPLE_RATE * 1e3,
    }


def format_report(r: dict) -> str:
    """benchmark_model-style text."""
    return "\n".join(
        [
            f"Model: {r['model']} ({r['model_size_mb']:.3f} MB), {r['threads']} thread(s)",
            f"Initialization: {r['init_ms']:.1f} ms",
            f"First inference: {r['first_inference_ms'] * 1e3:.0f} us",
            f"Warmup (avg): {r['warmup_mean_ms'] * 1e3:.1f} us",
            f"Inference per {contract.BUFFER_SIZE}-sample buffer, {r['runs']} runs: min={r['min_ms'] * 1e3:.1f} us "
            f"median={r['median_ms'] * 1e3:.1f} us p95={r['p95_ms'] * 1e3:.1f} us p99={r['p99_ms'] * 1e3:.1f} us max={r['max_ms'] * 1e3:.1f} us",
            f"Real-time factor: {r['mean_ms'] / r['buffer_period_ms'] * 100:.2f} % of the {r['buffer_period_ms']:.1f} ms buffer period",
            f"Peak memory (RSS): {r['peak_rss_mb']:.1f} MB (process, incl. Python and the runtime)",
        ]
    )


def main(
    model: str = "saved_models/pitch_detector/pitch_detector_int8.tflite", runs: int = 1000, warmup: int = 50, threads: int = 1
) -> None:
    """Benchmark one exported model file (.tflite, .onnx, SavedModel folder or export folder).

    Args:
      model: the model to time.
      runs: timed buffers.
      warmup: untimed buffers first.
      threads: inference threads (the engine budget is one).
    """
    print(format_report(benchmark(model, runs, warmup, threads)))


def cli() -> None:
    """Console-script entry point."""
    run(main, "autotune_keras.benchmark")


if __name__ == "__main__":
    cli()
