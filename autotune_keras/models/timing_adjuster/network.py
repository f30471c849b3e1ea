"""TimingAdjustmentNet's onset network: where notes start in the audio the model has just heard.

Each call the model hears its newest ``window`` samples as log band energies per 128-sample hop
(an STFT and a fixed mel matrix, float), and a small convolutional stack (INT8) gives an onset
logit for each of the 16 hops it analyses: the 2048 samples that end ``lookahead`` samples before
the newest one (an attack needs a little of what follows it to be heard as one).

Frame k is the FFT frame that ends with hop k of the continuous stream (it reaches ``preroll``
samples back before the window), so the frames of a window are the same whichever call computes
them: the streaming model computes only the 16 new ones each call and carries the others in its
state, and training computes all of them from the window and its pre-roll.
"""

from __future__ import annotations

import math
from dataclasses import dataclass

import numpy as np
import tensorflow as tf

from autotune_keras import contract
from autotune_keras.tfk import keras


@dataclass
class TimingConfig:
    """The onset network and the time-warp around it (all in samples at 44.1 kHz)."""

    window_samples: int = 4096  # audio the onset network hears each call
    hop: int = 128  # onset frames
    n_fft: int = 512
    bands: int = 48
    pitch_bands: int = 0  # semitone bands from pitch_fmin (0: none); they show a legato note's pitch change
    pitch_fmin: float = 80.0
    pitch_n_fft: int = 4096  # long enough to resolve a semitone in the harmonics of a low voice
    filters: int = 32
    kernel: int = 5
    layers: int = 3
    dilation_growth: int = 1  # layer i looks dilation_growth**i hops apart (2: context doubles per layer)
    lookahead: int = 512  # samples after the analysed hops
    onset_threshold: float = 0.5
    # > 0 and below onset_threshold: a peak between the two is queued as an anchor, unmoved: a
    # note the network is unsure of keeps its place, and the read head goes back to the plain
    # latency before it instead of lending it the shift of the note before (a likelier peak
    # within min_gap after an anchor takes its place); 0: off
    anchor_threshold: float = 0.0
    # a likelier peak within min_gap after the newest queued onset takes its place (position,
    # shift, confidence): an attack whose rise straddles two calls is first found on the weaker
    # frame at the end of one call, then at its peak in the next; off, only an anchor gives way
    likelier_replaces: bool = False
    # a call's hops still rising at the end of the hops it analyses, the last below
    # onset_threshold + confidence_ramp, are not picked: the attack's peak lies in the next
    # call's hops, which picks it there (picked on its rise, the onset was queued early, its shift
    # scaled down by the confidence ramp, and the peak after it refused as closer than min_gap)
    defer_rising_edge: bool = False
    # > 0: the hop among a call's 16 where the mel bands' log power rose most over 512 samples
    # (their mean rise in dB, a spectral flux), when it rose at least this much and the network
    # found no onset within min_gap of it, is queued as an anchor (unmoved): a quiet drum hit the
    # network misses keeps its place instead of taking a neighbour's shift; 0: off
    flux_anchor_db: float = 0.0
    # band levels this far below the window's loudest count as silence in that flux: the leakage
    # between a steady note's partials flickers by several dB from hop to hop
    flux_floor_db: float = 60.0
    # an anchor (queued unmoved, by the flux or under onset_threshold) keeps this many samples
    # from the onsets around it, not only min_gap: it is not queued this close after the newest
    # one, and gives way to an onset the network finds this close after it (a sung consonant's
    # noise and the vowel after it are one note, 45 ms or more apart); 0: min_gap
    anchor_gap: int = 0
    confidence_ramp: float = 0.0  # a found onset's shift is scaled by (likelihood - threshold) / this, up to 1 (0: whole shifts)
    min_gap: int = 1536  # two accepted onsets are at least this far apart (35 ms)
    # onsets a call may queue from the hops it analyses: 1, the likeliest; 2, also the likeliest
    # other peak at least min_gap from it (a late note and an early one close after it can fall
    # among one call's 16 hops, and the second was lost)
    onsets_per_call: int = 1
    # two queued onsets nearest the same grid line (a sung consonant's early 'onset' and its note;
    # a drum loop's hits on one line): "separate" moves each to the line, "later" moves both by the
    # later one's shift, "likelier" by the shift of the one the network is surer of. Merging helped
    # the sung validation phrases and hurt the held-out drum loops (docs/BENCHMARKS.md)
    same_line_onsets: str = "separate"
    max_shift: int = 4096  # the largest move (93 ms); the latency is set by it
    hold: int = 1024  # after an attack the read head plays on untouched this long (23 ms)
    guard: int = 256  # nor does it jump this close before the next attack
    # with no onset queued, the head returns to the plain latency this long after the last attack:
    # short, a note the network missed is left where it was played; long, a moved note with nothing
    # queued after it keeps its attack whole (measured no better with the v5 network: BENCHMARKS)
    return_hold: int = 1024
    # where the read head jumps: "fixed" (a skip right after the last attack's hold, a repeat a
    # hold and its own length later, a return to the plain latency at return_hold), "returns" (a
    # return goes where the jump is least heard within quiet_window after return_hold: 23 ms past
    # the rise of the note being played, before the level next rises by quiet_attack_db, an attack
    # the network missed, at the quietest crossfade), "all" (every jump so, ending a hold before
    # the next attack: a sung note's consonant ahead of its onset is not repeated or skipped)
    quiet_jumps: str = "fixed"
    quiet_window: int = 4096
    quiet_attack_db: float = 6.0
    # the next onset already read at its delay: the head may plan the one after it in the same
    # block (its jump right after that attack's hold) instead of waiting for the block after.
    # With the true onsets it cuts the voices' deviation by half; with the v9 network it measured
    # worse (its false onsets on consonants then move the wrong stretch sooner): BENCHMARKS
    plan_past_placed_onsets: bool = False
    # the onset after the next wants a delay further from the next one's than the steady stretch
    # between the two can absorb (a late note with an early one close after it): the next onset
    # takes half the shortfall, so the two miss their lines by the same amount, instead of the
    # second keeping the first's shift and landing twice as far off; a jump then waits (while a
    # later block can still make it) until the network has heard far enough past its onset
    share_tight_moves: bool = False
    crossfade: int = 256
    search: int = 64  # a jump goes to the best-matching lag within +- this of the wanted one (WSOLA)
    match: int = 256  # samples compared to find it
    on_grid_tolerance: int = 66  # a shift under this (1.5 ms) is no shift: notes on the grid stay put

    @property
    def sequence(self) -> int:
        return contract.TIMING_SEQUENCE_SIZE

    @property
    def features(self) -> int:
        """Values per frame: the mel bands, then the semitone bands."""
        return self.bands + self.pitch_bands

    @property
    def frames(self) -> int:
        return self.window_samples // self.hop

    @property
    def preroll(self) -> int:
        """Samples before the window that its first (longest) FFT frame reaches back to."""
        return max(self.n_fft, self.pitch_n_fft if self.pitch_bands else 0) - self.hop

    @property
    def feature_samples(self) -> int:
        """Audio the features of one window are computed from: the window and its pre-roll."""
        return self.preroll + self.window_samples

    @property
    def new_frames(self) -> int:
        """Frames that are new each call (the others are carried in the state)."""
        return self.sequence // self.hop

    @property
    def analysed_frames(self) -> int:
        return self.sequence // self.hop

    @property
    def first_analysed(self) -> int:
        """Index of the first analysed frame in the window."""
        return (self.window_samples - self.lookahead - self.sequence) // self.hop

    @property
    def min_delay(self) -> int:
        """The read head stays this far behind the write head at least: every onset it reaches
        was analysed a call earlier, and can still be planned for."""
        return self.lookahead + self.sequence + self.guard

    @property
    def latency_samples(self) -> int:
        """The delay of audio that is not moved."""
        return self.min_delay + self.max_shift

    @property
    def max_delay(self) -> int:
        return self.latency_samples + self.max_shift

    @property
    def history_samples(self) -> int:
        """The delay line kept in the state."""
        need = self.max_delay + self.sequence + self.search + self.crossfade + self.match
        return int(math.ceil(need / self.sequence) * self.sequence)


