"""On-the-fly augmentation in TensorFlow ops, with labels kept consistent.

Every function works on one example inside a ``tf.data`` map (frame labels on the label grid);
the audio transforms take ``[..., N]``, so an example's tracks go through each one stacked, as one
batch of ops. Geometric transforms (pitch shift, time stretch) move the truth, so they apply
to every audio track and to the labels; acoustic transforms (formant shift, reverb, colouration,
dynamics) describe the recording, so the input and its paired targets get the same draw; period
doubling (a detector's lesson: keep the labelled period where the sound repeats at twice it) and a
weakened fundamental (keep it where the second harmonic is louder) are applied to the input only,
and so is noise, drawn per training window (the chain before it may cover several consecutive
windows with one draw).
"""

from __future__ import annotations

import math

import tensorflow as tf

from autotune_keras.config import AugmentConfig, NoiseConfig

AUDIO_TRACKS = ("audio", "target_audio", "grid_audio")
STFT_SIZE = 2048
STRETCH_HOP = 512
FORMANT_HOP = 512  # 75 % overlap of the Hann window (what the envelope warp needs; half the FFTs of 256)
MIN_LIFTER, MAX_LIFTER = 16, 100  # quefrency bins kept for the spectral envelope
MAX_RIR_SECONDS = 1.0


def max_read_rate(cfg: AugmentConfig) -> float:
    """Largest input/output length ratio the geometric transforms may need."""
    if not cfg.enabled:
        return 1.0
    pitch = 2.0 ** (cfg.pitch_shift.max_cents / 1200.0) if cfg.pitch_shift.probability > 0 else 1.0
    stretch = 1.0 + cfg.time_stretch.max_fraction if cfg.time_stretch.probability > 0 else 1.0
    return pitch * stretch


# --------------------------------------------------------------------------- primitives


def resample(x: tf.Tensor, rate: tf.Tensor, out_len: int) -> tf.Tensor:
    """``out[..., t] = x[..., t * rate]`` with Catmull-Rom cubic interpolation (zero past the end)."""
    x = tf.convert_to_tensor(x, tf.float32)
    n = tf.shape(x)[-1]
    padded = tf.concat([x[..., :1], x, tf.zeros_like(x[..., :3])], axis=-1)
    pos = tf.range(out_len, dtype=tf.float32) * tf.cast(rate, tf.float32)
    base = tf.floor(pos)
    t = pos - base
    i = tf.cast(base, tf.int32) + 1  # index into padded
    limit = n + 3
    p0, p1, p2, p3 = (tf.gather(padded, tf.clip_by_value(i + d, 0, limit), axis=-1) for d in (-1, 0, 1, 2))
    out = p1 + 0.5 * t * (p2 - p0 + t * (2.0 * p0 - 5.0 * p1 + 4.0 * p2 - p3 + t * (3.0 * (p1 - p2) + p3 - p0)))
    return tf.where(pos < tf.cast(n - 1, tf.float32) + 1e-3, out, 0.0)


def warp_frames(values: tf.Tensor, rate: tf.Tensor, out_frames: int, log_domain: bool = False) -> tf.Tensor:
    """Frame labels read at ``j * rate``: linear (or log-linear) inside voiced runs, else nearest."""
    values = tf.convert_to_tensor(values, tf.float32)
    n = tf.shape(values)[0]
    pos = tf.range(out_frames, dtype=tf.float32) * tf.cast(rate, tf.float32)
    lo = tf.clip_by_value(tf.cast(tf.floor(pos), tf.int32), 0, n - 1)
    hi = tf.clip_by_value(lo + 1, 0, n - 1)
    w = pos - tf.floor(pos)
    a, b = tf.gather(values, lo), tf.gather(values, hi)
    nearest = tf.where(w < 0.5, a, b)
    if log_domain:
        both = (a > 0) & (b > 0)
        safe_a, safe_b = tf.where(both, a, 1.0), tf.where(both, b, 1.0)
        mixed = tf.exp((1.0 - w) * tf.math.log(safe_a) + w * tf.math.log(safe_b))
        out = tf.where(both, mixed, nearest)
    else:
        out = (1.0 - w) * a + w * b
    return tf.where(pos <= tf.cast(n - 1, tf.float32), out, 0.0)


