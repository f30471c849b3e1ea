"""EnhancedPitchDetector's network: a CREPE-style pitch classifier sized for one CPU core.

Why this design (see docs/DETECTOR.md for the longer note):

* 512 samples at 44.1 kHz are less than one period at 80 Hz, so the model sees a window of
  ``context + 512`` samples: the new buffer plus the previous ``context`` samples, which the
  exported model takes and returns as an explicit state tensor (zero lookahead by default).
* Pitch as classification over 20-cent bins from 80 to 2000 Hz with Gaussian-blurred targets and
  local weighted-average decoding (CREPE), which resolves far finer than the bin width.
* A learned strided filterbank followed by depthwise-separable conv blocks written as Conv2D with
  (1, k) kernels: every layer is a builtin TFLite op that runs in INT8 and that tfmot's QAT knows.
* The window is RMS-normalised before the network so INT8 activations use their range whatever
  the input level; decoding (argmax, local average, Hz) happens after the network.
* A periodicity branch reads the normalised autocorrelation (as YIN / RAPT do) of the
  decimated window: a conv stack with pooling cannot time a 100 Hz period to the 5 samples that
  20 cents need, a lag axis can. Its values lie in [-1, 1], which INT8 represents well.
* Harmonic-aware bin evidence: for every pitch bin, the NCCF at that bin's period and at 1/3,
  1/2, 2 and 3 times it (a true pitch is periodic at its period and in antiphase at half of it;
  a reading an octave high is periodic at twice its period). A small convolution shared by all
  bins turns these into a logit added to each bin, so octave and twelfth decisions rest on the
  waveform's periodicity at the candidate itself, not only on the spectrum's shape.
"""

from __future__ import annotations

import math
from dataclasses import dataclass

import numpy as np
import tensorflow as tf

from autotune_keras import contract, music
from autotune_keras.tfk import keras

RMS_FLOOR = 1e-3  # windows quieter than -60 dBFS RMS are not amplified further
LOCAL_AVERAGE_BINS = 4  # CREPE's local weighted average: argmax +- 4 bins


