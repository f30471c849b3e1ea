"""Measure the tf.data pipeline alone, and against a model's training-step rate.

    python tools/bench_pipeline.py --records tf_records/demo [--batches 60] [--batch_size 32] [--windows_per_crop 8]

Prints examples/s and batches/s with augmentation off and with every augmentation on
(probability 1), for the input alone (a detector) and with the paired target tracks (a
corrector), then the train steps/s of a ~100k-parameter conv net on the same batch shape,
and the ratio pipeline batches/s / model steps/s (above 1: the pipeline keeps the model fed);
then the same for the pitch detector itself: its training batches (pipeline, NCCF and targets, as
``train`` builds them) against its own train step.
"""

from __future__ import annotations

import os
import platform
import sys
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

import fire  # noqa: E402
import numpy as np  # noqa: E402
import tensorflow as tf  # noqa: E402

from autotune_keras.config import CONFIG_DIR, PipelineConfig, load  # noqa: E402
from autotune_keras.data.pipeline import make_dataset  # noqa: E402
from autotune_keras.models.pitch_detector.network import build_network  # noqa: E402
from autotune_keras.models.pitch_detector.training import DetectorExperiment, compile_network, datasets  # noqa: E402
from autotune_keras.tfk import keras  # noqa: E402
from autotune_keras.training import load_experiment  # noqa: E402

AUGMENTATIONS = ("pitch_shift", "time_stretch", "formant_shift", "reverb", "dynamics", "noise", "colour")


def _rate(ds: tf.data.Dataset, batches: int, warmup: int = 5) -> tuple[float, float]:
    iterator = iter(ds)
    for _ in range(warmup):
        next(iterator)
    start = time.perf_counter()
    examples = 0
    for _ in range(batches):
        examples += int(next(iterator)["audio"].shape[0])
    elapsed = time.perf_counter() - start
    return examples / elapsed, batches / elapsed


def reference_model(window: int, frames: int) -> keras.Model:
    """A conv net of the detector's size class: window of audio -> per-frame f0 class logits."""
    audio = keras.Input((window,), name="audio")
    x = keras.layers.Reshape((window, 1))(audio)
    x = keras.layers.Conv1D(32, 64, strides=8, padding="same", activation="relu")(x)
    for filters in (48, 64, 96):
        x = keras.layers.Conv1D(filters, 9, padding="same", activation="relu")(x)
        x = keras.layers.MaxPooling1D(2)(x)
    x = keras.layers.GlobalAveragePooling1D()(x)
    x = keras.layers.Dense(frames * 8)(x)
    return keras.Model(audio, x)


def main(
    records: str = "tf_records/demo",
    batches: int = 60,
    batch_size: int = 32,
    window: int | None = None,
    windows_per_crop: int | None = None,
    config: str = str(CONFIG_DIR / "pipeline.yaml"),
) -> None:
    """Print pipeline throughput and its ratio to a model's training-step rate."""
    crops = {"windows_per_crop": windows_per_crop} if windows_per_crop else {}
    base = load(
        PipelineConfig,
        config,
        overrides={"records": records, "batch_size": batch_size} | crops | ({"window_samples": window} if window else {}),
    )
    print(f"machine: {platform.processor() or platform.machine()}, {os.cpu_count()} cores, TF {tf.__version__}")
    print(f"records: {records}, batch {base.batch_size}, window {base.window_samples} samples, "
          f"{base.windows_per_crop} windows per crop, {batches} batches timed")
    results = {}
    all_on = {f"augment.{name}.probability": 1.0 for name in AUGMENTATIONS}
    for label, overrides in (
        ("augment off", {"augment.enabled": False, "with_targets": False}),
        ("defaults, audio only", {"with_targets": False}),
        ("defaults, +targets", {"with_targets": True}),
        ("all seven p=1, audio", all_on | {"with_targets": False}),
    ):
        cfg = load(
            PipelineConfig,
            config,
            overrides={"records": records, "batch_size": batch_size, "window_samples": base.window_samples} | crops | overrides,
        )
        examples_s, batches_s = _rate(make_dataset(cfg, "train"), batches)
        results[label] = batches_s
        print(f"pipeline [{label:>20}]: {examples_s:8.1f} examples/s  {batches_s:7.2f} batches/s")

    frames = base.window_samples // 128
    model = reference_model(base.window_samples, frames)
    model.compile(optimizer=keras.optimizers.Adam(1e-3), loss=keras.losses.MeanSquaredError())
    x = np.random.default_rng(0).standard_normal((base.batch_size, base.window_samples)).astype(np.float32)
    y = np.zeros((base.batch_size, frames * 8), np.float32)
    for _ in range(5):
        model.train_on_batch(x, y)
    steps = 50
    start = time.perf_counter()
    for _ in range(steps):
        model.train_on_batch(x, y)
    steps_s = steps / (time.perf_counter() - start)
    print(f"model    [{model.count_params():,} params]: {steps_s:7.2f} train steps/s")
    for label, batches_s in results.items():
        print(f"ratio    [{label:>20}]: {batches_s / steps_s:6.2f} pipeline batches per model step")

    # the shipped detector itself: its training batches (pipeline + NCCF + targets) and its step
    experiment = load_experiment(DetectorExperiment, CONFIG_DIR / "pitch_detector.yaml",
                                 {"pipeline.records": records, "pipeline.mix": "", "pipeline.mix_weights": "",
                                  "pipeline.batch_size": batch_size}
                                 | {f"pipeline.{k}": v for k, v in crops.items()})  # fmt: skip
    train, _ = datasets(experiment)
    iterator = iter(train)
    for _ in range(5):
        next(iterator)
    start = time.perf_counter()
    for _ in range(batches):
        next(iterator)
    detector_batches_s = batches / (time.perf_counter() - start)
    network = build_network(experiment.model)
    compile_network(network, 1e-3, experiment)
    batch = next(iterator)
    for _ in range(5):
        network.train_on_batch(*batch)
    start = time.perf_counter()
    for _ in range(steps):
        network.train_on_batch(*batch)
    detector_steps_s = steps / (time.perf_counter() - start)
    print(f"pipeline [   detector batches]: {detector_batches_s * batch_size:8.1f} examples/s  {detector_batches_s:7.2f} batches/s")
    print(f"model    [pitch detector, {network.count_params():,} params]: {detector_steps_s:7.2f} train steps/s")
    print(f"ratio    [   detector batches]: {detector_batches_s / detector_steps_s:6.2f} pipeline batches per detector step")
    print(f"ratio    [  defaults, +targets]: {results['defaults, +targets'] / detector_steps_s:6.2f} pipeline batches per detector step")


if __name__ == "__main__":
    fire.Fire(main)
