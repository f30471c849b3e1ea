"""Pitch correctors scored on held-out phrases against their exactly-in-tune twins: output pitch
(pYIN) within 10 cents of the scale note, multi-resolution STFT and spectral-envelope distance,
STOI, clicks at buffer edges, clipping, strength-0 transparency; a report with plots.

A corrector reaches this module as a factory ``make() -> chain`` whose
``chain.run(audio, key, scale, strength) -> {"audio": ...}`` streams a whole phrase as an engine
would (detector, scale snapping, corrector): the model package builds it."""

from __future__ import annotations

import json
import time
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from autotune_keras import contract
from autotune_keras.evaluation import plots
from autotune_keras.evaluation.audio_metrics import (
    align,
    artifacts,
    edge_jumps,
    envelope_distance,
    mr_stft_distance,
    pitch_on_target,
    snr_db,
    stoi,
)
from autotune_keras.evaluation.clips import add_noise


@dataclass
class CorrectionCase:
    """A detuned phrase and its exactly-in-tune twin (target f0 per sample), in a key and scale."""

    name: str
    audio: np.ndarray
    in_tune_audio: np.ndarray
    target_f0_hz: np.ndarray
    key: str
    scale: str
    family: str = "synthetic"
    holdout: str = ""

    @classmethod
    def from_phrase(cls, name: str, phrase) -> CorrectionCase:
        """A rendered Phrase (data/synth.py) as a case."""
        meta = phrase.metadata
        return cls(name, phrase.audio, phrase.in_tune_audio, phrase.target_f0_hz, meta["key"], meta["scale"])

    @classmethod
    def from_clip(cls, clip) -> CorrectionCase:
        """A dataset clip with an in-tune twin (evaluation.clips.LabelledClip) as a case."""
        target = np.repeat(clip.target_f0_hz, clip.hop)[: len(clip.audio)]
        target = np.pad(target, (0, len(clip.audio) - len(target)))
        return cls(clip.name, clip.audio, clip.target_audio, target, clip.key, clip.scale, clip.family, clip.holdout)


SHORT_PYIN_FRAME = 2048  # 46 ms: a stricter pitch-on-target reading (fast deviations show)
TAIL_EXCLUDED = 2048  # samples at the end of a corrected phrase left out of the click check


def _pitch_row(scores: dict, short: dict) -> dict:
    return {
        "within_10_cents_verifiable": scores.get("within_verifiable", float("nan")),
        "verifiable_frames": scores.get("frames_verifiable", 0),
        "within_10_cents": scores["within"],
        "within_10_cents_of_any_scale_note": scores.get("within_any_scale_note", float("nan")),
        "within_10_cents_all_frames": scores["within_all_frames"],
        "steady_frames": scores["frames"],
        "voiced_frames": scores["frames_all"],
        "within_10_cents_46ms": short["within"],
        "steady_frames_46ms": short["frames"],
    }


def pooled_pitch_scores(rows: list[dict]) -> dict:
    """Per-phrase pitch-on-target shares pooled over all frames (weighted by frame counts)."""

    def pooled(key: str, frames_key: str) -> float:
        frames = np.array([r[frames_key] for r in rows], float)
        shares = np.nan_to_num(np.array([r[key] for r in rows], float))
        return float(np.sum(frames * shares) / max(frames.sum(), 1))

    return {
        "within_10_cents_verifiable": pooled("within_10_cents_verifiable", "verifiable_frames"),
        "verifiable_frames": int(sum(r["verifiable_frames"] for r in rows)),
        "within_10_cents": pooled("within_10_cents", "steady_frames"),
        "within_10_cents_of_any_scale_note": pooled("within_10_cents_of_any_scale_note", "steady_frames"),
        "within_10_cents_all_frames": pooled("within_10_cents_all_frames", "voiced_frames"),
        "within_10_cents_46ms": pooled("within_10_cents_46ms", "steady_frames_46ms"),
        "steady_frames": int(sum(r["steady_frames"] for r in rows)),
        "voiced_frames": int(sum(r["voiced_frames"] for r in rows)),
    }


def twin_scores(phrase: CorrectionCase) -> tuple[dict, dict]:
    """The exactly-in-tune twin measured against its own target (93 ms and 46 ms windows): its
    hits are the frames on which the measurement can verify a correction."""
    scores = pitch_on_target(phrase.in_tune_audio, phrase.target_f0_hz, scale=(phrase.key, phrase.scale))
    return scores, pitch_on_target(phrase.in_tune_audio, phrase.target_f0_hz, frame=SHORT_PYIN_FRAME)


