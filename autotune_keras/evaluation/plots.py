"""The evaluation report's plots (PNG, matplotlib's Agg backend)."""

from __future__ import annotations

from pathlib import Path

import numpy as np

from autotune_keras import contract

PLOTTED_CLIPS = 4


def _pyplot():
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    return plt


def pitch_contours(path: Path, runs: dict) -> None:
    """Reference and each model's confident pitch over the first few clips (``runs``: label ->
    list of StreamedClip)."""
    plt = _pyplot()
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


def errors_and_latency(path: Path, runs: dict) -> None:
    """Histograms of the cents error on voiced buffers and of the per-buffer latency."""
    plt = _pyplot()
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


def correction(path: Path, signals: dict[str, np.ndarray]) -> None:
    """Spectrograms of each signal (input, outputs, in-tune target) and their pYIN contours."""
    import librosa

    from autotune_keras.evaluation.audio_metrics import pyin_pitch

    plt = _pyplot()
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


def reliability(path: Path, calibrations: dict[str, dict]) -> None:
    """Reliability diagram: accuracy against mean confidence per confidence bin, one line per
    model (the diagonal is perfect calibration), with each model's ECE."""
    plt = _pyplot()
    fig, ax = plt.subplots(figsize=(4.6, 4.4))
    ax.plot([0, 1], [0, 1], color="0.6", lw=1, ls="--", label="calibrated")
    for label, result in calibrations.items():
        table = result["reliability"]
        ax.plot([b["confidence"] for b in table], [b["accuracy"] for b in table], "o-", ms=3, label=f"{label} (ECE {result['ece']:.3f})")
    ax.axvline(contract.CONFIDENCE_THRESHOLD, color="0.8", lw=1)
    ax.set_xlabel("confidence")
    ax.set_ylabel("share of detections right (voiced, within 50 cents)")
    ax.legend(fontsize=6, loc="upper left")
    fig.tight_layout()
    fig.savefig(path, dpi=90)
    plt.close(fig)


def onsets_against_grid(path: Path, clips: list[tuple[str, np.ndarray, dict[str, np.ndarray]]]) -> None:
    """Per clip (name, grid lines, label -> attack positions; samples): the lines as grey bars and
    each system's attacks as one row of marks."""
    plt = _pyplot()
    rows = len(clips[0][2]) if clips else 1
    fig, axes = plt.subplots(len(clips), 1, figsize=(9, 1.4 + 0.35 * rows * len(clips)), squeeze=False)
    for ax, (name, lines, attacks) in zip(axes[:, 0], clips, strict=True):
        for line in lines:
            ax.axvline(line / contract.SAMPLE_RATE, color="0.85", lw=1)
        for row, (label, found) in enumerate(attacks.items()):
            ax.plot(found / contract.SAMPLE_RATE, np.full(len(found), row), "|", ms=10, mew=2, label=label)
        ax.set_yticks(range(len(attacks)), list(attacks), fontsize=7)
        ax.set_ylim(-0.7, len(attacks) - 0.3)
        ax.set_title(f"{name}: attacks against the grid (grey)", fontsize=8)
    axes[-1, 0].set_xlabel("seconds")
    fig.tight_layout()
    fig.savefig(path, dpi=90)
    plt.close(fig)