def mel_matrix(cfg: TimingConfig) -> np.ndarray:
    """[fft bins, bands] mel filterbank (librosa's), 40 Hz-16 kHz."""
    import librosa

    return librosa.filters.mel(sr=contract.SAMPLE_RATE, n_fft=cfg.n_fft, n_mels=cfg.bands, fmin=40.0, fmax=16000.0).T.astype(np.float32)


def semitone_matrix(cfg: TimingConfig) -> np.ndarray:
    """[fft bins, pitch_bands] triangular bands a semitone apart from ``pitch_fmin`` (each at
    least two FFT bins wide, so the lowest ones still catch a partial), unit area."""
    bins = np.fft.rfftfreq(cfg.pitch_n_fft, 1.0 / contract.SAMPLE_RATE)
    spacing = bins[1]
    centres = cfg.pitch_fmin * 2.0 ** (np.arange(cfg.pitch_bands) / 12.0)
    width = np.maximum(centres * (2 ** (1 / 12) - 1), 2.0 * spacing)
    weights = np.maximum(0.0, 1.0 - np.abs(bins[:, None] - centres[None, :]) / width[None, :])
    return (weights / weights.sum(axis=0, keepdims=True)).astype(np.float32)


def _band_power(audio: tf.Tensor, n_fft: int, hop: int, preroll: int, matrix: np.ndarray) -> tf.Tensor:
    """[b, preroll + F * hop] -> [b, F, bands] band power of the FFT frames ending with each hop."""
    frames = tf.signal.frame(audio[:, preroll - (n_fft - hop) :], n_fft, hop) * tf.signal.hann_window(n_fft)
    count = frames.shape[1]
    # a rank-2 rfft + abs is what both TFLite and tf2onnx convert (tf2onnx has no rank-3 ComplexAbs)
    magnitude = tf.abs(tf.signal.rfft(tf.reshape(frames, [-1, n_fft]), fft_length=[n_fft]))
    used = int(np.flatnonzero(matrix.any(axis=1)).max()) + 1  # bins above the top band carry no weight
    power = tf.reshape(tf.square(magnitude[:, :used]), [-1, count, used])
    return tf.matmul(power, tf.constant(matrix[:used]))


