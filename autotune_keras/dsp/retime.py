"""The classical retiming the timing model is measured against (numpy, offline): slice the audio at
its detected onsets, move each slice so its onset lands on the nearest grid line, and crossfade
the joins, as a DAW's beat-slicing quantize does. A slice that moves later leaves a gap behind it
(its predecessor fades out); one that moves earlier cuts its predecessor short.
"""

from __future__ import annotations

import numpy as np

from autotune_keras import contract

FADE = int(0.005 * contract.SAMPLE_RATE)  # 5 ms crossfades at every join
ON_GRID = int(0.0015 * contract.SAMPLE_RATE)  # a shift under this is no shift


def slice_retime(audio: np.ndarray, tempo: float, step_beats: float, phase: float, strength: float = 1.0, max_shift_seconds: float = 0.093) -> np.ndarray:
    """``audio`` with each onset slice moved onto its nearest grid line (``phase``: the grid's
    position at the first sample, in steps), as long as the input."""
    import librosa

    audio = np.asarray(audio, np.float32)
    step = 60.0 / tempo * step_beats * contract.SAMPLE_RATE
    onsets = librosa.onset.onset_detect(y=audio, sr=contract.SAMPLE_RATE, hop_length=128, units="samples", backtrack=True)
    onsets = np.unique(np.concatenate([[0], onsets[onsets > 0]])).astype(int)
    units = onsets / step + phase
    shifts = np.clip((np.round(units) - units) * step, -max_shift_seconds * contract.SAMPLE_RATE, max_shift_seconds * contract.SAMPLE_RATE)
    shifts = np.where(np.abs(shifts) < ON_GRID, 0.0, shifts) * strength
    shifts[0] = 0.0  # the audio before the first onset stays where it is
    targets = np.round(onsets + shifts).astype(int)
    out = np.zeros_like(audio)
    fade_in = 0.5 - 0.5 * np.cos(np.pi * np.arange(FADE) / FADE)
    for i, (start, target) in enumerate(zip(onsets, targets, strict=True)):
        end = onsets[i + 1] if i + 1 < len(onsets) else len(audio)
        until = targets[i + 1] if i + 1 < len(targets) else len(audio)  # where the next slice begins
        length = min(end - start, until - target) if until > target else 0
        if length <= 0 or target >= len(audio):
            continue
        piece = audio[start : start + length].copy()
        if i > 0:
            piece[: min(FADE, length)] *= fade_in[: min(FADE, length)]
        tail = min(FADE, length)
        piece[length - tail :] *= fade_in[:tail][::-1]  # fades out into the gap or the next slice's fade-in
        stop = min(len(audio), target + length)
        out[max(target, 0) : stop] += piece[max(0, -target) : stop - target]
    return out
