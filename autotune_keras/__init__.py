"""autotune-keras: small Keras models for real-time pitch detection, correction and timing."""

__version__ = "0.1.0"
