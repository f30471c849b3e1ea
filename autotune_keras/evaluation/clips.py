"""Held-out audio with labels: dataset segments, audio folders with f0 sidecars, synthetic
phrases with exact twins; and how a streaming model's buffers line up with the labels."""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

import numpy as np

from autotune_keras import contract


@dataclass
class LabelledClip:
    """A held-out segment with per-frame labels."""

    name: str
    audio: np.ndarray
    f0_hz: np.ndarray
    voicing: np.ndarray
    hop: int
    instrument: str = "unknown"
    holdout: str = ""  # why its source was kept out of training (bank / instrument / voice), or ''
    target_audio: np.ndarray | None = None  # the exactly-in-tune twin, when the source has one
    target_f0_hz: np.ndarray | None = None  # its f0 on the label grid
    key: str = ""
    scale: str = ""

    @property
    def family(self) -> str:
        """The instrument family results are reported by (data/gm.py)."""
        from autotune_keras.data.gm import family_of

        return family_of(self.instrument)


def load_clips(records: str | Path, split: str = "test", limit: int | None = None) -> list[LabelledClip]:
    """Whole segments of a dataset split (unaugmented), with their instrument, held-out status,
    key, scale and in-tune twin (when the source has one)."""
    import tensorflow as tf

    from autotune_keras.data import records as rec
    from autotune_keras.data.pipeline import read_manifest, shard_paths

    manifest = read_manifest(records)
    hop = int(manifest["label_hop"])
    holdout = {source["name"]: source.get("holdout", "") for source in manifest["sources"]}
    clips = []
    for raw in tf.data.TFRecordDataset(shard_paths(records, split)):
        example = rec.parse(raw)
        source = example["source"].numpy().decode()
        target = example["target_audio"].numpy()
        clips.append(
            LabelledClip(
                name=f"{source}@{float(example['start_seconds']):.1f}s",
                audio=example["audio"].numpy(),
                f0_hz=example["f0_hz"].numpy(),
                voicing=example["voicing"].numpy(),
                hop=hop,
                instrument=example["instrument"].numpy().decode() or "unknown",
                holdout=holdout.get(source, ""),
                target_audio=target if len(target) else None,
                target_f0_hz=example["target_f0_hz"].numpy() if len(target) else None,
                key=example["key"].numpy().decode(),
                scale=example["scale"].numpy().decode(),
            )
        )
        if limit and len(clips) >= limit:
            break
    return clips


def audio_clips(folder: str | Path, hop: int) -> tuple[list[LabelledClip], str]:
    """Every audio file under ``folder`` with labels from its f0 sidecar (``NAME.f0.csv``, CREPE's
    format, or a two-column ``NAME.csv``), else from pYIN (then the scores measure agreement with
    pYIN), read as the dataset builder reads them. Unusable files are reported and skipped."""
    from autotune_keras.audio import AudioError, list_audio_files, load_audio
    from autotune_keras.data import labels

    clips, sources = [], set()
    for path in list_audio_files(folder):
        try:
            audio = load_audio(path)
            sidecar = labels.sidecar_path(path)
            if sidecar is not None:
                frames = labels.num_frames(len(audio), hop)
                f0, voicing = labels.resample_labels(*labels.read_f0_file(sidecar), frames, hop)
                sources.add("csv")
            else:
                f0, voicing = labels.pyin_labels(audio, hop)
                sources.add("pyin")
        except (AudioError, labels.LabelError) as error:
            print(f"skipped: {error}")
            continue
        clips.append(LabelledClip(path.name, audio, f0, voicing, hop))
    if not clips:
        raise FileNotFoundError(f"{folder}: no readable audio files")
    label = {"csv": "NAME.f0.csv files", "pyin": "librosa.pyin (agreement, not accuracy)"}
    return clips, " + ".join(label[s] for s in sorted(sources))


def buffer_windows(audio: np.ndarray, context: int, buffer_size: int = contract.BUFFER_SIZE) -> np.ndarray:
    """The window a streaming model sees at each whole buffer (zero state at the start)."""
    n_buffers = len(audio) // buffer_size
    padded = np.concatenate([np.zeros(context, np.float32), audio[: n_buffers * buffer_size]])
    starts = np.arange(n_buffers) * buffer_size
    return np.stack([padded[s : s + context + buffer_size] for s in starts]).astype(np.float32)


