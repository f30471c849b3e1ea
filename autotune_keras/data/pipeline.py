"""tf.data pipeline: shards -> interleave -> parse -> random crop -> augment -> windows -> noise -> shuffle -> batch.

Each element is a dict of fixed-size tensors (see :func:`make_dataset`); a model picks its inputs
and targets from it with a ``map``.
"""

from __future__ import annotations

import json
import math
from pathlib import Path

import tensorflow as tf

from autotune_keras import contract
from autotune_keras.config import ConfigError, FocusConfig, PipelineConfig
from autotune_keras.data import augment, records

LABEL_FEATURES = ("f0_hz", "voicing", "target_f0_hz")


def read_manifest(records_dir: str | Path) -> dict:
    """The dataset's manifest.json, with a clear error when the folder is not a dataset."""
    path = Path(records_dir) / "manifest.json"
    if not path.is_file():
        raise FileNotFoundError(
            f"{path}: no manifest; build the dataset first (python -m autotune_keras.dataset --out {records_dir})"
        )
    manifest = json.loads(path.read_text())
    if manifest.get("schema_version") != records.SCHEMA_VERSION:
        raise ValueError(
            f"{path}: schema version {manifest.get('schema_version')} but this code reads {records.SCHEMA_VERSION}; rebuild with --overwrite"
        )
    return manifest


def shard_paths(records_dir: str | Path, split: str) -> list[str]:
    """Shard files of one split, in manifest order."""
    manifest = read_manifest(records_dir)
    if split not in manifest["splits"]:
        raise ValueError(f"unknown split {split!r}: expected one of {', '.join(manifest['splits'])}")
    paths = [str(Path(records_dir) / shard["path"]) for shard in manifest["splits"][split]["shards"]]
    if not paths:
        raise ValueError(f"{records_dir}: split {split!r} has no examples")
    return paths


