"""Quantization-aware training (tensorflow-model-optimization) for tf_keras models."""

from __future__ import annotations

from autotune_keras.tfk import keras


def quantize_aware(network: keras.Model) -> keras.Model:
    """Wrap a float functional model with fake-quant nodes (INT8 weights and activations).

    Every layer of the detector (Conv2D, DepthwiseConv2D, BatchNormalization, ReLU, pooling,
    Dense) is in tfmot's default 8-bit registry, so no annotation is needed.
    """
    import tensorflow_model_optimization as tfmot

    return tfmot.quantization.keras.quantize_model(network)


def quantize_scope():
    """Context manager needed to deserialise a QAT model."""
    import tensorflow_model_optimization as tfmot

    return tfmot.quantization.keras.quantize_scope()