def warp_events(events: tf.Tensor, rate: tf.Tensor, out_frames: int) -> tf.Tensor:
    """Binary event frames (onsets) moved so input frame ``j`` lands on ``round(j / rate)``."""
    events = tf.convert_to_tensor(events, tf.float32)
    index = tf.cast(tf.where(events > 0.5)[:, 0], tf.float32)
    target = tf.cast(tf.round(index / tf.cast(rate, tf.float32)), tf.int32)
    target = tf.boolean_mask(target, target < out_frames)
    return tf.scatter_nd(target[:, None], tf.ones_like(target, tf.float32), [out_frames]) > 0.5


def _stft(x: tf.Tensor, hop: int) -> tf.Tensor:
    return tf.signal.stft(x, STFT_SIZE, hop, fft_length=STFT_SIZE, window_fn=tf.signal.hann_window)


def _istft(spec: tf.Tensor, hop: int) -> tf.Tensor:
    window = tf.signal.inverse_stft_window_fn(hop, forward_window_fn=tf.signal.hann_window)
    return tf.signal.inverse_stft(spec, STFT_SIZE, hop, fft_length=STFT_SIZE, window_fn=window)


def _edge_pad(x: tf.Tensor, pad: int) -> tf.Tensor:
    # zeros: the discarded edge frames absorb the overlap-add ramp
    return tf.pad(x, [[0, 0]] * (len(x.shape) - 1) + [[pad, pad]])


def _pad_end(x: tf.Tensor, length) -> tf.Tensor:
    """``x`` zero-padded on its last axis to ``length`` samples."""
    return tf.pad(x, [[0, 0]] * (len(x.shape) - 1) + [[0, length - tf.shape(x)[-1]]])


def time_stretch(x: tf.Tensor, rate: tf.Tensor, out_len: int) -> tf.Tensor:
    """Phase-vocoder stretch: ``out[..., t] ~ x[..., t * rate]`` in time, pitch unchanged (librosa's algorithm)."""
    rate = tf.cast(rate, tf.float32)
    pad = STFT_SIZE
    spec = _stft(_edge_pad(x, pad), STRETCH_HOP)
    frames = tf.shape(spec)[-2]
    steps = tf.range(0.0, tf.cast(frames - 1, tf.float32), rate)
    spec = tf.concat([spec, tf.zeros_like(spec[..., :1, :])], axis=-2)
    bins = STFT_SIZE // 2 + 1
    advance = 2.0 * math.pi * STRETCH_HOP * tf.range(bins, dtype=tf.float32) / STFT_SIZE
    lo = tf.cast(tf.floor(steps), tf.int32)
    alpha = (steps - tf.floor(steps))[:, None]
    c0, c1 = tf.gather(spec, lo, axis=-2), tf.gather(spec, lo + 1, axis=-2)
    magnitude = (1.0 - alpha) * tf.abs(c0) + alpha * tf.abs(c1)
    # every frame's phase once, then gathered (TensorFlow's atan2 is scalar code: the costliest op here)
    angles = tf.math.angle(spec)
    delta = tf.gather(angles, lo + 1, axis=-2) - tf.gather(angles, lo, axis=-2) - advance
    delta = delta - 2.0 * math.pi * tf.round(delta / (2.0 * math.pi))
    phase = angles[..., :1, :] + tf.math.cumsum(advance + delta, axis=-2, exclusive=True)
    stretched = _istft(tf.complex(magnitude * tf.cos(phase), magnitude * tf.sin(phase)), STRETCH_HOP)
    # output frame i (centre i*hop + N/2) reads input frame position i*rate (centre i*rate*hop + N/2)
    offset = tf.cast(tf.round(STFT_SIZE / 2 + (pad - STFT_SIZE / 2) / rate), tf.int32)
    return _pad_end(stretched[..., offset : offset + out_len], out_len)


def envelope_lifter(max_f0_hz: tf.Tensor, sample_rate: int) -> tf.Tensor:
    """Cepstral cutoff below half the shortest pitch period, so harmonics stay out of the envelope."""
    period = sample_rate / tf.maximum(tf.cast(max_f0_hz, tf.float32), 1.0)
    return tf.clip_by_value(0.5 * period, MIN_LIFTER, MAX_LIFTER)


