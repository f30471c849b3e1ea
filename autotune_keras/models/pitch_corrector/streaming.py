"""PitchCorrectionNet: a streaming neural-PSOLA corrector, the detector network guiding a
resampling core inside one exported graph.

Why this design (see docs/CORRECTOR.md):

* A corrector must know the pitch it is correcting and where the periods are. The trained
  detector network (INT8) gives the pitch and voicing of the current buffer from the same
  audio state the corrector keeps, so one model does both, as an engine wants.
* The detector's pitch (20-cent bins, INT8) is refined in the graph by a normalised correlation
  at candidate periods around it, measured where the read head is, not at the newest buffer, on
  the fundamental alone (a piano's inharmonic upper partials would pull it sharp).
* The audio itself is not re-synthesised: it is read back from the state's delay line at the
  ratio ``(target / pitch) ** strength`` (linear interpolation), which keeps every detail of the
  voice (breath, consonants, formants move with the ratio as in zita-at1). When the read head
  drifts out of its window it jumps by whole periods (where the waveform repeats) and the old
  and new heads are crossfaded with a raised cosine, so buffer edges never click.
* Resampling by a ratio r moves the formants with the pitch. A learned FIR (``envelope_taps``,
  trained with the combined loss by ``python -m autotune_keras.train --config
  configs/pitch_corrector.yaml``) is added at the same read positions, scaled per sample by
  log2 r: a first-order correction of the spectral envelope that vanishes when r = 1.
* Strength 0 or an unvoiced buffer gives a ratio of exactly 1: the output is the input delayed
  by a constant, bit for bit.
* Everything is builtin TFLite ops (CUMSUM, GATHER, FLOOR, COS, ...); the detector network runs
  in INT8 and the resampling core in float32, as the detector's own wrapper does.

State (inputs and ``*_out`` outputs; all zeros start a stream): ``audio_state`` (the last
``history`` samples), ``read_offset`` (the read head's delay behind the write head minus the start
delay) and ``log2_ratio`` (the ratio reached at the end of the previous buffer, in octaves; the
next buffer ramps from it).
"""

from __future__ import annotations

import math

import tensorflow as tf

from autotune_keras import contract
from autotune_keras.models.layers import finite_or_zero, silence_non_finite_rows
from autotune_keras.models.pitch_corrector.core import CorrectorConfig, interpolate, refine_period
from autotune_keras.models.pitch_detector.network import (
    DetectorConfig,
    calibrated_confidence,
    decode_and_check,
    network_inputs,
)


