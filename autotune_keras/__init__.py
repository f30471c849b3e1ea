"""autotune-keras: small Keras models for real-time pitch detection, pitch correction and timing."""

import os
import sys

# TensorFlow's C++ start-up chatter (CPU feature notices, absent CUDA) hides the output users want.
os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")


def _started_as_a_command() -> bool:
    """``python -m autotune_keras.X`` (argv[0] is '-m' while the package loads) or a console script."""
    first = sys.argv[0] if sys.argv else ""
    return first == "-m" or os.path.basename(first).startswith("autotune-")


if _started_as_a_command() and "--verbose" not in sys.argv:
    from autotune_keras.cli import NativeLogFilter

    NativeLogFilter.install()  # before anything imports TensorFlow

__version__ = "0.1.0"
