"""The engine-facing pitch detector: the network behind the contract's streaming signature, with
the last ``context`` samples and the octave hysteresis (:func:`network.hold_octave`) carried as
explicit state tensors. A buffer holding NaN or Inf is heard as silence: confidence 0 for it, and
the state stays finite, so the next buffer is right."""

from __future__ import annotations

import tensorflow as tf

from autotune_keras import contract
from autotune_keras.models.layers import finite_or_zero, silence_non_finite_rows
from autotune_keras.models.pitch_detector.network import (
    HOLD_STATE_SIZE,
    DetectorConfig,
    calibrated_confidence,
    decode_and_check,
    filter_octave,
    hold_octave,
    network_inputs,
    octave_state_size,
)
from autotune_keras.tfk import keras


class StreamingDetector(tf.Module):
    """The engine-facing model: (audio_buffer [b,512], audio_state [b,context], octave_state
    [b,3 + bins]: the octave hold's three values, then the octave filter's belief over the bins)
    -> pitch, confidence, harmonics, audio_state_out, octave_state_out."""

    STATE_IN = contract.PitchDetectorTensors.AUDIO_STATE
    STATE_OUT = contract.state_output(STATE_IN)
    OCTAVE_IN = contract.PitchDetectorTensors.OCTAVE_STATE
    OCTAVE_OUT = contract.state_output(OCTAVE_IN)

    def __init__(self, network: keras.Model, cfg: DetectorConfig, calibration: tuple[float, float] = (1.0, 0.0)):
        super().__init__(name="pitch_detector")
        self.network = network
        self.cfg = cfg
        self.calibration = calibration  # confidence = sigmoid(a * voicing logit + b)

    def __call__(self, audio_buffer: tf.Tensor, audio_state: tf.Tensor, octave_state: tf.Tensor) -> dict[str, tf.Tensor]:
        names = contract.PitchDetectorTensors
        audio_buffer, finite = silence_non_finite_rows(audio_buffer)
        window = tf.concat([finite_or_zero(audio_state), audio_buffer], axis=1)
        inputs = network_inputs(window, self.cfg)
        outputs = self.network(inputs, training=False)
        confidence = calibrated_confidence(outputs["voicing_logit"], self.calibration)
        confidence = tf.where(finite, confidence, tf.zeros_like(confidence))
        octave_state = finite_or_zero(octave_state)
        if self.cfg.octave_filter_radius_bins > 0:  # off, the graph is the hold's alone
            peak, belief = filter_octave(outputs["pitch_logits"], octave_state[:, HOLD_STATE_SIZE:], self.cfg)
            belief = tf.where(confidence >= self.cfg.octave_filter_reset_confidence, belief, tf.zeros_like(belief))
            pitch = decode_and_check(outputs["pitch_logits"], inputs["nccf"], self.cfg, peak)
            pitch, hold_state = hold_octave(pitch, confidence, octave_state[:, :HOLD_STATE_SIZE], self.cfg)
            octave_state = tf.concat([hold_state, belief], axis=1)
        else:
            pitch = decode_and_check(outputs["pitch_logits"], inputs["nccf"], self.cfg)
            pitch, octave_state = hold_octave(pitch, confidence, octave_state, self.cfg)
        return {
            names.PITCH: pitch,
            names.CONFIDENCE: confidence,
            names.HARMONICS: outputs["harmonics"],
            self.STATE_OUT: window[:, contract.BUFFER_SIZE :],
            self.OCTAVE_OUT: octave_state,
        }

    def input_signature(self, batch: int | None = None) -> list[tf.TensorSpec]:
        return [
            tf.TensorSpec([batch, contract.BUFFER_SIZE], tf.float32, name=contract.PitchDetectorTensors.AUDIO_BUFFER),
            tf.TensorSpec([batch, self.cfg.context_samples], tf.float32, name=self.STATE_IN),
            tf.TensorSpec([batch, octave_state_size(self.cfg)], tf.float32, name=self.OCTAVE_IN),
        ]

    def concrete_function(self, batch: int | None = None):
        """A traced function with the contract's input names (for SavedModel / TFLite / ONNX)."""
        return tf.function(self.__call__, input_signature=self.input_signature(batch)).get_concrete_function()