def measurement_ceiling(cases: list[CorrectionCase], twins: list[tuple[dict, dict]] | None = None) -> dict:
    """The pitch-on-target scores of each phrase's exactly-in-tune twin itself: what a perfect
    corrector would get from the same measurement (1 on the verifiable frames, by construction)."""
    twins = twins or [twin_scores(phrase) for phrase in cases]
    rows = []
    for scores, short in twins:
        row = _pitch_row(scores, short)
        row["within_10_cents_verifiable"], row["verifiable_frames"] = 1.0, int(scores["hits"].sum())
        rows.append(row)
    return pooled_pitch_scores(rows)


def evaluate_correction(
    make: Callable, phrases: list[CorrectionCase], strength: float = 1.0, snr: float | None = 30.0, twins: list | None = None
) -> dict:
    """Correct each phrase (noise added at ``snr`` dB) towards its key and scale with a fresh chain
    from ``make()``, and score the output against the exactly-in-tune twin: pYIN pitch within 10
    cents of the scale note (on steady frames, and on every voiced frame), multi-resolution STFT
    distance, STOI, spectral-envelope distance, clicks at buffer edges, clipping / NaN; and
    strength-0 transparency (SNR against the input). The headline share counts the steady frames
    on which the twin itself measures on target (``twins``: :func:`twin_scores` of each phrase)."""
    twins = twins or [twin_scores(phrase) for phrase in phrases]
    rows = []
    for i, phrase in enumerate(phrases):
        key, scale = phrase.key, phrase.scale
        audio = add_noise(phrase.audio, snr, seed=i) if snr is not None else phrase.audio
        started = time.perf_counter()
        output = make().run(audio, key, scale, strength)["audio"]
        seconds = time.perf_counter() - started
        aligned, lag = align(output, phrase.in_tune_audio)
        on_target = pitch_on_target(aligned, phrase.target_f0_hz, scale=(key, scale), verifiable=twins[i][0]["hits"])
        on_target_short = pitch_on_target(aligned, phrase.target_f0_hz, frame=SHORT_PYIN_FRAME)
        # the phrases end mid-note: leave out the end, where the output (delayed by up to a few
        # periods while correcting) runs into the end of the input
        at_edges, inside = edge_jumps(output[:-TAIL_EXCLUDED])
        untouched = make().run(audio, key, scale, 0.0)["audio"]
        rows.append(
            _pitch_row(on_target, on_target_short)
            | {
                "median_abs_cents": on_target["median_abs_cents"],
                "mr_stft_to_in_tune": mr_stft_distance(aligned, phrase.in_tune_audio),
                "mr_stft_input_to_in_tune": mr_stft_distance(audio, phrase.in_tune_audio),
                "stoi": stoi(aligned, phrase.in_tune_audio),
                "envelope_distance": envelope_distance(aligned, phrase.in_tune_audio),
                "envelope_input_to_in_tune": envelope_distance(audio, phrase.in_tune_audio),
                **artifacts(output),
                "edge_jump_max": at_edges,
                "inside_jump_max": inside,
                "strength_0_snr_db": min(snr_db(untouched, audio), 200.0),
                "lag_samples": lag,
                "seconds_per_audio_second": seconds / (len(audio) / contract.SAMPLE_RATE),
                "name": phrase.name,
                "family": phrase.family,
                "holdout": phrase.holdout,
            }
        )
    by_family = {}
    for family in sorted({r["family"] for r in rows}):
        members = [r for r in rows if r["family"] == family]
        by_family[family] = pooled_pitch_scores(members) | {
            "phrases": len(members),
            "mr_stft_to_in_tune": float(np.mean([r["mr_stft_to_in_tune"] for r in members])),
            "mr_stft_input_to_in_tune": float(np.mean([r["mr_stft_input_to_in_tune"] for r in members])),
            "envelope_distance": float(np.mean([r["envelope_distance"] for r in members])),
            "envelope_input_to_in_tune": float(np.mean([r["envelope_input_to_in_tune"] for r in members])),
        }
    return {
        "by_family": by_family,
        "phrases": len(rows),
        **pooled_pitch_scores(rows),
        "median_abs_cents": float(np.median([r["median_abs_cents"] for r in rows])),
        "mr_stft_to_in_tune": float(np.mean([r["mr_stft_to_in_tune"] for r in rows])),
        "mr_stft_input_to_in_tune": float(np.mean([r["mr_stft_input_to_in_tune"] for r in rows])),
        "stoi": float(np.mean([r["stoi"] for r in rows])),
        "envelope_distance": float(np.mean([r["envelope_distance"] for r in rows])),
        "envelope_input_to_in_tune": float(np.mean([r["envelope_input_to_in_tune"] for r in rows])),
        "clicks": int(sum(r["edge_jump_max"] > r["inside_jump_max"] for r in rows)),
        "non_finite_samples": int(sum(r["non_finite_samples"] for r in rows)),
        "clipped_samples": int(sum(r["clipped_samples"] for r in rows)),
        "strength_0_snr_db_min": float(min(r["strength_0_snr_db"] for r in rows)),
        "seconds_per_audio_second": float(np.mean([r["seconds_per_audio_second"] for r in rows])),
        "per_phrase": rows,
    }


