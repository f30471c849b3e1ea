"""Training losses (TensorFlow, differentiable): the pitch detector's octave-aware pitch loss, and
the losses of models that output audio.

The corrector's combined loss (weights in ``configs/pitch_corrector.yaml``):
``waveform`` MSE, ``pitch`` (the detector's pitch of the output against the target note),
``mr_stft`` (multi-resolution STFT, as in magenta/ddsp's SpectralLoss) and ``phase``
(instantaneous-frequency coherence, insensitive to a constant phase offset).
"""

from __future__ import annotations

import math

import tensorflow as tf

MR_STFT_SIZES = (2048, 1024, 512, 256)
PHASE_FFT = 1024


def waveform_mse(output: tf.Tensor, target: tf.Tensor) -> tf.Tensor:
    """Mean squared sample error."""
    return tf.reduce_mean(tf.square(output - target))


def _stft(audio: tf.Tensor, size: int) -> tf.Tensor:
    return tf.signal.stft(audio, frame_length=size, frame_step=size // 4, fft_length=size, pad_end=False)


def mr_stft(output: tf.Tensor, target: tf.Tensor, sizes: tuple[int, ...] = MR_STFT_SIZES) -> tf.Tensor:
    """Multi-resolution STFT loss: per FFT size, linear-magnitude L1 plus log-magnitude L1
    (magenta/ddsp SpectralLoss), averaged over sizes."""
    terms = []
    for size in sizes:
        out_mag = tf.abs(_stft(output, size))
        ref_mag = tf.abs(_stft(target, size))
        terms.append(tf.reduce_mean(tf.abs(out_mag - ref_mag)))
        terms.append(tf.reduce_mean(tf.abs(tf.math.log(out_mag + 1e-5) - tf.math.log(ref_mag + 1e-5))))
    return tf.add_n(terms) / len(sizes)


def phase_coherence(output: tf.Tensor, target: tf.Tensor, size: int = PHASE_FFT) -> tf.Tensor:
    """1 - cos of the difference between the outputs' and targets' frame-to-frame phase advance
    (instantaneous frequency), weighted by the target's magnitude: 0 when every partial runs at
    the target's frequency, whatever its absolute phase."""
    out, ref = _stft(output, size), _stft(target, size)
    advance_out = out[:, 1:] * tf.math.conj(out[:, :-1])
    advance_ref = ref[:, 1:] * tf.math.conj(ref[:, :-1])
    # cos(a - b) = Re(u conj(v)) / (|u| |v|) for u = e^{ia}, v = e^{ib}
    agreement = tf.math.real(advance_out * tf.math.conj(advance_ref)) / (tf.abs(advance_out) * tf.abs(advance_ref) + 1e-9)
    weight = tf.abs(ref[:, 1:])
    return tf.reduce_sum(weight * (1.0 - agreement)) / (tf.reduce_sum(weight) + 1e-9)


PITCH_LOSS_RANGE = 2.0  # semitones: a larger error is the measuring detector's (octave, harmonic)


def pitch_semitone_error(measured_hz: tf.Tensor, target_hz: tf.Tensor) -> tf.Tensor:
    """Robust pitch error where the target is voiced: Huber in semitones (quadratic within one),
    constant beyond ``PITCH_LOSS_RANGE`` (a measurement an octave or a harmonic away is the
    measuring detector's error: it counts, but gives no gradient)."""
    voiced = tf.cast(target_hz > 0, tf.float32)
    semitones = 12.0 * tf.math.log(tf.maximum(measured_hz, 1.0) / tf.maximum(target_hz, 1.0)) / math.log(2.0)
    size = tf.abs(semitones)
    huber = tf.where(size <= 1.0, 0.5 * tf.square(semitones), size - 0.5)
    error = tf.where(size <= PITCH_LOSS_RANGE, huber, tf.fill(tf.shape(huber), PITCH_LOSS_RANGE - 0.5))
    return tf.reduce_sum(voiced * error) / (tf.reduce_sum(voiced) + 1e-9)


OCTAVE_INTERVALS_CENTS = (-1902.0, -1200.0, 1200.0, 1902.0)  # the errors a pitch detector makes: octaves, twelfths


def octave_penalty(targets: tf.Tensor, probabilities: tf.Tensor, bins_per_cent: float) -> tf.Tensor:
    """Mean probability a pitch classifier puts where an octave or twelfth error would land: the
    target distribution [b, bins] shifted by each interval marks those bins. Per example [b]; 0
    where the target is empty (unvoiced)."""
    bins = tf.shape(targets)[1]
    masks = []
    for cents in OCTAVE_INTERVALS_CENTS:
        shift = int(round(cents * bins_per_cent))
        if shift > 0:
            masks.append(tf.pad(targets[:, :-shift], [[0, 0], [shift, 0]]))
        else:
            masks.append(tf.pad(targets[:, -shift:], [[0, 0], [0, -shift]]))
    mask = tf.reduce_max(tf.stack(masks), axis=0)[:, :bins]
    return tf.reduce_sum(probabilities * mask, axis=-1) / (tf.reduce_sum(mask, axis=-1) + 1e-6)


def pitch_bin_loss(octave_weight: float, bins_per_cent: float):
    """Binary cross-entropy on pitch bins (CREPE) plus ``octave_weight`` times the
    :func:`octave_penalty`: a wrong octave costs more than a wrong bin nearby."""

    def loss(targets: tf.Tensor, logits: tf.Tensor) -> tf.Tensor:
        bce = tf.reduce_mean(tf.nn.sigmoid_cross_entropy_with_logits(labels=targets, logits=logits), axis=-1)
        return bce + octave_weight * octave_penalty(targets, tf.sigmoid(logits), bins_per_cent)

    return loss
