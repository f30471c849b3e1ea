"""Frame-level labels: f0 / voicing on the label grid, from sidecar files or pYIN, and onsets.

Label frame ``i`` describes the instant ``i * hop`` samples (librosa's centred-frame convention).
"""

from __future__ import annotations

import re
from pathlib import Path

import numpy as np

from autotune_keras import contract
from autotune_keras.data.fluid import BLOCK  # levels are measured per FluidSynth block

F0_SIDECAR_SUFFIX = ".f0.csv"
VOICED_FLOOR_DB = -45.0  # a rendered note is voiced only while its audio is within this of the phrase's peak


class LabelError(ValueError):
    """A label file cannot be used; the message names the file."""


def num_frames(num_samples: int, hop: int) -> int:
    """Label frames for ``num_samples`` samples: one per hop, starting at sample 0."""
    return (num_samples - 1) // hop + 1


def block_levels_db(audio: np.ndarray, block: int = BLOCK) -> np.ndarray:
    """RMS level in dB of each ``block``-sample block (the last one zero-padded)."""
    padded = np.pad(audio, (0, (-len(audio)) % block))
    return 20 * np.log10(np.sqrt(np.mean(padded.reshape(-1, block) ** 2, axis=1)) + 1e-12)


def audible(audio: np.ndarray, floor_db: float = VOICED_FLOOR_DB, block: int = BLOCK) -> np.ndarray:
    """Per sample: whether its ``block``-sample block is within ``floor_db`` of the loudest block
    (a rendered source labels a note voiced only where it is heard)."""
    level = block_levels_db(audio, block)
    return np.repeat(level >= level.max() + floor_db, block)[: len(audio)]


def sidecar_path(audio_path: Path) -> Path | None:
    """``NAME.f0.csv`` (or ``NAME.csv`` with two columns) beside ``NAME.wav``, if present."""
    for candidate in (audio_path.with_suffix(F0_SIDECAR_SUFFIX), audio_path.with_suffix(".csv")):
        if candidate.is_file():
            return candidate
    return None


def read_f0_file(path: str | Path) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Read CREPE's ``time,frequency,confidence`` csv or a two-column ``time f0`` file.

    Returns times (s), f0 (Hz, <= 0 unvoiced) and confidence (0..1; 1 where voiced for
    two-column files).
    """
    path = Path(path)
    rows = []
    for number, line in enumerate(path.read_text().splitlines(), start=1):
        line = line.strip()
        if not line or line.startswith("#"):
            continue
        parts = [p for p in re.split(r"[,\s;]+", line) if p]
        try:
            values = [float(p) for p in parts]
        except ValueError:
            if not rows:  # a header line
                continue
            raise LabelError(f"{path}:{number}: not a number in {line!r}") from None
        if len(values) not in (2, 3):
            raise LabelError(f"{path}:{number}: expected 2 or 3 columns, got {len(values)}")
        rows.append(values if len(values) == 3 else values + [1.0 if values[1] > 0 else 0.0])
    if not rows:
        raise LabelError(f"{path}: no f0 rows")
    table = np.asarray(rows, dtype=np.float64)
    if not np.all(np.isfinite(table)):
        raise LabelError(f"{path}: contains NaN or Inf")
    if np.any(np.diff(table[:, 0]) <= 0):
        raise LabelError(f"{path}: times must increase")
    return table[:, 0], table[:, 1], np.clip(table[:, 2], 0.0, 1.0)


def resample_labels(
    times: np.ndarray, f0: np.ndarray, confidence: np.ndarray, frames: int, hop: int, sample_rate: int = contract.SAMPLE_RATE
) -> tuple[np.ndarray, np.ndarray]:
    """Put (times, f0, confidence) on the label grid: log-f0 interpolated inside voiced runs."""
    grid = np.arange(frames) * hop / sample_rate
    voiced = f0 > 0
    voicing = np.interp(grid, times, np.where(voiced, confidence, 0.0), left=0.0, right=0.0)
    nearest = np.clip(np.searchsorted(times, grid), 0, len(times) - 1)
    previous = np.clip(nearest - 1, 0, len(times) - 1)
    closest = np.where(np.abs(times[previous] - grid) <= np.abs(times[nearest] - grid), previous, nearest)
    if voiced.any():
        log_f0 = np.interp(grid, times[voiced], np.log2(f0[voiced]))
        out_f0 = np.where(voiced[closest] & (voicing > 0), 2.0**log_f0, 0.0)
    else:
        out_f0 = np.zeros(frames)
    return out_f0.astype(np.float32), np.where(out_f0 > 0, voicing, 0.0).astype(np.float32)


def pyin_labels(audio: np.ndarray, hop: int, sample_rate: int = contract.SAMPLE_RATE) -> tuple[np.ndarray, np.ndarray]:
    """f0 and voicing probability by pYIN (librosa), put on the label grid."""
    import librosa

    analysis_hop = 512
    f0, voiced, probability = librosa.pyin(
        audio, fmin=contract.PITCH_MIN_HZ, fmax=contract.PITCH_MAX_HZ, sr=sample_rate,
        frame_length=2048, hop_length=analysis_hop, center=True,
    )  # fmt: skip
    times = np.arange(len(f0)) * analysis_hop / sample_rate
    f0 = np.where(voiced & np.isfinite(f0), f0, 0.0)
    return resample_labels(times, f0, np.nan_to_num(probability), num_frames(len(audio), hop), hop, sample_rate)


def detect_onsets(audio: np.ndarray, sample_rate: int = contract.SAMPLE_RATE) -> np.ndarray:
    """Onset positions in samples (librosa's spectral-flux detector)."""
    import librosa

    return librosa.onset.onset_detect(y=audio, sr=sample_rate, hop_length=512, units="samples").astype(np.int64)
