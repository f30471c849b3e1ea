"""The bad-input catalogue: each case a user met, run through the real CLI or the exported
models. Nothing is lost, no output is wrong, and every user error is one line that names the file
or the flag (no traceback)."""

from __future__ import annotations

import os
import shutil
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest
import soundfile as sf
from conftest import harmonic_tone

from autotune_keras import contract, music

ROOT = Path(__file__).resolve().parent.parent
SR = contract.SAMPLE_RATE


def cli(module: str, *args, cwd: Path = ROOT) -> subprocess.CompletedProcess:
    return subprocess.run([sys.executable, "-m", f"autotune_keras.{module}", *map(str, args)], cwd=cwd, capture_output=True, text=True)


def assert_one_line_error(result: subprocess.CompletedProcess, *fragments: str) -> None:
    assert result.returncode != 0, result.stdout
    assert "Traceback" not in result.stderr, result.stderr
    errors = [line for line in result.stderr.splitlines() if line.startswith("error: ")]
    assert len(errors) == 1, result.stderr
    for fragment in fragments:
        assert fragment in errors[0], errors[0]


@pytest.fixture
def good(tmp_path) -> Path:
    """A 2-second harmonic tone between C4 and C#4, 16-bit, 44.1 kHz."""
    path = tmp_path / "good.wav"
    sf.write(path, harmonic_tone(270.0, 2.0), SR, subtype="PCM_16")
    return path


# ------------------------------------------------------------------ data loss and wrong output