def add_noise(audio: np.ndarray, snr_db: float, seed: int) -> np.ndarray:
    """White noise at ``snr_db`` against the clip's RMS."""
    noise = np.random.default_rng(seed).standard_normal(len(audio))
    rms = np.sqrt(np.mean(audio.astype(np.float64) ** 2)) + 1e-12
    return (audio + noise * rms / np.sqrt(np.mean(noise**2)) * 10 ** (-snr_db / 20)).astype(np.float32)


def buffer_labels(
    clip: LabelledClip, n_buffers: int, latency_samples: int, buffer_size: int = contract.BUFFER_SIZE
) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Times, f0 and voicing of what buffer ``i``'s output describes (its end minus the latency)."""
    instant = (np.arange(n_buffers) + 1) * buffer_size - latency_samples
    index = np.clip(instant // clip.hop, 0, len(clip.f0_hz) - 1)
    voiced = (clip.voicing[index] > 0.5) & (instant >= 0) & (clip.f0_hz[index] > 0)
    return instant / contract.SAMPLE_RATE, np.where(voiced, clip.f0_hz[index], 0.0), voiced


def held_out_phrases(count: int, seconds: float = 3.0, first_index: int = 1_000_000):
    """Synthetic phrases with their in-tune twins, from indices no dataset build uses."""
    from autotune_keras.config import SyntheticConfig
    from autotune_keras.data.synth import synthesize_phrase

    cfg = SyntheticConfig(phrase_seconds=seconds)
    return [synthesize_phrase(first_index + i, cfg) for i in range(count)]


@dataclass
class TimingClip:
    """A held-out segment played off the grid, with its on-grid twin and both onset lists."""

    name: str
    audio: np.ndarray
    grid_audio: np.ndarray
    onsets: np.ndarray  # samples, as played
    grid_onsets: np.ndarray  # samples, where they belong
    tempo: float
    instrument: str = "unknown"
    holdout: str = ""
    f0_hz: np.ndarray | None = None  # the played pitch on the label grid
    hop: int = 128

    @property
    def family(self) -> str:
        from autotune_keras.data.gm import family_of

        return family_of(self.instrument)

    def grid(self, step_beats: float = 0.25) -> tuple[float, float]:
        """(grid step in samples, the grid's phase at the clip's first sample in steps): the
        sources put their notes on a 16th-note grid from the first on-grid onset."""
        step = 60.0 / self.tempo * step_beats * contract.SAMPLE_RATE
        first = float(self.grid_onsets[0]) if len(self.grid_onsets) else 0.0
        return step, float((-first / step) % 1.0)


def load_timing_clips(records: str | Path, split: str = "test", limit: int | None = None) -> list[TimingClip]:
    """Segments with an on-grid twin, their onsets and tempo (sources the builder rendered).
    With ``limit``, that many segments spread evenly over the split, so every part of it (the
    sources write instrument by instrument, drums last) is represented."""
    import tensorflow as tf

    from autotune_keras.data import records as rec
    from autotune_keras.data.pipeline import read_manifest, shard_paths

    manifest = read_manifest(records)
    holdout = {source["name"]: source.get("holdout", "") for source in manifest["sources"]}
    dataset = tf.data.TFRecordDataset(shard_paths(records, split))
    wanted = None
    if limit:
        total = sum(1 for _ in dataset)
        wanted = set(np.linspace(0, total - 1, min(limit, total)).round().astype(int).tolist())
    clips = []
    for index, raw in enumerate(dataset):
        if wanted is not None and index not in wanted:
            continue
        example = rec.parse(raw)
        grid_audio = example["grid_audio"].numpy()
        if not len(grid_audio) or float(example["tempo"]) <= 0:
            continue
        source = example["source"].numpy().decode()
        clips.append(
            TimingClip(
                name=f"{source}@{float(example['start_seconds']):.1f}s",
                audio=example["audio"].numpy(),
                grid_audio=grid_audio,
                onsets=example["onsets"].numpy().astype(np.int64),
                grid_onsets=example["grid_onsets"].numpy().astype(np.int64),
                tempo=float(example["tempo"]),
                instrument=example["instrument"].numpy().decode() or "unknown",
                holdout=holdout.get(source, ""),
                f0_hz=example["f0_hz"].numpy(),
                hop=int(manifest["label_hop"]),
            )
        )
    return clips
