"""The classical DSP autotune, the audio metrics that judge correction, and the correct CLI."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest
import soundfile as sf
from conftest import harmonic_tone

from autotune_keras import contract, music
from autotune_keras.dsp.baseline import START_DELAY, correct_audio
from autotune_keras.evaluation.audio_metrics import (
    PYIN_FRAME,
    PYIN_HOP,
    align,
    edge_jumps,
    mr_stft_distance,
    pitch_on_target,
    pyin_pitch,
    snr_db,
)

ROOT = Path(__file__).resolve().parent.parent
SR = contract.SAMPLE_RATE


def _per_buffer(value: float, audio: np.ndarray) -> np.ndarray:
    return np.full(int(np.ceil(len(audio) / contract.BUFFER_SIZE)), value)


def _median_pitch(audio: np.ndarray) -> float:
    _, f0 = pyin_pitch(audio[SR // 4 :])
    return float(np.median(f0[f0 > 0]))


@pytest.mark.parametrize(("source", "target"), [(223.0, 220.0), (220.0, 261.63), (440.0, 392.0), (110.0, 123.47)])
def test_baseline_moves_a_tone_onto_the_target_without_clicks(source, target):
    tone = harmonic_tone(source, 1.5)
    out = correct_audio(tone, _per_buffer(source, tone), _per_buffer(target, tone), 1.0)
    assert len(out) == len(tone)
    assert abs(music.cents_between(_median_pitch(out), target)) < 5.0
    at_edges, inside = edge_jumps(out)
    assert at_edges <= inside


def test_baseline_strength_moves_proportionally_in_cents():
    tone = harmonic_tone(220.0, 1.5)
    out = correct_audio(tone, _per_buffer(220.0, tone), _per_buffer(246.94, tone), 0.5)
    halfway = float(music.blend_pitch(220.0, 246.94, 0.5))
    assert abs(music.cents_between(_median_pitch(out), halfway)) < 5.0


def test_baseline_strength_zero_and_unvoiced_pass_through_exactly():
    rng = np.random.default_rng(0)
    audio = np.concatenate(
        [harmonic_tone(196.0, 0.5), 0.05 * rng.standard_normal(SR // 4).astype(np.float32), harmonic_tone(300.0, 0.5)]
    )
    pitches = np.where(np.arange(len(_per_buffer(0, audio))) % 7 == 0, 0.0, 250.0)  # some buffers unvoiced
    for strength, detected in ((0.0, pitches), (1.0, np.zeros_like(pitches))):
        out = correct_audio(
            np.concatenate([audio, np.zeros(START_DELAY, np.float32)]),
            np.append(detected, [0.0]),
            np.append(pitches, [0.0]) * 1.05,
            strength,
        )
        assert snr_db(out[START_DELAY:], audio) >= 40.0


def test_audio_metrics_on_known_signals():
    tone = harmonic_tone(330.0, 1.0)
    late = np.concatenate([np.zeros(300, np.float32), tone])
    shifted, lag = align(late, tone)
    assert lag == 300 and snr_db(shifted, tone) == float("inf")
    early, lag = align(tone[123:], tone)
    assert lag == -123
    assert mr_stft_distance(tone, tone) == pytest.approx(0.0, abs=1e-6)
    assert mr_stft_distance(harmonic_tone(349.2, 1.0), tone) > 0.3
    clicked = tone.copy()
    clicked[contract.BUFFER_SIZE * 10 :] += 0.5  # a step exactly at a buffer edge
    at_edges, inside = edge_jumps(clicked)
    assert at_edges > inside
    target = np.full(len(tone), 330.0)
    assert pitch_on_target(tone, target)["within"] > 0.95
    assert pitch_on_target(tone, target * 2 ** (30 / 1200))["within"] < 0.05
    # two notes back to back: frames straddling the change measure a mix and are left out of
    # `within`, not of `within_all_frames`
    two_notes = np.concatenate([tone, harmonic_tone(349.23, 1.0)])
    notes = np.concatenate([target, np.full(len(tone), 349.23)])
    scores = pitch_on_target(two_notes, notes, scale=("C", "CHROMATIC"))
    assert scores["within"] > 0.97 and scores["within_any_scale_note"] > 0.97
    assert scores["within_all_frames"] < scores["within"] and scores["frames"] < scores["frames_all"]
    assert scores["frames_all"] - scores["frames"] >= PYIN_FRAME // PYIN_HOP - 1


def test_correct_cli_baseline_writes_corrected_mono_44k(tmp_path):
    source = tmp_path / "take.wav"
    detuned = 261.63 * 2 ** (35 / 1200)  # C4 + 35 cents
    sf.write(source, np.stack([harmonic_tone(detuned, 1.5, 48000)] * 2, axis=1), 48000)
    out = tmp_path / "fixed.wav"
    result = subprocess.run(
        [sys.executable, "-m", "autotune_keras.correct", str(source), str(out), "--key", "C", "--scale", "MAJOR", "--baseline"],
        cwd=ROOT, capture_output=True, text=True,
    )  # fmt: skip
    assert result.returncode == 0, result.stderr
    audio, rate = sf.read(out)
    assert rate == SR and audio.ndim == 1 and abs(len(audio) - 1.5 * SR) < 2
    assert abs(music.cents_between(_median_pitch(audio.astype(np.float32)), 261.63)) < 6.0
    assert "median correction" in result.stdout


@pytest.mark.parametrize(
    ("flags", "message"),
    [
        (["--key", "H", "--baseline"], "unknown key 'H'"),
        (["--scale", "LYDIAN", "--baseline"], "unknown scale 'LYDIAN'"),
        (["--strength", "1.5", "--baseline"], "--strength 1.5: must be between 0 and 1"),
        (["--model", "nowhere"], "nowhere: no such model file or folder"),
        (["--model", "saved_models/pitch_detector"], "not a pitch corrector"),
    ],
)
def test_correct_cli_errors_name_the_problem(tmp_path, flags, message):
    source = tmp_path / "take.wav"
    sf.write(source, harmonic_tone(220.0, 0.3), SR)
    result = subprocess.run(
        [sys.executable, "-m", "autotune_keras.correct", str(source), str(tmp_path / "o.wav"), *flags],
        cwd=ROOT,
        capture_output=True,
        text=True,
    )
    assert result.returncode != 0 and message in result.stderr, result.stderr
