"""Keras models (tf_keras) and their streaming wrappers."""
