"""Music maths: Hz <-> MIDI <-> cents, key names, scale quantization, strength blending.

All functions accept numpy arrays or scalars and broadcast.
"""

from __future__ import annotations

import numpy as np

from autotune_keras.contract import SCALES

A4_HZ = 440.0
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


def hz_to_midi(hz):
    """Frequency in Hz to (fractional) MIDI note number; 440 Hz is 69."""
    return A4_MIDI + 12.0 * np.log2(np.asarray(hz, dtype=np.float64) / A4_HZ)


def midi_to_hz(midi):
    """(Fractional) MIDI note number to frequency in Hz."""
    return A4_HZ * 2.0 ** ((np.asarray(midi, dtype=np.float64) - A4_MIDI) / 12.0)


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
    """Semitone offsets of a scale name (case-insensitive) from the engine contract."""
    name = str(scale).strip().upper()
    if name not in SCALES:
        raise ValueError(f"unknown scale {scale!r}: expected one of {', '.join(SCALES)}")
    return SCALES[name]


def quantize_midi_to_scale(midi, key: str, scale: str):
    """Nearest MIDI note (integer valued) of ``scale`` in ``key``; ties go down."""
    midi = np.asarray(midi, dtype=np.float64)
    pitch_class = key_to_pitch_class(key)
    intervals = np.asarray(scale_intervals(scale), dtype=np.float64)
    # Candidate notes: every scale degree in the octave below, same and above.
    relative = midi - pitch_class
    octave = np.floor(relative / 12.0)
    offsets = np.concatenate([intervals - 12.0, intervals, intervals + 12.0])
    candidates = pitch_class + 12.0 * octave[..., None] + offsets
    distance = np.abs(candidates - midi[..., None])
    # argmin takes the first minimum: candidates ascend, so ties resolve to the lower note.
    best = np.take_along_axis(candidates, np.argmin(distance, axis=-1)[..., None], axis=-1)[..., 0]
    return best


def quantize_hz_to_scale(hz, key: str, scale: str):
    """Nearest scale note in Hz; non-positive inputs (unvoiced) stay 0."""
    hz = np.asarray(hz, dtype=np.float64)
    voiced = hz > 0
    safe = np.where(voiced, hz, A4_HZ)
    quantized = midi_to_hz(quantize_midi_to_scale(hz_to_midi(safe), key, scale))
    return np.where(voiced, quantized, 0.0)


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
