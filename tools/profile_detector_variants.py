"""Latency of detector architecture variants (random weights, post-training INT8), to choose one
before training it. Each variant: the whole streaming model converted as the exporter does, then
the median of 3000 LiteRT invokes on one thread (best of three rounds).

    python tools/profile_detector_variants.py "{}" "{'stem_stride': 16, 'stem_kernel': 64}"

Each argument is a dict of DetectorConfig fields changed from the defaults.
"""

from __future__ import annotations

import ast
import sys
import time
from dataclasses import replace
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

import numpy as np  # noqa: E402

from autotune_keras import contract  # noqa: E402
from autotune_keras.export import tflite  # noqa: E402
from autotune_keras.models.pitch_detector.network import DetectorConfig, build_network  # noqa: E402
from autotune_keras.models.pitch_detector.streaming import StreamingDetector  # noqa: E402


def invoke_median_us(model: bytes, runs: int = 3000, rounds: int = 3) -> float:
    """Best-of-rounds median wall time of ``invoke`` (inputs set once)."""
    interpreter = tflite.interpreter(model)
    rng = np.random.default_rng(0)
    for detail in interpreter.get_input_details():
        interpreter.set_tensor(detail["index"], (0.1 * rng.standard_normal(detail["shape"])).astype(detail["dtype"]))
    for _ in range(200):
        interpreter.invoke()
    medians = []
    for _ in range(rounds):
        times = np.empty(runs)
        for i in range(runs):
            started = time.perf_counter()
            interpreter.invoke()
            times[i] = time.perf_counter() - started
        medians.append(np.median(times) * 1e6)
    return float(min(medians))


def int8_model(cfg: DetectorConfig) -> tuple[bytes, int]:
    """The streaming model with random weights, full-INT8 network, as the exporter converts it."""
    network = build_network(cfg)
    module = StreamingDetector(network, cfg)
    rng = np.random.default_rng(0)

    def representative():
        for _ in range(30):
            yield {
                contract.PitchDetectorTensors.AUDIO_BUFFER: (0.1 * rng.standard_normal((1, contract.BUFFER_SIZE))).astype(
                    np.float32
                ),
                StreamingDetector.STATE_IN: (0.1 * rng.standard_normal((1, cfg.context_samples))).astype(np.float32),
            }

    return tflite.convert_int8(module.concrete_function(1), module, representative), int(network.count_params())


def main(*variants: str) -> None:
    for text in variants or ("{}",):
        changes = ast.literal_eval(text)
        cfg = replace(DetectorConfig(), **changes)
        model, params = int8_model(cfg)
        print(
            f"{str(changes):60} params={params:7d} int8={len(model) / 1e3:6.0f} KB  invoke median={invoke_median_us(model):6.1f} us",
            flush=True,
        )


if __name__ == "__main__":
    main(*sys.argv[1:])
