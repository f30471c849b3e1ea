"""A pitch detector training run folder, read back: its experiment and trained networks."""

from __future__ import annotations

import json
from dataclasses import dataclass
from pathlib import Path

from autotune_keras.models.pitch_detector import network
from autotune_keras.models.pitch_detector.training import CALIBRATION_FILE, FLOAT_WEIGHTS, QAT_WEIGHTS, DetectorExperiment
from autotune_keras.tfk import keras
from autotune_keras.training import CONFIG_FILE, RunFolder, load_experiment, load_weights


@dataclass
class DetectorRun:
    """A trained detector: the float network, and the QAT network when QAT ran."""

    path: Path
    experiment: DetectorExperiment
    float_net: keras.Model
    qat_net: keras.Model | None
    calibration: tuple[float, float] = (1.0, 0.0)  # Platt (a, b) of the confidence; none fitted: identity


def load_run(run_dir: str | Path) -> DetectorRun:
    """Read a detector run (config.yaml, float.weights.h5, qat.weights.h5 if present)."""
    run = RunFolder(run_dir)
    hint = "train first: python -m autotune_keras.train --config configs/pitch_detector.yaml"
    exp = load_experiment(DetectorExperiment, run.require(CONFIG_FILE, hint))
    float_net = network.build_network(exp.model)
    load_weights(float_net, run.require(FLOAT_WEIGHTS, hint))
    qat_net = None
    if (run.path / QAT_WEIGHTS).is_file():
        from autotune_keras.quantize import quantize_aware

        qat_net = quantize_aware(network.build_network(exp.model))
        load_weights(qat_net, run.path / QAT_WEIGHTS)
    calibration = (1.0, 0.0)
    if (run.path / CALIBRATION_FILE).is_file():
        fitted = json.loads((run.path / CALIBRATION_FILE).read_text())
        calibration = (float(fitted["a"]), float(fitted["b"]))
    return DetectorRun(run.path, exp, float_net, qat_net, calibration)
