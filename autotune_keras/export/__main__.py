"""Export a trained run.

    python -m autotune_keras.export --checkpoint runs/pitch_detector --out saved_models/pitch_detector

Writes SavedModel, float TFLite, INT8 TFLite (from the QAT weights when present), ONNX (dynamic
batch), a C++ header and export_report.json into a temp folder, checks parity of every format on
the same inputs, and renames the folder into place (autotune_keras/export/pipeline.py). An
existing export is kept unless --overwrite.
"""

from __future__ import annotations

from autotune_keras.cli import run
from autotune_keras.export.pipeline import export


def main(checkpoint: str = "runs/pitch_detector", out: str | None = None, overwrite: bool = False, model: str | None = None) -> None:
    """Export a trained run to SavedModel, float/INT8 TFLite, ONNX and a C++ header, with parity checks.

    Args:
      checkpoint: the training run folder: a detector run (config.yaml, float.weights.h5,
        qat.weights.h5), or for the corrector its run (runs/pitch_corrector: learned taps, and
        the detector run it names).
      out: the export folder to create (default saved_models/<model>).
      overwrite: replace an existing export (a folder with an export_report.json; never the run).
      model: the model to export (default: the run's own); pitch_corrector also takes a detector
        run (the detector network guiding the resampling core, no learned taps).
    """
    from autotune_keras import models

    name = model or models.task_of(checkpoint)
    out = out or f"saved_models/{name}"
    report = export(checkpoint, out, overwrite, name)
    for fmt, size in report["sizes_bytes"].items():
        print(f"{fmt:>13}: {size / 1024:8.1f} KiB")
    for fmt, errors in report["parity"].items():
        shown = ", ".join(f"{k}={v:.3g}" for k, v in errors.items() if k != "voiced_frames")
        print(f"parity {fmt}: {shown}")
    print(f"wrote {out}")


def cli() -> None:
    """Console-script entry point."""
    run(main, "autotune_keras.export")


if __name__ == "__main__":
    cli()
