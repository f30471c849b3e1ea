"""TFRecord schema of a segment, shard writing (atomic, size-bounded) and parsing.

Audio is stored as 16-bit PCM bytes; labels as float lists on the label grid.
"""

from __future__ import annotations

import os
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np

from autotune_keras.files import sha256_file

SCHEMA_VERSION = 1
PCM_SCALE = 32767.0


@dataclass
class Segment:
    """One stored example: a stretch of audio with labels on the label grid."""

    audio: np.ndarray  # float32 [samples]
    f0_hz: np.ndarray  # float32 [frames], 0 where unvoiced
    voicing: np.ndarray  # float32 [frames], 0..1
    source: str
    start_seconds: float
    metadata: dict
    target_f0_hz: np.ndarray = field(default_factory=lambda: np.zeros(0, np.float32))  # [frames] or empty
    target_audio: np.ndarray = field(default_factory=lambda: np.zeros(0, np.float32))  # in tune, or empty
    grid_audio: np.ndarray = field(default_factory=lambda: np.zeros(0, np.float32))  # on the grid, or empty
    onsets: np.ndarray = field(default_factory=lambda: np.zeros(0, np.int64))  # samples
    grid_onsets: np.ndarray = field(default_factory=lambda: np.zeros(0, np.int64))


def _pcm(audio: np.ndarray) -> bytes:
    return np.round(np.clip(audio, -1.0, 1.0) * PCM_SCALE).astype("<i2").tobytes()


def serialize(segment: Segment) -> bytes:
    """A segment as a serialized ``tf.train.Example``."""
    import tensorflow as tf

    def floats(values):
        return tf.train.Feature(float_list=tf.train.FloatList(value=np.asarray(values, np.float32).tolist()))

    def ints(values):
        return tf.train.Feature(int64_list=tf.train.Int64List(value=np.asarray(values, np.int64).tolist()))

    def raw(value: bytes):
        return tf.train.Feature(bytes_list=tf.train.BytesList(value=[value]))

    meta = segment.metadata
    features = {
        "audio": raw(_pcm(segment.audio)),
        "target_audio": raw(_pcm(segment.target_audio)),
        "grid_audio": raw(_pcm(segment.grid_audio)),
        "f0_hz": floats(segment.f0_hz),
        "voicing": floats(segment.voicing),
        "target_f0_hz": floats(segment.target_f0_hz),
        "onsets": ints(segment.onsets),
        "grid_onsets": ints(segment.grid_onsets),
        "num_samples": ints([len(segment.audio)]),
        "source": raw(segment.source.encode()),
        "start_seconds": floats([segment.start_seconds]),
        "instrument": raw(str(meta.get("instrument", "unknown")).encode()),
        "key": raw(str(meta.get("key", "")).encode()),
        "scale": raw(str(meta.get("scale", "")).encode()),
        "genre": raw(str(meta.get("genre", "")).encode()),
        "tempo": floats([float(meta.get("tempo", 0.0) or 0.0)]),
    }
    # deterministic=True sorts the feature map: byte-identical shards across processes and runs
    return tf.train.Example(features=tf.train.Features(feature=features)).SerializeToString(deterministic=True)


def parse(serialized, decode_audio: bool = True):
    """Parse one serialized example into a dict of tensors (audio as float32 in [-1, 1]; with
    ``decode_audio=False`` the audio tracks stay 16-bit PCM bytes, for :func:`decode_pcm` of just
    the samples a window needs)."""
    import tensorflow as tf

    spec = {
        "audio": tf.io.FixedLenFeature([], tf.string),
        "target_audio": tf.io.FixedLenFeature([], tf.string),
        "grid_audio": tf.io.FixedLenFeature([], tf.string),
        "f0_hz": tf.io.VarLenFeature(tf.float32),
        "voicing": tf.io.VarLenFeature(tf.float32),
        "target_f0_hz": tf.io.VarLenFeature(tf.float32),
        "onsets": tf.io.VarLenFeature(tf.int64),
        "grid_onsets": tf.io.VarLenFeature(tf.int64),
        "num_samples": tf.io.FixedLenFeature([], tf.int64),
        "source": tf.io.FixedLenFeature([], tf.string),
        "start_seconds": tf.io.FixedLenFeature([], tf.float32),
        "instrument": tf.io.FixedLenFeature([], tf.string),
        "key": tf.io.FixedLenFeature([], tf.string),
        "scale": tf.io.FixedLenFeature([], tf.string),
        "genre": tf.io.FixedLenFeature([], tf.string),
        "tempo": tf.io.FixedLenFeature([], tf.float32),
    }
    example = tf.io.parse_single_example(serialized, spec)
    out = {}
    for name, value in example.items():
        out[name] = tf.sparse.to_dense(value) if isinstance(value, tf.SparseTensor) else value
    if decode_audio:
        for name in ("audio", "target_audio", "grid_audio"):
            out[name] = decode_pcm(out[name])
    return out


def decode_pcm(raw, start=None, length: int | None = None):
    """A 16-bit PCM byte string as float32 in [-1, 1]: all of it, or ``length`` samples from
    sample ``start`` (fewer, or none, where the string ends first). Only those are decoded."""
    import tensorflow as tf

    if start is not None:
        position = tf.minimum(2 * tf.cast(start, tf.int32), tf.strings.length(raw))
        raw = tf.strings.substr(raw, position, 2 * length)
    return tf.cast(tf.io.decode_raw(raw, tf.int16), tf.float32) / PCM_SCALE

class ShardWriter:
    """Writes serialized examples to ``{prefix}-{part:02d}.tfrecord`` files of bounded size.

    Each part is written under a temp name and renamed when complete, so a killed build never
    leaves a half-written shard under a final name.
    """

    def __init__(self, directory: Path, prefix: str, max_bytes: int, sample_rate: int):
        self.directory = Path(directory)
        self.prefix = prefix
        self.max_bytes = max_bytes
        self.sample_rate = sample_rate
        self.shards: list[dict] = []
        self._writer = None
        self._part = 0
        self._bytes = 0
        self._examples = 0
        self._samples = 0

    def _open(self) -> None:
        import tensorflow as tf

        self._final = self.directory / f"{self.prefix}-{self._part:02d}.tfrecord"
        self._tmp = self.directory / f".{self._final.name}.tmp-{os.getpid()}"
        self._writer = tf.io.TFRecordWriter(str(self._tmp))
        self._bytes = self._examples = self._samples = 0

    def write(self, serialized: bytes, num_samples: int) -> None:
        """Append one example, starting a new part when the current one is full."""
        if self._writer is not None and self._bytes + len(serialized) > self.max_bytes and self._examples:
            self._close_part()
        if self._writer is None:
            self._open()
        self._writer.write(serialized)
        self._bytes += len(serialized)
        self._examples += 1
        self._samples += num_samples

    def _close_part(self) -> None:
        self._writer.close()
        os.replace(self._tmp, self._final)
        self.shards.append(
            {
                "path": self._final.name,
                "sha256": sha256_file(self._final),
                "examples": self._examples,
                "seconds": round(self._samples / self.sample_rate, 3),
                "bytes": self._final.stat().st_size,
            }
        )
        self._writer = None
        self._part += 1

    def close(self) -> list[dict]:
        """Finish the open part; returns the shard entries written."""
        if self._writer is not None:
            self._close_part()
        return self.shards
