"""Audio I/O for the engine format: 44.1 kHz mono float32, loudness-normalised."""

from __future__ import annotations

import sys
import warnings
from pathlib import Path

import numpy as np

from autotune_keras import contract

AUDIO_EXTENSIONS = (".wav", ".flac", ".ogg", ".mp3", ".aiff", ".aif")
WRITABLE_EXTENSIONS = (".wav", ".flac", ".ogg", ".aiff", ".aif")  # what write_audio (libsndfile) writes


class AudioError(ValueError):
    """An audio file cannot be used; the message names the file and the problem."""


def load_audio(path: str | Path, sample_rate: int = contract.SAMPLE_RATE) -> np.ndarray:
    """Read any common format, mix to mono, resample to ``sample_rate``; float32 in [-1, 1].

    Raises :class:`AudioError` for unreadable, empty or non-finite audio.
    """
    import librosa
    import soundfile as sf

    path = Path(path)
    if not path.exists():
        raise AudioError(f"{path}: no such file")
    if path.is_dir():
        raise AudioError(f"{path}: is a folder, not an audio file")
    try:
        audio, rate = sf.read(str(path), dtype="float32", always_2d=True)
    except Exception as sf_error:  # soundfile cannot read it: let librosa try (e.g. mp3 via audioread)
        try:
            with warnings.catch_warnings():
                warnings.simplefilter("ignore")
                mono, rate = librosa.load(str(path), sr=None, mono=True)
            audio = mono[:, None]
        except Exception:
            raise AudioError(f"{path}: cannot decode audio ({sf_error})") from None
    if audio.size == 0:
        raise AudioError(f"{path}: file has no samples")
    if not np.all(np.isfinite(audio)):
        raise AudioError(f"{path}: contains NaN or Inf samples")
    peak = float(np.max(np.abs(audio)))
    if peak > 1.0:
        print(
            f"warning: {path}: samples reach {peak:.2f}, beyond full scale (1.0); they are passed on unchanged, "
            "as an engine fed this float audio would get them",
            file=sys.stderr,
        )
    mono = audio.mean(axis=1).astype(np.float32)
    if rate != sample_rate:
        mono = librosa.resample(mono, orig_sr=rate, target_sr=sample_rate, res_type="soxr_hq").astype(np.float32)
    return mono


def normalize_loudness(
    audio: np.ndarray, target_lufs: float, sample_rate: int = contract.SAMPLE_RATE
) -> tuple[np.ndarray, float]:
    """Scale to ``target_lufs`` integrated loudness (ITU-R BS.1770-4, pyloudnorm).

    Returns the scaled audio and the gain applied. If the gain would clip, the gain is lowered
    so the peak stays at -0.1 dBFS. Raises :class:`AudioError` for silent audio.
    """
    import pyloudnorm

    meter = pyloudnorm.Meter(sample_rate)
    padded = audio
    min_len = int(0.4 * sample_rate) + 1  # BS.1770 gating blocks are 400 ms
    if len(audio) < min_len:
        padded = np.tile(audio, int(np.ceil(min_len / max(len(audio), 1))))
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        loudness = meter.integrated_loudness(padded.astype(np.float64))
    if not np.isfinite(loudness) or loudness < -70.0:
        raise AudioError("audio is silent (loudness below -70 LUFS)")
    gain = 10.0 ** ((target_lufs - loudness) / 20.0)
    peak = float(np.max(np.abs(audio))) * gain
    ceiling = 10.0 ** (-0.1 / 20.0)
    if peak > ceiling:
        gain *= ceiling / peak
    return (audio * gain).astype(np.float32), float(gain)


def write_audio(path: str | Path, audio: np.ndarray, sample_rate: int = contract.SAMPLE_RATE) -> None:
    """Write mono float audio as a 32-bit float WAV (or by extension via soundfile), through a
    temp file renamed into place: an interrupted write never leaves half a file."""
    import os

    import soundfile as sf

    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    subtype = "FLOAT" if path.suffix.lower() == ".wav" else None
    tmp = path.with_name(f".{path.stem}.tmp-{os.getpid()}{path.suffix}")
    try:
        sf.write(str(tmp), np.asarray(audio, dtype=np.float32), sample_rate, subtype=subtype)
        os.replace(tmp, path)
    finally:
        tmp.unlink(missing_ok=True)


def list_audio_files(folder: str | Path) -> list[Path]:
    """Every audio file under ``folder`` (recursive), sorted for a stable order."""
    folder = Path(folder)
    return sorted(p for p in folder.rglob("*") if p.is_file() and p.suffix.lower() in AUDIO_EXTENSIONS)
