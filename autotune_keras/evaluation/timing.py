"""Timing models scored on phrases played off the grid, against their on-grid twins.

* Onset deviation from the grid, score-informed: for every labelled note, how far its attack lies
  in the output from the grid line it belongs to (the nearest of the on-grid twin's onsets). The
  output is the input moved, so each note is found in it as itself: where the output holds a
  copy of the note's waveform from 3 ms before the played onset to 23 ms after it (normalised
  cross-correlation at least 0.9, lags within 0.45 of a step, the largest labelled deviation,
  and a hop), else (an output that is not a copy there) where its onset-strength envelope best
  matches the input's from 0.1 grid step before the onset to 0.3 after it. Known moves are
  found within 0.06 ms RMS on pitched notes and 1.4 ms in drum loops (with a crossfade ending
  23 ms before each moved attack the same but for one held-out note); the onset strength alone
  erred 2-8 ms RMS, 7-12 ms with such crossfades (tools/timing_measure_check.py).
  RMS and median, for the input, the model and the baseline.
* Notes played on the grid (within 1 ms of their line): how far the output moved them (the same
  alignment): at most, the median, and the share moved less than 5 ms (the issue's bound).
* Blind onset F-measure at 50 ms (mir_eval.onset) of librosa's onsets against the grid onsets,
  and how many onsets were found (no note may be lost).
* Pitch preservation: median |cents| between the output's pYIN pitch and the on-grid twin's.
* Clicks at the model's 2048-sample call boundaries.
"""

from __future__ import annotations

import json
import math
from collections.abc import Callable
from pathlib import Path

import numpy as np

from autotune_keras import contract
from autotune_keras.evaluation.clips import TimingClip

SR = contract.SAMPLE_RATE
ONSET_HOP = 64  # 1.45 ms
ON_GRID = int(0.001 * SR)
ON_GRID_KEPT_MS = 5.0  # a note played on the grid and moved less than this stayed put


