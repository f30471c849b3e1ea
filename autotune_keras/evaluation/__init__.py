"""Scoring exported models on held-out audio: pitch and audio metrics, streamed evaluation of
detectors and correctors, reports and plots. ``python -m autotune_keras.evaluate`` is its CLI."""

from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path


@dataclass
class EvaluationRequest:
    """What ``evaluate`` was asked: the models (export folders or files, one kind), their column
    labels, and the data to score them on."""

    models: list[Path]
    labels: list[str]
    out: Path
    data: list[Path] = field(default_factory=list)  # TFRecord datasets, scored together
    split: str = "test"
    audio: Path | None = None  # a folder of audio files instead of a dataset
    snr_db: float | None = None
    limit: int | None = None
    compare_baseline: bool = False  # add the model kind's classical baseline as a column
    options: dict = field(default_factory=dict)
