"""What a model package hands the exporter: its streaming modules, signature, parity batch,
tolerances and notes (:class:`ExportSpec`); and parity audio drawn from a run's dataset."""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field

import numpy as np

from autotune_keras import contract
from autotune_keras.config import PipelineConfig, load, to_dict


@dataclass
class ExportSpec:
    """Everything that differs between models in the export chain.

    ``float_module`` / ``int8_module``: ``tf.Module`` s with ``input_signature(batch)``,
    ``concrete_function(batch)`` and ``__call__(**inputs) -> dict`` (the INT8 one wraps the QAT
    network, or the float one when ``representative`` data calibrates it). ``feeds``: the parity
    batch, state inputs included. Tolerances: float formats against the float module, INT8 against
    the INT8 module (``*_min`` keys are floors). ``streaming_audio`` is streamed through the float
    TFLite and through ``float_module`` buffer by buffer for each entry of ``streaming_controls``
    (label -> constant control feeds) and compared within ``streaming_tolerance``.
    ``extra_checks``: label -> ``check(files) -> (errors, tolerance)``.
    """

    signature: contract.Signature
    float_module: object
    int8_module: object
    feeds: dict[str, np.ndarray]
    float_tolerance: dict[str, float]
    int8_tolerance: dict[str, float]
    notes: list[str]
    latency_samples: int
    int8_from_qat: bool
    checkpoint: str
    representative: list[dict] = field(default_factory=list)
    streaming_audio: np.ndarray | None = None
    streaming_controls: dict[str, dict] = field(default_factory=lambda: {"": {}})
    streaming_tolerance: dict[str, float] = field(default_factory=dict)
    extra_checks: dict[str, Callable] = field(default_factory=dict)
    report: dict = field(default_factory=dict)

    @property
    def name(self) -> str:
        return self.signature.model


def dataset_windows(pipeline: PipelineConfig, split: str, count: int, width: int, training: bool = False) -> np.ndarray:
    """``count`` audio windows of ``width`` samples from a run's dataset split (augmented when
    ``training``), for parity batches and INT8 calibration."""
    from autotune_keras.data.pipeline import make_dataset

    cfg = load(PipelineConfig, None, overrides=to_dict(pipeline) | {"window_samples": width, "with_targets": False, "batch_size": 16})
    batches = make_dataset(cfg, split, training=training).take(int(np.ceil(count / 16)))
    return np.concatenate([b["audio"].numpy() for b in batches])[:count]


def parity_windows(pipeline: PipelineConfig, width: int, count: int = 160) -> np.ndarray:
    """Validation windows of ``width`` samples plus silence and a quiet tone (the edge cases)."""
    windows = dataset_windows(pipeline, "validation", count, width)
    t = np.arange(width) / contract.SAMPLE_RATE
    extra = np.stack([np.zeros(width), 0.001 * np.sin(2 * np.pi * 330 * t)]).astype(np.float32)
    return np.concatenate([windows, extra])
