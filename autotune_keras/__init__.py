"""autotune-keras: small Keras models for real-time pitch detection, pitch correction and timing."""

import os

# TensorFlow's C++ start-up chatter (CPU feature notices, absent CUDA) hides the output users want.
os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")

__version__ = "0.1.0"