def formant_shift(x: tf.Tensor, factor: tf.Tensor, lifter: tf.Tensor = MIN_LIFTER) -> tf.Tensor:
    """Warp the cepstral spectral envelope by ``factor`` (>1 raises formants); harmonics stay.

    ``lifter`` is the cepstral cutoff in samples (see :func:`envelope_lifter`).
    """
    n = tf.shape(x)[-1]
    pad = STFT_SIZE
    spec = _stft(_edge_pad(x, pad), FORMANT_HOP)
    log_mag = tf.math.log(tf.abs(spec) + 1e-7)
    cepstrum = tf.signal.irfft(tf.complex(log_mag, tf.zeros_like(log_mag)))
    quefrency = tf.range(STFT_SIZE, dtype=tf.float32)
    cutoff = tf.cast(lifter, tf.float32)
    keep = tf.cast((quefrency < cutoff) | (quefrency > STFT_SIZE - cutoff), tf.float32)
    envelope = tf.math.real(tf.signal.rfft(cepstrum * keep))
    bins = STFT_SIZE // 2 + 1
    source_bin = tf.range(bins, dtype=tf.float32) / tf.cast(factor, tf.float32)
    lo = tf.clip_by_value(tf.cast(tf.floor(source_bin), tf.int32), 0, bins - 1)
    hi = tf.clip_by_value(lo + 1, 0, bins - 1)
    w = source_bin - tf.floor(source_bin)
    warped = (1.0 - w) * tf.gather(envelope, lo, axis=-1) + w * tf.gather(envelope, hi, axis=-1)
    gain = tf.exp(tf.clip_by_value(warped - envelope, -6.0, 6.0))
    shifted = spec * tf.complex(gain, tf.zeros_like(gain))
    return _pad_end(_istft(shifted, FORMANT_HOP)[..., pad : pad + n], n)


def room_impulse_response(rt60: tf.Tensor, sample_rate: int, seed: tf.Tensor, length: int | None = None) -> tf.Tensor:
    """Exponentially decaying noise (-60 dB at ``rt60`` s) after a unit direct path.

    ``length`` truncates the response (a causal convolution cropped to N samples only needs N).
    """
    length = min(int(MAX_RIR_SECONDS * sample_rate), length or int(MAX_RIR_SECONDS * sample_rate))
    full = int(MAX_RIR_SECONDS * sample_rate)
    t = tf.range(length, dtype=tf.float32) / sample_rate
    first_t = math.ceil(0.002 * sample_rate) / sample_rate
    noise = tf.random.stateless_normal([length], seed=seed)
    decay = tf.exp(-6.907755 * t / tf.cast(rt60, tf.float32))
    tail = noise * decay * tf.cast(t >= first_t, tf.float32)  # 2 ms pre-delay
    # normalise as the untruncated response would be: energy of the decay over the full length
    # (a geometric series: sum of q^k for k from the pre-delay to the full length)
    q = tf.exp(-2.0 * 6.907755 / (tf.cast(rt60, tf.float32) * sample_rate))
    first = math.ceil(0.002 * sample_rate)
    full_energy = tf.pow(q, first) * (1.0 - tf.pow(q, full - first)) / (1.0 - q)
    tail = tail * tf.math.rsqrt(full_energy + 1e-9)
    return tf.concat([[1.0], tail[1:]], axis=0)


def convolve(x: tf.Tensor, kernel: tf.Tensor) -> tf.Tensor:
    """Causal FFT convolution along the last axis, truncated to ``x``'s length."""
    n = tf.shape(x)[-1]
    size = n + tf.shape(kernel)[-1]
    fft_len = tf.cast(2 ** tf.math.ceil(tf.math.log(tf.cast(size, tf.float32)) / math.log(2.0)), tf.int32)
    spectrum = tf.signal.rfft(x, [fft_len]) * tf.signal.rfft(kernel, [fft_len])
    return tf.signal.irfft(spectrum, [fft_len])[..., :n]


def reverb(x: tf.Tensor, rt60: tf.Tensor, wet: tf.Tensor, sample_rate: int, seed: tf.Tensor) -> tf.Tensor:
    """Dry signal plus ``wet`` times the reverberant tail of a synthetic room."""
    length = x.shape[-1] if x.shape[-1] is not None else None
    rir = room_impulse_response(rt60, sample_rate, seed, length)
    tail = tf.concat([[0.0], rir[1:]], axis=0)
    return x + tf.cast(wet, tf.float32) * convolve(x, tail)


