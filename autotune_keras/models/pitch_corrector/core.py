"""The pitch corrector's resampling core: its settings, interpolated reads of the delay line,
and the period refinement at the read head (see streaming.py for the whole streaming graph)."""

from __future__ import annotations

import math
from dataclasses import dataclass

import tensorflow as tf

from autotune_keras import contract


@dataclass
class CorrectorConfig:
    """Resampling-core settings of the corrector (the detector network has its own config)."""

    history_samples: int = 2048  # delay line kept in the state; >= the detector's context
    min_delay: int = 256  # the read head stays at least this far behind the write head
    crossfade_samples: int = 256  # raised-cosine crossfade after a period jump
    unvoiced_period: int = 256  # jump size when no pitch is known
    max_ratio: float = 2.0  # at most an octave up or down
    envelope_taps: int = 15  # learned envelope-correction FIR (odd: centred)
    # correlate the audio under the read head around the detector's period (refine_period);
    # off: the detector's period as it is
    refine_period: bool = True  # off only to measure what it adds (docs/BENCHMARKS.md)

    @property
    def start_delay(self) -> int:
        """Delay of a fresh stream: the model's latency while it passes audio through."""
        return self.min_delay + self.unvoiced_period

    @property
    def max_pass_delay(self) -> float:
        """Largest delay kept while not correcting (two periods of the lowest pitch)."""
        return self.min_delay + 2 * contract.SAMPLE_RATE / contract.PITCH_MIN_HZ


REFINE_GRID_CENTS = (-60.0, -40.0, -20.0, 0.0, 20.0, 40.0, 60.0)  # candidate periods around the detector's
REFINE_FRAME = 1024  # samples correlated per candidate
REFINE_MIN_CORRELATION = 0.9  # below this the audio is not periodic there: keep the detector's period
REFINE_AGREEMENT_CENTS = 10.0  # the two readings (whole waveform, fundamental alone) must agree this well


def interpolate(window: tf.Tensor, positions: tf.Tensor) -> tf.Tensor:
    """Linear interpolation of ``window`` [b, W] at fractional ``positions`` [b, n]."""
    size = tf.shape(window)[1]
    base = tf.floor(positions)
    frac = positions - base
    index = tf.clip_by_value(tf.cast(base, tf.int32), 0, size - 2)
    left = tf.gather(window, index, batch_dims=1)
    right = tf.gather(window, index + 1, batch_dims=1)
    return left + frac * (right - left)


def moving_average(window: tf.Tensor, length: tf.Tensor) -> tf.Tensor:
    """``window`` [b, W] averaged over the last ``length`` [b, 1] samples (fractional; a running
    sum read by linear interpolation): zeros at multiples of SR / length."""
    total = tf.pad(tf.cumsum(window, axis=1), [[0, 0], [1, 0]])
    here = tf.range(1, tf.shape(window)[1] + 1, dtype=tf.float32)[None, :]
    return (total[:, 1:] - interpolate(total, tf.maximum(here - length, 0.0))) / length


def fundamental_only(window: tf.Tensor, period: tf.Tensor) -> tf.Tensor:
    """``window`` with the harmonics of ``period`` above the fundamental removed: two moving
    averages, over half and a third of the period, null harmonics 2, 3, 4 and 6 and leave the
    5th 28 dB under the fundamental. A piano's upper partials run sharp of their harmonics (inharmonicity) and
    would pull a correlation's period short."""
    return moving_average(moving_average(window, period / 2.0), period / 3.0)


def correlation_peak(window: tf.Tensor, positions: tf.Tensor, period: tf.Tensor) -> tuple[tf.Tensor, tf.Tensor]:
    """Where the normalised correlation of ``window`` at ``positions`` with itself one candidate
    period earlier peaks, in cents from ``period`` (candidates REFINE_GRID_CENTS, then a parabola
    through the best three), and that peak's height: ([b, 1], [b, 1])."""
    frame = interpolate(window, positions)
    energy = tf.reduce_sum(frame * frame, axis=1, keepdims=True)
    scores = []
    for cents in REFINE_GRID_CENTS:
        earlier = interpolate(window, positions - period * 2 ** (cents / 1200))
        correlation = tf.reduce_sum(frame * earlier, axis=1, keepdims=True)
        scores.append(correlation / tf.sqrt(energy * tf.reduce_sum(earlier * earlier, axis=1, keepdims=True) + 1e-9))
    scores = tf.concat(scores, axis=1)
    best = tf.clip_by_value(tf.argmax(scores, axis=1, output_type=tf.int32), 1, len(REFINE_GRID_CENTS) - 2)[:, None]
    left, mid, right = (tf.gather(scores, best + k, batch_dims=1) for k in (-1, 0, 1))
    curvature = left - 2.0 * mid + right
    offset = tf.where(curvature < 0.0, tf.clip_by_value(0.5 * (left - right) / tf.minimum(curvature, -1e-9), -0.5, 0.5), 0.0)
    step = REFINE_GRID_CENTS[1] - REFINE_GRID_CENTS[0]
    cents = tf.gather(tf.constant(REFINE_GRID_CENTS, tf.float32), best[:, 0])[:, None] + offset * step
    return cents, tf.reduce_max(scores, axis=1, keepdims=True)


def refine_period(window: tf.Tensor, centre: tf.Tensor, period: tf.Tensor) -> tf.Tensor:
    """The period [b, 1] of the audio around ``centre`` (a window index), refined from the
    detector's ``period`` (its 20-cent bins and INT8 network leave it ~5 cents off; this keeps the
    corrected pitch within a few cents, measured on the audio being read, not the newest).

    Two readings (:func:`correlation_peak`, 1024-sample frames): the whole waveform, and the
    fundamental alone (a piano's inharmonic upper partials pull the first sharp). Where both are
    periodic (peak >= REFINE_MIN_CORRELATION) and agree within REFINE_AGREEMENT_CENTS, their mean
    is the period; elsewhere (inharmonic partials, a previous note still ringing, noise) the
    detector's period stands."""
    size = tf.cast(tf.shape(window)[1], tf.float32)
    longest = period * 2 ** (REFINE_GRID_CENTS[-1] / 1200)
    settled = period * (1.0 / 2.0 + 1.0 / 3.0)  # the averages need this much audio before them
    centre = tf.clip_by_value(centre, REFINE_FRAME / 2 + longest + settled + 2.0, size - REFINE_FRAME / 2 - 2.0)
    positions = centre + tf.range(REFINE_FRAME, dtype=tf.float32)[None, :] - REFINE_FRAME / 2
    whole, whole_peak = correlation_peak(window, positions, period)
    fundamental, fundamental_peak = correlation_peak(fundamental_only(window, period), positions, period)
    trusted = (
        (tf.minimum(whole_peak, fundamental_peak) >= REFINE_MIN_CORRELATION)
        & (tf.abs(whole - fundamental) < REFINE_AGREEMENT_CENTS)
    )
    cents = tf.where(trusted, 0.5 * (whole + fundamental), 0.0)
    return period * tf.exp(cents * (math.log(2.0) / 1200.0))
