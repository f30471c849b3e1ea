"""Per-buffer latency, CPU, memory and size of an exported model, and the verdict against the
engine's budgets (contract.py). The benchmark and realtime CLIs print what these return."""

from __future__ import annotations

import json
import resource
import shutil
import subprocess
import sys
import tempfile
import time
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from autotune_keras import contract
from autotune_keras.engine.exports import model_size
from autotune_keras.engine.runners import load_runner
from autotune_keras.engine.stream import Stream, stream

WARMUP_BUFFERS = 20  # an engine's first callbacks, before the measured stream


def peak_rss_mb() -> float:
    """Peak resident memory of this process so far (MB)."""
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024.0


def current_rss_mb() -> float:
    """Resident memory of this process now (MB, as :func:`peak_rss_mb` counts them)."""
    import psutil

    return psutil.Process().memory_info().rss / 1024.0**2


def percentiles(latency_ms: np.ndarray) -> dict[str, float]:
    """min / median / p95 / p99 / p99.9 / max / mean of per-buffer latencies."""
    return {
        "min": float(latency_ms.min()),
        "median": float(np.median(latency_ms)),
        "p95": float(np.percentile(latency_ms, 95)),
        "p99": float(np.percentile(latency_ms, 99)),
        "p99_9": float(np.percentile(latency_ms, 99.9)),
        "max": float(latency_ms.max()),
        "mean": float(latency_ms.mean()),
    }


def test_signal(buffers: int, buffer_size: int, seed: int = 0) -> np.ndarray:
    """A 220 Hz tone with a little noise, ``buffers`` buffers long."""
    rng = np.random.default_rng(seed)
    t = np.arange(buffers * buffer_size) / contract.SAMPLE_RATE
    return (0.3 * np.sin(2 * np.pi * 220 * t) + 0.01 * rng.standard_normal(len(t))).astype(np.float32)


def benchmark(model: str | Path, runs: int = 1000, warmup: int = 50, threads: int = 1) -> dict:
    """Time one model buffer by buffer, state fed back, as TFLite's benchmark_model reports it:
    init, first inference, warm-up mean, then ``runs`` timed buffers (milliseconds)."""
    if runs < 1 or warmup < 0 or threads < 1:
        raise ValueError(f"--runs must be >= 1, --warmup >= 0 and --threads >= 1 (got {runs}, {warmup}, {threads})")
    rss_before = peak_rss_mb()
    started = time.perf_counter()
    runner = load_runner(model, threads)
    streamer = Stream(runner)
    init_ms = (time.perf_counter() - started) * 1e3
    size = streamer.buffer_size
    audio = test_signal(runs + warmup + 1, size)
    first = stream(streamer, audio[:size], timed=True)
    warm = stream(streamer, audio[size : (warmup + 1) * size], reset=False, timed=True) if warmup else None
    timed = stream(streamer, audio[(warmup + 1) * size :], reset=False, timed=True)
    figures = percentiles(timed.latency_ms)
    return {
        "model": str(runner.path),
        "threads": threads,
        "buffer_samples": size,
        "init_ms": init_ms,
        "first_inference_ms": float(first.latency_ms[0]),
        "warmup_mean_ms": float(warm.latency_ms.mean()) if warm else 0.0,
        "runs": runs,
        **{f"{k}_ms": v for k, v in figures.items() if k != "p99_9"},
        "model_size_mb": model_size(runner.path) / 1e6,
        "peak_rss_mb": peak_rss_mb(),
        "rss_growth_mb": peak_rss_mb() - rss_before,
        "buffer_period_ms": size / contract.SAMPLE_RATE * 1e3,
    }


def litert_benchmark(model: str | Path, runs: int = 1000, warmup: int = 100, threads: int = 1) -> dict:
    """Latency of a .tflite file as TFLite's own C++ benchmark tool (``litert-benchmark``, installed
    by ai-edge-litert) reports it: no Python in the timed loop. Returns its ``latency`` figures (ms)."""
    tool = Path(sys.executable).with_name("litert-benchmark")
    tool = str(tool) if tool.is_file() else shutil.which("litert-benchmark")
    if tool is None:
        raise FileNotFoundError("litert-benchmark: not installed (it comes with ai-edge-litert)")
    with tempfile.TemporaryDirectory() as tmp:
        result = Path(tmp) / "result.json"
        command = [tool, f"--model={model}", f"--num_threads={threads}", f"--num_runs={runs}", f"--warmup_runs={warmup}",
                   f"--result_json={result}"]  # fmt: skip
        finished = subprocess.run(command, capture_output=True, text=True)
        if finished.returncode != 0 or not result.is_file():
            raise ValueError(f"{model}: litert-benchmark failed ({finished.stderr.strip().splitlines()[-1:] or finished.returncode})")
        return json.loads(result.read_text())["latency"]


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


def stream_realtime(model: str | Path, audio: np.ndarray, threads: int = 1, paced: bool = True) -> dict:
    """Stream ``audio`` through ``model`` one buffer per buffer period (``paced``) or back to back;
    returns latencies (ms), CPU fraction of one core, memory, size and deadline misses."""
    rss_before = current_rss_mb()
    runner = load_runner(model, threads)
    streamer = Stream(runner)
    size = streamer.buffer_size
    audio = np.asarray(audio, np.float32)[: len(audio) // size * size]
    if not len(audio):
        raise ValueError(f"need at least one {size}-sample buffer of audio")
    stream(streamer, test_signal(WARMUP_BUFFERS, size))  # warm-up, as an engine's first callbacks
    result = stream(streamer, audio, paced=paced, timed=True, progress="streaming")
    period = size / contract.SAMPLE_RATE
    latency = result.latency_ms
    histogram, edges = np.histogram(latency, bins=30)
    figures = percentiles(latency)
    return {
        "model": str(runner.path),
        "threads": threads,
        "paced": paced,
        "buffers": result.buffers,
        "buffer_samples": size,
        "audio_seconds": result.buffers * period,
        "wall_seconds": result.wall_seconds,
        "buffer_period_ms": period * 1e3,
        "latency_ms": {k: v for k, v in figures.items() if k != "mean"},
        "latency_histogram_ms": histogram.tolist(),
        "latency_histogram_edges_ms": edges.tolist(),
        "buffers_under_budget": float(np.mean(latency < contract.LATENCY_BUDGET_MS)),
        "deadline_misses": int(np.sum(latency > period * 1e3)),
        "cpu_fraction": result.cpu_seconds / (result.buffers * period),
        "peak_rss_mb": peak_rss_mb(),
        "model_rss_mb": current_rss_mb() - rss_before,  # what loading and running the model added
        "model_size_mb": model_size(runner.path) / 1e6,
    }


def budget_checks(result: dict) -> list[BudgetCheck]:
    """The engine's four budgets against what :func:`stream_realtime` measured."""
    return [
        BudgetCheck("latency p99 per buffer", result["latency_ms"]["p99"], contract.LATENCY_BUDGET_MS, "ms"),
        BudgetCheck("CPU of one core", result["cpu_fraction"] * 100, contract.CPU_BUDGET_FRACTION * 100, "%"),
        BudgetCheck("memory (runtime + model)", result["model_rss_mb"], contract.RAM_BUDGET_MB, "MB"),
        BudgetCheck("model size", result["model_size_mb"], contract.MODEL_SIZE_BUDGET_MB, "MB"),
    ]
