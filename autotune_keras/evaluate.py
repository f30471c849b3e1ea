"""One command from an exported model to a report: metrics in ``evaluation.json`` and a Markdown
report with plots. Pitch detectors and pitch correctors.

    python -m autotune_keras.evaluate --model saved_models/pitch_detector --data tf_records/pitch_detector --split test
    python -m autotune_keras.evaluate --model saved_models/pitch_detector --audio my_takes/   # labels: NAME.f0.csv or pYIN
    python -m autotune_keras.evaluate --model A --compare B      # two models side by side
    python -m autotune_keras.evaluate --model saved_models/timing_adjuster --compare runs/export_timing_v1,baseline
    python -m autotune_keras.evaluate --model saved_models/pitch_corrector --compare baseline

The model is streamed buffer by buffer with its state, exactly as the engine runs it. For a pitch
detector: raw pitch / chroma accuracy at 50, 25 and 10 cents, octave errors, voicing precision and
recall (mir_eval definitions), per-buffer latency and the share of buffers under the 5 ms budget,
and artifacts (NaN / infinite outputs, confident pitches outside 80-2000 Hz). For a pitch
corrector: held-out synthetic phrases with exactly-in-tune twins; output pitch measured by pYIN
within 10 cents of the scale note, multi-resolution STFT distance to the twin, clicks at buffer
edges, strength-0 transparency (SNR), compute; spectrograms and contours before / after.
"""

from __future__ import annotations

from pathlib import Path

from autotune_keras import models
from autotune_keras.cli import run
from autotune_keras.engine.exports import REPORT_FILE, export_report
from autotune_keras.evaluation import EvaluationRequest


def model_kind(model: Path) -> str:
    """The model an export is of, from the export report beside (or in) the path."""
    report = export_report(model)
    if report is None:
        raise FileNotFoundError(f"{model}: no {REPORT_FILE} beside it; evaluate an export folder or a file in one")
    return report["model"]


def path_list(paths: str | Path | list | tuple | None) -> list[Path]:
    """A flag naming one path, several comma-separated, or a list of them."""
    if paths is None:
        return []
    if isinstance(paths, (list, tuple)):
        return [Path(p) for p in paths]
    return [Path(p.strip()) for p in str(paths).split(",") if p.strip()]


def evaluate(
    model: str | Path,
    data: str | Path | list | tuple | None = None,
    split: str = "test",
    audio: str | Path | None = None,
    compare: str | Path | None = None,
    snr_db: float | None = None,
    limit: int | None = None,
    out: str | Path | None = None,
) -> dict:
    """Evaluate ``model`` (and each of ``compare``: models, or "baseline" for the model's DSP
    baseline) on the same data with its model's evaluation hook; writes evaluation.json,
    report.md and plots into ``out``."""
    others = [str(c) for c in path_list(compare)]
    compare_baseline = "baseline" in others
    paths = [Path(model)] + [Path(c) for c in others if c != "baseline"]
    kinds = {model_kind(p) for p in paths}
    if len(kinds) > 1:
        raise ValueError(f"--compare: all models must be of one kind, got {sorted(kinds)}")
    definition = models.get(kinds.pop())
    if not definition.can_evaluate:
        raise ValueError(f"{model}: no evaluation is defined for {definition.name} models")
    labels = [str(p) for p in paths]
    for i in range(1, len(labels)):
        if labels[i] in labels[:i]:
            labels[i] += f" (compare {i})"
    out = Path(out) if out else Path("runs") / "evaluation" / Path(model).name
    for folder in path_list(data):
        if not folder.is_dir():
            raise FileNotFoundError(f"{folder}: no such dataset folder")
    if audio is not None and not Path(audio).is_dir():
        raise FileNotFoundError(f"{audio}: no such folder of audio files")
    created = not out.exists()
    out.mkdir(parents=True, exist_ok=True)
    request = EvaluationRequest(
        models=paths,
        labels=labels,
        out=out,
        data=path_list(data),
        split=split,
        audio=Path(audio) if audio else None,
        snr_db=snr_db,
        limit=limit,
        compare_baseline=compare_baseline,
    )
    try:
        return definition.evaluate(request)
    except BaseException:
        if created and not any(out.iterdir()):
            out.rmdir()  # nothing written: leave nothing behind
        raise


def main(
    model: str = "saved_models/pitch_detector",
    data: str | None = None,
    split: str = "test",
    audio: str | None = None,
    compare: str | None = None,
    snr_db: float | None = None,
    limit: int | None = None,
    out: str | None = None,
) -> None:
    """Evaluate an exported model and write evaluation.json + report.md with plots.

    Args:
      model: export folder or model file (.tflite / .onnx / saved_model) inside one.
      data: TFRecord dataset folder, or several comma-separated (default tf_records/pitch_detector);
        a report adds per-family and held-out tables when the data has real timbres, and a
        corrector is then scored on their detuned phrases against their in-tune twins.
      split: dataset split to use.
      audio: a folder of audio files instead of --data (labels from NAME.f0.csv, else pYIN).
      compare: other models evaluated on the same clips, side by side (comma-separated); also
        "baseline": the corrector's DSP autotune or the timing model's slicing retimer.
      snr_db: add white noise at this SNR first (correctors: 30 dB unless given).
      limit: at most this many clips (correctors: held-out phrases, default 12).
      out: output folder (default runs/evaluation/<model folder name>).
    """
    result = evaluate(model, data, split, audio, compare, snr_db, limit, out)
    print(Path(result["out"], "report.md").read_text())
    written = sorted(p.name for p in Path(result["out"]).iterdir())
    print(f"written in {result['out']}: {', '.join(written)}")


def cli() -> None:
    """Console-script entry point."""
    run(main, "autotune_keras.evaluate")


if __name__ == "__main__":
    cli()