def band_power(audio: tf.Tensor, cfg: TimingConfig) -> tf.Tensor:
    """[b, preroll + F * hop] audio -> [b, F, features] band power (linear) of its last F hops:
    mel bands of short frames (attacks), then, with ``pitch_bands``, semitone bands of long frames
    (pitch changes). Silence gives exactly zero, so a zero state is a silent past."""
    mel = _band_power(audio, cfg.n_fft, cfg.hop, cfg.preroll, mel_matrix(cfg))
    if not cfg.pitch_bands:
        return mel
    return tf.concat([mel, _band_power(audio, cfg.pitch_n_fft, cfg.hop, cfg.preroll, semitone_matrix(cfg))], axis=2)


def log_features(energies: tf.Tensor, cfg: TimingConfig) -> tf.Tensor:
    """[b, frames, features] band power -> log energies, each kind of band level-normalised to
    its maximum over the window."""
    log_energy = tf.math.log(energies + 1e-8)
    groups = [log_energy[:, :, : cfg.bands]] + ([log_energy[:, :, cfg.bands :]] if cfg.pitch_bands else [])
    return tf.concat([g - tf.reduce_max(g, axis=[1, 2], keepdims=True) for g in groups], axis=2)


def onset_features(audio: tf.Tensor, cfg: TimingConfig) -> tf.Tensor:
    """[b, feature_samples] audio (the window and its pre-roll) -> [b, frames, features] log band
    energies, frame k ending with hop k (so an attack at hop k first shows in frame k)."""
    return log_features(band_power(audio, cfg), cfg)


def build_network(cfg: TimingConfig) -> keras.Model:
    """Band energies [b, frames, bands] -> onset logits [b, analysed frames]."""
    features = keras.Input((cfg.frames, cfg.features), name="features")
    x = keras.layers.Reshape((1, cfg.frames, cfg.features), name="frames")(features)
    for i in range(cfg.layers):
        dilation = (1, cfg.dilation_growth**i)
        x = keras.layers.Conv2D(cfg.filters, (1, cfg.kernel), padding="same", dilation_rate=dilation, use_bias=False, name=f"conv{i + 1}")(x)
        x = keras.layers.BatchNormalization(name=f"conv{i + 1}_bn")(x)
        x = keras.layers.ReLU(name=f"conv{i + 1}_relu")(x)
    x = keras.layers.Conv2D(1, (1, 1), name="onset")(x)
    x = keras.layers.Reshape((cfg.frames,), name="onset_logits_all")(x)
    logits = keras.layers.Cropping1D((cfg.first_analysed, cfg.frames - cfg.first_analysed - cfg.analysed_frames), name="crop")(
        keras.layers.Reshape((cfg.frames, 1))(x)
    )
    return keras.Model(features, keras.layers.Reshape((cfg.analysed_frames,), name="onset_logits")(logits), name="timing_onsets")
