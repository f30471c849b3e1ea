"""Where examples come from: the synthetic generator, soundfont banks (real sampled instruments),
festival voices resynthesized by WORLD (a real human voice), or a folder of audio files.

A *source* is one unit of split assignment and resumption: a phrase or one audio file.
:func:`load_segments` turns a source into labelled :class:`Segment` s or raises
:class:`SkipSource` with a one-line reason. Sources held out from training (FluidR3-derived
banks, held-out instruments and voices) always land in the test split.
"""

from __future__ import annotations

import csv
import hashlib
import json
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from autotune_keras import audio as audio_io
from autotune_keras import contract
from autotune_keras.config import DatasetConfig, to_dict
from autotune_keras.data import labels
from autotune_keras.data.records import Segment
from autotune_keras.files import sha256_file

SYNTHETIC = "synthetic"
SOUNDFONT = "soundfont"
VOICE = "voice"
GENERATED = (SYNTHETIC, SOUNDFONT, VOICE)  # the sources a build renders itself
METADATA_FILE = "metadata.csv"
METADATA_FIELDS = ("instrument", "key", "scale", "tempo", "genre")


class SkipSource(Exception):
    """A source cannot be used; ``str(error)`` is the one-line reason."""


@dataclass(frozen=True)
class SourceRef:
    """A source by name, with a content hash for resumption and the manifest."""

    name: str
    sha256: str
    path: str = ""  # absolute path for folder sources, empty for generated ones
    index: int = -1  # phrase number for generated sources
    kind: str = SYNTHETIC  # synthetic / soundfont / voice / file
    bank: str = ""  # soundfont file
    program: int = -1  # GM program
    voice: str = ""  # festival voice
    holdout: str = ""  # why it is kept out of training (bank / instrument / voice): test split only


def split_of(name: str, fractions: tuple[float, float, float], holdout: str = "") -> str:
    """Train / validation / test by a stable hash of the source name (no leakage); a held-out
    source is always test."""
    if holdout:
        return "test"
    position = int(hashlib.sha256(name.encode()).hexdigest()[:12], 16) / float(16**12)
    if position < fractions[0]:
        return "train"
    if position < fractions[0] + fractions[1]:
        return "validation"
    return "test"


def synthetic_sources(cfg: DatasetConfig) -> list[SourceRef]:
    """One source per synthetic phrase; the hash covers every generator setting."""
    settings = json.dumps(to_dict(cfg.synthetic), sort_keys=True)
    refs = []
    for index in range(cfg.synthetic.num_phrases):
        digest = hashlib.sha256(f"{settings}/{index}".encode()).hexdigest()
        refs.append(SourceRef(name=f"synthetic/{index:06d}", sha256=digest, index=index))
    return refs


def soundfont_sources(cfg: DatasetConfig) -> list[SourceRef]:
    """One source per soundfont phrase; the hash covers the settings and the bank file's content."""
    from autotune_keras.data import soundfont, tuning

    labelling = f"{tuning.TUNING_VERSION}/{tuning.MAX_OFFSET_CENTS}/{tuning.MAX_SPREAD_CENTS}/{tuning.MAX_SUBOCTAVE_DB}"
    settings = json.dumps(to_dict(cfg.soundfont), sort_keys=True) + labelling
    digests = {bank: _bank_digest(bank) for bank in cfg.soundfont.banks}
    refs = []
    for phrase in soundfont.phrases(cfg.soundfont):
        digest = hashlib.sha256(f"{settings}/{digests[phrase.bank]}/{phrase.index}".encode()).hexdigest()
        refs.append(
            SourceRef(
                name=phrase.name, sha256=digest, index=phrase.index, kind=SOUNDFONT, bank=phrase.bank,
                program=phrase.program, holdout=soundfont.held_out(phrase, cfg.soundfont),
            )
        )  # fmt: skip
    return refs


def _bank_digest(bank: str) -> str:
    from autotune_keras.data.fluid import INSTALL_HINT

    if not Path(bank).is_file():
        raise FileNotFoundError(f"{bank}: no such soundfont; {INSTALL_HINT}")
    return sha256_file(bank)


