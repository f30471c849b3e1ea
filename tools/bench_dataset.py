"""Measure dataset build speed in seconds of audio per wall second.

    python tools/bench_dataset.py [--files 16] [--seconds 10] [--workers 2]

Writes ``files`` synthetic recordings as a folder of mixed formats (wav 48 kHz stereo, flac
22.05 kHz, ogg 32 kHz; no sidecar labels, so pYIN labels them), builds it with the folder source,
then builds the same amount of audio with the synthetic source; prints both speeds.
"""

from __future__ import annotations

import sys
import tempfile
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

import fire  # noqa: E402
import librosa  # noqa: E402
import numpy as np  # noqa: E402
import soundfile as sf  # noqa: E402

from autotune_keras.config import DatasetConfig, SyntheticConfig  # noqa: E402
from autotune_keras.data.build import build_dataset  # noqa: E402
from autotune_keras.data.synth import synthesize_phrase  # noqa: E402

FORMATS = ((".wav", 48000, 2), (".flac", 22050, 1), (".ogg", 32000, 1))


def _speed(manifest: dict, elapsed: float) -> float:
    return sum(s["seconds"] for s in manifest["sources"]) / elapsed


def main(files: int = 16, seconds: float = 10.0, workers: int = 2) -> None:
    """Print folder-source and synthetic-source build speeds."""
    with tempfile.TemporaryDirectory() as tmp:
        folder = Path(tmp) / "audio"
        folder.mkdir()
        synth = SyntheticConfig(phrase_seconds=seconds, seed=777)
        for i in range(files):
            suffix, rate, channels = FORMATS[i % len(FORMATS)]
            audio = librosa.resample(synthesize_phrase(i, synth).audio, orig_sr=44100, target_sr=rate)
            sf.write(folder / f"take{i:03d}{suffix}", np.stack([audio] * channels, axis=1), rate)
        cfg = DatasetConfig(
            workers=workers,
            sources_per_chunk=max(1, files // (2 * workers)),
            synthetic=SyntheticConfig(num_phrases=files, phrase_seconds=seconds),
        )
        for label, source in (
            ("folder (decode, resample, LUFS, pYIN)", str(folder)),
            ("synthetic (render x3, LUFS)", "synthetic"),
        ):
            start = time.perf_counter()
            manifest = build_dataset(source, Path(tmp) / label.split()[0], cfg, progress=False)
            elapsed = time.perf_counter() - start
            print(
                f"{label:>38}: {_speed(manifest, elapsed):6.1f} s of audio per wall second ({files} x {seconds:.0f} s, {workers} workers, {elapsed:.1f} s)"
            )


if __name__ == "__main__":
    fire.Fire(main)
