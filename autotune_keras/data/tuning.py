"""How far a soundfont's recorded samples sit from their nominal pitch, measured once per (bank,
program, key, velocity layer) from a sustained render and cached, so labels hold to a few cents.

The pitch of a frame is found coarsely by YIN near the nominal note, then refined to a fraction of
a cent by time-frequency reassignment (librosa.reassigned_spectrogram) of the fundamental's peak
(the second harmonic's, halved, where the fundamental is weak).
"""

from __future__ import annotations

import json
import os
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from autotune_keras import contract, music
from autotune_keras.files import atomic_write_text, sha256_file

CACHE_ENV = "AUTOTUNE_KERAS_CACHE"
TUNING_VERSION = 4  # bump when the measurement changes: cached tables are measured again
VELOCITIES = (56, 80, 104, 124)  # the velocity layers phrases are played at (and measured at)
MAX_OFFSET_CENTS = 100.0  # a sample further off than this is not labelled (e.g. an octave away)
MAX_SUBOCTAVE_DB = -20.0  # nor one with partials between its harmonics this strong: its waveform repeats
# an octave (or a twelfth) below the note (a 16-foot organ stop, a musette reed), so which pitch it
# has is a matter of taste, not a label
MAX_SPREAD_CENTS = 5.0  # nor one whose pitch wanders more (recorded vibrato, beating strings, drift):
# 95 % of its frames must lie within this of its median, the labels' own criterion
SUSTAIN_SECONDS = 1.6  # as long as the longest notes of a phrase: slow drift and beating show
ANALYSIS = (0.15, 1.5)  # seconds of the sustained render that are measured (after the attack)
N_FFT, HOP = 4096, 512


def cache_dir() -> Path:
    """``$AUTOTUNE_KERAS_CACHE``, else ``~/.cache/autotune_keras``."""
    return Path(os.environ.get(CACHE_ENV) or Path.home() / ".cache" / "autotune_keras")


def reassigned(audio: np.ndarray, coarse_hz: np.ndarray, sr: int = contract.SAMPLE_RATE, n_fft: int = N_FFT,
               hop: int = HOP, center: bool = False) -> np.ndarray:  # fmt: skip
    """Refine a coarse per-frame pitch (Hz, <= 0 none) to a fraction of a cent: the reassigned
    frequency (librosa.reassigned_spectrogram) of the fundamental's peak, or of the second
    harmonic's, halved, where the fundamental is weak. 0 where no peak lies within 50 cents."""
    import librosa

    freqs, _, mags = librosa.reassigned_spectrogram(np.asarray(audio, np.float32), sr=sr, n_fft=n_fft, hop_length=hop, center=center)
    frames = min(len(coarse_hz), mags.shape[1])
    bin_hz = sr / n_fft
    out = np.zeros(len(coarse_hz))
    for t in range(frames):
        guess = coarse_hz[t]
        if not guess > 0:
            continue
        peaks = []
        for k in (1, 2):
            centre = int(round(k * guess / bin_hz))
            lo, hi = max(centre - 3, 1), min(centre + 4, mags.shape[0])
            if lo >= hi:
                peaks.append((0.0, np.nan))
                continue
            best = lo + int(np.argmax(mags[lo:hi, t]))
            peaks.append((mags[best, t], freqs[best, t] / k))
        (m1, f1), (m2, f2) = peaks
        value = f1 if m1 >= 0.1 * m2 else f2
        if np.isfinite(value) and abs(1200 * np.log2(max(value, 1e-3) / guess)) < 50:
            out[t] = value
    return out


def refined_pitch(audio: np.ndarray, nominal_hz: float, sr: int = contract.SAMPLE_RATE) -> np.ndarray:
    """Per-frame pitch (Hz, 0 where none is found) of ``audio`` within 1.5 semitones of
    ``nominal_hz``: YIN, then :func:`reassigned`."""
    import librosa

    audio = np.asarray(audio, np.float32)
    if len(audio) < N_FFT:
        return np.zeros(0)
    low, high = nominal_hz * 2 ** (-1.5 / 12), nominal_hz * 2 ** (1.5 / 12)
    coarse = librosa.yin(
        audio, fmin=max(low, 40.0), fmax=min(high * 1.5, sr / 4), sr=sr, frame_length=N_FFT, hop_length=HOP, center=False
    )
    return reassigned(audio, np.where((coarse >= low) & (coarse <= high), coarse, 0.0), sr)


def steady_frame_errors(
    audio: np.ndarray, label_hz: np.ndarray, max_range_cents: float = 2.0, sr: int = contract.SAMPLE_RATE
) -> np.ndarray:
    """Cents between the measured pitch of ``audio`` and its per-sample label on steady frames:
    frames pYIN calls voiced whose label stays within ``max_range_cents`` across the whole
    analysis window (compared with the window's mean label). How the real-timbre labels are checked."""
    import librosa

    label_hz = np.asarray(label_hz, np.float64)
    voiced_label = label_hz[label_hz > 0]
    if len(voiced_label) == 0 or len(audio) < N_FFT:
        return np.zeros(0)
    nominal = float(np.median(voiced_label))
    low, high = nominal * 2 ** (-3 / 12), nominal * 2 ** (3 / 12)
    _, voiced, _ = librosa.pyin(
        np.asarray(audio, np.float32), fmin=low, fmax=high, sr=sr, frame_length=N_FFT, hop_length=HOP, center=False
    )
    measured = refined_pitch(audio, nominal, sr)
    errors = []
    for i in range(min(len(measured), len(voiced))):
        window = label_hz[i * HOP : i * HOP + N_FFT]
        if not voiced[i] or measured[i] <= 0 or len(window) < N_FFT or np.any(window <= 0):
            continue
        cents = 1200 * np.log2(window)
        if cents.max() - cents.min() > max_range_cents:
            continue
        errors.append(1200 * np.log2(measured[i] / np.mean(window)))
    return np.array(errors)