def voice_sources(cfg: DatasetConfig) -> list[SourceRef]:
    """One source per sung voice phrase."""
    from autotune_keras.data import voice

    settings = json.dumps(to_dict(cfg.voice), sort_keys=True)
    refs = []
    for phrase in voice.phrases(cfg.voice):
        digest = hashlib.sha256(f"{settings}/{phrase.index}".encode()).hexdigest()
        holdout = "voice" if phrase.voice in cfg.voice.held_out_voices else ""
        refs.append(SourceRef(name=phrase.name, sha256=digest, index=phrase.index, kind=VOICE, voice=phrase.voice, holdout=holdout))
    return refs


def generated_sources(kind: str, cfg: DatasetConfig) -> list[SourceRef]:
    """The sources of a generated kind (synthetic, soundfont, voice)."""
    return {SYNTHETIC: synthetic_sources, SOUNDFONT: soundfont_sources, VOICE: voice_sources}[kind](cfg)


def folder_sources(folder: str | Path) -> list[SourceRef]:
    """Every audio file under ``folder``, named by its path relative to the folder."""
    folder = Path(folder).resolve()
    if not folder.is_dir():
        raise FileNotFoundError(f"{folder}: not a folder of audio files")
    refs = []
    for path in audio_io.list_audio_files(folder):
        try:
            digest = sha256_file(path)
        except OSError as error:
            digest = f"unreadable:{error.strerror}"
        refs.append(SourceRef(name=path.relative_to(folder).as_posix(), sha256=digest, path=str(path), kind="file"))
    return refs


def read_metadata(folder: str | Path) -> dict[str, dict]:
    """Rows of ``metadata.csv`` keyed by file name (relative path or bare name)."""
    path = Path(folder) / METADATA_FILE
    if not path.is_file():
        return {}
    rows = {}
    with open(path, newline="") as handle:
        reader = csv.DictReader(handle)
        if not reader.fieldnames or "file" not in reader.fieldnames:
            raise ValueError(f"{path}: needs a 'file' column (and any of {', '.join(METADATA_FIELDS)})")
        for row in reader:
            entry = {k: row[k] for k in METADATA_FIELDS if row.get(k)}
            if "tempo" in entry:
                entry["tempo"] = float(entry["tempo"])
            rows[row["file"]] = entry
    return rows


def _cut(length: int, cfg: DatasetConfig, sample_rate: int) -> list[tuple[int, int]]:
    """Segment boundaries in samples, each a multiple of the label hop from the start."""
    size = int(cfg.segment_seconds * sample_rate) // cfg.label_hop * cfg.label_hop
    minimum = int(cfg.min_segment_seconds * sample_rate)
    bounds = []
    for start in range(0, length, size):
        stop = min(length, start + size)
        if stop - start >= minimum:
            bounds.append((start, stop))
    return bounds


def _events_in(events: np.ndarray, start: int, stop: int) -> np.ndarray:
    """Sample positions inside [start, stop), relative to start."""
    return events[(events >= start) & (events < stop)] - start


def _check_audio(audio: np.ndarray, cfg: DatasetConfig, sample_rate: int) -> None:
    if len(audio) < cfg.min_segment_seconds * sample_rate:
        raise SkipSource(f"too short ({len(audio) / sample_rate:.2f} s < {cfg.min_segment_seconds} s)")
    if float(np.max(np.abs(audio))) < 1e-5:
        raise SkipSource("silent")


def _render(ref: SourceRef, cfg: DatasetConfig, sample_rate: int):
    """The phrase a generated source names (SkipSource when it cannot be labelled)."""
    if ref.kind == SOUNDFONT:
        from autotune_keras.data import soundfont

        try:
            return soundfont.render_phrase(soundfont.SoundfontPhrase(ref.index, ref.bank, ref.program), cfg.soundfont, sample_rate)
        except soundfont.UnlabellableProgram as error:
            raise SkipSource(str(error)) from None
    if ref.kind == VOICE:
        from autotune_keras.data import voice

        try:
            return voice.render_phrase(voice.VoicePhrase(ref.index, ref.voice), cfg.voice, sample_rate)
        except voice.VoiceError as error:
            raise SkipSource(str(error)) from None
    from autotune_keras.data.synth import synthesize_phrase

    return synthesize_phrase(ref.index, cfg.synthetic, sample_rate)


