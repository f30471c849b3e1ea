"""Each augmentation: what it must change, and what it must preserve."""

import librosa
import numpy as np
import pytest
import tensorflow as tf
from conftest import harmonic_tone

from autotune_keras import music
from autotune_keras.config import AugmentConfig, from_dict
from autotune_keras.data import augment

SR = 44100
HOP = 128
WINDOW = 16384
SOURCE = int(np.ceil(WINDOW * augment.max_read_rate(AugmentConfig()) / HOP) + 2) * HOP


def only(name: str, **settings) -> AugmentConfig:
    """A config with one augmentation always on and the rest off."""
    names = ("pitch_shift", "time_stretch", "formant_shift", "reverb", "dynamics", "noise", "colour", "period_doubling", "weak_fundamental")
    data = {n: {"probability": 1.0 if n == name else 0.0} for n in names}
    data[name].update(settings)
    return from_dict(AugmentConfig, data)


def median_f0(audio: np.ndarray) -> float:
    f0 = librosa.yin(np.asarray(audio), fmin=70, fmax=2100, sr=SR, frame_length=4096, hop_length=512)
    return float(np.median(f0[2:-2]))


def example_from(audio: np.ndarray, f0: float, onset_frames=()) -> dict:
    frames = len(audio) // HOP
    onsets = np.zeros(frames, np.float32)
    onsets[list(onset_frames)] = 1.0
    return {
        "audio": tf.constant(audio, tf.float32),
        "target_audio": tf.constant(audio, tf.float32),
        "grid_audio": tf.zeros(len(audio), tf.float32),
        "f0_hz": tf.fill([frames], float(f0)),
        "target_f0_hz": tf.fill([frames], float(f0)),
        "voicing": tf.ones([frames]),
        "onsets": tf.constant(onsets),
        "tempo": tf.constant(120.0),
    }


def run(cfg: AugmentConfig, example: dict, seed: int = 3) -> dict:
    out = augment.augment_example(example, cfg, WINDOW, HOP, SR, tf.constant([seed, 7], tf.int64))
    return {k: v.numpy() for k, v in out.items()}