def test_sharp_keys_and_hash_names_reach_the_code_as_typed(good, tmp_path):
    sharp, natural = tmp_path / "fixed#2.wav", tmp_path / "natural.wav"
    assert cli("correct", good, sharp, "--key", "C#", "--scale", "MAJOR", "--baseline").returncode == 0
    assert cli("correct", good, natural, "--key", "C", "--scale", "MAJOR", "--baseline").returncode == 0
    assert sharp.is_file()  # not "fixed"
    f0 = lambda path: float(np.median(music.hz_to_midi(np.nan_to_num(  # noqa: E731
        __import__("librosa").pyin(sf.read(path)[0][SR // 2 :], fmin=200, fmax=400, sr=SR)[0], nan=1.0))))
    assert round(f0(sharp)) == 61 and round(f0(natural)) == 60  # C#4 against C4: the sharp was heard
    take = tmp_path / "take#2.wav"
    shutil.copy(good, take)
    assert cli("detect", take).returncode == 0
    assert (tmp_path / "take#2.f0.csv").is_file() and not (tmp_path / "take.f0.csv").exists()


def test_overwrite_never_deletes_a_folder_this_project_did_not_write(good, tmp_path):
    user = tmp_path / "my_audio"
    user.mkdir()
    shutil.copy(good, user / "song.wav")
    (user / "notes.txt").write_text("mine")
    result = cli("dataset", "--source", user, "--out", user, "--overwrite")
    assert_one_line_error(result, str(user), "source folder")
    result = cli("dataset", "--source", "synthetic", "--out", user, "--overwrite", "--synthetic.num_phrases=1")
    assert_one_line_error(result, str(user), "did not write")
    assert sorted(p.name for p in user.iterdir()) == ["notes.txt", "song.wav"]


def test_export_overwrite_never_deletes_the_training_run(tiny_run):
    before = sorted(p.name for p in tiny_run.iterdir())
    result = cli("export", "--checkpoint", tiny_run, "--out", tiny_run, "--overwrite")
    assert_one_line_error(result, str(tiny_run))
    assert sorted(p.name for p in tiny_run.iterdir()) == before


def test_correct_refuses_to_write_over_its_input_or_an_existing_file(good, tmp_path):
    original = good.read_bytes()
    assert_one_line_error(cli("correct", good, good, "--baseline"), "is the input")
    link = tmp_path / "link.wav"
    link.symlink_to(good)
    assert_one_line_error(cli("correct", good, link, "--baseline", "--overwrite"), "is the input")
    assert good.read_bytes() == original
    existing = tmp_path / "out.wav"
    existing.write_bytes(b"keep me")
    assert_one_line_error(cli("correct", good, existing, "--baseline"), str(existing), "--overwrite")
    assert existing.read_bytes() == b"keep me"
    assert cli("correct", good, existing, "--baseline", "--overwrite").returncode == 0


def test_detect_keeps_results_apart_and_label_files_safe(good, tmp_path):
    folder = tmp_path / "takes"
    folder.mkdir()
    shutil.copy(good, folder / "take.wav")
    sf.write(folder / "take.flac", harmonic_tone(330.0, 1.0), SR)
    result = cli("detect", folder)
    assert_one_line_error(result, "take.wav", "take.flac", "take.f0.csv")
    (folder / "take.flac").unlink()
    labels = folder / "take.f0.csv"
    labels.write_text("time,frequency,confidence\n0.0,270.0,1.0\n")
    result = cli("detect", folder)
    assert result.returncode != 0 and "take.f0.csv: already exists; pass --overwrite" in result.stderr
    assert labels.read_text() == "time,frequency,confidence\n0.0,270.0,1.0\n"
    assert cli("detect", folder, "--overwrite").returncode == 0 and len(labels.read_text().splitlines()) > 100


def _stream_with_bad_buffers(runner, controls=None):
    from autotune_keras.engine.stream import Stream

    stream = Stream(runner)
    tone = harmonic_tone(220.0, 12 * 512 / SR)
    buffers = tone.reshape(-1, 512).copy()
    bad = buffers.copy()
    bad[5, 100] = np.nan
    bad[6, :] = np.inf
    bad[7, 3] = -np.inf
    clean_run = []
    silenced = np.where(np.all(np.isfinite(bad), axis=1, keepdims=True), bad, 0.0)  # a bad buffer is heard as silence
    for buffer in silenced:
        clean_run.append(stream.process(buffer, **(controls or {})))
    stream.reset()
    bad_run = [stream.process(buffer, **(controls or {})) for buffer in bad]
    state = {k: v for k, v in stream.state.items()}
    return clean_run, bad_run, state


@pytest.mark.parametrize("name", ["pitch_detector_int8.tflite", "pitch_detector_float.tflite", "pitch_detector.onnx", "saved_model"])
def test_every_detector_format_hears_nan_and_inf_as_silence(tiny_export, name):
    from autotune_keras.engine.runners import load_runner

    clean_run, bad_run, state = _stream_with_bad_buffers(load_runner(tiny_export / name))
    for i in (5, 6, 7):
        assert float(bad_run[i]["confidence"][0]) == 0.0
    for out in bad_run:
        assert all(np.all(np.isfinite(v)) for v in out.values())
    assert all(np.all(np.isfinite(v)) for v in state.values())
    for i in range(8, 12):  # afterwards exactly as if those buffers had been silence
        np.testing.assert_allclose(bad_run[i]["pitch"], clean_run[i]["pitch"], rtol=1e-5)
        np.testing.assert_allclose(bad_run[i]["confidence"], clean_run[i]["confidence"], atol=1e-6)


@pytest.mark.parametrize("name", ["pitch_corrector_int8.tflite", "pitch_corrector.onnx", "saved_model"])
def test_every_corrector_format_hears_nan_and_inf_as_silence(tiny_corrector, name):
    from autotune_keras.engine.runners import load_runner

    controls = {"target_pitch": np.array([[np.nan]], np.float32), "correction_strength": np.array([[1.0]], np.float32)}
    runner = load_runner(tiny_corrector / name)
    _, bad_run, state = _stream_with_bad_buffers(runner, controls)
    assert all(float(out["confidence"][0]) == 0.0 for out in bad_run[5:8])
    assert all(np.all(np.isfinite(out["corrected_audio"])) for out in bad_run)
    assert all(np.all(np.isfinite(v)) for v in state.values())


def test_audio_beyond_full_scale_is_named_with_its_peak(tmp_path):
    loud = tmp_path / "loud.wav"
    sf.write(loud, 4.0 * harmonic_tone(220.0, 1.0) / 0.3, SR, subtype="FLOAT")
    result = cli("detect", loud)
    assert result.returncode == 0
    assert f"warning: {loud}: samples reach 4.00, beyond full scale" in result.stderr


# ------------------------------------------------------------------ unclear errors, one line each


def test_missing_and_unwritable_paths_are_named_before_any_work(good, tmp_path):
    assert_one_line_error(cli("correct", tmp_path / "none.wav", tmp_path / "o.wav"), "none.wav: no such file")
    assert_one_line_error(cli("detect", tmp_path / "none.wav"), "none.wav: no such file")
    assert_one_line_error(cli("correct", good, good.parent / "good.wav" / "o.wav", "--baseline"), "is a file, not a folder")
    (tmp_path / "folder.wav").mkdir()
    assert_one_line_error(cli("correct", good, tmp_path / "folder.wav", "--baseline"), "is a folder")
    assert_one_line_error(cli("correct", good, tmp_path / "out.xyz", "--baseline"), "cannot write .xyz")


def test_bad_numbers_name_their_flag(good, tmp_path):
    assert_one_line_error(cli("correct", good, tmp_path / "o.wav", "--strength", "abc"), "--strength abc: expected a number")
    assert_one_line_error(cli("benchmark", "--runs", "0"), "--runs")
    assert_one_line_error(cli("realtime", "--seconds", "-1"), "--seconds")
    assert_one_line_error(cli("detect", good, "--threads", "two"), "--threads two")


def test_config_errors_name_the_file_line_or_key(tmp_path):
    bad = tmp_path / "bad.yaml"
    bad.write_text("train:\n  epochs: [1, 2\n")
    assert_one_line_error(cli("train", "--config", bad), f"{bad}:3:1: not valid YAML")
    result = cli("train", "--qat.enabled", "false", "--pipeline.records", tmp_path / "typo", "--pipeline.mix=")
    assert_one_line_error(result, "typo: no dataset there")  # false was taken as false; a mistyped path is not built
    assert not (tmp_path / "typo").exists()


def test_a_damaged_weights_file_is_named(tiny_run, tmp_path):
    run = tmp_path / "run"
    run.mkdir()
    shutil.copy(tiny_run / "config.yaml", run / "config.yaml")
    (run / "float.weights.h5").write_bytes((tiny_run / "float.weights.h5").read_bytes()[:2000])
    assert_one_line_error(cli("export", "--checkpoint", run, "--out", tmp_path / "export"), "float.weights.h5: cannot be read")
    assert not (tmp_path / "export").exists()


def test_failed_commands_leave_nothing_behind(tmp_path):
    assert_one_line_error(cli("dataset", "--source", tmp_path / "missing", "--out", tmp_path / "ds"), "missing")
    assert not (tmp_path / "ds").exists()
    shipped = ROOT / "saved_models" / "pitch_detector"
    assert_one_line_error(cli("evaluate", "--model", shipped, "--data", tmp_path / "nodata", "--out", tmp_path / "report"), "nodata")
    assert not (tmp_path / "report").exists()
    (tmp_path / "empty").mkdir()
    assert_one_line_error(cli("detect", tmp_path / "empty"), "no audio files")


def test_a_killed_exports_temp_folder_is_removed_next_time(tmp_path):
    from autotune_keras.files import remove_stale_temps

    finished = subprocess.Popen([sys.executable, "-c", "pass"])
    finished.wait()  # its PID now runs nothing
    leftover = tmp_path / f".export.tmp-{finished.pid}"
    (leftover / "saved_model").mkdir(parents=True)
    running = tmp_path / f".export.tmp-{os.getpid()}"
    running.mkdir()
    assert remove_stale_temps(tmp_path, "export") == [leftover]
    assert not leftover.exists() and running.exists()  # a live export's folder is left alone


def test_tensorflow_start_up_noise_stays_hidden_unless_verbose(tmp_path):
    quiet = cli("correct", tmp_path / "none.wav", tmp_path / "o.wav")
    assert quiet.stderr.strip() == f"error: {tmp_path / 'none.wav'}: no such file"
    loud = cli("correct", tmp_path / "none.wav", tmp_path / "o.wav", "--verbose")
    assert "error:" in loud.stderr and len(loud.stderr.splitlines()) > 1


def test_the_integration_guide_states_what_non_finite_input_does():
    guide = (ROOT / "docs" / "INTEGRATION_GUIDE.md").read_text()
    section = guide[guide.index("## Non-finite and out-of-range input") :]
    for model in ("pitch_detector", "pitch_corrector"):
        assert model in section
