"""A pitch corrector training run folder, read back: its settings, learned taps and the detector
run it was trained around. A detector run alone also makes a corrector (zero taps)."""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

import numpy as np

from autotune_keras import models
from autotune_keras.models.pitch_corrector.core import CorrectorConfig
from autotune_keras.models.pitch_corrector.training import TAPS_FILE, CorrectorExperiment
from autotune_keras.models.pitch_detector.run import DetectorRun
from autotune_keras.models.pitch_detector.run import load_run as load_detector_run
from autotune_keras.training import CONFIG_FILE, RunFolder, load_experiment


@dataclass
class CorrectorRun:
    """What the exporter needs: the resampling core's settings, the learned taps (None: zero,
    no envelope correction) and the trained detector."""

    path: Path
    config: CorrectorConfig
    taps: np.ndarray | None
    detector: DetectorRun


def envelope_taps(run_dir: str | Path) -> np.ndarray:
    """The learned taps of a corrector run."""
    run = RunFolder(run_dir)
    path = run.require(TAPS_FILE, f"finish the run: python -m autotune_keras.train --config {run.path / CONFIG_FILE}")
    try:
        taps = np.load(path)
    except (OSError, ValueError) as error:
        raise ValueError(f"{path}: not a saved numpy array ({error})") from None
    if taps.ndim != 1 or not np.all(np.isfinite(taps)):
        raise ValueError(f"{path}: expected a finite 1-D array of taps, got shape {taps.shape}")
    return taps.astype(np.float32)


def load_run(run_dir: str | Path) -> CorrectorRun:
    """A corrector run (its taps and detector run), or a detector run (default settings, zero taps)."""
    run_dir = Path(run_dir)
    if models.task_of(run_dir) != "pitch_corrector":
        return CorrectorRun(run_dir, CorrectorConfig(), None, load_detector_run(run_dir))
    exp = load_experiment(CorrectorExperiment, run_dir / CONFIG_FILE)
    return CorrectorRun(run_dir, exp.model, envelope_taps(run_dir), load_detector_run(exp.detector_run))