CORRECTION_ROWS = [
    ("output pitch within 10 cents of the scale note (verifiable steady frames)", "within_10_cents_verifiable", "{:.4f}"),
    ("  ... on every steady frame (pYIN + reassignment)", "within_10_cents", "{:.4f}"),
    ("  ... of any note of the scale (nearest)", "within_10_cents_of_any_scale_note", "{:.4f}"),
    ("  ... on every voiced frame, note changes included", "within_10_cents_all_frames", "{:.4f}"),
    ("  ... steady frames, 46 ms pYIN window (stricter)", "within_10_cents_46ms", "{:.4f}"),
    ("median abs error of output pitch (cents)", "median_abs_cents", "{:.2f}"),
    ("multi-resolution STFT distance to the in-tune twin", "mr_stft_to_in_tune", "{:.4f}"),
    ("  (uncorrected input's distance)", "mr_stft_input_to_in_tune", "{:.4f}"),
    ("STOI against the in-tune twin (0..1)", "stoi", "{:.4f}"),
    ("spectral-envelope distance (MFCC 1-13; naturalness proxy)", "envelope_distance", "{:.3f}"),
    ("  (uncorrected input's distance)", "envelope_input_to_in_tune", "{:.3f}"),
    ("phrases with a click at buffer edges", "clicks", "{}"),
    ("clipped output samples (at or past full scale)", "clipped_samples", "{}"),
    ("non-finite output samples", "non_finite_samples", "{}"),
    ("strength 0: min SNR against the input (dB, capped 200)", "strength_0_snr_db_min", "{:.1f}"),
    ("compute per second of audio incl. detector (s)", "seconds_per_audio_second", "{:.4f}"),
]


def evaluate_correctors(
    makers: dict[str, Callable], phrases: list[CorrectionCase], snr: float | None, out: Path, sizes: dict[str, float], data_label: str
) -> dict:
    """Score each corrector (``makers``: column label -> factory) on the same phrases; write
    evaluation.json, report.md and correction.png into ``out``. ``sizes``: label -> MB."""
    twins = [twin_scores(phrase) for phrase in phrases]
    results = {label: evaluate_correction(make, phrases, 1.0, snr, twins) for label, make in makers.items()}
    for label, size in sizes.items():
        results[label]["model_size_mb"] = size
    ceiling = measurement_ceiling(phrases, twins)
    first = phrases[0]
    outputs = {label: make().run(first.audio, first.key, first.scale, 1.0)["audio"] for label, make in makers.items()}
    plots.correction(out / "correction.png", {"input": first.audio, **outputs, "in-tune target": first.in_tune_audio})
    if snr is not None:
        data_label += f", white noise at {snr:g} dB SNR on the input"
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
    for label, key_name, fmt in CORRECTION_ROWS:
        lines.append(f"| {label} | " + " | ".join(fmt.format(results[n][key_name]) for n in names) + " |")
    first_steady = next(iter(results.values()))
    lines += [
        "",
        f"Steady frames ({first_steady['steady_frames']} of {first_steady['voiced_frames']} voiced frames) see one "
        "target note across the 93 ms analysis window; a frame straddling a note change measures two notes. "
        "The pitch is pYIN's, refined by time-frequency reassignment. The exactly-in-tune twin itself scores "
        "{:.4f} on steady frames, {:.4f} on every voiced frame and {:.4f} with the 46 ms window: the "
        "measurement's ceiling (another note still ringing, a vowel's formants moving). Verifiable frames "
        "({} of the steady ones) are those on which the twin measures on target: there the perfect answer "
        "scores 1.".format(
            ceiling["within_10_cents"], ceiling["within_10_cents_all_frames"], ceiling["within_10_cents_46ms"],
            ceiling["verifiable_frames"],
        ),
        "",
    ]
    families = next(iter(results.values()))["by_family"]
    if len(families) > 1:
        lines += ["| family | phrases | " + " | ".join(f"`{n}` within 10 cents / STFT / envelope" for n in names) + " |",
                  "|---|---|" + "---|" * len(names)]  # fmt: skip
        for family in families:
            cells = [
                "{within_10_cents_verifiable:.3f} / {mr_stft_to_in_tune:.2f} / {envelope_distance:.2f}".format(**results[n]["by_family"][family])
                for n in names
            ]
            lines.append(f"| {family} | {families[family]['phrases']} | " + " | ".join(cells) + " |")
        lines.append("")
    lines += ["![correction.png](correction.png)", ""]
    summary = {"data": data_label, "models": results, "in_tune_twin_ceiling": ceiling}
    (out / "evaluation.json").write_text(json.dumps(summary, indent=1) + "\n")
    (out / "report.md").write_text("\n".join(lines))
    return {"out": str(out), **summary}