@dataclass
class DetectorConfig:
    """Architecture and label settings of the pitch detector."""

    context_samples: int = 1536  # past samples carried in the state
    lookahead_buffers: int = 0  # label the buffer this many buffers back (adds latency)
    cents_per_bin: float = 20.0
    target_sigma_cents: float = 25.0
    n_harmonics: int = 8
    stem_filters: int = 32
    stem_kernel: int = 64  # samples; a multiple of stem_stride
    stem_stride: int = 16
    block_filters: tuple[int, ...] = (48, 64, 96, 128)  # one separable block each (the depth)
    block_kernels: tuple[int, ...] = (9, 9, 9, 5)  # as many as block_filters
    width: float = 1.0  # scales stem and block filters (rounded to multiples of 8)
    squeeze_filters: int = 24
    dropout: float = 0.1
    nccf_decimation: int = 4  # the periodicity branch works at 44100 / 4 Hz
    nccf_units: int = 64
    # per-bin periodicity evidence: the NCCF at these multiples of each bin's period (empty: off)
    bin_evidence_multiples: tuple[float, ...] = (1 / 3, 1 / 2, 1.0, 2.0, 3.0)
    bin_evidence_filters: int = 8
    # decoding: divide a pitch by k (the smallest of `subharmonics` that qualifies) where the
    # period k times as long is more periodic by this much (NCCF); 0: off. Chosen on the
    # validation splits (docs/BENCHMARKS.md; 0.3 until detector v16)
    suboctave_margin: float = 0.4
    subharmonics: tuple[int, ...] = (2, 3, 4)  # 2: octave, 3: twelfth, 4: two octaves
    # decoding: multiply a pitch by k (the largest of `superharmonics` that qualifies) where the
    # period k times as short is as periodic, within this margin (NCCF), and at least
    # superharmonic_min_nccf; empty: off. Chosen on the validation splits (docs/BENCHMARKS.md)
    superharmonics: tuple[int, ...] = (2,)  # (2, 4) and (2, 3, 4) measured no better
    superharmonic_margin: float = 0.1
    superharmonic_min_nccf: float = 0.3  # 0.5 until detector v16: in noise the NCCF falls
    # decoding: below this pitch (Hz; 0: never) the reading moves to the NCCF's peak near its
    # period (a parabola through the lags), where that peak reaches refine_min_nccf
    refine_below_hz: float = 300.0
    refine_min_nccf: float = 0.8
    # streaming: once a confident pitch has held this many buffers (0: off), a reading an exact
    # octave (or two) away is folded back into its octave until it has lasted octave_hold_max_buffers.
    # Chosen on the validation splits (docs/BENCHMARKS.md)
    octave_hold_buffers: int = 8
    octave_hold_max_buffers: int = 8
    # buffers below the detection threshold but at or above this confidence keep the held note (a
    # decaying or noisy tail); lower ones (silence) end it. On the validation splits 0.02 beat the
    # corrector's 0.2, clean and at 20 dB SNR (docs/BENCHMARKS.md)
    octave_hold_keep_confidence: float = 0.02
    # streaming: the octave of each reading is chosen by a running belief over the pitch bins (a
    # causal HMM forward pass: the last belief blurred by three box filters of this radius in bins,
    # mixed with octave_filter_leak of uniform, times this buffer's bin likelihoods) among the
    # strongest bin and the bins whole octaves from it; a buffer below
    # octave_filter_reset_confidence clears the belief. 0: off. Radius 8 cut the octave errors at
    # 20 dB SNR by 7 % on 120 validation clips, did nothing on 332 and added 5 % on the held-out
    # test clips: left off (docs/BENCHMARKS.md)
    octave_filter_radius_bins: int = 0
    octave_filter_leak: float = 0.01
    octave_filter_reset_confidence: float = 0.2

    @property
    def window_samples(self) -> int:
        return self.context_samples + contract.BUFFER_SIZE

    @property
    def n_bins(self) -> int:
        span = music.hz_to_cents(contract.PITCH_MAX_HZ) - music.hz_to_cents(contract.PITCH_MIN_HZ)
        return int(math.floor(span / self.cents_per_bin)) + 1

    @property
    def latency_samples(self) -> int:
        """From the label instant (centre of the labelled buffer) to the end of the input."""
        return contract.BUFFER_SIZE // 2 + self.lookahead_buffers * contract.BUFFER_SIZE

    @property
    def nccf_lags(self) -> int:
        """Lags 0..N at the decimated rate, N covering the longest period (80 Hz)."""
        return int(math.ceil(contract.SAMPLE_RATE / self.nccf_decimation / contract.PITCH_MIN_HZ)) + 1

    @property
    def evidence_lags(self) -> int:
        """Lags 0..N of the longer NCCF the bin evidence reads (N: the longest multiple of 80 Hz's
        period, within the decimated window's length)."""
        longest = max(self.bin_evidence_multiples, default=1.0) * (self.nccf_lags - 1)
        return min(int(math.ceil(longest)) + 2, self.window_samples // self.nccf_decimation - 1)

    def filters(self, count: int) -> int:
        """``count`` filters scaled by ``width`` (a multiple of 8, at least 8)."""
        return max(8, int(round(count * self.width / 8.0)) * 8)

    def bin_cents(self) -> np.ndarray:
        """Centre of each bin in cents above 10 Hz."""
        return music.hz_to_cents(contract.PITCH_MIN_HZ) + self.cents_per_bin * np.arange(self.n_bins)


def _separable_block(x, filters: int, kernel: int, name: str):
    x = keras.layers.DepthwiseConv2D((1, kernel), padding="same", use_bias=False, name=f"{name}_dw")(x)
    x = keras.layers.BatchNormalization(name=f"{name}_dw_bn")(x)
    x = keras.layers.ReLU(name=f"{name}_dw_relu")(x)
    x = keras.layers.Conv2D(filters, (1, 1), use_bias=False, name=f"{name}_pw")(x)
    x = keras.layers.BatchNormalization(name=f"{name}_pw_bn")(x)
    x = keras.layers.ReLU(name=f"{name}_pw_relu")(x)
    return keras.layers.MaxPooling2D((1, 2), name=f"{name}_pool")(x)


def build_network(cfg: DetectorConfig) -> keras.Model:
    """The quantizable core: normalised window [b, W] and its NCCF [b, lags] -> pitch bin logits,
    voicing logit, harmonics."""
    window = keras.Input((cfg.window_samples,), name="window")
    nccf = keras.Input((cfg.nccf_lags,), name="nccf")
    inputs = {"window": window, "nccf": nccf}
    # Fold the window into frames of `stem_stride` samples: a (1, kernel / stride) conv over frames
    # is a strided (1, kernel) filterbank over samples, but with stride input channels instead of
    # one, which INT8 kernels run ~4x faster.
    x = keras.layers.Reshape((1, cfg.window_samples // cfg.stem_stride, cfg.stem_stride), name="frames")(window)
    x = keras.layers.Conv2D(
        cfg.filters(cfg.stem_filters), (1, cfg.stem_kernel // cfg.stem_stride), padding="same", use_bias=False, name="filterbank"
    )(x)
    x = keras.layers.BatchNormalization(name="filterbank_bn")(x)
    x = keras.layers.ReLU(name="filterbank_relu")(x)
    x = keras.layers.MaxPooling2D((1, 2), name="filterbank_pool")(x)
    for i, (filters, kernel) in enumerate(zip(cfg.block_filters, cfg.block_kernels, strict=True)):
        x = _separable_block(x, cfg.filters(filters), kernel, f"block{i + 1}")
    x = keras.layers.Conv2D(cfg.squeeze_filters, (1, 1), use_bias=False, name="squeeze")(x)
    x = keras.layers.BatchNormalization(name="squeeze_bn")(x)
    x = keras.layers.ReLU(name="squeeze_relu")(x)
    x = keras.layers.Flatten(name="flatten")(x)
    # periodicity branch: lag templates over the NCCF (fine period resolution for low voices)
    periodicity = keras.layers.Dense(cfg.nccf_units, activation="relu", name="periodicity")(nccf)
    x = keras.layers.Concatenate(name="features")([x, periodicity])
    x = keras.layers.Dropout(cfg.dropout, name="dropout")(x)
    voicing_logit = keras.layers.Dense(1, name="voicing_logit")(x)
    harmonics = keras.layers.Dense(cfg.n_harmonics, activation="sigmoid", name="harmonics")(x)
    if cfg.bin_evidence_multiples:
        spectral_logits = keras.layers.Dense(cfg.n_bins, name="spectral_logits")(x)
        evidence = keras.Input((1, cfg.n_bins, len(cfg.bin_evidence_multiples)), name="bin_evidence")
        inputs["bin_evidence"] = evidence
        e = keras.layers.Conv2D(cfg.bin_evidence_filters, (1, 3), padding="same", activation="relu", name="evidence_conv")(evidence)
        e = keras.layers.Conv2D(1, (1, 1), name="evidence_logit")(e)
        e = keras.layers.Flatten(name="evidence_flat")(e)
        pitch_logits = keras.layers.Add(name="pitch_logits")([spectral_logits, e])
    else:
        pitch_logits = keras.layers.Dense(cfg.n_bins, name="pitch_logits")(x)
    return keras.Model(
        inputs,
        {"pitch_logits": pitch_logits, "voicing_logit": voicing_logit, "harmonics": harmonics},
        name="pitch_detector_core",
    )


def normalize_window(window: tf.Tensor) -> tf.Tensor:
    """Scale each window to unit RMS (no more than a -60 dBFS floor allows)."""
    rms = tf.sqrt(tf.reduce_mean(tf.square(window), axis=-1, keepdims=True))
    return window / tf.maximum(rms, RMS_FLOOR)


def nccf(window: tf.Tensor, cfg: DetectorConfig, lags: int | None = None) -> tf.Tensor:
    """Normalised autocorrelation of the decimated window at lags 0..N (Wiener-Khinchin),
    unbiased for the shrinking overlap -> [b, lags]. A YIN-like periodicity feature in about
    [-1, 1]; it sits outside the INT8 network, in float.

    The inverse transform is a second RFFT: the power spectrum mirrored to its full length is real
    and even, so its DFT is real, the autocorrelation. TFLite has no IRFFT and its RFFT hands back
    only magnitudes (COMPLEX_ABS), so the spectrum's total is added at frequency 0 first: every
    lag then gains that total, which keeps it non-negative (no lag exceeds lag 0), and the
    magnitude is the value itself. This replaces a 513 x lags inverse-cosine matrix (853 KB and
    about 30 us per buffer at 416 lags)."""
    lags = lags or cfg.nccf_lags
    length = cfg.window_samples // cfg.nccf_decimation
    fft_length = 1 << (2 * length - 1).bit_length()  # zero padding (linear correlation); TFLite's RFFT needs 2^k
    decimated = tf.reduce_mean(tf.reshape(window, [-1, length, cfg.nccf_decimation]), axis=-1)
    power = tf.square(tf.abs(tf.signal.rfft(decimated, fft_length=[fft_length])))  # [b, fft / 2 + 1]
    mirrored = tf.reverse(power[:, 1 : fft_length // 2], axis=[1])  # bins N/2-1 .. 1 (a reverse is ~3x a gather's speed)
    total = tf.reduce_sum(power, axis=1, keepdims=True) + tf.reduce_sum(mirrored, axis=1, keepdims=True)
    full = tf.concat([power[:, :1] + total, power[:, 1:], mirrored], axis=1)  # [b, fft], even
    correlation = (tf.abs(tf.signal.rfft(full, fft_length=[fft_length]))[:, :lags] - total) / fft_length
    unbias = (length / (length - np.arange(lags))).astype(np.float32)
    return correlation / (correlation[:, :1] + 1e-6) * unbias


def bin_evidence_taps(cfg: DetectorConfig) -> tuple[np.ndarray, np.ndarray]:
    """Where the bin evidence reads the long NCCF: for each (bin, multiple), bin-major, the lag
    just below m times the bin's period and the weight of the lag above it (linear
    interpolation); lags outside 1..N-2 read lag 0 with weight 0 and are masked to 0 after."""
    lags = cfg.evidence_lags
    periods = contract.SAMPLE_RATE / cfg.nccf_decimation / (10.0 * 2.0 ** (cfg.bin_cents() / 1200.0))
    lag = (periods[:, None] * np.asarray(cfg.bin_evidence_multiples, np.float64)[None, :]).reshape(-1)
    inside = (lag >= 1.0) & (lag <= lags - 2)
    low = np.where(inside, np.floor(lag), 0).astype(np.int32)
    frac = np.where(inside, lag - np.floor(lag), 0.0).astype(np.float32)
    return low, np.stack([frac, inside.astype(np.float32)])


def network_inputs(window: tf.Tensor, cfg: DetectorConfig) -> dict[str, tf.Tensor]:
    """Raw window [b, W] -> the network's inputs: the RMS-normalised window, its NCCF and (when
    configured) the per-bin periodicity evidence [b, 1, bins, multiples]."""
    normalised = normalize_window(window)
    if not cfg.bin_evidence_multiples:
        return {"window": normalised, "nccf": nccf(normalised, cfg)}
    long_nccf = nccf(normalised, cfg, cfg.evidence_lags)
    low, (frac, inside) = bin_evidence_taps(cfg)
    below, above = tf.gather(long_nccf, low, axis=1), tf.gather(long_nccf, low + 1, axis=1)
    evidence = (below + (above - below) * frac) * inside
    # long lags hold few samples and their unbiased values can pass 1: clip to INT8's range
    evidence = tf.clip_by_value(evidence, -1.0, 1.0)
    evidence = tf.reshape(evidence, [-1, 1, cfg.n_bins, len(cfg.bin_evidence_multiples)])
    return {"window": normalised, "nccf": long_nccf[:, : cfg.nccf_lags], "bin_evidence": evidence}


def decode_pitch(logits: tf.Tensor, cfg: DetectorConfig, peak: tf.Tensor | None = None) -> tf.Tensor:
    """CREPE decoding: sigmoid-weighted average of bin cents within +-4 bins of ``peak`` [b, 1]
    (default: the argmax) -> Hz [b, 1]."""
    cents = tf.constant(cfg.bin_cents(), tf.float32)
    bins = tf.range(cfg.n_bins, dtype=tf.int32)
    if peak is None:
        peak = tf.argmax(logits, axis=-1, output_type=tf.int32)[:, None]
    near = tf.cast(tf.abs(bins[None, :] - peak) <= LOCAL_AVERAGE_BINS, tf.float32)
    weights = tf.sigmoid(logits) * near
    mean_cents = tf.reduce_sum(weights * cents, axis=-1, keepdims=True) / (tf.reduce_sum(weights, axis=-1, keepdims=True) + 1e-9)
    return 10.0 * tf.exp(mean_cents * (math.log(2.0) / 1200.0))


SUBOCTAVE_SEARCH = 0.03  # an NCCF peak is looked for within +-3 % of a period


def nccf_peak(nccf_values: tf.Tensor, lag: tf.Tensor) -> tf.Tensor:
    """Largest NCCF value within +-3 % of each lag in ``lag`` [b, m] (decimated samples) ->
    [b, m]; -2 where that range holds no lag of ``nccf_values`` [b, lags]. All m lags are read by
    one gather of a few lags around each (not a mask over the whole axis per lag), so a check
    costs the TFLite graph about a dozen ops, not a dozen for each peak it reads."""
    lags = nccf_values.shape[-1]
    reach = int(math.ceil(SUBOCTAVE_SEARCH * (lags - 1) / (1.0 - SUBOCTAVE_SEARCH))) + 2  # covers any range inside the axis
    candidates = tf.round(lag)[..., None] + tf.constant(np.arange(-reach, reach + 1, dtype=np.float32))  # [b, m, 2 reach + 1]
    low = tf.floor(lag * (1.0 - SUBOCTAVE_SEARCH))[..., None]
    high = tf.math.ceil(lag * (1.0 + SUBOCTAVE_SEARCH))[..., None]
    inside = (candidates >= tf.maximum(low, 0.0)) & (candidates <= tf.minimum(high, float(lags - 1)))
    values = tf.gather(nccf_values, tf.cast(tf.clip_by_value(candidates, 0.0, float(lags - 1)), tf.int32), batch_dims=1)
    return tf.reduce_max(tf.where(inside, values, -2.0), axis=-1)


def _period(pitch_hz: tf.Tensor, cfg: DetectorConfig) -> tf.Tensor:
    """Pitch [b, 1] -> its period in decimated samples [b, 1]."""
    return contract.SAMPLE_RATE / cfg.nccf_decimation / tf.maximum(pitch_hz, 1.0)


def subharmonic_check(pitch_hz: tf.Tensor, nccf_values: tf.Tensor, cfg: DetectorConfig) -> tf.Tensor:
    """Divide the decoded pitch [b, 1] by k where the period k times as long is clearly more
    periodic (its NCCF peak higher by ``cfg.suboctave_margin``), for k in ``cfg.subharmonics``
    whose long period fits the lag axis; the smallest such k wins. A weak fundamental read as its
    second (guitars, reeds) or third harmonic (a clarinet's odd spectrum) is the detector's
    commonest error on unheard timbres (docs/DETECTOR.md); a true reading's NCCF is already near 1
    at its own period, so no longer period beats it by the margin."""
    if cfg.suboctave_margin <= 0 or not cfg.subharmonics:
        return pitch_hz
    divisors = sorted(set(cfg.subharmonics))
    period = _period(pitch_hz, cfg)
    peaks = nccf_peak(nccf_values, period * tf.constant([1.0, *map(float, divisors)]))  # [b, 1 + k]
    checked = pitch_hz
    for index in range(len(divisors), 0, -1):  # the smallest k is written last
        k = float(divisors[index - 1])
        fits = k * period <= cfg.nccf_lags - 2  # the long period's peak lies inside the lags
        clearer = peaks[:, index : index + 1] - peaks[:, :1] > cfg.suboctave_margin
        checked = tf.where(fits & clearer, pitch_hz / k, checked)
    return checked


def superharmonic_check(pitch_hz: tf.Tensor, nccf_values: tf.Tensor, cfg: DetectorConfig) -> tf.Tensor:
    """Multiply the decoded pitch [b, 1] by k where the period k times as short is as periodic
    (its NCCF peak within ``cfg.superharmonic_margin`` of the peak at the period, and at least
    ``cfg.superharmonic_min_nccf``), for k in ``cfg.superharmonics`` whose pitch stays in the
    contract's range; the largest such k wins. The mirror of the subharmonic check: a reading an
    octave or two low (a period two or four times the true one) is periodic at its own period only
    because the true period repeats inside it, so the true period is at least as periodic; a true
    reading's NCCF at half its period is low (its fundamental is in antiphase there)."""
    if not cfg.superharmonics:
        return pitch_hz
    multipliers = sorted(set(cfg.superharmonics))
    period = _period(pitch_hz, cfg)
    peaks = nccf_peak(nccf_values, period / tf.constant([1.0, *map(float, multipliers)]))  # [b, 1 + k]
    checked = pitch_hz
    for index, k in enumerate(map(float, multipliers), start=1):  # the largest k is written last
        fits = (pitch_hz * k <= contract.PITCH_MAX_HZ) & (period / k >= 2.0)
        at_short = peaks[:, index : index + 1]
        as_periodic = (at_short >= peaks[:, :1] - cfg.superharmonic_margin) & (at_short >= cfg.superharmonic_min_nccf)
        checked = tf.where(fits & as_periodic, pitch_hz * k, checked)
    return checked


def refine_pitch(pitch_hz: tf.Tensor, nccf_values: tf.Tensor, cfg: DetectorConfig) -> tf.Tensor:
    """The decoded pitch [b, 1] moved to the period where the NCCF peaks within +-3 % of its own
    (a parabola through the best lag and its neighbours), below ``cfg.refine_below_hz`` and where
    that peak reaches ``cfg.refine_min_nccf``. The bins are 20 cents wide and an unheard low
    timbre is read tens of cents sharp; on a long period the lag axis is finer than the bins."""
    if cfg.refine_below_hz <= 0:
        return pitch_hz
    lags = nccf_values.shape[-1]
    period = _period(pitch_hz, cfg)
    lag_axis = tf.constant(np.arange(lags, dtype=np.float32)[None, :])
    low, high = tf.floor(period * (1.0 - SUBOCTAVE_SEARCH)), tf.math.ceil(period * (1.0 + SUBOCTAVE_SEARCH))
    near = (lag_axis >= low) & (lag_axis <= high)
    peak = tf.clip_by_value(tf.argmax(tf.where(near, nccf_values, -2.0), axis=-1, output_type=tf.int32), 1, lags - 2)[:, None]
    left, mid, right = (tf.gather(nccf_values, peak + k, batch_dims=1) for k in (-1, 0, 1))
    curvature = left - 2.0 * mid + right
    offset = tf.where(curvature < 0.0, tf.clip_by_value(0.5 * (left - right) / tf.minimum(curvature, -1e-9), -0.5, 0.5), 0.0)
    refined = contract.SAMPLE_RATE / cfg.nccf_decimation / (tf.cast(peak, tf.float32) + offset)
    use = (pitch_hz <= cfg.refine_below_hz) & (high <= lags - 2) & (mid >= cfg.refine_min_nccf)
    return tf.where(use, refined, pitch_hz)


def decode_and_check(logits: tf.Tensor, nccf_values: tf.Tensor, cfg: DetectorConfig, peak: tf.Tensor | None = None) -> tf.Tensor:
    """The whole decoding, logits [b, bins] and NCCF [b, lags] -> Hz [b, 1]: CREPE's local average
    around ``peak`` (default: the argmax; see :func:`filter_octave`), the subharmonic and
    superharmonic checks, then the low-pitch refinement."""
    checked = superharmonic_check(subharmonic_check(decode_pitch(logits, cfg, peak), nccf_values, cfg), nccf_values, cfg)
    return refine_pitch(checked, nccf_values, cfg)


OCTAVE_FILTER_REACH = 3  # octaves either side of the strongest bin that the octave filter weighs
LIKELIHOOD_FLOOR = 1e-4  # no bin's likelihood is taken as zero (the belief could not recover)


def box_blur(values: tf.Tensor, radius: int) -> tf.Tensor:
    """Moving sum over +-``radius`` of the last axis of [b, n] (zeros beyond the ends), by a
    cumulative sum: float builtins (CUMSUM, SUB) that no INT8 conversion quantizes."""
    batch = tf.shape(values)[0]
    padded = tf.concat([tf.zeros([batch, radius + 1]), values, tf.zeros([batch, radius])], axis=1)
    total = tf.cumsum(padded, axis=1)
    return total[:, 2 * radius + 1 :] - total[:, : values.shape[-1]]


def octave_belief_size(cfg: DetectorConfig) -> int:
    """Values of the octave filter's belief carried in the octave state (0: filter off)."""
    return cfg.n_bins if cfg.octave_filter_radius_bins > 0 else 0


def filter_octave(logits: tf.Tensor, belief: tf.Tensor, cfg: DetectorConfig) -> tuple[tf.Tensor, tf.Tensor]:
    """One step of the causal octave filter: logits [b, bins] and the last belief [b, bins]
    (zeros: none) -> (peak bin [b, 1], belief after this buffer). The prior is the last belief
    blurred (three box filters, a near-Gaussian of about ``radius`` bins) mixed with
    ``cfg.octave_filter_leak`` of uniform; the belief is the prior times each bin's likelihood
    (its sigmoid), normalised. The peak is whichever of the strongest bin and the bins whole
    octaves from it the belief favours: the pitch class always comes from this buffer, only the
    octave leans on the buffers before, so a note change is followed at once."""
    radius = cfg.octave_filter_radius_bins
    blurred = belief
    for _ in range(3):
        blurred = box_blur(blurred, radius)
    blurred = blurred / float((2 * radius + 1) ** 3)
    prior = (1.0 - cfg.octave_filter_leak) * blurred + cfg.octave_filter_leak / cfg.n_bins
    posterior = tf.maximum(tf.sigmoid(logits), LIKELIHOOD_FLOOR) * prior
    posterior = posterior / tf.reduce_sum(posterior, axis=-1, keepdims=True)
    per_octave = int(round(1200.0 / cfg.cents_per_bin))
    offsets = tf.constant(per_octave * np.arange(-OCTAVE_FILTER_REACH, OCTAVE_FILTER_REACH + 1), tf.int32)
    candidates = tf.argmax(logits, axis=-1, output_type=tf.int32)[:, None] + offsets[None, :]  # [b, 2 reach + 1]
    inside = (candidates >= 0) & (candidates < cfg.n_bins)
    weight = tf.where(inside, tf.gather(posterior, tf.clip_by_value(candidates, 0, cfg.n_bins - 1), batch_dims=1), -1.0)
    peak = tf.gather(candidates, tf.argmax(weight, axis=-1, output_type=tf.int32)[:, None], batch_dims=1)
    return peak, posterior


HOLD_STATE_SIZE = 3  # last confident pitch, buffers it has held, buffers read an octave away


def octave_state_size(cfg: DetectorConfig) -> int:
    """The octave state: the hold's three values, then the octave filter's belief (if on)."""
    return HOLD_STATE_SIZE + octave_belief_size(cfg)


OCTAVE_JUMP_CENTS = 50.0  # a reading within this of a whole number of octaves from the last is an octave jump
SAME_NOTE_CENTS = 100.0  # a confident reading within this of the last one continues its run


def hold_octave(pitch_hz: tf.Tensor, confidence: tf.Tensor, state: tf.Tensor, cfg: DetectorConfig) -> tuple[tf.Tensor, tf.Tensor]:
    """Streaming octave hysteresis: pitch [b, 1], confidence [b, 1] and the octave state [b, 3]
    (zeros at stream start) -> (pitch, next state). After a confident pitch has held
    ``cfg.octave_hold_buffers`` buffers, a reading a whole number of octaves away (within 50
    cents) is moved back into the held octave, until the new octave has lasted
    ``cfg.octave_hold_max_buffers`` buffers (then it is taken: a real octave leap). Buffers below
    the detection threshold but at or above ``cfg.octave_hold_keep_confidence`` (a fading or breathy
    stretch of the same note) keep the held pitch and its run as they are; lower ones end it. A
    note read an octave off for a few buffers in its middle or its tail (a harpsichord's, a sung
    vowel's second harmonic, a decaying saw lead) is an error no single window can rule out and the
    buffers before it can; the delay is the cost only of a legato octave leap."""
    last, held, away = state[:, 0:1], state[:, 1:2], state[:, 2:3]
    if cfg.octave_hold_buffers <= 0:
        return pitch_hz, state
    octaves = tf.math.log(tf.maximum(pitch_hz, 1.0) / tf.maximum(last, 1.0)) / math.log(2.0)
    whole = tf.round(octaves)
    jump = (last > 0.0) & (held >= cfg.octave_hold_buffers) & (whole != 0.0)
    jump &= tf.abs(octaves - whole) * 1200.0 < OCTAVE_JUMP_CENTS
    away_next = tf.where(jump, away + 1.0, 0.0)
    fold = jump & (away_next < cfg.octave_hold_max_buffers)
    out = tf.where(fold, pitch_hz * tf.pow(2.0, -whole), pitch_hz)
    away_next = tf.where(away_next >= cfg.octave_hold_max_buffers, 0.0, away_next)
    confident = confidence >= contract.CONFIDENCE_THRESHOLD
    keeps = confidence >= cfg.octave_hold_keep_confidence  # an unsure stretch (a fading tail) keeps the note held
    same_note = tf.abs(tf.math.log(tf.maximum(out, 1.0) / tf.maximum(last, 1.0))) * (1200.0 / math.log(2.0)) < SAME_NOTE_CENTS
    held_next = tf.where(confident, tf.where((last > 0.0) & same_note, held + 1.0, 1.0), tf.where(keeps, held, 0.0))
    last_next = tf.where(confident, out, tf.where(keeps, last, 0.0))
    return out, tf.concat([last_next, held_next, away_next], axis=1)


def pitch_targets(f0_hz: tf.Tensor, cfg: DetectorConfig) -> tf.Tensor:
    """Gaussian-blurred bin targets [b, bins] for f0 [b] in Hz (all zero where f0 <= 0)."""
    cents = tf.constant(cfg.bin_cents(), tf.float32)
    safe = tf.maximum(f0_hz, 1.0)
    true_cents = 1200.0 * tf.math.log(safe / 10.0)[:, None] / math.log(2.0)
    target = tf.exp(-tf.square(cents[None, :] - true_cents) / (2.0 * cfg.target_sigma_cents**2))
    return target * tf.cast(f0_hz > 0, tf.float32)[:, None]


def calibrated_confidence(voicing_logit: tf.Tensor, calibration: tuple[float, float] = (1.0, 0.0)) -> tf.Tensor:
    """Confidence from the voicing logit with Platt scaling ``(a, b)``: sigmoid(a * logit + b),
    fitted so that a confidence c is right (voiced, within 50 cents) with probability c."""
    a, b = calibration
    return tf.sigmoid(float(a) * voicing_logit + float(b))
