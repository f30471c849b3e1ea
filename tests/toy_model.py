"""A toy third model, registered the way a real one is: a few weights, a 2048-sample audio input,
one state tensor, and a confidence output not named ``confidence``. It estimates a buffer's level
(RMS, smoothed through its state) and whether anything is playing."""

from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path

import numpy as np
import tensorflow as tf

from autotune_keras import contract
from autotune_keras.config import TrainConfig
from autotune_keras.export.spec import ExportSpec
from autotune_keras.models.base import ModelDefinition
from autotune_keras.tfk import keras
from autotune_keras.training import CONFIG_FILE, RunFolder, keras_callbacks, load_experiment

BUFFER = 2048
SIGNATURE = contract.Signature(
    model="toy_level",
    audio_input="toy_audio",
    buffer_size=BUFFER,
    inputs=("toy_audio",),
    outputs=("level", "presence"),
    state=("smoothed",),
    confidence="presence",
)
WEIGHTS = "toy.weights.h5"


@dataclass
class ToyExperiment:
    """The toy's run settings."""

    task: str = "toy_level"
    filters: int = 4
    train: TrainConfig = field(default_factory=lambda: TrainConfig(run_dir="runs/toy", epochs=2, steps_per_epoch=2))


def build_network(exp: ToyExperiment) -> keras.Model:
    audio = keras.Input((BUFFER,), name="audio")
    x = keras.layers.Reshape((1, BUFFER // 64, 64))(audio)
    x = keras.layers.Conv2D(exp.filters, (1, 3), padding="same", activation="relu")(x)
    x = keras.layers.GlobalAveragePooling2D()(x)
    return keras.Model(audio, {"level": keras.layers.Dense(1)(x), "presence": keras.layers.Dense(1, activation="sigmoid")(x)})


class StreamingToy(tf.Module):
    def __init__(self, network: keras.Model):
        super().__init__(name="toy_level")
        self.network = network

    def __call__(self, toy_audio: tf.Tensor, smoothed: tf.Tensor) -> dict[str, tf.Tensor]:
        out = self.network(toy_audio, training=False)
        level = 0.5 * smoothed + 0.5 * out["level"]
        return {"level": level, "presence": out["presence"], contract.state_output("smoothed"): 0.9 * smoothed + 0.1 * out["level"]}

    def input_signature(self, batch: int | None = None) -> list[tf.TensorSpec]:
        return [tf.TensorSpec([batch, BUFFER], tf.float32, name="toy_audio"), tf.TensorSpec([batch, 1], tf.float32, name="smoothed")]

    def concrete_function(self, batch: int | None = None):
        return tf.function(self.__call__, input_signature=self.input_signature(batch)).get_concrete_function()


def examples(count: int, seed: int) -> tuple[np.ndarray, dict[str, np.ndarray]]:
    rng = np.random.default_rng(seed)
    gain = rng.uniform(0.0, 0.5, (count, 1)) * (rng.random((count, 1)) > 0.3)
    audio = (gain * rng.standard_normal((count, BUFFER))).astype(np.float32)
    return audio, {"level": gain.astype(np.float32), "presence": (gain > 0).astype(np.float32)}


def train(exp: ToyExperiment) -> Path:
    run = RunFolder(exp.train.run_dir).start(exp)
    network = build_network(exp)
    network.compile(optimizer=keras.optimizers.Adam(exp.train.learning_rate), loss={"level": "mse", "presence": "bce"})
    x, y = examples(64, 0)
    vx, vy = examples(16, 1)
    network.fit(
        x, y, batch_size=16, epochs=exp.train.epochs, steps_per_epoch=exp.train.steps_per_epoch, validation_data=(vx, vy),
        callbacks=keras_callbacks(run.path, "", monitor="val_loss", mode="min", patience=3), verbose=0,
    )  # fmt: skip
    network.save_weights(str(run.path / WEIGHTS))
    return run.path


@dataclass
class ToyRun:
    path: Path
    experiment: ToyExperiment
    network: keras.Model


def load_run(path: Path) -> ToyRun:
    run = RunFolder(path)
    exp = load_experiment(ToyExperiment, run.require(CONFIG_FILE, "train it"))
    network = build_network(exp)
    network.load_weights(str(run.require(WEIGHTS, "train it")))
    return ToyRun(run.path, exp, network)


def export_spec(run: ToyRun) -> ExportSpec:
    audio, _ = examples(24, 2)
    smoothed = np.random.default_rng(3).uniform(0, 0.5, (24, 1)).astype(np.float32)
    module = StreamingToy(run.network)
    return ExportSpec(
        signature=SIGNATURE,
        float_module=module,
        int8_module=module,
        feeds={"toy_audio": audio, "smoothed": smoothed},
        float_tolerance={"level_max_abs": 1e-4, "presence_max_abs": 1e-4},
        int8_tolerance={"level_max_abs": 0.1, "presence_max_abs": 0.15},
        notes=["Toy: the level of each 2048-sample buffer, smoothed through `smoothed`."],
        latency_samples=BUFFER,
        int8_from_qat=False,
        checkpoint=str(run.path),
        representative=[{"toy_audio": audio[i : i + 1], "smoothed": smoothed[i : i + 1]} for i in range(len(audio))],
        streaming_audio=audio[:6].reshape(-1),
        streaming_tolerance={"level_max_abs": 1e-4, "presence_max_abs": 1e-4},
    )


TOY = ModelDefinition("toy_level", SIGNATURE, ToyExperiment, hooks={"train": train, "load_run": load_run, "export_spec": export_spec})