def attacks_near(audio: np.ndarray, lines: np.ndarray, reach: float) -> np.ndarray:
    """Sample position of the strongest attack within ``reach`` samples of each line (NaN if
    there is no onset energy there)."""
    envelope = onset_envelope(audio)
    out = np.full(len(lines), np.nan)
    for i, line in enumerate(lines):
        lo, hi = int(max(0, (line - reach) // ONSET_HOP)), int(min(len(envelope), (line + reach) // ONSET_HOP + 1))
        if hi > lo and envelope[lo:hi].max() > 0:
            out[i] = (lo + int(np.argmax(envelope[lo:hi]))) * ONSET_HOP
    return out


def onset_envelope(audio: np.ndarray) -> np.ndarray:
    """librosa's onset strength per ``ONSET_HOP`` samples."""
    import librosa

    return librosa.onset.onset_strength(y=np.asarray(audio, np.float32), sr=SR, hop_length=ONSET_HOP)


def aligned_lags(audio: np.ndarray, reference: np.ndarray, positions: np.ndarray, reach: float, before: float, after: float) -> np.ndarray:
    """Per position: the lag (samples, within +-``reach``) at which ``audio``'s onset-strength
    envelope best matches (normalised correlation) ``reference``'s from ``before`` samples before
    the position to ``after`` samples after it; NaN where the reference has no attack there (a
    flat envelope) or the window leaves the audio."""
    moving, fixed = onset_envelope(audio), onset_envelope(reference)
    # lags reach one hop past ``reach``: a note moved exactly by ``reach`` is within the search
    early, late, most = max(1, int(before // ONSET_HOP)), max(1, int(after // ONSET_HOP)), int(math.ceil(reach / ONSET_HOP)) + 1
    out = np.full(len(positions), np.nan)
    for i, position in enumerate(positions):
        lo, hi = int(position // ONSET_HOP) - early, int(position // ONSET_HOP) + late
        if lo < 0 or hi > len(fixed):
            continue
        ref = fixed[lo:hi] - fixed[lo:hi].mean()
        if not np.any(ref):
            continue
        lags = np.arange(max(-most, -lo), min(most, len(moving) - hi) + 1)
        if not len(lags):
            continue
        windows = np.stack([moving[lo + lag : hi + lag] for lag in lags])
        windows = windows - windows.mean(axis=1, keepdims=True)
        score = windows @ ref / (np.linalg.norm(windows, axis=1) * np.linalg.norm(ref) + 1e-9)
        out[i] = lags[int(np.argmax(score))] * ONSET_HOP
    return out


def _lines(clip: TimingClip) -> np.ndarray:
    return np.unique(clip.grid_onsets[(clip.grid_onsets > 0) & (clip.grid_onsets < len(clip.audio) - SR // 20)])


def notes_and_lines(clip: TimingClip) -> tuple[np.ndarray, np.ndarray]:
    """(the labelled onsets inside the clip, the grid line each belongs to: the nearest on-grid
    onset). A drum loop has several hits on some lines."""
    lines = _lines(clip)
    onsets = clip.onsets[(clip.onsets > 0) & (clip.onsets < len(clip.audio) - SR // 20)]
    if not len(lines) or not len(onsets):
        return np.zeros(0, np.int64), np.zeros(0, np.int64)
    nearest = lines[np.argmin(np.abs(onsets[:, None] - lines[None, :]), axis=1)]
    keep = np.abs(onsets - nearest) < 0.5 * clip.grid()[0]
    return onsets[keep], nearest[keep]


def copied_lags(audio: np.ndarray, reference: np.ndarray, positions: np.ndarray, reach: float, floor: float = 0.9) -> np.ndarray:
    """Per position: the lag (samples, within +-``reach``) at which ``audio`` holds a copy of
    ``reference``'s waveform from 128 samples before the position to 1024 after it (an attack
    and its first 23 ms), by normalised cross-correlation; NaN where no lag correlates above
    ``floor`` (the output is not a copy there) or the window leaves the audio."""
    from scipy.signal import fftconvolve

    reach = int(math.ceil(reach))
    out = np.full(len(positions), np.nan)
    for i, position in enumerate(np.asarray(positions, int)):
        lo, hi = position - 128, position + 1024
        if lo - reach < 0 or hi + reach > len(audio) or hi > len(reference):
            continue
        ref = np.asarray(reference[lo:hi], np.float64)
        norm = np.linalg.norm(ref)
        if norm == 0.0:
            continue
        span = np.asarray(audio[lo - reach : hi + reach], np.float64)
        energy = fftconvolve(span**2, np.ones(len(ref)), "valid")
        # a near-silent stretch is no copy (and the FFT's rounding would make its score anything)
        audible = energy > 1e-3 * norm**2
        score = np.where(audible, fftconvolve(span, ref[::-1], "valid") / (np.sqrt(np.maximum(energy, 1e-20)) * norm), -1.0)
        best = int(np.argmax(score))
        if score[best] >= floor:
            out[i] = best - reach
    return out


def note_lags(clip: TimingClip, audio: np.ndarray, onsets: np.ndarray) -> np.ndarray:
    """Per onset: how far (samples) ``audio`` moved the input's note that starts there: where
    the output holds a copy of the note's attack (a read head's or a slicer's output), else
    where its onset strength matches the input's."""
    step, _ = clip.grid()
    copied = copied_lags(audio, clip.audio, onsets, 0.45 * step + ONSET_HOP)
    aligned = aligned_lags(audio, clip.audio, onsets, 0.45 * step, 0.1 * step, 0.3 * step)
    return np.where(np.isfinite(copied), copied, aligned)


def deviations(clip: TimingClip, audio: np.ndarray) -> np.ndarray:
    """Per labelled note: how far (samples) its attack in ``audio`` is from its grid line."""
    onsets, lines = notes_and_lines(clip)
    return onsets + note_lags(clip, audio, onsets) - lines


def known_warp(audio: np.ndarray, onsets: np.ndarray, delays: np.ndarray, crossfade: int = 256, lead: int | None = None) -> np.ndarray:
    """``audio`` read with ``delays[i]`` samples of delay around note ``i`` (changed half way
    between attacks, or with ``lead`` its crossfade ending that many samples before the moved
    attack where the notes leave room; crossfaded): each note moved by a known amount, as a
    timing model moves them, to check that :func:`note_lags` finds the moves."""
    t = np.arange(len(audio))
    order = np.argsort(onsets)
    onsets, delays = np.asarray(onsets)[order], np.asarray(delays, float)[order]
    changes = (onsets[:-1] + onsets[1:]) // 2
    if lead is not None:  # in output time, where both read heads are still `lead` before the
        # next attack (a repeat's attack then comes out its length later) and past the previous
        late = (onsets[1:] + np.minimum(delays[:-1], delays[1:])).astype(int) - lead - crossfade
        room = late - np.maximum(delays[:-1], delays[1:]) >= onsets[:-1] + lead
        changes = np.where(room, late, changes)
    which = np.searchsorted(changes, t, side="right")
    previous = np.concatenate([delays[:1], delays])[which]
    fade = np.clip((t - np.concatenate([[-len(audio)], changes])[which]) / crossfade, 0.0, 1.0)
    read = lambda delay: np.interp(t - delay, t, audio, left=0.0, right=0.0)  # noqa: E731
    return (fade * read(delays[which]) + (1.0 - fade) * read(previous)).astype(np.float32)


def on_grid_moves(clip: TimingClip, audio: np.ndarray) -> np.ndarray:
    """Per note played on its grid line (within 1 ms): how far (samples) ``audio`` moved it."""
    onsets, lines = notes_and_lines(clip)
    on_line = np.abs(onsets - lines) <= ON_GRID
    return note_lags(clip, audio, onsets[on_line])


def blind_onsets(clip: TimingClip, audio: np.ndarray) -> tuple[float, int]:
    """(F-measure at 50 ms of librosa's onsets against the grid onsets, onsets found)."""
    import librosa
    import mir_eval

    found = librosa.onset.onset_detect(y=np.asarray(audio, np.float32), sr=SR, hop_length=256, units="time", backtrack=True)
    reference = _lines(clip) / SR
    if len(reference) == 0:
        return float("nan"), len(found)
    return float(mir_eval.onset.f_measure(reference, found, window=0.05)[0]), len(found)


def pitch_change_cents(clip: TimingClip, audio: np.ndarray, reference: np.ndarray | None = None) -> float:
    """Median |cents| between the output's pitch and the on-grid twin's (``reference``: the twin's
    pYIN track when already measured), where both are voiced (NaN for audio with no pitch, such
    as drums)."""
    from autotune_keras.evaluation.audio_metrics import pyin_pitch

    _, a = pyin_pitch(audio)
    b = pyin_pitch(clip.grid_audio)[1] if reference is None else reference
    both = (a > 0) & (b > 0)
    if both.sum() < 5:
        return float("nan")
    return float(np.median(np.abs(1200 * np.log2(a[both] / b[both]))))


def streamed_scores(retimer, clips: list[TimingClip]) -> tuple[dict, list[np.ndarray]]:
    """Quick scores of a retimer on clips (for training): waveform MSE and multi-resolution STFT
    against the on-grid twin, RMS onset deviation from the grid (ms)."""
    from autotune_keras.evaluation.audio_metrics import mr_stft_distance

    outputs, errors, mse, stft = [], [], [], []
    for clip in clips:
        step, phase = clip.grid()
        out = retimer.run(clip.audio, clip.tempo, 0.25, phase)["audio"]
        outputs.append(out)
        errors.append(deviations(clip, out))
        mse.append(float(np.mean((out - clip.grid_audio) ** 2)))
        stft.append(mr_stft_distance(out, clip.grid_audio))
    dev = np.concatenate(errors) if errors else np.zeros(0)
    dev = dev[np.isfinite(dev)]
    return {
        "onset_deviation_ms": float(np.sqrt(np.mean(dev**2)) / SR * 1e3) if len(dev) else float("nan"),
        "waveform": float(np.mean(mse)) if mse else float("nan"),
        "mr_stft": float(np.mean(stft)) if stft else float("nan"),
    }, outputs


def clip_scores(clip: TimingClip, out: np.ndarray, reference: np.ndarray | None = None) -> dict:
    """The raw timing figures of one output: onset deviations and on-grid moves (samples), blind
    onset F-measure and count, pitch change (cents), click at a call boundary."""
    from autotune_keras.evaluation.audio_metrics import edge_jumps

    f, count = blind_onsets(clip, out)
    edge, inside = edge_jumps(out[:-2048], contract.TIMING_SEQUENCE_SIZE)
    return {
        "deviations": deviations(clip, out),
        "moved": on_grid_moves(clip, out),
        "f_measure": f,
        "onsets_found": count,
        "pitch_change": pitch_change_cents(clip, out, reference),
        "click": int(edge > inside),
    }


def aggregate(rows: list[dict]) -> dict:
    """Every timing figure over clips' ``clip_scores``."""
    d = np.concatenate([r["deviations"] for r in rows]) if rows else np.zeros(0)
    d = np.abs(d[np.isfinite(d)]) / SR * 1e3
    m = np.concatenate([r["moved"] for r in rows]) if rows else np.zeros(0)
    m = np.abs(m[np.isfinite(m)]) / SR * 1e3
    pitch = np.array([r["pitch_change"] for r in rows], float)
    return {
        "clips": len(rows),
        "notes": int(len(d)),
        "onset_deviation_rms_ms": float(np.sqrt(np.mean(d**2))) if len(d) else float("nan"),
        "onset_deviation_median_ms": float(np.median(d)) if len(d) else float("nan"),
        "on_grid_notes": int(len(m)),
        "on_grid_moved_max_ms": float(m.max()) if len(m) else float("nan"),
        "on_grid_moved_median_ms": float(np.median(m)) if len(m) else float("nan"),
        "on_grid_kept_share": float(np.mean(m < ON_GRID_KEPT_MS)) if len(m) else float("nan"),
        "onset_f_measure": float(np.nanmean([r["f_measure"] for r in rows])) if rows else float("nan"),
        "onsets_found": int(sum(r["onsets_found"] for r in rows)),
        "pitch_change_cents": float(np.nanmedian(pitch)) if np.isfinite(pitch).any() else float("nan"),
        "clicks": int(sum(r["click"] for r in rows)),
    }


def clip_summary(clip: TimingClip, row: dict) -> dict:
    """One clip's name, family and headline figures (the JSON's per-clip rows)."""
    scores = aggregate([row])
    keys = ("notes", "onset_deviation_rms_ms", "onset_deviation_median_ms", "on_grid_notes", "on_grid_moved_max_ms", "onset_f_measure")
    return {"name": clip.name, "family": clip.family} | {key: scores[key] for key in keys}


def score_system(clips: list[TimingClip], outputs: list[np.ndarray]) -> dict:
    """Every timing figure of one system's outputs over the clips (input included as a system)."""
    return aggregate([clip_scores(clip, out) for clip, out in zip(clips, outputs, strict=True)])


def rms_difference_interval(per_clip: list[dict], against: list[dict], draws: int = 2000, seed: int = 0) -> dict:
    """RMS onset deviation of one system less another's (ms), over the same clips (``clip_summary``
    rows), and its 95 % interval from a paired bootstrap over clips: phrases, not notes, are the
    independent draws, so a gain held by one or two clips shows as an interval across zero."""
    def squares(rows: list[dict]) -> tuple[np.ndarray, np.ndarray]:
        notes = np.array([r["notes"] for r in rows], float)
        rms = np.nan_to_num(np.array([r["onset_deviation_rms_ms"] for r in rows], float))
        return rms**2 * notes, notes

    if [r["name"] for r in per_clip] != [r["name"] for r in against]:
        raise ValueError("the two systems were scored on different clips")
    (sq_a, n_a), (sq_b, n_b) = squares(per_clip), squares(against)
    if len(per_clip) == 0 or n_a.sum() == 0 or n_b.sum() == 0:
        return {"ms": float("nan"), "low": float("nan"), "high": float("nan")}
    picks = np.random.default_rng(seed).integers(0, len(per_clip), (draws, len(per_clip)))
    with np.errstate(invalid="ignore", divide="ignore"):
        drawn = np.sqrt(sq_a[picks].sum(1) / n_a[picks].sum(1)) - np.sqrt(sq_b[picks].sum(1) / n_b[picks].sum(1))
    low, high = np.nanpercentile(drawn, [2.5, 97.5])
    return {"ms": float(np.sqrt(sq_a.sum() / n_a.sum()) - np.sqrt(sq_b.sum() / n_b.sum())), "low": float(low), "high": float(high)}


ROWS = [
    ("onset deviation from the grid, RMS (ms)", "onset_deviation_rms_ms", "{:.2f}"),
    ("onset deviation from the grid, median (ms)", "onset_deviation_median_ms", "{:.2f}"),
    (f"notes played on the grid: moved at most / median (ms) / share moved < {ON_GRID_KEPT_MS:g} ms", None, None),
    ("blind onset F-measure at 50 ms (mir_eval)", "onset_f_measure", "{:.4f}"),
    ("onsets found (librosa)", "onsets_found", "{}"),
    ("pitch change against the on-grid render, median |cents|", "pitch_change_cents", "{:.2f}"),
    ("clips with a click at a call boundary", "clicks", "{}"),
]


def _interval(difference: dict | None) -> str:
    """A report cell for :func:`rms_difference_interval` ("" for the model itself)."""
    if difference is None:
        return ""
    return f"{difference['ms']:+.2f} [{difference['low']:+.2f}, {difference['high']:+.2f}]"


def evaluate_timing(systems: dict[str, Callable[[TimingClip], np.ndarray]], clips: list[TimingClip], out: Path, data_label: str) -> dict:
    """Score each system (label -> ``run(clip) -> output``; the input itself first) on the clips,
    overall and per instrument family; write evaluation.json, report.md and onsets.png."""
    from tqdm import tqdm

    outputs = {label: [run(clip) for clip in tqdm(clips, desc=label, unit="clip", leave=False)] for label, run in systems.items()}
    from autotune_keras.evaluation.audio_metrics import pyin_pitch

    references = [pyin_pitch(clip.grid_audio)[1] for clip in tqdm(clips, desc="on-grid pitch", unit="clip", leave=False)]
    families = sorted({clip.family for clip in clips})
    results = {}
    for label, outs in outputs.items():
        rows = [clip_scores(c, o, r) for c, o, r in tqdm(list(zip(clips, outs, references, strict=True)), desc=f"scoring {label}", unit="clip", leave=False)]
        results[label] = aggregate(rows)
        results[label]["by_family"] = {family: aggregate([r for c, r in zip(clips, rows, strict=True) if c.family == family]) for family in families}
        results[label]["per_clip"] = [clip_summary(c, r) for c, r in zip(clips, rows, strict=True)]
    first_input = next(iter(results.values()))
    model = list(results)[min(1, len(results) - 1)]  # the model evaluated (the input comes first)
    for label, scores in results.items():
        scores["rms_reduction"] = 1.0 - scores["onset_deviation_rms_ms"] / first_input["onset_deviation_rms_ms"]
        if label != model:
            scores["rms_difference_from_model"] = rms_difference_interval(scores["per_clip"], results[model]["per_clip"])
    from autotune_keras.evaluation import plots

    shown = []
    for i, clip in enumerate(clips[:4]):
        lines, reach = _lines(clip), 0.45 * clip.grid()[0]
        shown.append((clip.name, lines, {label: attacks_near(outs[i], lines, reach) for label, outs in outputs.items()}))
    plots.onsets_against_grid(out / "onsets.png", shown)
    names = list(results)
    lines = [
        "# Evaluation report",
        "",
        f"Data: {data_label}. Each system streamed as an engine runs it; each labelled note found in the output and measured from its grid line.",
        "",
        "| metric | " + " | ".join(f"`{n}`" for n in names) + " |",
        "|---|" + "---|" * len(names),
    ]
    for label, key, fmt in ROWS:
        if key is None:
            cells = [f"{results[n]['on_grid_moved_max_ms']:.2f} / {results[n]['on_grid_moved_median_ms']:.2f} / "
                     f"{results[n]['on_grid_kept_share'] * 100:.1f} %" for n in names]  # fmt: skip
        else:
            cells = [fmt.format(results[n][key]) for n in names]
        lines.append(f"| {label} | " + " | ".join(cells) + " |")
    lines.append("| RMS deviation reduction against the input | " + " | ".join(f"{results[n]['rms_reduction'] * 100:.1f} %" for n in names) + " |")
    cells = [_interval(results[n].get("rms_difference_from_model")) for n in names]
    lines.append(f"| RMS deviation less `{model}`'s, ms [95 % interval, clips resampled] | " + " | ".join(cells) + " |")
    lines += ["", "| family | clips | " + " | ".join(f"`{n}` RMS / median (ms)" for n in names) + " |", "|---|---|" + "---|" * len(names)]
    for family in families:
        cells = [f"{results[n]['by_family'][family]['onset_deviation_rms_ms']:.2f} / {results[n]['by_family'][family]['onset_deviation_median_ms']:.2f}" for n in names]
        lines.append(f"| {family} | {results[names[0]]['by_family'][family]['clips']} | " + " | ".join(cells) + " |")
    lines += ["", "![onsets.png](onsets.png)", ""]
    summary = {"data": data_label, "models": results}
    (out / "evaluation.json").write_text(json.dumps(summary, indent=1, default=float) + "\n")
    (out / "report.md").write_text("\n".join(lines))
    return {"out": str(out), **summary}