def compress(x: tf.Tensor, gain_db: tf.Tensor, ratio: tf.Tensor, threshold_db: float, sample_rate: int) -> tf.Tensor:
    """Gain, then a feed-forward RMS compressor (10 ms window) with the given ratio."""
    x = x * tf.pow(10.0, tf.cast(gain_db, tf.float32) / 20.0)
    window = int(0.01 * sample_rate)
    # centred moving average of x^2 by a running sum (a pooling op is ~50x slower here)
    leading = [[0, 0]] * (len(x.shape) - 1)
    padded = tf.pad(tf.square(x), leading + [[window // 2, window - window // 2]])
    running = tf.math.cumsum(tf.pad(padded, leading + [[1, 0]]), axis=-1)
    power = (running[..., window:] - running[..., :-window])[..., : tf.shape(x)[-1]] / window
    level_db = 10.0 * tf.math.log(power + 1e-10) / math.log(10.0)
    over = tf.nn.relu(level_db - threshold_db)
    reduction_db = over * (1.0 - 1.0 / tf.cast(ratio, tf.float32))
    return x * tf.pow(10.0, -reduction_db / 20.0)


def colour(x: tf.Tensor, *, tilt: tf.Tensor, centres: tf.Tensor, widths: tf.Tensor,
           gains: tf.Tensor, low_cut_hz: tf.Tensor, sample_rate: int) -> tf.Tensor:
    """Zero-phase EQ: ``tilt`` dB per octave around 1 kHz, Gaussian bumps (``gains`` dB at
    ``centres`` Hz, ``widths`` octaves) and a second-order low cut at ``low_cut_hz`` (0: none)."""
    n = tf.shape(x)[-1]
    spectrum = tf.signal.rfft(x)
    freqs = tf.maximum(tf.linspace(0.0, sample_rate / 2.0, tf.shape(spectrum)[-1]), 1.0)
    octaves = tf.math.log(freqs / 1000.0) / math.log(2.0)
    db = tilt * octaves
    for k in range(centres.shape[0]):
        db += gains[k] * tf.exp(-0.5 * tf.square((octaves - tf.math.log(centres[k] / 1000.0) / math.log(2.0)) / widths[k]))
    magnitude = tf.pow(10.0, db / 20.0)
    ratio = tf.square(freqs / tf.maximum(low_cut_hz, 1e-3))
    magnitude *= tf.where(low_cut_hz > 0, ratio / tf.sqrt(1.0 + tf.square(ratio)), 1.0)
    return tf.signal.irfft(spectrum * tf.complex(magnitude, 0.0), [n])


def add_noise(x: tf.Tensor, snr_db: tf.Tensor, pink: tf.Tensor, seed: tf.Tensor) -> tf.Tensor:
    """White or pink noise scaled to ``snr_db`` against the signal's RMS, along the last axis;
    ``snr_db`` and ``pink`` are scalars or one per row of ``x``."""
    n = tf.shape(x)[-1]
    white = tf.random.stateless_normal(tf.shape(x), seed=seed)
    spectrum = tf.signal.rfft(white)
    bins = tf.shape(spectrum)[-1]
    tilt = tf.math.rsqrt(tf.maximum(tf.range(bins, dtype=tf.float32), 1.0))
    pinked = tf.signal.irfft(spectrum * tf.complex(tilt, 0.0), [n])
    noise = tf.where(tf.convert_to_tensor(pink)[..., None], pinked, white)
    signal_rms = tf.sqrt(tf.reduce_mean(tf.square(x), axis=-1, keepdims=True) + 1e-12)
    noise_rms = tf.sqrt(tf.reduce_mean(tf.square(noise), axis=-1, keepdims=True) + 1e-12)
    level = tf.pow(10.0, -tf.cast(snr_db, tf.float32) / 20.0)[..., None]
    return x + noise * (signal_rms / noise_rms) * level


def double_period(x: tf.Tensor, f0_hz: tf.Tensor, hop: int, depth: tf.Tensor, phase: tf.Tensor, sample_rate: int) -> tf.Tensor:
    """``x [N]`` amplitude-modulated by ``1 + depth * cos(pi * integral of f0)`` where voiced:
    every other period of the pitch in ``f0_hz`` (frame ``i`` at sample ``i * hop``) grows and the
    next shrinks, so the waveform repeats exactly only at twice the period (period doubling), and
    the components it adds halfway between the harmonics stay ``depth / 2`` of their level."""
    n = tf.shape(x)[-1]
    frame = tf.clip_by_value((tf.range(n) + hop // 2) // hop, 0, tf.shape(f0_hz)[0] - 1)
    f0 = tf.gather(tf.cast(f0_hz, tf.float32), frame)  # nearest label per sample
    half_phase = tf.math.cumsum(math.pi * f0 / sample_rate) + tf.cast(phase, tf.float32)
    return x * (1.0 + tf.cast(depth, tf.float32) * tf.cast(f0 > 0, tf.float32) * tf.cos(half_phase))


def weaken_fundamental(x: tf.Tensor, f0_hz: tf.Tensor, hop: int, cut_db: tf.Tensor, sample_rate: int) -> tf.Tensor:
    """``x [N]`` with the first harmonic of the pitch in ``f0_hz`` (frame ``i`` at sample
    ``i * hop``) turned down by ``cut_db`` where voiced: each STFT frame is multiplied by a
    Gaussian dip at its labelled pitch, a quarter of the pitch wide (the second harmonic, a whole pitch
    away, keeps its level)."""
    n = tf.shape(x)[-1]
    pad = STFT_SIZE
    spec = _stft(_edge_pad(x, pad), FORMANT_HOP)  # [frames, bins]
    centres = tf.range(tf.shape(spec)[0]) * FORMANT_HOP + STFT_SIZE // 2 - pad  # in samples of x
    label = tf.clip_by_value((centres + hop // 2) // hop, 0, tf.shape(f0_hz)[0] - 1)
    f0 = tf.gather(tf.cast(f0_hz, tf.float32), label)[:, None]
    freqs = tf.range(STFT_SIZE // 2 + 1, dtype=tf.float32)[None, :] * (sample_rate / STFT_SIZE)
    dip = tf.exp(-0.5 * tf.square((freqs - f0) / tf.maximum(0.25 * f0, 1.0))) * tf.cast(f0 > 0, tf.float32)
    gain = 1.0 - (1.0 - tf.pow(10.0, -tf.cast(cut_db, tf.float32) / 20.0)) * dip
    return _pad_end(_istft(spec * tf.complex(gain, tf.zeros_like(gain)), FORMANT_HOP)[..., pad : pad + n], n)


def add_input_noise(example: dict, cfg: NoiseConfig, seed: tf.Tensor) -> dict:
    """Noise on the input track only, drawn per window: ``example["audio"]`` is ``[windows, N]``;
    sets ``snr_db [windows]`` (inf where no noise was added). The paired targets stay clean."""
    seeds = tf.random.experimental.stateless_split(tf.cast(seed, tf.int64), num=4)
    audio = example["audio"]
    windows = tf.shape(audio)[:1]
    happens = tf.random.stateless_uniform(windows, seed=seeds[0]) < cfg.probability
    snr = tf.random.stateless_uniform(windows, seed=seeds[1], minval=cfg.min_snr_db, maxval=cfg.max_snr_db)
    pink = tf.random.stateless_uniform(windows, seed=seeds[2]) < 0.5
    out = dict(example)
    out["audio"] = tf.where(happens[:, None], add_noise(audio, snr, pink, seeds[3]), audio)
    out["snr_db"] = tf.where(happens, snr, tf.constant(float("inf")))
    return out


# --------------------------------------------------------------------------- the chain


def augment_example(example: dict, cfg: AugmentConfig, window: int, hop: int, sample_rate: int, seed: tf.Tensor) -> dict:
    """Apply the configured chain, except the input noise (:func:`add_input_noise`), to a windowed
    example (audio longer than ``window`` by the read-rate margin) and crop it to ``window``
    samples / ``window // hop`` frames."""
    seeds = tf.random.experimental.stateless_split(tf.cast(seed, tf.int64), num=26)

    def draw(i: int, low=0.0, high=1.0):
        return tf.random.stateless_uniform([], seed=seeds[i], minval=low, maxval=high)

    def happens(i: int, probability: float):
        return draw(i) < probability

    frames = window // hop
    out = dict(example)
    ps, ts = cfg.pitch_shift, cfg.time_stretch
    cents = tf.where(happens(0, ps.probability), draw(1, -ps.max_cents, ps.max_cents), 0.0)
    pitch_ratio = tf.pow(2.0, cents / 1200.0)
    stretch = tf.where(happens(2, ts.probability), draw(3, 1.0 - ts.max_fraction, 1.0 + ts.max_fraction), 1.0)
    # Stretch first (output reads input at `stretch`), then resample by the pitch ratio.
    stretched_len = int(math.ceil(window * 2.0 ** (ps.max_cents / 1200.0))) + 8

    def stretch_track(x):
        return time_stretch(x, stretch, stretched_len)

    def pitch_track(x):
        return resample(x, pitch_ratio, window)

    tracks = [track for track in AUDIO_TRACKS if track in example]
    x = tf.stack([out[track] for track in tracks])  # [tracks, samples]: one op per transform for all
    x = tf.cond(tf.not_equal(stretch, 1.0), lambda: stretch_track(x), lambda: x)
    x = tf.cond(tf.not_equal(pitch_ratio, 1.0), lambda: pitch_track(x), lambda: x[:, :window])
    x.set_shape([len(tracks), window])
    rate = stretch * pitch_ratio
    out["f0_hz"] = warp_frames(example["f0_hz"], rate, frames, log_domain=True) * pitch_ratio
    out["target_f0_hz"] = warp_frames(example["target_f0_hz"], rate, frames, log_domain=True) * pitch_ratio
    out["voicing"] = warp_frames(example["voicing"], rate, frames)
    out["onsets"] = tf.cast(warp_events(example["onsets"], rate, frames), tf.float32)
    out["tempo"] = example["tempo"] * rate  # reading faster raises the tempo
    out["pitch_shift_cents"] = cents
    out["stretch_rate"] = stretch

    fs = cfg.formant_shift
    factor = tf.where(happens(4, fs.probability), draw(5, 1.0 - fs.max_fraction, 1.0 + fs.max_fraction), 1.0)
    rv = cfg.reverb
    use_reverb = happens(6, rv.probability)
    rt60, wet = draw(7, rv.min_rt60, rv.max_rt60), draw(8, 0.05, rv.max_wet)
    dy = cfg.dynamics
    use_dynamics = happens(9, dy.probability)
    gain_db, ratio = draw(10, -dy.max_gain_db, dy.max_gain_db), draw(11, dy.min_ratio, dy.max_ratio)
    lifter = envelope_lifter(
        tf.reduce_max(out["f0_hz"]) + tf.cast(tf.reduce_max(out["f0_hz"]) <= 0, tf.float32) * 500.0, sample_rate
    )
    co = cfg.colour
    use_colour = happens(16, co.probability)

    def uniform(i: int, shape: list[int], low: float, high: float) -> tf.Tensor:
        return tf.random.stateless_uniform(shape, seed=seeds[i], minval=low, maxval=high)

    eq = {
        "tilt": draw(17, -co.max_tilt_db_per_octave, co.max_tilt_db_per_octave),
        "centres": tf.exp(uniform(18, [co.bumps], math.log(150.0), math.log(8000.0))),
        "widths": uniform(19, [co.bumps], 0.3, 1.5),
        "gains": uniform(20, [co.bumps], -co.max_bump_db, co.max_bump_db),
        "low_cut_hz": tf.where(happens(21, co.low_cut_probability), draw(22, *co.low_cut_hz), 0.0),
    }
    x = tf.cond(tf.not_equal(factor, 1.0), lambda: formant_shift(x, factor, lifter), lambda: x)
    x = tf.cond(use_reverb, lambda: reverb(x, rt60, wet, sample_rate, seeds[12]), lambda: x)
    x = tf.cond(use_colour, lambda: colour(x, **eq, sample_rate=sample_rate), lambda: x)
    x = tf.cond(use_dynamics, lambda: compress(x, gain_db, ratio, dy.threshold_db, sample_rate), lambda: x)
    x.set_shape([len(tracks), window])
    for index, track in enumerate(tracks):
        out[track] = x[index]
    pd = cfg.period_doubling
    if pd.probability > 0:  # input only: the pitch label, and any paired target, stay as they are
        depth = tf.where(happens(23, pd.probability), draw(24, pd.min_depth, pd.max_depth), 0.0)
        out["audio"] = double_period(out["audio"], out["f0_hz"], hop, depth, draw(25, 0.0, 2.0 * math.pi), sample_rate)
    wf = cfg.weak_fundamental
    if wf.probability > 0:  # input only, as period doubling (its draws from a seed of their own)
        extra = tf.random.experimental.stateless_split(tf.random.experimental.stateless_fold_in(seeds[25], 1), num=2)
        use = tf.random.stateless_uniform([], seed=extra[0]) < wf.probability
        cut_db = tf.random.stateless_uniform([], seed=extra[1], minval=wf.min_db, maxval=wf.max_db)
        audio = out["audio"]
        out["audio"] = tf.cond(use, lambda: weaken_fundamental(audio, out["f0_hz"], hop, cut_db, sample_rate), lambda: audio)
        out["audio"].set_shape(audio.shape)

    out["snr_db"] = tf.constant(float("inf"))  # until add_input_noise
    return out
