"""The one Keras of the model code: tf_keras (Keras 2), the only one tfmot's QAT accepts.

Import it as ``from autotune_keras.tfk import keras``; never ``import keras`` (that is Keras 3).
"""

import os

os.environ.setdefault("TF_USE_LEGACY_KERAS", "1")

import tf_keras as keras  # noqa: E402

__all__ = ["keras"]
