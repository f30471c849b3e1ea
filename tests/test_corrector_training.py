"""The corrector's combined loss and its training run (real TensorFlow, real TFRecords)."""

from __future__ import annotations

import json

import numpy as np
import pytest
import tensorflow as tf
from conftest import SR, harmonic_tone

from autotune_keras import losses
from autotune_keras.models.pitch_corrector.training import TAPS_FILE, TERMS


def test_spectral_and_phase_losses_see_pitch_not_absolute_phase():
    tone = harmonic_tone(330.0, 0.5)[None]
    t = np.arange(tone.shape[1]) / SR
    shifted_phase = (0.3 * np.sin(2 * np.pi * 330.0 * t + 1.0))[None].astype(np.float32)
    plain = (0.3 * np.sin(2 * np.pi * 330.0 * t))[None].astype(np.float32)
    sharp = (0.3 * np.sin(2 * np.pi * 349.2 * t))[None].astype(np.float32)
    assert float(losses.mr_stft(tone, tone)) == pytest.approx(0.0, abs=1e-6)
    assert float(losses.mr_stft(harmonic_tone(349.2, 0.5)[None], tone)) > 0.5
    assert float(losses.phase_coherence(shifted_phase, plain)) < 0.01  # same frequency, other phase
    # a semitone apart: the phase advance per 256-sample hop differs by 0.70 rad, 1 - cos = 0.235
    assert float(losses.phase_coherence(sharp, plain)) == pytest.approx(0.235, abs=0.03)
    assert float(losses.waveform_mse(shifted_phase, plain)) > 0.01  # the waveform term does see phase


def test_pitch_loss_is_huber_in_semitones_and_ignores_octave_misreadings():
    target = tf.constant([[220.0, 220.0, 0.0]])
    half_semitone = tf.Variable([[220.0 * 2 ** (0.5 / 12), 220.0, 500.0]])
    with tf.GradientTape() as tape:
        value = losses.pitch_semitone_error(half_semitone, target)  # the unvoiced third is left out
    assert float(value) == pytest.approx(0.5 * 0.5**2 / 2, rel=1e-3)
    assert float(tf.norm(tape.gradient(value, half_semitone))) > 0
    octave = tf.Variable([[440.0, 440.0, 0.0]])
    with tf.GradientTape() as tape:
        value = losses.pitch_semitone_error(octave, target)
    assert float(value) == pytest.approx(losses.PITCH_LOSS_RANGE - 0.5)
    assert float(tf.norm(tape.gradient(value, octave))) == 0.0


def test_corrector_run_learns_taps_logs_every_term_and_audio(tiny_corrector_run):
    taps = np.load(tiny_corrector_run / TAPS_FILE)
    assert taps.shape == (15,) and np.all(np.isfinite(taps)) and np.abs(taps).max() > 0, (
        "taps never moved: is the tiny detector (conftest tiny_run) confident enough for the corrector to engage?"
    )  # moved from zero
    history = json.loads((tiny_corrector_run / "history.json").read_text())
    for term in ("loss", *TERMS):
        assert len(history[term]) == 2 and len(history["val_" + term]) == 2
    tags = set()
    for event_file in (tiny_corrector_run / "logs").rglob("events.out.tfevents.*"):
        for record in tf.data.TFRecordDataset(str(event_file)):
            event = tf.compat.v1.Event.FromString(record.numpy())
            tags |= {value.tag for value in event.summary.value}
    assert {"input", "output", "target"} <= tags  # audio summaries
    assert {"epoch_mr_stft", "epoch_phase", "epoch_pitch", "epoch_waveform"} <= tags


def test_corrector_export_carries_the_learned_taps(tiny_corrector_run, tiny_corrector):
    report = json.loads((tiny_corrector / "export_report.json").read_text())
    assert report["corrector_run"] == str(tiny_corrector_run) and report["checkpoint"] == str(tiny_corrector_run)
    exported = tf.train.load_variable(
        str(tiny_corrector / "saved_model" / "variables" / "variables"), "envelope_taps/.ATTRIBUTES/VARIABLE_VALUE"
    )
    assert np.array_equal(exported, np.load(tiny_corrector_run / TAPS_FILE))


def test_train_rejects_an_unknown_task(tmp_path):
    from autotune_keras.train import main

    config = tmp_path / "other.yaml"
    config.write_text("task: timing_model\n")
    with pytest.raises(ValueError, match="unknown task 'timing_model'"):
        main(str(config))
