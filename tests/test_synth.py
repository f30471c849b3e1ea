import librosa
import numpy as np
import pytest

from autotune_keras import contract, music
from autotune_keras.config import SyntheticConfig
from autotune_keras.data.synth import synthesize_phrase

SR = contract.SAMPLE_RATE
CFG = SyntheticConfig(phrase_seconds=2.0)


def measured_f0(audio, hop=512):
    f0 = librosa.yin(audio, fmin=70, fmax=2100, sr=SR, frame_length=4096, hop_length=hop)
    return f0


@pytest.mark.parametrize("index", [0, 1, 2, 3, 4, 7])
def test_f0_label_matches_measured_pitch(index):
    phrase = synthesize_phrase(index, CFG)
    f0 = measured_f0(phrase.audio)
    label = phrase.f0_hz[::512][: len(f0)]
    steady = (label > 0) & (np.convolve(label > 0, np.ones(9), "same") == 9)  # well inside notes
    assert steady.sum() > 20, phrase.metadata
    error = np.abs(music.cents_between(f0[steady], label[steady]))
    assert np.median(error) < 15, phrase.metadata
    assert np.mean(error < 50) > 0.85, phrase.metadata


def test_deterministic_and_distinct():
    a, b, c = synthesize_phrase(5, CFG), synthesize_phrase(5, CFG), synthesize_phrase(6, CFG)
    np.testing.assert_array_equal(a.audio, b.audio)
    assert a.metadata == b.metadata
    assert not np.array_equal(a.audio[: len(c.audio)], c.audio)


def test_in_tune_twin_sits_on_the_scale():
    for index in range(4):
        phrase = synthesize_phrase(index, CFG)
        key, scale = phrase.metadata["key"], phrase.metadata["scale"]
        voiced = phrase.target_f0_hz > 0
        midi = music.hz_to_midi(phrase.target_f0_hz[voiced])
        np.testing.assert_allclose(midi, np.round(midi), atol=1e-6)
        degrees = (np.round(midi).astype(int) - music.key_to_pitch_class(key)) % 12
        assert set(degrees.tolist()) <= set(contract.SCALES[scale])
        # the performed pitch really is off the grid somewhere, the twin really is on it
        f0 = measured_f0(phrase.in_tune_audio)
        target = phrase.target_f0_hz[::512][: len(f0)]
        steady = (target > 0) & (np.convolve(target > 0, np.ones(9), "same") == 9)
        steady &= np.convolve(np.abs(np.diff(target, prepend=target[0])) > 0, np.ones(9), "same") == 0
        if steady.sum() > 10:
            assert np.median(np.abs(music.cents_between(f0[steady], target[steady]))) < 10


def test_on_grid_twin_starts_notes_on_the_beat():
    phrase = synthesize_phrase(2, CFG)
    assert len(phrase.grid_onsets) == len(phrase.onsets) > 1
    beat = 60.0 / phrase.metadata["tempo"] * SR
    positions = (phrase.grid_onsets - phrase.grid_onsets[0]) / (beat / 4)  # sixteenth-note grid
    np.testing.assert_allclose(positions, np.round(positions), atol=1e-3)
    assert np.any(phrase.onsets != phrase.grid_onsets)  # the performance has timing jitter


def test_audio_is_clean_and_phase_continuous():
    for index in range(6):
        phrase = synthesize_phrase(index, CFG)
        for audio in (phrase.audio, phrase.in_tune_audio, phrase.on_grid_audio):
            assert np.all(np.isfinite(audio)) and np.max(np.abs(audio)) <= 1.0
            # band-limited and continuous: no sample-to-sample jump beyond what a 16 kHz partial allows
            assert np.max(np.abs(np.diff(audio))) < 2 * np.pi * 16000 / SR * np.max(np.abs(audio)) * 1.5
        assert set(np.unique(phrase.voicing)) <= {0.0, 1.0}
        voiced_f0 = phrase.f0_hz[phrase.voicing > 0]
        assert np.all((voiced_f0 >= contract.PITCH_MIN_HZ) & (voiced_f0 <= contract.PITCH_MAX_HZ))
        assert np.all(phrase.f0_hz[phrase.voicing == 0] == 0)


def test_covers_voices_and_instruments():
    instruments = {
        synthesize_phrase(i, SyntheticConfig(phrase_seconds=0.5)).metadata["instrument"].split("_")[0] for i in range(40)
    }
    assert {"voice", "pluck", "bowed", "reed", "flute"} <= instruments