@pytest.mark.parametrize("seed", [1, 2, 5])
def test_pitch_shift_moves_f0_and_labels_by_the_drawn_cents(seed):
    out = run(only("pitch_shift", max_cents=50.0), example_from(harmonic_tone(220.0, 1.0)[:SOURCE], 220.0), seed)
    cents = float(out["pitch_shift_cents"])
    assert 0 < abs(cents) <= 50
    expected = 220.0 * 2 ** (cents / 1200)
    assert music.cents_between(median_f0(out["audio"]), expected) == pytest.approx(0.0, abs=3.0)
    np.testing.assert_allclose(out["f0_hz"], expected, rtol=1e-5)
    assert out["audio"].shape == (WINDOW,) and out["f0_hz"].shape == (WINDOW // HOP,)


def test_time_stretch_moves_onsets_but_not_pitch():
    # 2500-sample notes of 220 Hz every 64 frames (8192 samples), far enough apart that the phase
    # vocoder's smear (about half its 2048-sample frame) does not reach the neighbours
    window = 4 * WINDOW
    source = int(np.ceil(window * 1.1 / HOP) + 2) * HOP
    starts = np.arange(0, source // HOP, 64)
    tone = harmonic_tone(220.0, source / SR)[:source]
    gate = np.zeros(source, np.float32)
    for frame in starts:
        gate[frame * HOP : frame * HOP + 2500] = 1.0
    example = example_from(tone * gate, 220.0, starts)

    def stretched(seed):
        out = augment.augment_example(
            example, only("time_stretch", max_fraction=0.1), window, HOP, SR, tf.constant([seed, 7], tf.int64)
        )
        return {k: v.numpy() for k, v in out.items()}

    seed = next(s for s in range(50) if abs(stretched(s)["stretch_rate"] - 1) > 0.07)
    out = stretched(seed)
    rate = float(out["stretch_rate"])
    assert music.cents_between(median_f0(out["audio"]), 220.0) == pytest.approx(0.0, abs=5.0)
    expected = [round(j / rate) for j in starts if round(j / rate) < window // HOP]
    assert np.flatnonzero(out["onsets"]).tolist() == expected
    assert out["tempo"] == pytest.approx(120.0 * rate)
    # the audio moved the same way: each note's energy centre sits where the stretch puts it
    energy = out["audio"] ** 2
    checked = 0
    for frame in starts[1:]:
        centre = (frame * HOP + 1250) / rate
        if centre + 4000 > window:
            continue
        span = np.arange(int(centre - 4000), int(centre + 4000))
        measured = np.sum(span * energy[span]) / np.sum(energy[span])
        assert abs(measured - centre) < 800  # a 2048/512 phase vocoder (librosa too) smears transients by up to ~700
        assert abs(measured - centre) < abs(measured - (frame * HOP + 1250))  # nearer than where it was
        checked += 1
    assert checked >= 2


def test_noise_hits_the_drawn_snr_per_window():
    clean = harmonic_tone(220.0, 1.2)[: 3 * WINDOW].reshape(3, WINDOW) * np.array([[1.0], [0.1], [0.5]], np.float32)
    example = {"audio": tf.constant(clean), "target_audio": tf.constant(clean)}
    cfg = only("noise", min_snr_db=5.0, max_snr_db=30.0).noise
    for seed in range(3):
        out = augment.add_input_noise(example, cfg, tf.constant([seed, 7], tf.int64))
        out = {k: v.numpy() for k, v in out.items()}
        noise = out["audio"] - clean
        snr = 10 * np.log10(np.mean(clean**2, axis=1) / np.mean(noise**2, axis=1))
        np.testing.assert_allclose(snr, out["snr_db"], atol=0.3)  # each window at its own draw
        assert len(set(np.round(out["snr_db"], 3))) == 3
        np.testing.assert_array_equal(out["target_audio"], clean)  # targets stay clean
        for row, snr_db in zip(out["audio"], out["snr_db"], strict=True):
            assert music.cents_between(median_f0(row), 220.0) == pytest.approx(0.0, abs=5.0) or snr_db < 10
    never = augment.add_input_noise(example, only("pitch_shift").noise, tf.constant([0, 7], tf.int64))
    np.testing.assert_array_equal(never["audio"].numpy(), clean)
    assert np.all(np.isinf(never["snr_db"].numpy()))


def test_reverb_adds_a_tail_with_the_drawn_decay():
    burst = np.zeros(SR, np.float32)
    burst[:2000] = harmonic_tone(440.0, 2000 / SR)
    wet = augment.reverb(tf.constant(burst), 0.5, 1.0, SR, tf.constant([1, 2], tf.int64)).numpy()
    np.testing.assert_allclose(wet[:80], burst[:80], atol=1e-4)  # the direct path comes first (2 ms pre-delay)
    tail = wet[2000:]
    energy = np.cumsum(tail[::-1] ** 2)[::-1]  # Schroeder backward integration
    decay_db = 10 * np.log10(energy / energy[0] + 1e-20)
    t20 = np.argmax(decay_db < -5) / SR, np.argmax(decay_db < -25) / SR
    rt60 = 3 * (t20[1] - t20[0])
    assert rt60 == pytest.approx(0.5, rel=0.25)
    out = run(only("reverb"), example_from(harmonic_tone(220.0, 1.0)[:SOURCE], 220.0))
    assert not np.allclose(out["audio"], harmonic_tone(220.0, 1.0)[:WINDOW], atol=1e-3)
    np.testing.assert_allclose(out["audio"], out["target_audio"], atol=1e-6)  # the pair gets the same room


def test_formant_shift_moves_the_envelope_not_the_pitch():
    t = np.arange(SOURCE) / SR
    f0, formant = 150.0, 1000.0
    tone = sum(np.sin(2 * np.pi * k * f0 * t) / (1 + ((k * f0 - formant) / 150.0) ** 2) for k in range(1, 40))
    tone = (0.3 * tone / np.max(np.abs(tone))).astype(np.float32)
    shifted = augment.formant_shift(tf.constant(tone), 1.2, augment.envelope_lifter(f0, SR)).numpy()
    assert music.cents_between(median_f0(shifted), f0) == pytest.approx(0.0, abs=5.0)
    spectrum_in = np.abs(np.fft.rfft(tone[4096:-4096] * np.hanning(len(tone) - 8192)))
    spectrum_out = np.abs(np.fft.rfft(shifted[4096:-4096] * np.hanning(len(tone) - 8192)))
    freqs = np.fft.rfftfreq(len(tone) - 8192, 1 / SR)
    band = freqs < 3000
    centroid_in = np.sum(freqs[band] * spectrum_in[band] ** 2) / np.sum(spectrum_in[band] ** 2)
    centroid_out = np.sum(freqs[band] * spectrum_out[band] ** 2) / np.sum(spectrum_out[band] ** 2)
    assert 1.08 < centroid_out / centroid_in < 1.3  # the formant region moved up
    # energy is still on the harmonics of 150 Hz
    harmonic = np.abs(((freqs / f0 + 0.5) % 1.0) - 0.5) < 0.08
    assert np.sum(spectrum_out[harmonic] ** 2) / np.sum(spectrum_out**2) > 0.95


def test_dynamics_gain_and_compression():
    tone = harmonic_tone(220.0, 1.0)
    loud_quiet = np.concatenate([tone[:22050], 0.1 * tone[:22050]])
    x = tf.constant(loud_quiet)
    gained = augment.compress(x, 6.0, 1.0, -24.0, SR).numpy()
    np.testing.assert_allclose(gained, loud_quiet * 10 ** (6 / 20), rtol=1e-5)
    squashed = augment.compress(x, 0.0, 8.0, -30.0, SR).numpy()

    def level(a):
        return 20 * np.log10(np.sqrt(np.mean(a**2)))

    contrast_in = level(loud_quiet[2000:20000]) - level(loud_quiet[24000:42000])
    contrast_out = level(squashed[2000:20000]) - level(squashed[24000:42000])
    assert contrast_in == pytest.approx(20.0, abs=0.5)
    assert contrast_out < 12.0
    assert music.cents_between(median_f0(squashed[:22050]), 220.0) == pytest.approx(0.0, abs=5.0)


def test_colour_shapes_the_spectrum_as_drawn_and_low_cut_removes_the_fundamental():
    noise = np.random.default_rng(0).standard_normal(SR).astype(np.float32)
    eq = {"tilt": 3.0, "centres": tf.constant([2000.0]), "widths": tf.constant([0.5]), "gains": tf.constant([6.0]),
          "low_cut_hz": tf.constant(0.0)}  # fmt: skip
    out = augment.colour(tf.constant(noise), **eq, sample_rate=SR).numpy()
    gain_db = 20 * np.log10(np.abs(np.fft.rfft(out)) / np.abs(np.fft.rfft(noise)))
    freqs = np.fft.rfftfreq(SR, 1 / SR)
    at = lambda hz: float(np.median(gain_db[(freqs > hz * 0.97) & (freqs < hz * 1.03)]))  # noqa: E731
    assert at(500) == pytest.approx(3.0 * np.log2(0.5) + 6.0 * np.exp(-0.5 * (2 / 0.5) ** 2), abs=0.2)
    assert at(2000) == pytest.approx(3.0 + 6.0, abs=0.2)  # one octave up, on the bump
    tone = harmonic_tone(110.0, 1.0)
    cut = augment.colour(tf.constant(tone), **{**eq, "gains": tf.constant([0.0]), "tilt": 0.0, "low_cut_hz": tf.constant(300.0)}, sample_rate=SR)
    spectrum = np.abs(np.fft.rfft(cut.numpy()))
    fundamental, third = spectrum[110], spectrum[330]  # 1 Hz bins
    assert 20 * np.log10(fundamental / np.abs(np.fft.rfft(tone))[110]) < -15  # the fundamental is mostly gone
    assert 20 * np.log10(third / np.abs(np.fft.rfft(tone))[330]) > -4  # the harmonics stay
    out = run(only("colour"), example_from(harmonic_tone(220.0, 1.0)[:SOURCE], 220.0))
    np.testing.assert_allclose(out["audio"], out["target_audio"], atol=1e-6)  # the pair gets the same colouration
    assert music.cents_between(median_f0(out["audio"]), 220.0) == pytest.approx(0.0, abs=5.0)  # pitch untouched


def test_period_doubling_repeats_the_wave_at_twice_the_period_and_keeps_the_label():
    f0 = 225.0  # a period of exactly 196 samples
    example = example_from(harmonic_tone(f0, 1.0)[:SOURCE], f0)
    frames = SOURCE // HOP
    unvoiced = frames // 4  # the first quarter has no pitch: it must pass untouched
    example["f0_hz"] = tf.constant(np.where(np.arange(frames) < unvoiced, 0.0, f0).astype(np.float32))
    out = run(only("period_doubling", min_depth=0.4, max_depth=0.4), example)  # depth 0.4 every time
    source = example["audio"].numpy()[:WINDOW]
    edge = unvoiced * HOP - HOP // 2
    np.testing.assert_array_equal(out["audio"][:edge], source[:edge])
    np.testing.assert_array_equal(out["target_audio"], source)  # the input only
    np.testing.assert_allclose(out["f0_hz"], example["f0_hz"].numpy()[: WINDOW // HOP], rtol=1e-5)  # the label keeps the pitch

    def nccf(lag_seconds: float) -> float:
        lag, x = int(round(lag_seconds * SR)), out["audio"][WINDOW // 2 :]
        a, b = x[:-lag], x[lag:]
        return float(np.sum(a * b) / np.sqrt(np.sum(a * a) * np.sum(b * b)))

    assert nccf(2 / f0) > 0.98 and nccf(2 / f0) - nccf(1 / f0) > 0.04  # repeats at twice the period, not at it
    period = 196
    voiced = out["audio"][edge + period :]

    def alternation(offset: int) -> float:  # energy ratio of odd to even periods, cut from `offset`
        energy = np.sum(voiced[offset : offset + period * 40].reshape(-1, period) ** 2, axis=1)
        return float(np.sum(energy[::2]) / np.sum(energy[1::2]))

    ratios = [alternation(offset) for offset in range(0, period, 7)]
    assert max(max(ratios), 1 / min(ratios)) > 1.5  # every other period louder (depth 0.4: up to 2.8x)


def test_weak_fundamental_turns_the_first_harmonic_down_and_keeps_the_rest_and_the_label():
    f0 = 350.0  # a sung vowel's pitch where its first formant lifts the second harmonic
    example = example_from(harmonic_tone(f0, 1.0)[:SOURCE], f0)
    out = run(only("weak_fundamental", min_db=20.0, max_db=20.0), example)  # 20 dB every time

    def level_db(audio: np.ndarray, hz: float) -> float:
        spectrum = np.abs(np.fft.rfft(audio[2048:-2048] * np.hanning(len(audio) - 4096)))
        freqs = np.fft.rfftfreq(len(audio) - 4096, 1 / SR)
        return float(20 * np.log10(spectrum[np.abs(freqs - hz) < 0.03 * hz].max()))

    source = example["audio"].numpy()[:WINDOW]
    assert level_db(out["audio"], f0) - level_db(source, f0) == pytest.approx(-20.0, abs=2.0)
    for k in (2, 3):
        assert abs(level_db(out["audio"], k * f0) - level_db(source, k * f0)) < 1.0  # the harmonics stay
    np.testing.assert_array_equal(out["target_audio"], source)  # the input only
    np.testing.assert_allclose(out["f0_hz"], example["f0_hz"].numpy()[: WINDOW // HOP], rtol=1e-5)  # the label keeps the pitch
