"""Music maths: Hz <-> MIDI <-> cents at any reference tuning, key names, scales (the built-in
seven, any list of cents, Scala .scl files, microtonal ones included), scale quantization,
strength blending.

All functions accept numpy arrays or scalars and broadcast.
"""

from __future__ import annotations

from dataclasses import dataclass
from fractions import Fraction
from pathlib import Path

import numpy as np

from autotune_keras.contract import A4_HZ, A4_RANGE_HZ, SCALES

A4_MIDI = 69.0

_PITCH_CLASSES = {
    "C": 0, "B#": 0,
    "C#": 1, "DB": 1,
    "D": 2,
    "D#": 3, "EB": 3,
    "E": 4, "FB": 4,
    "F": 5, "E#": 5,
    "F#": 6, "GB": 6,
    "G": 7,
    "G#": 8, "AB": 8,
    "A": 9,
    "A#": 10, "BB": 10,
    "B": 11, "CB": 11,
}  # fmt: skip
KEY_NAMES = ("C", "C#", "D", "D#", "E", "F", "F#", "G", "G#", "A", "A#", "B")


def check_a4(a4: float) -> float:
    """``a4`` if it is a reference tuning the project supports (415-466 Hz), else ValueError."""
    a4 = float(a4)
    if not A4_RANGE_HZ[0] <= a4 <= A4_RANGE_HZ[1]:
        raise ValueError(f"--a4 {a4:g}: the reference tuning must lie in {A4_RANGE_HZ[0]:g}-{A4_RANGE_HZ[1]:g} Hz")
    return a4


def hz_to_midi(hz, a4: float = A4_HZ):
    """Frequency in Hz to (fractional) MIDI note number; ``a4`` (440 Hz by default) is 69."""
    return A4_MIDI + 12.0 * np.log2(np.asarray(hz, dtype=np.float64) / a4)


def midi_to_hz(midi, a4: float = A4_HZ):
    """(Fractional) MIDI note number to frequency in Hz, 69 being ``a4``."""
    return a4 * 2.0 ** ((np.asarray(midi, dtype=np.float64) - A4_MIDI) / 12.0)


def hz_to_cents(hz, reference_hz=10.0):
    """Frequency in cents above ``reference_hz`` (CREPE's convention uses 10 Hz)."""
    return 1200.0 * np.log2(np.asarray(hz, dtype=np.float64) / reference_hz)


def cents_to_hz(cents, reference_hz=10.0):
    """Inverse of :func:`hz_to_cents`."""
    return reference_hz * 2.0 ** (np.asarray(cents, dtype=np.float64) / 1200.0)


def cents_between(hz_a, hz_b):
    """Signed interval from ``hz_b`` to ``hz_a`` in cents."""
    return 1200.0 * np.log2(np.asarray(hz_a, dtype=np.float64) / np.asarray(hz_b, dtype=np.float64))


def key_to_pitch_class(key: str) -> int:
    """Key name ('C', 'C#', 'Db', 'f#', 'Bb', ...) to pitch class 0..11."""
    name = str(key).strip().upper().replace("♯", "#").replace("♭", "B")
    if name not in _PITCH_CLASSES:
        raise ValueError(f"unknown key {key!r}: expected one of C, C#, Db, D, ..., B (sharps or flats)")
    return _PITCH_CLASSES[name]


def scale_intervals(scale: str) -> tuple[int, ...]:
    """Semitone offsets of a built-in scale name (case-insensitive) from the engine contract."""
    name = str(scale).strip().upper()
    if name not in SCALES:
        raise ValueError(f"unknown scale {scale!r}: expected one of {', '.join(SCALES)}, a .scl file or cents:0,200,...")
    return SCALES[name]


@dataclass(frozen=True)
class Scale:
    """A scale as cents above its key within one period (an octave, 1200 cents, unless a Scala
    file says otherwise): the seven built-in scales, 19-TET, just intonation, anything."""

    name: str
    degrees: tuple[float, ...]  # ascending, the first 0
    period: float = 1200.0

    def __post_init__(self) -> None:
        if not self.degrees or self.degrees[0] != 0.0:
            raise ValueError(f"scale {self.name!r}: its degrees must start at 0 cents")
        if any(b <= a for a, b in zip(self.degrees, self.degrees[1:], strict=False)) or self.degrees[-1] >= self.period:
            raise ValueError(f"scale {self.name!r}: degrees must rise and stay below the period ({self.period:g} cents)")
        if self.period <= 0:
            raise ValueError(f"scale {self.name!r}: the period must be positive")


def _scala_pitch(text: str, where: str) -> float:
    """A Scala pitch line: cents if it has a '.', else a ratio ('3/2', '2')."""
    value = text.split()[0] if text.split() else ""
    try:
        if "." in value:
            return float(value)
        ratio = Fraction(value)
    except (ValueError, ZeroDivisionError):
        raise ValueError(f"{where}: {text.strip()!r} is neither cents (with a '.') nor a ratio") from None
    if ratio <= 0:
        raise ValueError(f"{where}: the ratio {value} must be positive")
    return float(1200.0 * np.log2(float(ratio)))


