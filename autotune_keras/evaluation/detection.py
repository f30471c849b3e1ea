"""Pitch detectors streamed over held-out clips exactly as an engine runs them, and scored:
raw pitch / chroma accuracy, octave errors, voicing (mir_eval), latency, artifacts; a report with
plots. Works for any model whose signature names a pitch and a confidence output."""

from __future__ import annotations

import json
import math
from dataclasses import dataclass

import numpy as np

from autotune_keras import contract
from autotune_keras.engine.exports import latency_samples, model_size
from autotune_keras.engine.runners import load_runner
from autotune_keras.engine.stream import Stream, stream
from autotune_keras.evaluation import EvaluationRequest, plots
from autotune_keras.evaluation.clips import LabelledClip, add_noise, audio_clips, buffer_labels, load_clips
from autotune_keras.evaluation.pitch_metrics import calibration, detection_correct, pitch_metrics


@dataclass
class StreamedClip:
    """A clip streamed through a detector: per-buffer labels, outputs and call latency."""

    name: str
    times: np.ndarray  # the instant each output describes (s)
    ref_hz: np.ndarray
    voiced: np.ndarray
    pitch: np.ndarray
    confidence: np.ndarray
    latency_ms: np.ndarray  # wall time of each buffer's call
    instrument: str = "unknown"
    family: str = "synthetic"
    holdout: str = ""


def stream_detector(runner, clips: list[LabelledClip], latency: int, snr_db: float | None = None) -> list[StreamedClip]:
    """Stream every clip buffer by buffer with state (zero at each clip's start), timing each call."""
    streamer = Stream(runner)
    pitch_name, confidence_name = streamer.signature.pitch, streamer.signature.confidence
    if pitch_name is None or confidence_name is None:
        raise ValueError(f"{runner.path}: not a pitch detector (outputs: {', '.join(runner.outputs)})")
    streamed = []
    for i, clip in enumerate(clips):
        audio = add_noise(clip.audio, snr_db, seed=i) if snr_db is not None else clip.audio
        result = stream(streamer, audio, timed=True)
        times, ref, voiced = buffer_labels(clip, result.buffers, latency, streamer.buffer_size)
        streamed.append(
            StreamedClip(
                clip.name,
                times,
                ref,
                voiced,
                result.outputs[pitch_name].reshape(-1).astype(np.float64),
                result.outputs[confidence_name].reshape(-1).astype(np.float64),
                result.latency_ms,
                clip.instrument,
                clip.family,
                clip.holdout,
            )
        )
    return streamed


def score_streamed(streamed: list[StreamedClip]) -> dict:
    """Pitch metrics over every buffer of every clip, plus compute per second of audio."""
    join = lambda name: np.concatenate([getattr(s, name) for s in streamed])  # noqa: E731
    scores = pitch_metrics(join("ref_hz"), join("voiced"), join("pitch"), join("confidence"))
    audio_seconds = len(join("pitch")) * contract.BUFFER_SIZE / contract.SAMPLE_RATE
    scores["audio_seconds"] = audio_seconds
    scores["seconds_per_audio_second"] = float(join("latency_ms").sum() / 1e3 / max(audio_seconds, 1e-9))
    return scores


GROUP_KEYS = ("rpa_50", "rca_50", "octave_errors", "voicing_recall", "voicing_false_alarm")  # the per-family table
HOLDOUT_LABELS = {"bank": "held-out bank", "instrument": "held-out instrument", "voice": "held-out voice", "": "not held out (test split)"}


def score_groups(streamed: list[StreamedClip], by: str = "family") -> dict[str, dict]:
    """Pitch metrics per group of clips: ``by`` 'family' or 'holdout' (what kept a source out of
    training), each with its clip count."""
    groups: dict[str, list[StreamedClip]] = {}
    for clip in streamed:
        key = clip.family if by == "family" else HOLDOUT_LABELS.get(clip.holdout, clip.holdout)
        groups.setdefault(key, []).append(clip)
    return {name: score_streamed(items) | {"clips": len(items)} for name, items in sorted(groups.items())}


