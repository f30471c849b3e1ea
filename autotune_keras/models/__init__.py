"""The models, each one package (network, streaming wrapper, training, run folder, export spec,
evaluation hook), and the registry the generic layers look them up in by name."""

from __future__ import annotations

import importlib
from pathlib import Path

from autotune_keras.config import read_yaml
from autotune_keras.models.base import ModelDefinition

# name -> module whose MODEL is its ModelDefinition (imported on first use: TensorFlow is heavy)
REGISTRY: dict[str, str | ModelDefinition] = {
    "pitch_detector": "autotune_keras.models.pitch_detector",
    "pitch_corrector": "autotune_keras.models.pitch_corrector",
    "timing_adjuster": "autotune_keras.models.timing_adjuster",
}
DEFAULT_TASK = "pitch_detector"  # a config or run without a ``task`` key


def register(definition: ModelDefinition) -> None:
    """Add (or replace) a model under ``definition.name``."""
    REGISTRY[definition.name] = definition


def get(name: str) -> ModelDefinition:
    """The registered model ``name``."""
    if name not in REGISTRY:
        raise ValueError(f"unknown model {name!r}; expected one of {', '.join(sorted(REGISTRY))}")
    entry = REGISTRY[name]
    if isinstance(entry, str):
        entry = REGISTRY[name] = importlib.import_module(entry).MODEL
    return entry


def task_of(config: str | Path) -> str:
    """The model a config file (or a run folder's config.yaml) is for: its ``task`` key."""
    path = Path(config)
    if path.is_dir():
        path = path / "config.yaml"
    if not path.is_file():
        raise FileNotFoundError(f"{path}: no such config file")
    data = read_yaml(path) or {}
    return str(data.get("task", DEFAULT_TASK)) if isinstance(data, dict) else DEFAULT_TASK
