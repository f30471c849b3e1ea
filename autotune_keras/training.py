"""What every model's training shares: experiment YAML + command-line overrides, the run folder
(config.yaml, state.json of finished phases), and the Keras callbacks (checkpoints, best weights,
early stopping, TensorBoard, CSV history, BackupAndRestore resume) and the tf.distribute strategy."""

from __future__ import annotations

import json
import os
from pathlib import Path
from typing import TypeVar

import yaml

from autotune_keras.config import load, to_dict
from autotune_keras.files import atomic_write_text

T = TypeVar("T")

# short flags for the most used keys: --epochs is train.epochs
ALIASES = {
    "epochs": "train.epochs",
    "steps_per_epoch": "train.steps_per_epoch",
    "run_dir": "train.run_dir",
    "learning_rate": "train.learning_rate",
}
CONFIG_FILE = "config.yaml"
STATE_FILE = "state.json"


def load_experiment(cls: type[T], path: str | Path | None, overrides: dict | None = None) -> T:
    """Parse an experiment YAML plus command-line overrides (dotted keys, or an alias)."""
    overrides = {ALIASES.get(k, k): v for k, v in (overrides or {}).items()}
    return load(cls, path, overrides=overrides)


class RunFolder:
    """A training run's folder: the experiment it ran, and which of its phases are finished."""

    def __init__(self, run_dir: str | Path):
        self.path = Path(run_dir)

    def start(self, experiment) -> RunFolder:
        """Create the folder and record the experiment (config.yaml)."""
        self.path.mkdir(parents=True, exist_ok=True)
        atomic_write_text(self.path / CONFIG_FILE, yaml.safe_dump(to_dict(experiment), sort_keys=False))
        return self

    def _state(self) -> dict:
        path = self.path / STATE_FILE
        return json.loads(path.read_text()) if path.is_file() else {}

    def done(self, phase: str) -> bool:
        """Whether ``phase`` finished in an earlier session."""
        return self._state().get(phase) == "done"

    def mark_done(self, phase: str) -> None:
        """Record that ``phase`` finished."""
        atomic_write_text(self.path / STATE_FILE, json.dumps(self._state() | {phase: "done"}))

    def require(self, name: str, hint: str) -> Path:
        """The path of file ``name`` in the run, or FileNotFoundError naming it and ``hint``."""
        path = self.path / name
        if not path.is_file():
            raise FileNotFoundError(f"{path}: missing; {hint}")
        return path


def load_weights(network, path: Path) -> None:
    """Load a weights file into ``network``; a damaged or mismatched file is one clear error."""
    try:
        network.load_weights(str(path))
    except (OSError, ValueError, KeyError) as error:
        reason = str(error).splitlines()[0] if str(error) else type(error).__name__
        raise ValueError(f"{path}: cannot be read as this model's weights ({reason}); train again, or restore the file") from None


def keras_callbacks(
    run_dir: Path,
    phase: str,
    monitor: str,
    mode: str,
    patience: int,
    checkpoint_every_steps: int | None = None,
    log_dir: Path | None = None,
    evaluators: list | tuple = (),
) -> list:
    """The standard callbacks of one training phase: BackupAndRestore (a killed run resumes),
    periodic and best-weights checkpoints, early stopping on ``monitor``, TensorBoard and a CSV
    history. Files are named ``{phase}-best.weights.h5``, ``{phase}-history.csv`` (a run of one
    phase passes ``phase=""``: ``best.weights.h5``, ``history.csv``). ``evaluators`` are epoch-end
    callbacks that add the monitored figures to the logs. When the optimizer keeps a moving
    average of the weights (:func:`autotune_keras.ema.adam` with ``ema_momentum``), the validation pass, the
    evaluators, the best-weights checkpoint and early stopping see the averaged weights (the
    periodic checkpoints and the backup hold the weights training continues from)."""
    from autotune_keras.ema import SwapEMAWeights
    from autotune_keras.tfk import keras

    prefix = f"{phase}-" if phase else ""
    log_dir = log_dir or run_dir / "logs" / phase
    callbacks = [SwapEMAWeights(swap_in=True), *evaluators]
    if checkpoint_every_steps:
        callbacks.append(
            keras.callbacks.ModelCheckpoint(
                str(run_dir / "checkpoints" / (phase + "-epoch{epoch:03d}.weights.h5")),
                save_weights_only=True,
                save_freq=checkpoint_every_steps,
            )
        )
    callbacks += [
        keras.callbacks.ModelCheckpoint(
            str(run_dir / f"{prefix}best.weights.h5"), monitor=monitor, mode=mode, save_best_only=True, save_weights_only=True
        ),
        keras.callbacks.EarlyStopping(monitor=monitor, mode=mode, patience=patience, restore_best_weights=True),
        keras.callbacks.TensorBoard(str(log_dir), write_graph=False),
        keras.callbacks.CSVLogger(str(run_dir / f"{prefix}history.csv"), append=True),
        SwapEMAWeights(swap_in=False),
        keras.callbacks.BackupAndRestore(str(run_dir / "backup" / phase)),
    ]
    return callbacks


def distribution_strategy(kind: str):  # -> tf.distribute.Strategy (TensorFlow imported lazily)
    """The ``tf.distribute`` strategy ``train.distribute`` names: ``none`` (TensorFlow's default
    strategy: one device), ``mirrored`` (every local device) or ``multi_worker``
    (MultiWorkerMirroredStrategy; each worker runs the same command with its own ``TF_CONFIG``).
    Build and compile models inside its ``scope()``; create it before any other TensorFlow work."""
    import tensorflow as tf

    if kind == "mirrored":
        return tf.distribute.MirroredStrategy()
    if kind == "multi_worker":
        if "TF_CONFIG" not in os.environ:
            raise ValueError("train.distribute=multi_worker: TF_CONFIG is not set (the cluster and this worker's index)")
        try:
            json.loads(os.environ["TF_CONFIG"])
        except json.JSONDecodeError as error:
            raise ValueError(f"TF_CONFIG is not valid JSON ({error})") from None
        return tf.distribute.MultiWorkerMirroredStrategy()
    return tf.distribute.get_strategy()
