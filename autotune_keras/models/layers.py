"""Graph pieces every streaming model uses (builtin TFLite ops only)."""

from __future__ import annotations

import tensorflow as tf

FLOAT_MAX = 3.4028234663852886e38


def finite_rows(x: tf.Tensor) -> tf.Tensor:
    """[b, 1] True where every value of a row of ``x`` is finite (NaN and Inf compare false)."""
    ok = tf.cast(tf.abs(x) <= FLOAT_MAX, tf.float32)
    return tf.reduce_min(ok, axis=1, keepdims=True) > 0.5


def finite_or_zero(x: tf.Tensor) -> tf.Tensor:
    """``x`` with NaN and Inf values replaced by 0 (state must never carry them on).

    Written so every converter keeps it: tf2onnx turns a select into ``c * x + (1 - c) * y``
    unless its condition is a NaN test, and NaN or Inf times 0 is NaN. So NaN goes first through
    ``x != x`` (kept as a Where), Inf is clipped to a finite number, and only then zeroed."""
    x = tf.where(tf.not_equal(x, x), tf.zeros_like(x), x)
    x = tf.clip_by_value(x, -FLOAT_MAX, FLOAT_MAX)
    return tf.where(tf.abs(x) < FLOAT_MAX, x, tf.zeros_like(x))


def silence_non_finite_rows(x: tf.Tensor) -> tuple[tf.Tensor, tf.Tensor]:
    """(``x`` with every row that holds a NaN or Inf set to zeros, the [b, 1] rows-finite mask)."""
    finite = finite_rows(x)
    return tf.where(finite, finite_or_zero(x), tf.zeros_like(x)), finite