@dataclass
class NoteTuning:
    """A sample's measured offset from its nominal pitch (cents), how much it wanders, and how
    strong its sub-octave partials are."""

    offset_cents: float
    spread_cents: float  # half the 2.5th-97.5th percentile range of the per-frame pitch
    frames: int
    suboctave_db: float = -120.0  # partials at 1/2 and 3/2 of the note against those at 1 and 2

    @property
    def usable(self) -> bool:
        return (
            self.frames >= 4
            and abs(self.offset_cents) <= MAX_OFFSET_CENTS
            and self.spread_cents <= MAX_SPREAD_CENTS
            and self.suboctave_db <= MAX_SUBOCTAVE_DB
        )


def suboctave_level_db(audio: np.ndarray, nominal_hz: float, sr: int = contract.SAMPLE_RATE) -> float:
    """Strongest partial at 1/2 or 3/2 of ``nominal_hz`` against the strongest at 1 or 2 (dB):
    high when the waveform repeats an octave below the note."""
    audio = np.asarray(audio, np.float64)
    spectrum = np.abs(np.fft.rfft(audio * np.hanning(len(audio))))
    freqs = np.fft.rfftfreq(len(audio), 1.0 / sr)

    def peak(hz: float) -> float:
        near = (freqs > hz * 0.97) & (freqs < hz * 1.03)
        return float(spectrum[near].max()) if near.any() else 0.0

    sub = max(peak(0.5 * nominal_hz), peak(1.5 * nominal_hz))
    main = max(peak(nominal_hz), peak(2.0 * nominal_hz)) + 1e-12
    return float(20 * np.log10(sub / main + 1e-12))


def measure(audio: np.ndarray, nominal_hz: float, sr: int = contract.SAMPLE_RATE) -> NoteTuning:
    """Offset and spread of a steady render of a note whose nominal pitch is ``nominal_hz``."""
    start, stop = (int(s * sr) for s in ANALYSIS)
    segment = np.asarray(audio[start:stop], np.float32)
    pitch = refined_pitch(segment, nominal_hz, sr)
    if len(pitch):  # frames quieter than 30 dB under the loudest are too close to the noise
        energy = np.array([np.sum(segment[i * HOP : i * HOP + N_FFT] ** 2) for i in range(len(pitch))])
        pitch = np.where(energy >= energy.max() * 1e-3, pitch, 0.0)
    found = pitch[pitch > 0]
    if len(found) == 0:
        return NoteTuning(float("nan"), float("nan"), 0)
    cents = 1200 * np.log2(found / nominal_hz)
    low, median, high = np.percentile(cents, [2.5, 50, 97.5])
    return NoteTuning(float(median), float((high - low) / 2), int(len(found)), suboctave_level_db(segment, nominal_hz, sr))


class TuningTable:
    """Measured tunings of one soundfont bank, one cached file per program (measured on first
    use; the cache key is the bank file's content hash, so a changed bank is measured again)."""

    def __init__(self, renderer, cache: Path | None = None):
        self.renderer = renderer
        digest = sha256_file(renderer.bank)[:16]
        self.folder = (cache or cache_dir()) / "tuning" / f"{renderer.bank.stem}-{digest}"
        self._programs: dict[int, dict[str, NoteTuning]] = {}

    def _path(self, program: int) -> Path:
        return self.folder / f"program-{program:03d}.json"

    def _read(self, program: int, low: int, high: int) -> dict[str, NoteTuning] | None:
        path = self._path(program)
        if not path.is_file():
            return None
        try:
            data = json.loads(path.read_text())
        except json.JSONDecodeError:
            return None
        if data.get("version") != TUNING_VERSION or data.get("range") != [low, high]:
            return None
        return {k: NoteTuning(*v) for k, v in data["notes"].items()}

    def is_cached(self, program: int, low: int, high: int) -> bool:
        """Whether ``program`` is measured already (by any process)."""
        return program in self._programs or self._read(program, low, high) is not None

    def program(self, program: int, low: int, high: int) -> dict[str, NoteTuning]:
        """``"key/velocity" -> NoteTuning`` for every key of ``low..high`` at every velocity layer."""
        if program in self._programs:
            return self._programs[program]
        path = self._path(program)
        table = self._read(program, low, high)
        if table is None:
            table = self._measure(program, low, high)
            self.folder.mkdir(parents=True, exist_ok=True)
            notes = {k: [t.offset_cents, t.spread_cents, t.frames, t.suboctave_db] for k, t in table.items()}
            atomic_write_text(path, json.dumps({"version": TUNING_VERSION, "range": [low, high], "notes": notes}) + "\n")
        self._programs[program] = table
        return table

    def _measure(self, program: int, low: int, high: int) -> dict[str, NoteTuning]:
        from autotune_keras.data.fluid import BLOCK, RenderNote

        blocks = int(np.ceil(SUSTAIN_SECONDS * self.renderer.sample_rate / BLOCK))
        table = {}
        for key in range(low, high + 1):
            for velocity in VELOCITIES:
                note = RenderNote(key, velocity, 0, blocks, np.zeros(1, np.int64))
                audio = self.renderer.render(program, [note], blocks)
                table[f"{key}/{velocity}"] = measure(audio, float(music.midi_to_hz(key)), self.renderer.sample_rate)
        return table

    def lookup(self, program: int, low: int, high: int, key: int, velocity: int) -> NoteTuning:
        """The tuning of one note (velocity: one of VELOCITIES)."""
        return self.program(program, low, high)[f"{key}/{velocity}"]