def read_scala(path: str | Path) -> Scale:
    """A Scala ``.scl`` file (https://www.huygens-fokker.org/scala/scl_format.html): '!' comments,
    a description line, the number of notes, then one pitch per line in cents or as a ratio; the
    last pitch is the period (usually 2/1), 1/1 is implicit."""
    path = Path(path)
    if not path.is_file():
        raise FileNotFoundError(f"{path}: no such scale file")
    lines = [(n, line) for n, line in enumerate(path.read_text(errors="replace").splitlines(), 1) if not line.startswith("!")]
    if len(lines) < 2:
        raise ValueError(f"{path}: a Scala file needs a description line and a note count")
    try:
        count = int(lines[1][1].split()[0])
    except (ValueError, IndexError):
        raise ValueError(f"{path}:{lines[1][0]}: expected the number of notes, got {lines[1][1].strip()!r}") from None
    pitches = [_scala_pitch(line, f"{path}:{n}") for n, line in lines[2 : 2 + count]]
    if count < 1 or len(pitches) != count:
        raise ValueError(f"{path}: says {count} notes but lists {len(pitches)}")
    return Scale(lines[0][1].strip() or path.stem, (0.0, *pitches[:-1]), pitches[-1])


def parse_scale(scale: str | Scale) -> Scale:
    """A built-in name (MAJOR, ... CHROMATIC), a Scala file (``*.scl``), or ``cents:0,200,...``
    (degrees within an octave) as a :class:`Scale`."""
    if isinstance(scale, Scale):
        return scale
    text = str(scale).strip()
    if text.lower().startswith("cents:"):
        try:
            degrees = sorted({float(v) for v in text[6:].replace(";", ",").split(",") if v.strip()} | {0.0})
        except ValueError:
            raise ValueError(f"--scale {text}: expected cents:0,200,... (numbers)") from None
        return Scale(text, tuple(degrees))
    if text.lower().endswith(".scl"):
        return read_scala(text)
    return Scale(text.upper(), tuple(100.0 * s for s in scale_intervals(text)))


def key_hz(key: str, a4: float = A4_HZ) -> float:
    """The frequency of the key's note in the octave of middle C, at reference tuning ``a4``."""
    return float(midi_to_hz(60 + key_to_pitch_class(key), a4))


def quantize_hz_to_scale(hz, key: str, scale: str | Scale, a4: float = A4_HZ):
    """Nearest note of ``scale`` on ``key`` in Hz (ties go down); non-positive inputs (unvoiced)
    stay 0. Any scale: 12-tone, microtonal, non-octave."""
    scale = parse_scale(scale)
    hz = np.asarray(hz, dtype=np.float64)
    voiced = hz > 0
    root = 100.0 * (key_to_pitch_class(key) - 9)  # the key in cents from A4 (its octave below it)
    cents = 1200.0 * np.log2(np.where(voiced, hz, a4) / a4) - root  # cents above the key
    degrees = np.asarray(scale.degrees, dtype=np.float64)
    period = np.floor(cents / scale.period)
    offsets = np.concatenate([degrees - scale.period, degrees, degrees + scale.period, [2 * scale.period]])  # ascending
    # the nearest offset to the position inside the period: the first whose upper midpoint is not
    # below it (so a tie goes to the lower note)
    within = cents - scale.period * period
    nearest = offsets[np.searchsorted((offsets[:-1] + offsets[1:]) / 2.0, within, side="left")]
    best = scale.period * period + nearest
    return np.where(voiced, a4 * 2.0 ** ((root + best) / 1200.0), 0.0)  # exact on 12-TET notes


def quantize_midi_to_scale(midi, key: str, scale: str | Scale, a4: float = A4_HZ):
    """Nearest scale note as a (fractional, for microtonal scales) MIDI number; ties go down."""
    return hz_to_midi(quantize_hz_to_scale(midi_to_hz(midi, a4), key, scale, a4), a4)


def blend_pitch(source_hz, target_hz, strength):
    """Move ``source_hz`` towards ``target_hz`` by ``strength`` (0..1) in cents space.

    Strength 0 returns the source, 1 the target, 0.5 the geometric mean. Unvoiced (<= 0)
    sources stay 0.
    """
    source_hz = np.asarray(source_hz, dtype=np.float64)
    target_hz = np.asarray(target_hz, dtype=np.float64)
    strength = np.clip(np.asarray(strength, dtype=np.float64), 0.0, 1.0)
    voiced = (source_hz > 0) & (target_hz > 0)
    safe_source = np.where(voiced, source_hz, 1.0)
    safe_target = np.where(voiced, target_hz, 1.0)
    blended = safe_source * 2.0 ** (strength * np.log2(safe_target / safe_source))
    return np.where(voiced, blended, np.where(source_hz > 0, source_hz, 0.0))
