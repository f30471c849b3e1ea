import numpy as np
import pytest
from hypothesis import given
from hypothesis import strategies as st

from autotune_keras import contract, music

frequencies = st.floats(min_value=contract.PITCH_MIN_HZ, max_value=contract.PITCH_MAX_HZ)
keys = st.sampled_from(music.KEY_NAMES + ("Db", "Eb", "Gb", "Ab", "Bb", "bb", "f#"))
scales = st.sampled_from(list(contract.SCALES))


def test_reference_points():
    assert music.hz_to_midi(440.0) == pytest.approx(69.0)
    assert music.midi_to_hz(60.0) == pytest.approx(261.6256, rel=1e-6)
    assert music.cents_between(880.0, 440.0) == pytest.approx(1200.0)
    assert music.hz_to_cents(10.0) == pytest.approx(0.0)


def test_enharmonic_keys():
    assert music.key_to_pitch_class("C#") == music.key_to_pitch_class("Db") == 1
    assert music.key_to_pitch_class("bb") == music.key_to_pitch_class("A#") == 10
    assert music.key_to_pitch_class("Cb") == 11
    with pytest.raises(ValueError, match="unknown key 'H'"):
        music.key_to_pitch_class("H")
    with pytest.raises(ValueError, match="unknown scale"):
        music.scale_intervals("LYDIAN")


@given(frequencies)
def test_hz_midi_cents_round_trip(hz):
    assert music.midi_to_hz(music.hz_to_midi(hz)) == pytest.approx(hz, rel=1e-9)
    assert music.cents_to_hz(music.hz_to_cents(hz)) == pytest.approx(hz, rel=1e-9)


@given(frequencies, keys, scales)
def test_quantize_lands_on_the_nearest_scale_note(hz, key, scale):
    note = float(music.quantize_midi_to_scale(music.hz_to_midi(hz), key, scale))
    assert note == round(note)
    degree = (int(note) - music.key_to_pitch_class(key)) % 12
    assert degree in contract.SCALES[scale]
    # no scale note is strictly closer
    midi = float(music.hz_to_midi(hz))
    for candidate in range(int(midi) - 7, int(midi) + 8):
        if (candidate - music.key_to_pitch_class(key)) % 12 in contract.SCALES[scale]:
            assert abs(candidate - midi) >= abs(note - midi) - 1e-9
    # quantizing a scale note gives itself
    assert float(music.quantize_hz_to_scale(music.midi_to_hz(note), key, scale)) == pytest.approx(music.midi_to_hz(note))


@given(frequencies, frequencies, st.floats(min_value=0.0, max_value=1.0))
def test_blend_moves_proportionally_in_cents(source, target, strength):
    blended = float(music.blend_pitch(source, target, strength))
    assert music.cents_between(blended, source) == pytest.approx(strength * music.cents_between(target, source), abs=1e-6)
    assert float(music.blend_pitch(source, target, 0.0)) == pytest.approx(source)
    assert float(music.blend_pitch(source, target, 1.0)) == pytest.approx(target)


def test_unvoiced_stays_unvoiced():
    assert music.quantize_hz_to_scale(np.array([0.0, 440.0]), "C", "MAJOR").tolist() == [0.0, 440.0]
    assert music.blend_pitch(np.array([0.0]), np.array([440.0]), 1.0).tolist() == [0.0]