class StreamingCorrector(tf.Module):
    """The engine-facing model: (audio_buffer, target_pitch, correction_strength, state...) ->
    corrected_audio, confidence, state_out..."""

    STATE = contract.PitchCorrectorTensors.STATE

    def __init__(
        self,
        detector_network,
        detector_cfg: DetectorConfig,
        cfg: CorrectorConfig | None = None,
        envelope_taps: tf.Variable | None = None,
        calibration: tuple[float, float] = (1.0, 0.0),
    ):
        super().__init__(name="pitch_corrector")
        self.network = detector_network
        self.detector_cfg = detector_cfg
        self.cfg = cfg or CorrectorConfig()
        if self.cfg.history_samples < detector_cfg.context_samples:
            raise ValueError("history_samples must cover the detector's context")
        if self.cfg.envelope_taps % 2 != 1:
            raise ValueError("envelope_taps must be odd")
        if envelope_taps is None:
            envelope_taps = tf.Variable(tf.zeros([self.cfg.envelope_taps]), name="envelope_taps")
        if envelope_taps.shape != (self.cfg.envelope_taps,):
            raise ValueError(f"envelope_taps: expected shape ({self.cfg.envelope_taps},), got {tuple(envelope_taps.shape)}")
        self.envelope_taps = envelope_taps
        self.calibration = calibration  # the detector's confidence calibration (Platt a, b)

    def envelope_residual(self, window: tf.Tensor) -> tf.Tensor:
        """The learned FIR applied to ``window`` [b, W] (same length, zero-padded at the ends)."""
        # a sum of shifted copies: a 1-channel float CONV_2D is slow in LiteRT (~0.2 ms here),
        # element-wise MUL / ADD on the window are not
        taps, half = self.cfg.envelope_taps, self.cfg.envelope_taps // 2
        size = tf.shape(window)[1]
        padded = tf.pad(window, [[0, 0], [half, half]])
        terms = [self.envelope_taps[k] * padded[:, k : k + size] for k in range(taps)]  # correlation
        return tf.add_n(terms)

    def detect(self, window: tf.Tensor) -> tuple[tf.Tensor, tf.Tensor]:
        """Pitch (Hz) and confidence of the newest buffer in ``window``."""
        recent = window[:, -self.detector_cfg.window_samples :]
        inputs = network_inputs(recent, self.detector_cfg)
        outputs = self.network(inputs, training=False)
        pitch = decode_and_check(outputs["pitch_logits"], inputs["nccf"], self.detector_cfg)
        return pitch, calibrated_confidence(outputs["voicing_logit"], self.calibration)

    def __call__(
        self,
        audio_buffer: tf.Tensor,
        target_pitch: tf.Tensor,
        correction_strength: tf.Tensor,
        audio_state: tf.Tensor,
        read_offset: tf.Tensor,
        log2_ratio: tf.Tensor,
    ) -> dict[str, tf.Tensor]:
        cfg, n = self.cfg, contract.BUFFER_SIZE
        # non-finite input is silence (no correction, confidence 0); state never carries it on
        audio_buffer, finite = silence_non_finite_rows(audio_buffer)
        audio_state, read_offset, log2_ratio = finite_or_zero(audio_state), finite_or_zero(read_offset), finite_or_zero(log2_ratio)
        target_pitch = tf.where(finite, finite_or_zero(target_pitch), tf.zeros_like(target_pitch))
        correction_strength = finite_or_zero(correction_strength)
        read_delay = read_offset + float(cfg.start_delay)
        ratio = tf.exp(log2_ratio * math.log(2.0))
        names = contract.PitchCorrectorTensors
        window = tf.concat([audio_state, audio_buffer], axis=1)  # write head of sample k: history + k
        pitch, confidence = self.detect(window)

        # the pitch of the audio under the read head: the detector's, refined where the head will
        # be at the end of this buffer, where the ratio ramp arrives (measured at the middle, the
        # ramp would lag a moving pitch by half a buffer: ~15 cents on fast vibrato)
        voiced = tf.logical_and(confidence >= contract.CONFIDENCE_THRESHOLD, target_pitch > 0.0)
        # a correction in progress whose detection faded (the engine still sends the held note):
        # keep the ratio reached, so a decaying note does not slide back out of tune
        hold = tf.logical_and(tf.logical_and(tf.logical_not(voiced), target_pitch > 0.0), tf.abs(log2_ratio) > 0.0)
        safe_pitch = tf.where(voiced, pitch, tf.ones_like(pitch))
        start = float(cfg.history_samples) - read_delay  # read head (window index) at sample 0
        read_period = contract.SAMPLE_RATE / safe_pitch
        if cfg.refine_period:
            read_period = refine_period(window, start + n * ratio, read_period)

        # the ratio that moves that pitch `strength` of the way (in cents) to the target
        safe_target = tf.where(voiced, target_pitch, tf.ones_like(target_pitch))
        strength = tf.clip_by_value(correction_strength, 0.0, 1.0)
        wanted = tf.exp(strength * tf.math.log(safe_target * read_period / contract.SAMPLE_RATE))
        wanted = tf.where(voiced, tf.clip_by_value(wanted, 1.0 / cfg.max_ratio, cfg.max_ratio), tf.where(hold, ratio, tf.ones_like(wanted)))

        # ramp from the previous ratio; read positions advance by the ratio per output sample
        ramp = tf.range(1, n + 1, dtype=tf.float32)[None, :] / n
        step = ratio + (wanted - ratio) * ramp  # [b, n]
        advanced = tf.cumsum(step, axis=1) - step  # sum of the steps before each sample
        end_delay = read_delay + n - (advanced[:, -1:] + step[:, -1:])

        # keep the delay inside its window by whole periods of the input
        # (held: the input period the held ratio implies, not the faded detection's)
        held_period = contract.SAMPLE_RATE * ratio / tf.where(hold, target_pitch, tf.ones_like(target_pitch))
        period = tf.where(voiced, read_period, tf.where(hold, held_period, tf.fill(tf.shape(pitch), float(cfg.unvoiced_period))))
        correcting = tf.reduce_max(tf.abs(step - 1.0), axis=1, keepdims=True) > 0.0
        high = tf.where(correcting, cfg.min_delay + 2.0 * period, tf.fill(tf.shape(period), cfg.max_pass_delay))
        back = tf.where(end_delay < cfg.min_delay, period * tf.math.ceil((cfg.min_delay - end_delay) / period), 0.0)
        forward = tf.where(end_delay > high, period * tf.math.ceil((end_delay - high) / period), 0.0)
        shift = back - forward  # > 0: read further back

        residual = self.envelope_residual(window)
        envelope_gain = tf.math.log(step) / math.log(2.0)  # 0 where the ratio is 1
        old = interpolate(window, start + advanced) + envelope_gain * interpolate(residual, start + advanced)
        new = interpolate(window, start - shift + advanced) + envelope_gain * interpolate(residual, start - shift + advanced)
        fade = 0.5 - 0.5 * tf.cos(
            math.pi * tf.minimum(tf.range(1, n + 1, dtype=tf.float32)[None, :] / cfg.crossfade_samples, 1.0)
        )
        gain = tf.where(tf.abs(shift) > 0.0, fade, tf.ones_like(fade))
        corrected = gain * new + (1.0 - gain) * old
        return {
            names.CORRECTED_AUDIO: corrected,
            names.CONFIDENCE: tf.where(finite, confidence, tf.zeros_like(confidence)),
            contract.state_output(names.AUDIO_STATE): window[:, n:],
            contract.state_output(names.READ_OFFSET): end_delay + shift - float(cfg.start_delay),
            contract.state_output(names.LOG2_RATIO): tf.math.log(wanted) / math.log(2.0),
        }

    def input_signature(self, batch: int | None = None) -> list[tf.TensorSpec]:
        names = contract.PitchCorrectorTensors
        return [
            tf.TensorSpec([batch, contract.BUFFER_SIZE], tf.float32, name=names.AUDIO_BUFFER),
            tf.TensorSpec([batch, 1], tf.float32, name=names.TARGET_PITCH),
            tf.TensorSpec([batch, 1], tf.float32, name=names.CORRECTION_STRENGTH),
            tf.TensorSpec([batch, self.cfg.history_samples], tf.float32, name=names.AUDIO_STATE),
            tf.TensorSpec([batch, 1], tf.float32, name=names.READ_OFFSET),
            tf.TensorSpec([batch, 1], tf.float32, name=names.LOG2_RATIO),
        ]

    def concrete_function(self, batch: int | None = None):
        """A traced function with the contract's input names (for SavedModel / TFLite / ONNX)."""
        return tf.function(self.__call__, input_signature=self.input_signature(batch)).get_concrete_function()
