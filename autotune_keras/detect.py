"""Pitch of audio files, streamed through the exported detector buffer by buffer.

    python -m autotune_keras.detect song.wav takes/ [--model FILE.tflite|FILE.onnx|DIR] [--output DIR] [--plot]
    python -m autotune_keras.detect vocal.wav --midi --bends --a4 442

Writes ``NAME.f0.csv`` in CREPE's format (``time,frequency,confidence``; one row per 512-sample
buffer; time is the instant the row describes) beside each input or under ``--output``; with
``--midi`` also ``NAME.mid``, the notes segmented from the pitch track (autotune_keras/midi.py).
"""

from __future__ import annotations

import sys
from pathlib import Path

import numpy as np

from autotune_keras import audio as audio_io
from autotune_keras import contract
from autotune_keras.cli import run
from autotune_keras.engine.exports import latency_samples, shipped_model
from autotune_keras.engine.runners import ModelLoadError, load_runner
from autotune_keras.engine.stream import Stream, stream
from autotune_keras.files import atomic_write_text, check_output_file


def expand_inputs(paths: tuple[str, ...]) -> list[Path]:
    """Files as given, folders searched recursively for audio."""
    files: list[Path] = []
    for item in paths:
        path = Path(item)
        files.extend(audio_io.list_audio_files(path) if path.is_dir() else [path])
    return files


