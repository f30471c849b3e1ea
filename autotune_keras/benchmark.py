"""Per-buffer latency of an exported model, measured the way TFLite's benchmark_model reports it.

    python -m autotune_keras.benchmark --model saved_models/pitch_detector/pitch_detector_int8.tflite

Streams buffers (with the state fed back) on one thread and prints init time, first inference,
warm-up mean, latency min / median / p95 / p99 / max, model size and peak memory.
"""

from __future__ import annotations

from autotune_keras.cli import run
from autotune_keras.engine.exports import DEFAULT_FILE, shipped_model
from autotune_keras.engine.measure import benchmark


def format_report(r: dict) -> str:
    """benchmark_model-style text."""
    return "\n".join(
        [
            f"Model: {r['model']} ({r['model_size_mb']:.3f} MB), {r['threads']} thread(s)",
            f"Initialization: {r['init_ms']:.1f} ms",
            f"First inference: {r['first_inference_ms'] * 1e3:.0f} us",
            f"Warmup (avg): {r['warmup_mean_ms'] * 1e3:.1f} us",
            f"Inference per {r['buffer_samples']}-sample buffer, {r['runs']} runs: min={r['min_ms'] * 1e3:.1f} us "
            f"median={r['median_ms'] * 1e3:.1f} us p95={r['p95_ms'] * 1e3:.1f} us p99={r['p99_ms'] * 1e3:.1f} us max={r['max_ms'] * 1e3:.1f} us",
            f"Real-time factor: {r['mean_ms'] / r['buffer_period_ms'] * 100:.2f} % of the {r['buffer_period_ms']:.1f} ms buffer period",
            f"Peak memory (RSS): {r['peak_rss_mb']:.1f} MB (process, incl. Python and the runtime)",
        ]
    )


def main(model: str | None = None, runs: int = 1000, warmup: int = 50, threads: int = 1) -> None:
    """Benchmark one exported model file (.tflite, .onnx, SavedModel folder or export folder).

    Args:
      model: the model to time (default: the shipped saved_models/pitch_detector/pitch_detector_int8.tflite).
      runs: timed buffers.
      warmup: untimed buffers first.
      threads: inference threads (the engine budget is one).
    """
    model = model or str(shipped_model("pitch_detector") / DEFAULT_FILE.format(name="pitch_detector"))
    print(format_report(benchmark(model, runs, warmup, threads)))


def cli() -> None:
    """Console-script entry point."""
    run(main, "autotune_keras.benchmark")


if __name__ == "__main__":
    cli()
