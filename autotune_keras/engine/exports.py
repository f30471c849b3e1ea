"""Facts about an export folder: its report, its model files, their size, its latency, and where
the trained defaults ship."""

from __future__ import annotations

import importlib.resources
import json
import os
from pathlib import Path

from autotune_keras import contract

REPORT_FILE = "export_report.json"
DEFAULT_FILE = "{name}_int8.tflite"  # what an export folder runs by default
MODELS_ENV = "AUTOTUNE_KERAS_MODELS"  # a folder of exports that replaces the shipped saved_models/


def export_report(model: str | Path) -> dict | None:
    """The exporter's report for an export folder, or for a model file / SavedModel inside one."""
    model = Path(model)
    for folder in (model, model.parent):
        if (folder / REPORT_FILE).is_file():
            return json.loads((folder / REPORT_FILE).read_text())
    return None


def signature_from_report(report: dict) -> contract.Signature:
    """The model's signature as its export report states it (older reports: the contract's, by name)."""
    if "signature" in report:
        fields = report["signature"]
        return contract.Signature(**{k: tuple(v) if isinstance(v, list) else v for k, v in fields.items()})
    if report.get("model") in contract.SIGNATURES:
        return contract.SIGNATURES[report["model"]]
    raise ValueError(f"export report of {report.get('model')!r} states no signature; export it again")


def latency_samples(model: str | Path) -> int:
    """Latency in samples from the export report beside the model (half a buffer when absent)."""
    report = export_report(model)
    return int(report["latency_samples"]) if report else contract.BUFFER_SIZE // 2


def model_size(path: str | Path) -> int:
    """Bytes on disk (a folder, e.g. a SavedModel, counts every file in it)."""
    path = Path(path)
    if path.is_dir():
        return sum(p.stat().st_size for p in path.rglob("*") if p.is_file())
    return path.stat().st_size


def shipped_models_dir() -> Path:
    """Where the trained defaults live: ``$AUTOTUNE_KERAS_MODELS``, else ``saved_models`` packaged
    with the installed package, else the checkout's ``saved_models/``."""
    if os.environ.get(MODELS_ENV):
        return Path(os.environ[MODELS_ENV])
    packaged = importlib.resources.files("autotune_keras") / "saved_models"
    if packaged.is_dir():
        return Path(str(packaged))
    return Path(__file__).resolve().parents[2] / "saved_models"


def shipped_model(name: str) -> Path:
    """The export folder of the trained default ``name`` (e.g. ``pitch_detector``)."""
    return shipped_models_dir() / name