def group_table(groups: dict[str, dict], title: str) -> list[str]:
    """Markdown rows of a per-group table (clips, RPA, RCA, octave errors, voicing)."""
    lines = [f"| {title} | clips | RPA 50 | RCA 50 | octave errors | voicing recall | voicing false alarm |", "|---|---|---|---|---|---|---|"]
    for name, scores in groups.items():
        lines.append(f"| {name} | {scores['clips']} | " + " | ".join(_fmt(scores.get(k, float("nan"))) for k in GROUP_KEYS) + " |")
    return lines


def evaluate_stream(runner, clips: list[LabelledClip], latency: int, snr_db: float | None = None) -> dict:
    """RPA / RCA / voicing over every buffer of every clip, streamed with state; also seconds of
    compute per second of audio."""
    return score_streamed(stream_detector(runner, clips, latency, snr_db))


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
    ref = np.concatenate([s.ref_hz for s in streamed])
    voiced = np.concatenate([s.voiced for s in streamed])
    scores["calibration"] = calibration(confidence, detection_correct(ref, voiced, pitch))
    scores["by_family"] = score_groups(streamed, "family")
    scores["by_holdout"] = score_groups(streamed, "holdout")
    scores["artifacts"] = {
        "non_finite_outputs": int(np.sum(~np.isfinite(pitch)) + np.sum(~np.isfinite(confidence))),
        "confident_out_of_range": int(
            np.sum(confident & ((pitch < contract.PITCH_MIN_HZ * 0.99) | (pitch > contract.PITCH_MAX_HZ * 1.01)))
        ),
        "confidence_outside_0_1": int(np.sum((confidence < 0) | (confidence > 1))),
    }
    return scores


def _fmt(value) -> str:
    if isinstance(value, float):
        return "n/a" if math.isnan(value) else f"{value:.4f}"
    return str(value)


def markdown_report(results: dict, data_label: str, plot_files: list[str]) -> str:
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
        ("confidence calibration error (ECE; right = voiced, within 50 cents)", lambda r: f"{r['calibration']['ece']:.4f}"),
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
    for name in names:
        if len(results[name]["by_family"]) > 1 or len(results[name]["by_holdout"]) > 1:
            lines += [f"### `{name}` by instrument family and by held-out status", ""]
            lines += group_table(results[name]["by_family"], "family") + [""]
            lines += group_table(results[name]["by_holdout"], "source") + [""]
    lines += [f"![{plot}]({plot})" for plot in plot_files]
    return "\n".join(lines) + "\n"


def evaluate_detectors(request: EvaluationRequest, label_hop: int) -> dict:
    """Stream every model of ``request`` over the same clips (a dataset split, or an audio folder
    labelled by ``label_hop``-sample frames); write evaluation.json, report.md and plots."""
    if request.audio is not None:
        clips, label_source = audio_clips(request.audio, label_hop)
        data_label = f"{request.audio} ({len(clips)} files; labels: {label_source})"
    else:
        if not request.data:
            raise ValueError("evaluate a detector on --data RECORDS or --audio FOLDER")
        clips = [clip for folder in request.data for clip in load_clips(folder, request.split, request.limit)]
        if not clips:
            raise FileNotFoundError(f"{', '.join(map(str, request.data))}: no '{request.split}' examples")
        data_label = f"{' + '.join(map(str, request.data))} [{request.split}], {len(clips)} clips"
    if request.snr_db is not None:
        data_label += f", white noise at {request.snr_db:g} dB SNR"
    runs, results = {}, {}
    for model, label in zip(request.models, request.labels, strict=True):
        runner = load_runner(model)
        runs[label] = stream_detector(runner, clips, latency_samples(model), request.snr_db)
        results[label] = detector_scores(runs[label]) | {
            "model_file": str(runner.path),
            "model_size_mb": model_size(runner.path) / 1e6,
        }
    plots.pitch_contours(request.out / "contours.png", runs)
    plots.errors_and_latency(request.out / "errors_and_latency.png", runs)
    plots.reliability(request.out / "reliability.png", {label: r["calibration"] for label, r in results.items()})
    summary = {"data": data_label, "models": results}
    (request.out / "evaluation.json").write_text(json.dumps(summary, indent=1) + "\n")
    figures = ["contours.png", "errors_and_latency.png", "reliability.png"]
    (request.out / "report.md").write_text(markdown_report(results, data_label, figures))
    return {"out": str(request.out), **summary}