def _phrase_segments(ref: SourceRef, cfg: DatasetConfig, sample_rate: int) -> tuple[list[Segment], str]:
    phrase = _render(ref, cfg, sample_rate)
    gain = audio_io.normalize_loudness(phrase.audio, cfg.loudness_lufs, sample_rate)[1]
    peak = max(float(np.max(np.abs(x))) for x in (phrase.audio, phrase.in_tune_audio, phrase.on_grid_audio))
    gain = min(gain, 0.989 / peak)  # one gain for the pair keeps it exact; never clip
    hop = cfg.label_hop
    frame_at = np.arange(labels.num_frames(len(phrase.audio), hop)) * hop
    segments = []
    for start, stop in _cut(len(phrase.audio), cfg, sample_rate):
        frames = slice(start // hop, labels.num_frames(stop, hop))
        at = frame_at[frames]

        segments.append(
            Segment(
                audio=phrase.audio[start:stop] * gain,
                target_audio=phrase.in_tune_audio[start:stop] * gain,
                grid_audio=phrase.on_grid_audio[start:stop] * gain,
                f0_hz=phrase.f0_hz[at],
                voicing=phrase.voicing[at],
                target_f0_hz=phrase.target_f0_hz[at],
                onsets=_events_in(phrase.onsets, start, stop),
                grid_onsets=_events_in(phrase.grid_onsets, start, stop),
                source=ref.name,
                start_seconds=start / sample_rate,
                metadata=phrase.metadata,
            )
        )
    return segments, ref.kind


def _file_segments(ref: SourceRef, cfg: DatasetConfig, sample_rate: int, metadata: dict) -> tuple[list[Segment], str]:
    path = Path(ref.path)
    try:
        audio = audio_io.load_audio(path, sample_rate)
    except audio_io.AudioError as error:
        raise SkipSource(str(error).removeprefix(f"{path}: ")) from None
    _check_audio(audio, cfg, sample_rate)
    try:
        audio, _ = audio_io.normalize_loudness(audio, cfg.loudness_lufs, sample_rate)
    except audio_io.AudioError as error:
        raise SkipSource(str(error)) from None
    hop = cfg.label_hop
    frames = labels.num_frames(len(audio), hop)
    sidecar = labels.sidecar_path(path)
    if sidecar is not None:
        try:
            f0, voicing = labels.resample_labels(*labels.read_f0_file(sidecar), frames, hop, sample_rate)
        except labels.LabelError as error:
            raise SkipSource(f"bad f0 file: {error}") from None
        label_source = f"sidecar:{sidecar.name}"
    else:
        f0, voicing = labels.pyin_labels(audio, hop, sample_rate)
        label_source = "pyin"
    onsets = labels.detect_onsets(audio, sample_rate)
    meta = metadata.get(ref.name) or metadata.get(path.name) or {}
    segments = []
    for start, stop in _cut(len(audio), cfg, sample_rate):
        frame_slice = slice(start // hop, labels.num_frames(stop, hop))
        segments.append(
            Segment(
                audio=audio[start:stop],
                f0_hz=f0[frame_slice],
                voicing=voicing[frame_slice],
                onsets=_events_in(onsets, start, stop),
                source=ref.name,
                start_seconds=start / sample_rate,
                metadata={"instrument": "unknown", **meta},
            )
        )
    return segments, label_source


def load_segments(
    ref: SourceRef, cfg: DatasetConfig, metadata: dict | None = None, sample_rate: int = contract.SAMPLE_RATE
) -> tuple[list[Segment], str]:
    """Labelled segments of one source and where its labels came from; raises SkipSource."""
    if ref.path:
        return _file_segments(ref, cfg, sample_rate, metadata or {})
    return _phrase_segments(ref, cfg, sample_rate)
