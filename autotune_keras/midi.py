"""From a pitch track to notes: segmentation of the detector's per-buffer pitch and confidence
into MIDI notes (with pitch bends for each note's deviation, if asked), written with pretty_midi.

A note runs while the detection is valid (confidence >= the contract's threshold) and its pitch
stays within ``split_cents`` of the note's running median; a jump held for ``hold`` buffers, or
a gap in the voicing longer than ``gap`` buffers, ends it. Notes shorter than ``min_seconds`` are
dropped (a flicker is no note).
"""

from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path

import numpy as np

from autotune_keras import contract, music

BEND_RANGE_SEMITONES = 2.0  # the General MIDI default a synth assumes


@dataclass
class Note:
    """One detected note: start and end (s), MIDI number, and (time, semitones) bends."""

    start: float
    end: float
    pitch: int
    bends: list[tuple[float, float]] = field(default_factory=list)


def segment_notes(
    times: np.ndarray,
    pitch_hz: np.ndarray,
    confidence: np.ndarray,
    a4: float = contract.A4_HZ,
    split_cents: float = 70.0,
    hold: int = 2,
    gap: int = 1,
    min_seconds: float = 0.06,
) -> list[Note]:
    """Notes of a pitch track whose frames describe the instants ``times`` (s)."""
    times, pitch_hz, confidence = (np.asarray(a, np.float64) for a in (times, pitch_hz, confidence))
    step = float(np.median(np.diff(times))) if len(times) > 1 else contract.BUFFER_SIZE / contract.SAMPLE_RATE
    valid = (confidence >= contract.CONFIDENCE_THRESHOLD) & (pitch_hz >= contract.PITCH_MIN_HZ) & (pitch_hz <= contract.PITCH_MAX_HZ)
    midi = np.where(valid, music.hz_to_midi(np.maximum(pitch_hz, 1e-3), a4), np.nan)
    notes: list[Note] = []
    frames: list[int] = []  # the frames of the note being built
    away = missing = 0

    def close() -> None:
        if frames:
            centre = float(np.median(midi[frames]))
            note = Note(times[frames[0]] - step / 2, times[frames[-1]] + step / 2, int(round(centre)))
            if note.end - note.start >= min_seconds:
                note.bends = [(float(times[i]), float(midi[i] - note.pitch)) for i in frames]
                notes.append(note)
        frames.clear()

    for i in range(len(times)):
        if not valid[i]:
            missing += 1
            if missing > gap:
                close()
            continue
        missing = 0
        if frames and abs(midi[i] - np.median(midi[frames])) * 100 > split_cents:
            away += 1
            if away >= hold:  # the pitch moved on and stayed: a new note began `hold` frames ago
                keep = frames[-(hold - 1) :] if hold > 1 else []
                del frames[len(frames) - len(keep) :]
                close()
                frames.extend(keep)
                away = 0
        else:
            away = 0
        frames.append(i)
    close()
    return notes


def write_midi(path: str | Path, notes: list[Note], bends: bool = False, program: int = 0, velocity: int = 100) -> None:
    """A one-track MIDI file of ``notes`` (their pitch bends too when ``bends``; range +-2
    semitones, clipped), written through a temp file."""
    import pretty_midi

    from autotune_keras.files import atomic_write_bytes

    song = pretty_midi.PrettyMIDI()
    track = pretty_midi.Instrument(program=program)
    for note in notes:
        track.notes.append(pretty_midi.Note(velocity=velocity, pitch=int(np.clip(note.pitch, 0, 127)), start=note.start, end=note.end))
        if bends:
            previous = None
            for time, semitones in note.bends:
                value = int(np.clip(round(semitones / BEND_RANGE_SEMITONES * 8192), -8192, 8191))
                if value != previous:
                    track.pitch_bends.append(pretty_midi.PitchBend(value, time))
                    previous = value
            track.pitch_bends.append(pretty_midi.PitchBend(0, note.end))
    song.instruments.append(track)
    import io

    buffer = io.BytesIO()
    song.write(buffer)
    atomic_write_bytes(path, buffer.getvalue())