def detect_file(streamer: Stream, path: Path, latency: int, smooth: bool = False) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """(times, Hz, confidence) per buffer of one file (causally smoothed when ``smooth``)."""
    audio = audio_io.load_audio(path)
    frames = -(-len(audio) // streamer.buffer_size)
    # flush the look-ahead: the last buffer's answer arrives ``latency`` samples after it
    flush = max(0, latency - streamer.buffer_size // 2)
    out = stream(streamer, np.concatenate([audio, np.zeros(flush, np.float32)])).outputs
    pitch = out[streamer.signature.pitch].reshape(-1)
    confidence = out[streamer.signature.confidence].reshape(-1)
    if smooth:
        from autotune_keras.engine.smoothing import smooth_track

        pitch, confidence = smooth_track(pitch, confidence)
    times = ((np.arange(len(pitch)) + 1) * streamer.buffer_size - latency) / contract.SAMPLE_RATE
    keep = (times >= 0) & (np.arange(len(times)) < frames + flush // streamer.buffer_size)
    return times[keep], pitch[keep], confidence[keep]


def write_csv(path: Path, times: np.ndarray, pitch: np.ndarray, confidence: np.ndarray) -> None:
    """CREPE's csv: header ``time,frequency,confidence``, three decimals."""
    rows = "\n".join(f"{t:.3f},{f:.3f},{c:.3f}" for t, f, c in zip(times, pitch, confidence, strict=True))
    atomic_write_text(path, "time,frequency,confidence\n" + rows + ("\n" if rows else ""))


def plot_contour(path: Path, audio_path: Path, times: np.ndarray, pitch: np.ndarray, confidence: np.ndarray) -> None:
    """PNG of the contour, coloured by confidence, over the file's spectrogram."""
    import librosa
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    audio = audio_io.load_audio(audio_path)
    spec = librosa.amplitude_to_db(np.abs(librosa.stft(audio, n_fft=4096, hop_length=512)), ref=np.max)
    fig, ax = plt.subplots(figsize=(10, 4))
    librosa.display.specshow(spec, sr=contract.SAMPLE_RATE, hop_length=512, x_axis="time", y_axis="log", ax=ax, cmap="gray_r")
    valid = confidence >= contract.CONFIDENCE_THRESHOLD
    points = ax.scatter(
        times[valid], pitch[valid], c=confidence[valid], s=4, cmap="viridis", vmin=contract.CONFIDENCE_THRESHOLD, vmax=1
    )
    fig.colorbar(points, ax=ax, label="confidence")
    ax.set_ylim(contract.PITCH_MIN_HZ / 1.2, contract.PITCH_MAX_HZ * 1.2)
    ax.set_title(f"{audio_path.name}: pitch where confidence >= {contract.CONFIDENCE_THRESHOLD}")
    fig.tight_layout()
    fig.savefig(path, dpi=100)
    plt.close(fig)


def output_paths(files: list[Path], output: str | None, plot: bool, midi: bool = False) -> dict[Path, list[Path]]:
    """Each input's csv (then png, mid) path; two inputs that would write the same file are
    refused, naming both."""
    outputs: dict[Path, list[Path]] = {}
    claimed: dict[Path, Path] = {}
    for path in files:
        folder = Path(output) if output else path.parent
        stem = path.name.rsplit(".", 1)[0]
        targets = [folder / f"{stem}.f0.csv"] + ([folder / f"{stem}.f0.png"] if plot else []) + ([folder / f"{stem}.mid"] if midi else [])
        for target in targets:
            key = target.resolve()
            if key in claimed:
                raise FileExistsError(f"{claimed[key]} and {path} would both write {target}; rename one or detect them apart")
            claimed[key] = path
        outputs[path] = targets
    return outputs


def main(
    *paths: str,
    model: str | None = None,
    output: str | None = None,
    plot: bool = False,
    threads: int = 1,
    overwrite: bool = False,
    midi: bool = False,
    bends: bool = False,
    a4: float = 440.0,
    smooth: bool = False,
) -> int:
    """Detect pitch in audio files and folders; writes NAME.f0.csv (CREPE format) per file.

    Args:
      paths: audio files and/or folders (searched recursively).
      model: .tflite, .onnx, SavedModel folder or export folder (default: the shipped
        saved_models/pitch_detector, its INT8 TFLite).
      output: folder for the csv/png files (default: beside each input).
      plot: also write NAME.f0.png with the contour over a spectrogram.
      threads: inference threads.
      overwrite: replace existing NAME.f0.csv / NAME.f0.png / NAME.mid files (the csv is the label
        file dataset builds read as ground truth, so they are kept unless this is given).
      midi: also write NAME.mid: the notes segmented from the pitch and voicing track.
      bends: with --midi, add pitch bends for each note's deviation from its MIDI note (+-2 semitones).
      a4: reference tuning in Hz (415-466) for the MIDI note numbers.
      smooth: causal smoothing after the model (voicing hysteresis, a 3-buffer pitch median; no
        look-ahead): fewer flickers and false alarms, notes start one buffer later.
    """
    from tqdm import tqdm

    if not paths:
        raise ValueError("give at least one audio file or folder")
    if threads < 1:
        raise ValueError(f"--threads {threads}: must be at least 1")
    for item in paths:
        if not Path(item).exists():
            raise FileNotFoundError(f"{item}: no such file or folder")
    files = expand_inputs(paths)
    if not files:
        raise FileNotFoundError(f"{', '.join(paths)}: no audio files ({', '.join(audio_io.AUDIO_EXTENSIONS)}) found")
    from autotune_keras import music

    a4 = music.check_a4(a4)
    outputs = output_paths(files, output, plot, midi)
    model_path = Path(model) if model else shipped_model("pitch_detector")
    try:
        runner = load_runner(model_path, threads)
    except ModelLoadError as error:
        hint = " (the default model ships in saved_models/pitch_detector; pass --model)" if not model else ""
        raise FileNotFoundError(f"{error}{hint}") from None
    streamer = Stream(runner)
    if streamer.signature.pitch is None or streamer.signature.confidence is None:
        raise ValueError(f"{model_path}: not a pitch detector (outputs: {', '.join(runner.outputs)})")
    latency = latency_samples(model_path)
    failures = 0
    for path in tqdm(files, unit="file", desc="detect", disable=len(files) < 2):
        try:
            for target in outputs[path]:
                check_output_file(target, overwrite, inputs=(path,))
            times, pitch, confidence = detect_file(streamer, path, latency, smooth)
        except (audio_io.AudioError, OSError) as error:
            print(f"error: {error}" if str(path) in str(error) else f"error: {path}: {error}", file=sys.stderr)
            failures += 1
            continue
        outputs[path][0].parent.mkdir(parents=True, exist_ok=True)
        write_csv(outputs[path][0], times, pitch, confidence)
        if plot:
            plot_contour(outputs[path][1], path, times, pitch, confidence)
        if midi:
            from autotune_keras.midi import segment_notes, write_midi

            write_midi(outputs[path][-1], segment_notes(times, pitch, confidence, a4=a4), bends=bends)
    print(f"{len(files) - failures} of {len(files)} file(s) done" + (f", {failures} failed" if failures else ""), file=sys.stderr)
    return 1 if failures else 0


def cli() -> None:
    """Console-script entry point."""
    code = 0

    def command(
        *paths: str,
        model: str | None = None,
        output: str | None = None,
        plot: bool = False,
        threads: int = 1,
        overwrite: bool = False,
        midi: bool = False,
        bends: bool = False,
        a4: float = 440.0,
        smooth: bool = False,
    ) -> None:
        nonlocal code
        code = main(*paths, model=model, output=output, plot=plot, threads=threads, overwrite=overwrite, midi=midi, bends=bends, a4=a4,
                    smooth=smooth)  # fmt: skip

    command.__doc__ = main.__doc__
    run(command, "autotune_keras.detect")
    sys.exit(code)


if __name__ == "__main__":
    cli()
