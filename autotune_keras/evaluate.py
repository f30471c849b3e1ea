"""One command from an exported model to a report: metrics in ``evaluation.json`` and a Markdown
report with plots. Pitch detectors and pitch correctors.

    python -m autotune_keras.evaluate --model saved_models/pitch_detector --data tf_records/pitch_detector --split test
    python -m autotune_keras.evaluate --model saved_models/pitch_detector --audio my_takes/   # labels: NAME.f0.csv or pYIN
    python -m autotune_keras.evaluate --model A --compare B      # two models side by side
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

import json
import math
from pathlib import Path

import numpy as np

from autotune_keras import contract
from autotune_keras.cli import run
from autotune_keras.config import DatasetConfig
from autotune_keras.evaluation import LabelledClip, StreamedClip, load_clips, score_streamed, stream_detector

PLOTTED_CLIPS = 4


def model_info(model: Path) -> dict:
    """The export report beside (or in) the model path."""
    from autotune_keras.runtime import REPORT_FILE, export_report

    report = export_report(model)
    if report is None:
        raise FileNotFoundError(f"{model}: no {REPORT_FILE} beside it; evaluate an export folder or a file in one")
    return report


def audio_clips(folder: str | Path) -> tuple[list[LabelledClip], str]:
    """Every audio file under ``folder`` with labels from its f0 sidecar (``NAME.f0.csv``, CREPE's
    format, or a two-column ``NAME.csv``), else from pYIN (then the scores measure agreement with
    pYIN), read as the dataset builder reads them. Unusable files are reported and skipped."""
    from autotune_keras.audio import AudioError, list_audio_files, load_audio
    from autotune_keras.data import labels

    hop = DatasetConfig().label_hop
    clips, sources = [], set()
    for path in list_audio_files(folder):
        try:
            audio = load_audio(path)
            sidecar = labels.sidecar_path(path)
            if sidecar is not None:
                frames = labels.num_frames(len(audio), hop)
                f0, voicing = labels.resample_labels(*labels.read_f0_file(sidecar), frames, hop)
                sources.add("csv")
            else:
                f0, voicing = labels.pyin_labels(audio, hop)
                sources.add("pyin")
        except (AudioError, labels.LabelError) as error:
            print(f"skipped: {error}")
            continue
        clips.append(LabelledClip(path.name, audio, f0, voicing, hop))
    if not clips:
        raise FileNotFoundError(f"{folder}: no readable audio files")
    label = {"csv": "NAME.f0.csv files", "pyin": "librosa.pyin (agreement, not accuracy)"}
    return clips, " + ".join(label[s] for s in sorted(sources))


def detector_scores(streamed: list[StreamedClip]) -> dict:
    """Every detector metric: pitch, voicing, latency, artifacts."""
    scores = score_streamed(streamed)
    latency = np.concatenate([s.latency_ms for s in streamed])
    pitch = np.concatenate([s.pitch for s in streamed])
    confidence = np.concatenate([s.confidence for s in streamed])
    confident = confidence >= contract.CONFIDENCE_THRESHOLD
    scores["latency_ms"] = {
        "median": float(np.median(latency)),
        "p95": float(np.percentile(latency, 95)),
        "p99": float(np.percentile(latency, 99)),
        "max": float(latency.max()),
    }
    scores["buffers_under_latency_budget"] = float(np.mean(latency < contract.LATENCY_BUDGET_MS))
    scores["artifacts"] = {
        "non_finite_outputs": int(np.sum(~np.isfinite(pitch)) + np.sum(~np.isfinite(confidence))),
        "confident_out_of_range": int(
            np.sum(confident & ((pitch < contract.PITCH_MIN_HZ * 0.99) | (pitch > contract.PITCH_MAX_HZ * 1.01)))
        ),
        "confidence_outside_0_1": int(np.sum((confidence < 0) | (confidence > 1))),
    }
    return scores


def _plot_contours(path: Path, runs: dict[str, list[StreamedClip]]) -> None:
    import matplotlib.pyplot as plt

    first = next(iter(runs.values()))
    count = min(PLOTTED_CLIPS, len(first))
    fig, axes = plt.subplots(count, 1, figsize=(9, 2.3 * count), squeeze=False)
    for i, ax in enumerate(axes[:, 0]):
        clip = first[i]
        ax.plot(clip.times, np.where(clip.voiced, clip.ref_hz, np.nan), "k", lw=2, label="reference")
        for (label, streamed), style in zip(runs.items(), ("r.", "b+"), strict=False):
            s = streamed[i]
            ax.plot(s.times, np.where(s.confidence >= contract.CONFIDENCE_THRESHOLD, s.pitch, np.nan), style, ms=3, label=label)
        ax.set_yscale("log")
        ax.set_ylabel("Hz")
        ax.set_title(clip.name, fontsize=8)
    axes[0, 0].legend(fontsize=7, loc="upper right")
    axes[-1, 0].set_xlabel("seconds")
    fig.tight_layout()
    fig.savefig(path, dpi=90)
    plt.close(fig)


def _plot_histograms(path: Path, runs: dict[str, list[StreamedClip]]) -> None:
    import matplotlib.pyplot as plt

    fig, (cents_ax, latency_ax) = plt.subplots(1, 2, figsize=(11, 3.6))
    for label, streamed in runs.items():
        ref = np.concatenate([s.ref_hz for s in streamed])
        voiced = np.concatenate([s.voiced for s in streamed]) & (ref > 0)
        pitch = np.maximum(np.concatenate([s.pitch for s in streamed]), 1e-3)
        error = 1200 * np.log2(pitch[voiced] / ref[voiced])
        cents_ax.hist(np.clip(error, -100, 100), bins=80, histtype="step", label=label)
        latency_ax.hist(np.concatenate([s.latency_ms for s in streamed]) * 1e3, bins=80, histtype="step", label=label)
    cents_ax.set_xlabel("pitch error on voiced buffers (cents, clipped to +-100)")
    cents_ax.set_ylabel("buffers")
    latency_ax.set_xlabel("latency per buffer (us), one thread")
    latency_ax.set_yscale("log")
    for ax in (cents_ax, latency_ax):
        ax.legend(fontsize=7)
    fig.tight_layout()
    fig.savefig(path, dpi=90)
    plt.close(fig)


def _fmt(value) -> str:
    if isinstance(value, float):
        return "n/a" if math.isnan(value) else f"{value:.4f}"
    return str(value)


def markdown_report(results: dict, data_label: str, plots: list[str]) -> str:
    """The human report: one column per model."""
    names = list(results)
    rows = [
        ("RPA 50 / 25 / 10 cents", lambda r: f"{r['rpa_50']:.4f} / {r['rpa_25']:.4f} / {r['rpa_10']:.4f}"),
        ("RCA 50 cents", lambda r: _fmt(r["rca_50"])),
        ("octave errors (share of voiced)", lambda r: _fmt(r.get("octave_errors", float("nan")))),
        ("median abs error (cents)", lambda r: _fmt(r.get("median_abs_cents", float("nan")))),
        ("voicing precision / recall", lambda r: f"{r['voicing_precision']:.4f} / {r['voicing_recall']:.4f}"),
        ("latency median / p99 (us)", lambda r: f"{r['latency_ms']['median'] * 1e3:.1f} / {r['latency_ms']['p99'] * 1e3:.1f}"),
        ("buffers under 5 ms", lambda r: f"{r['buffers_under_latency_budget'] * 100:.2f} %"),
        ("compute per second of audio (s)", lambda r: f"{r['seconds_per_audio_second']:.5f}"),
        ("artifacts (NaN / out of range / bad confidence)", lambda r: " / ".join(str(v) for v in r["artifacts"].values())),
        ("model size (MB)", lambda r: f"{r['model_size_mb']:.3f}"),
    ]
    lines = [
        "# Evaluation report",
        "",
        f"Data: {data_label}. Every model streamed buffer by buffer (512 samples, state carried, one thread).",
        "",
        "| metric | " + " | ".join(f"`{n}`" for n in names) + " |",
        "|---|" + "---|" * len(names),
    ]
    for label, get in rows:
        lines.append(f"| {label} | " + " | ".join(get(results[n]) for n in names) + " |")
    lines += [
        "",
        "Timing precision (RMS onset error) and audio quality (multi-resolution STFT distance, SNR, STOI, "
        "spectral-envelope preservation) apply to models that output audio; a pitch detector outputs none.",
        "",
    ]
    lines += [f"![{plot}]({plot})" for plot in plots]
    return "\n".join(lines) + "\n"


CORRECTION_ROWS = [
    ("output pitch within 10 cents of the scale note (pYIN, steady frames)", "within_10_cents", "{:.4f}"),
    ("  ... of any note of the scale (nearest)", "within_10_cents_of_any_scale_note", "{:.4f}"),
    ("  ... on every voiced frame, note changes included", "within_10_cents_all_frames", "{:.4f}"),
    ("  ... steady frames, 46 ms pYIN window (stricter)", "within_10_cents_46ms", "{:.4f}"),
    ("median abs error of output pitch (cents)", "median_abs_cents", "{:.2f}"),
    ("multi-resolution STFT distance to the in-tune twin", "mr_stft_to_in_tune", "{:.4f}"),
    ("  (uncorrected input's distance)", "mr_stft_input_to_in_tune", "{:.4f}"),
    ("STOI against the in-tune twin (0..1)", "stoi", "{:.4f}"),
    ("spectral-envelope distance (MFCC 1-13; naturalness proxy)", "envelope_distance", "{:.3f}"),
    ("phrases with a click at buffer edges", "clicks", "{}"),
    ("clipped output samples (at or past full scale)", "clipped_samples", "{}"),
    ("non-finite output samples", "non_finite_samples", "{}"),
    ("strength 0: min SNR against the input (dB, capped 200)", "strength_0_snr_db_min", "{:.1f}"),
    ("compute per second of audio incl. detector (s)", "seconds_per_audio_second", "{:.4f}"),
]


def _plot_correction(path: Path, phrase, outputs: dict[str, np.ndarray]) -> None:
    """Spectrograms of input / outputs / in-tune target, and their pYIN contours."""
    import librosa
    import matplotlib.pyplot as plt

    from autotune_keras.audio_metrics import pyin_pitch

    signals = {"input": phrase.audio, **outputs, "in-tune target": phrase.in_tune_audio}
    fig, axes = plt.subplots(len(signals) + 1, 1, figsize=(9, 2.0 * (len(signals) + 1)), squeeze=False)
    for ax, (label, audio) in zip(axes[:-1, 0], signals.items(), strict=True):
        spec = librosa.amplitude_to_db(
            np.abs(librosa.stft(np.asarray(audio, np.float32), n_fft=2048, hop_length=512)), ref=np.max
        )
        ax.imshow(
            spec[:200],
            origin="lower",
            aspect="auto",
            vmin=-80,
            vmax=0,
            extent=(0, len(audio) / contract.SAMPLE_RATE, 0, 200 * contract.SAMPLE_RATE / 2048),
        )
        ax.set_ylabel("Hz")
        ax.set_title(label, fontsize=8)
    contour_ax = axes[-1, 0]
    for label, audio in signals.items():
        times, f0 = pyin_pitch(audio)
        contour_ax.plot(times, np.where(f0 > 0, f0, np.nan), lw=1, label=label)
    contour_ax.set_ylabel("Hz (pYIN)")
    contour_ax.set_xlabel("seconds")
    contour_ax.legend(fontsize=7)
    fig.tight_layout()
    fig.savefig(path, dpi=80)
    plt.close(fig)


def evaluate_corrector(models: list[Path], compare_baseline: bool, count: int, snr_db: float | None, out: Path) -> dict:
    """Correct held-out synthetic phrases with each corrector (and the DSP baseline) and report."""
    from autotune_keras.benchmark import model_size
    from autotune_keras.correct import DEFAULT_DETECTOR, correct_stream, load_corrector
    from autotune_keras.evaluation import evaluate_correction, held_out_phrases, measurement_ceiling
    from autotune_keras.runtime import load_runner

    detector = load_runner(DEFAULT_DETECTOR)
    phrases = held_out_phrases(count)
    makers = {str(m): (lambda m=m: load_corrector(m, False)) for m in models}
    if compare_baseline:
        makers["DSP baseline"] = lambda: load_corrector(None, True)
    results = {label: evaluate_correction(make, detector, phrases, 1.0, snr_db) for label, make in makers.items()}
    ceiling = measurement_ceiling(phrases)
    for label, m in zip(makers, models, strict=False):
        results[label]["model_size_mb"] = model_size(Path(load_runner(m).path)) / 1e6
    first = phrases[0]
    outputs = {}
    for label, make in makers.items():
        corrector, latency = make()
        key, scale = first.metadata["key"], first.metadata["scale"]
        outputs[label] = correct_stream(first.audio, detector, corrector, latency, key, scale, 1.0)["audio"]
    _plot_correction(out / "correction.png", first, outputs)
    data_label = f"{count} held-out synthetic phrases (voices and instruments, detuned, vibrato)"
    if snr_db is not None:
        data_label += f", white noise at {snr_db:g} dB SNR on the input"
    names = list(results)
    lines = [
        "# Evaluation report",
        "",
        f"Data: {data_label}. Each corrector streamed buffer by buffer after the shipped detector, targets snapped",
        "to each phrase's key and scale, strength 1; scored against the phrase's exactly-in-tune twin.",
        "",
        "| metric | " + " | ".join(f"`{n}`" for n in names) + " |",
        "|---|" + "---|" * len(names),
    ]
    for label, key, fmt in CORRECTION_ROWS:
        lines.append(f"| {label} | " + " | ".join(fmt.format(results[n][key]) for n in names) + " |")
    first_steady = next(iter(results.values()))
    lines += [
        "",
        f"Steady frames ({first_steady['steady_frames']} of {first_steady['voiced_frames']} voiced pYIN frames) see one "
        "target note across pYIN's 93 ms window; a frame straddling a note change measures two notes. The "
        "exactly-in-tune twin itself scores {:.4f} on steady frames, {:.4f} on every voiced frame and {:.4f} "
        "with the 46 ms window: the measurement's ceiling.".format(
            ceiling["within_10_cents"], ceiling["within_10_cents_all_frames"], ceiling["within_10_cents_46ms"]
        ),
        "",
        "![correction.png](correction.png)",
        "",
    ]
    summary = {"data": data_label, "models": results, "in_tune_twin_ceiling": ceiling}
    (out / "evaluation.json").write_text(json.dumps(summary, indent=1) + "\n")
    (out / "report.md").write_text("\n".join(lines))
    return {"out": str(out), **summary}


def evaluate(
    model: str | Path,
    data: str | Path | None = None,
    split: str = "test",
    audio: str | Path | None = None,
    compare: str | Path | None = None,
    snr_db: float | None = None,
    limit: int | None = None,
    out: str | Path | None = None,
) -> dict:
    """Evaluate ``model`` (and ``compare``) on the same clips; write evaluation.json, report.md and plots."""
    import matplotlib

    from autotune_keras.benchmark import model_size
    from autotune_keras.runtime import load_runner

    matplotlib.use("Agg")
    out = Path(out) if out else Path("runs") / "evaluation" / Path(model).name
    out.mkdir(parents=True, exist_ok=True)
    compare_baseline = compare == "baseline"
    models = [Path(model)] + ([Path(compare)] if compare and not compare_baseline else [])
    infos = [model_info(m) for m in models]
    kinds = {info["model"] for info in infos}
    if len(kinds) > 1:
        raise ValueError(f"--compare: both models must be of one kind, got {sorted(kinds)}")
    if kinds == {"pitch_corrector"}:
        return evaluate_corrector(models, compare_baseline, limit or 12, 30.0 if snr_db is None else snr_db, out)
    if compare_baseline:
        raise ValueError("--compare baseline: the DSP baseline is a corrector; evaluate a pitch_corrector model")
    if kinds != {"pitch_detector"}:
        raise ValueError(f"{model}: evaluation of '{kinds.pop()}' models is not supported yet")
    if audio is not None:
        clips, data_label = audio_clips(audio)
        data_label = f"{audio} ({len(clips)} files; labels: {data_label})"
    else:
        data = data or "tf_records/pitch_detector"
        clips = load_clips(data, split, limit)
        if not clips:
            raise FileNotFoundError(f"{data}: no '{split}' examples")
        data_label = f"{data} [{split}], {len(clips)} clips"
    if snr_db is not None:
        data_label += f", white noise at {snr_db:g} dB SNR"
    runs, results = {}, {}
    for m, info in zip(models, infos, strict=True):
        runner = load_runner(m)
        label = str(m) if compare is None or Path(compare) != m else f"{m} (compare)"
        runs[label] = stream_detector(runner, clips, int(info["latency_samples"]), snr_db)
        results[label] = detector_scores(runs[label]) | {
            "model_file": str(runner.path),
            "model_size_mb": model_size(Path(runner.path)) / 1e6,
        }
    _plot_contours(out / "contours.png", runs)
    _plot_histograms(out / "errors_and_latency.png", runs)
    (out / "evaluation.json").write_text(json.dumps({"data": data_label, "models": results}, indent=1) + "\n")
    (out / "report.md").write_text(markdown_report(results, data_label, ["contours.png", "errors_and_latency.png"]))
    return {"out": str(out), "data": data_label, "models": results}


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
      data: TFRecord dataset folder (default tf_records/pitch_detector).
      split: dataset split to use.
      audio: a folder of audio files instead of --data (labels from NAME.f0.csv, else pYIN).
      compare: a second model evaluated on the same clips, side by side; for a corrector also
        "baseline" (the DSP autotune).
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
