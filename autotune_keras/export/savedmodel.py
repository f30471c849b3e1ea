"""SavedModel export and the graph tensor names a C / C++ program uses to feed and fetch it."""

from __future__ import annotations

from pathlib import Path

import tensorflow as tf


def save(module, path: Path) -> None:
    """``module.concrete_function(None)`` (dynamic batch) as the ``serving_default`` signature."""
    tf.saved_model.save(module, str(path), signatures={"serving_default": module.concrete_function(None)})


def tensor_names(path: Path, signature: str = "serving_default") -> dict[str, str]:
    """Signature key -> graph tensor (``serving_default_audio_buffer:0``, ``StatefulPartitionedCall:1``),
    the names a C / C++ program feeds and fetches through the TensorFlow C API."""
    from tensorflow.core.protobuf import saved_model_pb2

    saved = saved_model_pb2.SavedModel()
    saved.ParseFromString((path / "saved_model.pb").read_bytes())
    definition = saved.meta_graphs[0].signature_def[signature]
    return {key: info.name for key, info in list(definition.inputs.items()) + list(definition.outputs.items())}
