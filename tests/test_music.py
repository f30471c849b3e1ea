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


def test_reference_tuning_moves_every_target():
    assert music.midi_to_hz(69, a4=415.0) == pytest.approx(415.0)
    baroque = music.quantize_hz_to_scale(np.array([415.0, 430.0]), "A", "MAJOR", a4=415.0)
    assert baroque.tolist() == pytest.approx([415.0, 415.0])  # 430 Hz is 62 cents above baroque A
    assert music.quantize_hz_to_scale(430.0, "A", "MAJOR") == pytest.approx(440.0)  # nearer A440 than G#
    with pytest.raises(ValueError, match="415-466"):
        music.check_a4(500)


def test_scala_files_and_cents_lists_give_microtonal_scales(tmp_path):
    edo19 = tmp_path / "19edo.scl"
    edo19.write_text("! 19 equal divisions\n19-tone equal temperament\n 19\n!\n"
                     + "\n".join(f"{1200 * k / 19:.5f}" for k in range(1, 19)) + "\n2/1\n")  # fmt: skip
    scale = music.parse_scale(str(edo19))
    assert len(scale.degrees) == 19 and scale.period == pytest.approx(1200.0)
    step = 1200 / 19
    off = 440.0 * 2 ** ((3 * step + 20) / 1200)  # 20 cents above the third 19-TET step from A
    assert music.quantize_hz_to_scale(off, "A", scale) == pytest.approx(440.0 * 2 ** (3 * step / 1200))
    just = tmp_path / "just.scl"
    just.write_text("Just major\n7\n9/8\n5/4\n4/3\n3/2\n5/3\n15/8\n2\n")
    third = music.quantize_hz_to_scale(261.6256 * 1.26, "C", music.parse_scale(str(just)))
    assert third == pytest.approx(261.6256 * 5 / 4, rel=1e-4)  # the just major third, 14 cents under 12-TET's
    tritave = tmp_path / "bp.scl"
    tritave.write_text("Bohlen-Pierce, a non-octave scale\n2\n 950.0\n 3/1\n")
    bp = music.parse_scale(str(tritave))
    assert bp.period == pytest.approx(1901.955, abs=1e-3)
    assert music.quantize_hz_to_scale(261.6256 * 3.05, "C", bp) == pytest.approx(261.6256 * 3, rel=1e-4)
    cents = music.parse_scale("cents:0,150,350,500,700,850,1050")  # a neutral-third scale
    assert music.quantize_hz_to_scale(440.0 * 2 ** (160 / 1200), "A", cents) == pytest.approx(440.0 * 2 ** (150 / 1200))
    assert music.parse_scale("minor").degrees == tuple(100.0 * s for s in contract.SCALES["MINOR"])


def test_malformed_scales_are_named(tmp_path):
    bad = tmp_path / "bad.scl"
    bad.write_text("A bad scale\n3\n100.0\nfoo\n2/1\n")
    with pytest.raises(ValueError, match=r"bad.scl:4: 'foo' is neither cents"):
        music.parse_scale(str(bad))
    short = tmp_path / "short.scl"
    short.write_text("Too short\n5\n100.0\n2/1\n")
    with pytest.raises(ValueError, match="says 5 notes but lists 2"):
        music.parse_scale(str(short))
    with pytest.raises(FileNotFoundError, match="none.scl: no such scale file"):
        music.parse_scale(str(tmp_path / "none.scl"))
    with pytest.raises(ValueError, match="unknown scale 'LYDIAN'"):
        music.parse_scale("LYDIAN")
