"""detect --midi: notes rendered at known times and pitches come back as MIDI notes, scored by
mir_eval.transcription (onsets within 50 ms, pitch within 50 cents)."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import mir_eval
import numpy as np
import pytest
import soundfile as sf
from conftest import harmonic_tone

from autotune_keras import music
from autotune_keras.midi import segment_notes

ROOT = Path(__file__).resolve().parent.parent
SR = 44100
NOTES = [(57, 0.0), (60, 30.0), (64, 0.0), (62, -25.0), (67, 10.0), (69, 0.0), (65, 0.0)]  # MIDI, detune (cents)


def render(path: Path, a4: float = 440.0) -> np.ndarray:
    """The notes, 0.35 s each with 0.1 s of silence between; returns [[onset, offset]] and pitches."""
    audio, intervals = [np.zeros(int(0.2 * SR), np.float32)], []
    t = 0.2
    for midi, cents in NOTES:
        tone = harmonic_tone(float(music.midi_to_hz(midi + cents / 100, a4)), 0.35)
        ramp = np.minimum(1.0, np.minimum(np.arange(len(tone)), np.arange(len(tone))[::-1]) / 200)
        audio += [tone * ramp, np.zeros(int(0.1 * SR), np.float32)]
        intervals.append([t, t + 0.35])
        t += 0.45
    sf.write(path, np.concatenate(audio), SR)
    return np.array(intervals)


@pytest.mark.parametrize("a4", [440.0, 415.0])
def test_detect_writes_the_notes_as_midi(tmp_path, a4):
    import pretty_midi

    take = tmp_path / "melody.wav"
    reference = render(take, a4)
    result = subprocess.run(
        [sys.executable, "-m", "autotune_keras.detect", str(take), "--midi", "--bends", "--a4", str(a4)],
        cwd=ROOT, capture_output=True, text=True,
    )  # fmt: skip
    assert result.returncode == 0, result.stderr
    song = pretty_midi.PrettyMIDI(str(tmp_path / "melody.mid"))
    notes = song.instruments[0].notes
    estimated = np.array([[n.start, n.end] for n in notes])
    ref_hz = np.array([music.midi_to_hz(m) for m, _ in NOTES])  # the note numbers, scored at A440 as MIDI is
    est_hz = np.array([music.midi_to_hz(n.pitch) for n in notes])
    precision, recall, f, _ = mir_eval.transcription.precision_recall_f1_overlap(
        reference, ref_hz, estimated, est_hz, onset_tolerance=0.05, pitch_tolerance=50.0, offset_ratio=None
    )
    assert f >= 0.9, (precision, recall, [(n.pitch, round(n.start, 3)) for n in notes])
    bends = song.instruments[0].pitch_bends
    detuned = [b.pitch for b in bends if reference[1, 0] + 0.1 < b.time < reference[1, 1] - 0.05]
    assert np.median(detuned) / 8192 * 2 == pytest.approx(0.30, abs=0.06)  # the +30 cents of the second note


def test_segmentation_splits_on_held_jumps_not_on_vibrato():
    times = np.arange(200) * 512 / SR
    vibrato = 220.0 * 2 ** (50 * np.sin(2 * np.pi * 5.5 * times) / 1200)  # +-50 cents
    pitch = np.where(times < 1.2, vibrato, 330.0)
    notes = segment_notes(times, pitch, np.ones_like(times))
    assert [n.pitch for n in notes] == [57, 64]
    assert notes[1].start == pytest.approx(1.2, abs=0.03)
    flicker = np.where((times > 0.5) & (times < 0.52), 0.9, 0.1)  # one confident buffer is no note
    assert segment_notes(times, pitch, flicker) == []


def test_causal_smoothing_removes_flickers_without_looking_ahead():
    from autotune_keras.engine.smoothing import CausalSmoother, smooth_track

    confidence = np.array([0.1, 0.9, 0.1, 0.1, 0.8, 0.9, 0.6, 0.8, 0.4, 0.1])
    pitch = np.array([100, 220, 100, 100, 220, 220, 221, 440, 220, 100], float)
    smoothed_pitch, smoothed_confidence = smooth_track(pitch, confidence)
    valid = smoothed_confidence >= 0.7
    assert valid.tolist() == [False, False, False, False, False, True, True, True, False, False]  # the lone 0.9 is gone
    assert smoothed_pitch[7] == pytest.approx(221.0)  # a one-buffer octave jump is outvoted by the median
    step = CausalSmoother()
    first = [step.step(p, c) for p, c in zip(pitch[:6], confidence[:6], strict=True)]  # the past alone decides
    assert [c >= 0.7 for _, c in first] == valid[:6].tolist()
