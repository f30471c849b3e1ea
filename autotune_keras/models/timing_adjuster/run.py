"""A timing-model training run folder, read back."""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

from autotune_keras.models.timing_adjuster.network import build_network
from autotune_keras.models.timing_adjuster.training import FLOAT_WEIGHTS, QAT_WEIGHTS, TimingExperiment
from autotune_keras.tfk import keras
from autotune_keras.training import CONFIG_FILE, RunFolder, load_experiment, load_weights


@dataclass
class TimingRun:
    """A trained onset network (float, and QAT when it ran) with its experiment."""

    path: Path
    experiment: TimingExperiment
    float_net: keras.Model
    qat_net: keras.Model | None


def load_run(run_dir: str | Path) -> TimingRun:
    """Read a timing run (config.yaml, float.weights.h5, qat.weights.h5 if present)."""
    run = RunFolder(run_dir)
    hint = "train first: python -m autotune_keras.train --config configs/timing_adjuster.yaml"
    exp = load_experiment(TimingExperiment, run.require(CONFIG_FILE, hint))
    float_net = build_network(exp.model)
    load_weights(float_net, run.require(FLOAT_WEIGHTS, hint))
    qat_net = None
    if (run.path / QAT_WEIGHTS).is_file():
        from autotune_keras.quantize import quantize_aware

        qat_net = quantize_aware(build_network(exp.model))
        load_weights(qat_net, run.path / QAT_WEIGHTS)
    return TimingRun(run.path, exp, float_net, qat_net)