def _focused_start(onsets: tf.Tensor, max_start: tf.Tensor, hop: int, focus: FocusConfig, seed: tf.Tensor) -> tf.Tensor:
    """First frame of a crop that puts the focused onset (``focus.on``: the later onset of the
    segment's closest pair, between ``focus.min_gap_ms`` and ``focus.max_gap_ms`` apart, or the
    segment's first onset) at a random sample of the focus span; random when there is none."""
    place_seed, random_seed = tf.unstack(tf.random.experimental.stateless_split(seed, num=2))
    random_start = tf.random.stateless_uniform([], seed=random_seed, minval=0, maxval=max_start + 1, dtype=tf.int32)
    onsets = tf.sort(tf.cast(onsets, tf.int32))
    padded = tf.concat([onsets, [0]], 0)  # an index that always exists (unused when there is no onset)
    if focus.on == "first_onset":
        if_none = tf.size(onsets) == 0
        later = padded[0]
    else:
        gaps = onsets[1:] - onsets[:-1]
        min_gap, max_gap = (int(round(ms * contract.SAMPLE_RATE / 1000.0)) for ms in (focus.min_gap_ms, focus.max_gap_ms))
        candidates = tf.where((gaps >= min_gap) & (gaps <= max_gap), gaps, tf.int32.max)
        if_none = tf.reduce_all(candidates == tf.int32.max)
        closest = tf.argmin(tf.concat([candidates, [tf.int32.max]], 0), output_type=tf.int32) + 1
        later = padded[tf.minimum(closest, tf.size(padded) - 1)]
    at = focus.span_start + tf.random.stateless_uniform([], seed=place_seed, minval=0, maxval=max(focus.span_samples, 1), dtype=tf.int32)
    # a first onset nearer the segment's start than the span's start is reached by a crop that
    # starts before the segment, its lead-in silent, as a stream's first calls hear silence
    # before its first sample
    earliest = -(focus.span_start // hop) if focus.on == "first_onset" else 0
    placed = tf.clip_by_value((later - at) // hop, earliest, max_start)
    return tf.where(if_none, random_start, placed)


def _window(
    example: dict, source_len: int, hop: int, seed: tf.Tensor, tracks: tuple[str, ...], focus: FocusConfig | None = None
) -> dict:
    """A random hop-aligned crop of ``source_len`` samples (zero-padded when the segment is short);
    with ``focus``, placed on the focused onset."""
    frames = source_len // hop
    total_frames = tf.shape(example["f0_hz"])[0]
    max_start = tf.maximum(total_frames - frames, 0)
    if focus is None:
        start = tf.random.stateless_uniform([], seed=seed, minval=0, maxval=max_start + 1, dtype=tf.int32)
    else:
        start = _focused_start(example["onsets"], max_start, hop, focus, seed)
    out = {k: v for k, v in example.items() if k not in augment.AUDIO_TRACKS}
    lead = tf.maximum(-start, 0)  # frames of silence before the segment (a focused crop may start early)
    begin = start + lead
    for track in tracks:  # 16-bit PCM bytes: only the window's samples are decoded (zeros: no track)
        x = records.decode_pcm(example[track], begin * hop, source_len - lead * hop)
        out[track] = tf.pad(x, [[lead * hop, source_len - lead * hop - tf.shape(x)[0]]])
        out[track].set_shape([source_len])
    for name in LABEL_FEATURES:
        x = example[name]
        x = tf.cond(tf.size(x) > 0, lambda x=x: x, lambda: tf.zeros_like(example["f0_hz"]))
        x = x[begin : start + frames]
        out[name] = tf.pad(x, [[lead, frames - lead - tf.shape(x)[0]]])
    onset_frames = tf.cast(tf.round(tf.cast(example["onsets"], tf.float32) / hop), tf.int32) - start
    onset_frames = tf.boolean_mask(onset_frames, (onset_frames >= 0) & (onset_frames < frames))
    out["onsets"] = tf.scatter_nd(onset_frames[:, None], tf.ones_like(onset_frames, tf.float32), [frames])
    out["onsets"] = tf.minimum(out["onsets"], 1.0)
    out["has_target"] = tf.strings.length(example["target_audio"]) > 0
    del out["grid_onsets"], out["num_samples"]
    return out


def _crop(example: dict, window: int, hop: int) -> dict:
    out = dict(example)
    for track in augment.AUDIO_TRACKS:
        if track in example:
            out[track] = example[track][:window]
    for name in (*LABEL_FEATURES, "onsets"):
        out[name] = example[name][: window // hop]
    out["pitch_shift_cents"] = tf.constant(0.0)
    out["stretch_rate"] = tf.constant(1.0)
    out["snr_db"] = tf.constant(float("inf"))
    return out


def _examples(
    cfg: PipelineConfig, split: str, training: bool, records_dir: Path, stream_id: int, focused: bool = False
) -> tuple[tf.data.Dataset, int]:
    """Prepared (windowed, augmented when training) examples of one dataset folder, unbatched;
    and its label hop. ``focused``: one window per crop, placed by ``cfg.focus``."""
    manifest = read_manifest(records_dir)
    hop = int(manifest["label_hop"])
    sample_rate = int(manifest["sample_rate"])
    if sample_rate != contract.SAMPLE_RATE:
        raise ValueError(f"{records_dir}: sample rate {sample_rate}, the engine runs at {contract.SAMPLE_RATE}")
    window = int(math.ceil(cfg.window_samples / hop) * hop)
    use_augment = training and cfg.augment.enabled
    margin = augment.max_read_rate(cfg.augment) if use_augment else 1.0
    windows = windows_per_crop(cfg, manifest, window, margin) if training and not focused else 1
    crop = windows * window
    source_len = int(math.ceil(crop * margin / hop) + 2) * hop
    tracks = augment.AUDIO_TRACKS if cfg.with_targets else ("audio",)
    deterministic = cfg.seed is not None
    seed = _seed(cfg)

    paths = shard_paths(records_dir, split)
    files = tf.data.Dataset.from_tensor_slices(paths)
    if training:
        files = files.shuffle(len(paths), seed=seed + stream_id, reshuffle_each_iteration=True).repeat()
    ds = files.interleave(
        tf.data.TFRecordDataset,
        cycle_length=min(cfg.cycle_length, len(paths)),
        num_parallel_calls=tf.data.AUTOTUNE,
        deterministic=deterministic,
    )
    ds = ds.map(lambda raw: records.parse(raw, decode_audio=False), num_parallel_calls=tf.data.AUTOTUNE, deterministic=deterministic)

    def prepare(index, example):
        element_seed = tf.stack([tf.constant(seed, tf.int64), index + tf.constant(stream_id << 40, tf.int64)])
        crop_seed, augment_seed, noise_seed = tf.unstack(tf.random.experimental.stateless_split(element_seed, num=3))
        example = _window(example, source_len, hop, crop_seed, tracks, cfg.focus if focused else None)
        if use_augment:
            example = augment.augment_example(example, cfg.augment, crop, hop, sample_rate, augment_seed)
        else:
            example = _crop(example, crop, hop)
        if not training:
            return example
        example = _split(example, windows)
        return augment.add_input_noise(example, cfg.augment.noise, noise_seed) if use_augment else example

    if not training and cfg.eval_windows_per_example > 1:  # several fixed windows per segment
        copies = cfg.eval_windows_per_example
        ds = ds.flat_map(lambda example: tf.data.Dataset.from_tensors(example).repeat(copies))
    ds = ds.enumerate().map(prepare, num_parallel_calls=tf.data.AUTOTUNE, deterministic=deterministic)
    return (ds.unbatch() if training else ds), hop


def _with_focus(cfg: PipelineConfig, split: str, folder: Path, stream: tuple[tf.data.Dataset, int], stream_id: int) -> tuple[tf.data.Dataset, int]:
    """A folder's training windows with ``cfg.focus.share`` of them placed on close onsets."""
    if cfg.focus.span_samples <= 0:
        raise ConfigError("pipeline.focus.share: the model being trained sets no focus span (pipeline.focus.span_samples), so it cannot train with focus")
    focused, _ = _examples(cfg, split, True, folder, stream_id, focused=True)
    weights = [1.0 - cfg.focus.share, cfg.focus.share]
    return tf.data.Dataset.sample_from_datasets([stream[0], focused], weights=weights, seed=_seed(cfg) + stream_id), stream[1]


def windows_per_crop(cfg: PipelineConfig, manifest: dict, window: int, margin: float) -> int:
    """Training windows cut from one crop: ``cfg.windows_per_crop``, fewer when the crop (with the
    augmentation's read margin) would not fit in one of the dataset's segments."""
    segment = float(manifest.get("config", {}).get("segment_seconds", 0.0)) * int(manifest["sample_rate"])
    fitting = int(segment // (window * margin)) if segment > 0 else cfg.windows_per_crop
    return max(1, min(cfg.windows_per_crop, fitting))


def _split(example: dict, windows: int) -> dict:
    """A crop of ``windows`` consecutive windows -> a batch of them ([windows, ...]; per-crop
    scalars repeated)."""
    out = {}
    for name, value in example.items():
        if value.shape.rank == 0:
            out[name] = tf.repeat(value[None], windows, axis=0)
        else:
            out[name] = tf.reshape(value, [windows, -1])
    return out


def _seed(cfg: PipelineConfig) -> int:
    if cfg.seed is not None:
        return cfg.seed
    return int(tf.random.uniform([], 0, 2**31 - 1, dtype=tf.int64))


def mix_weights(cfg: PipelineConfig, split: str, folders: list[Path]) -> list[float]:
    """Sampling weight of each folder: ``cfg.mix_weights`` when given, else its share of the
    split's audio (as if the folders were one dataset)."""
    if cfg.mix_weights and len(folders) == 1 + len(cfg.mix):
        if len(cfg.mix_weights) != len(folders):
            raise ValueError(f"pipeline.mix_weights: {len(cfg.mix_weights)} weights for {len(folders)} record folders (records + mix)")
        weights = list(cfg.mix_weights)
    else:
        weights = [float(read_manifest(folder)["splits"][split]["seconds"]) for folder in folders]
    total = sum(weights)
    if total <= 0:
        raise ValueError(f"pipeline: no {split} audio in {', '.join(map(str, folders))}")
    return [w / total for w in weights]


def make_dataset(
    cfg: PipelineConfig, split: str = "train", training: bool | None = None, records_dir: str | Path | None = None
) -> tf.data.Dataset:
    """Batches of dicts: audio / target_audio / grid_audio [B, W] (the last two only
    ``with_targets``); f0_hz / voicing / target_f0_hz / onsets [B, W // hop]; has_target, tempo,
    pitch_shift_cents, stretch_rate, snr_db, instrument, key, scale, genre, source [B].

    ``training`` (default: split == 'train') shuffles, repeats forever and augments. Folders in
    ``cfg.mix`` are mixed in: sampled by ``cfg.mix_weights`` when training, one after the other
    otherwise.
    """
    training = split == "train" if training is None else training
    folders = [Path(records_dir or cfg.records)] + [Path(m) for m in cfg.mix]
    if len(folders) > 1:  # a mixed-in folder may have no examples in this split
        with_split = [f for f in folders if read_manifest(f)["splits"].get(split, {}).get("examples", 0)]
        folders = with_split or folders[:1]
    streams = [_examples(cfg, split, training, folder, i) for i, folder in enumerate(folders)]
    if training and cfg.focus.share > 0:
        streams = [_with_focus(cfg, split, folder, stream, len(folders) + i) for i, (folder, stream) in enumerate(zip(folders, streams, strict=True))]
    hops = {hop for _, hop in streams}
    if len(hops) > 1:
        raise ValueError(f"pipeline: the record folders have different label hops {sorted(hops)}; build them with one label_hop")
    if len(streams) == 1:
        ds = streams[0][0]
    elif training:
        weights = mix_weights(cfg, split, folders)
        ds = tf.data.Dataset.sample_from_datasets([d for d, _ in streams], weights=weights, seed=_seed(cfg))
    else:
        ds = streams[0][0]
        for other, _ in streams[1:]:
            ds = ds.concatenate(other)
    deterministic = cfg.seed is not None
    if training and cfg.shuffle_buffer:
        ds = ds.shuffle(cfg.shuffle_buffer, seed=_seed(cfg), reshuffle_each_iteration=True)
    ds = ds.batch(cfg.batch_size, drop_remainder=training, num_parallel_calls=tf.data.AUTOTUNE, deterministic=deterministic)
    if training and cfg.data_service:
        # the whole graph above (reading, augmentation, batching) runs on the service's workers;
        # each worker produces its own endless shuffled stream (parallel_epochs)
        ds = ds.apply(tf.data.experimental.service.distribute(processing_mode="parallel_epochs", service=cfg.data_service))
    return ds.prefetch(tf.data.AUTOTUNE)
