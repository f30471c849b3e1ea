"""The C++ harness (tools/cpp) streams the exported SavedModel through the TensorFlow C API and
prints the same outputs Python gets."""

from __future__ import annotations

import shutil
import subprocess
from pathlib import Path

import numpy as np
import pytest
from conftest import harmonic_tone

from autotune_keras import contract
from autotune_keras.engine.runners import load_runner
from autotune_keras.engine.stream import stream

ROOT = Path(__file__).resolve().parent.parent


def _parse(stdout: str) -> dict[str, np.ndarray]:
    rows: dict[str, list] = {}
    for line in stdout.splitlines():
        index, name, *values = line.split()
        rows.setdefault(name, []).append((int(index), [float(v) for v in values]))
    return {name: np.array([v for _, v in sorted(r)]) for name, r in rows.items()}


def _build(export_dir: Path, out: Path) -> Path:
    if shutil.which("g++") is None:
        pytest.skip("no C++ compiler (g++) on this machine")
    build = subprocess.run(["bash", str(ROOT / "tools/cpp/build.sh"), str(export_dir), str(out)], capture_output=True, text=True)
    assert build.returncode == 0, build.stderr
    return Path(build.stdout.strip().splitlines()[-1])


@pytest.fixture(scope="module")
def harness(tiny_export, tmp_path_factory) -> Path:
    return _build(tiny_export, tmp_path_factory.mktemp("cpp"))


def test_cpp_savedmodel_stream_matches_python(harness, tiny_export, tmp_path):
    audio = np.concatenate([harmonic_tone(196.0, 0.1), harmonic_tone(330.0, 0.1)]).astype(np.float32)
    n_buffers = len(audio) // contract.BUFFER_SIZE
    (tmp_path / "audio.f32").write_bytes(audio.astype("<f4").tobytes())
    result = subprocess.run(
        [str(harness), str(tiny_export / "saved_model"), str(tmp_path / "audio.f32")], capture_output=True, text=True
    )
    assert result.returncode == 0, result.stderr
    from_cpp = _parse(result.stdout)
    from_python = stream(load_runner(tiny_export / "saved_model"), audio[: n_buffers * contract.BUFFER_SIZE]).outputs
    assert set(from_cpp) == {"pitch", "confidence", "harmonics"}
    for name, values in from_cpp.items():
        expected = from_python[name].reshape(n_buffers, -1)
        assert values.shape == expected.shape, name
        np.testing.assert_allclose(values, expected, rtol=1e-5, atol=1e-6, err_msg=name)


def test_cpp_harness_names_a_missing_model(harness, tmp_path):
    (tmp_path / "a.f32").write_bytes(np.zeros(1024, "<f4").tobytes())
    result = subprocess.run([str(harness), str(tmp_path / "nowhere"), str(tmp_path / "a.f32")], capture_output=True, text=True)
    assert result.returncode == 1 and "nowhere: cannot load SavedModel" in result.stderr


def test_cpp_corrector_stream_with_controls_matches_python(tiny_corrector, tmp_path):
    binary = _build(tiny_corrector, tmp_path / "bin")
    audio = harmonic_tone(228.0, 0.25).astype(np.float32)
    n_buffers = len(audio) // contract.BUFFER_SIZE
    (tmp_path / "audio.f32").write_bytes(audio.astype("<f4").tobytes())
    result = subprocess.run(
        [str(binary), str(tiny_corrector / "saved_model"), str(tmp_path / "audio.f32"), "target_pitch=220", "correction_strength=1"],
        capture_output=True, text=True,
    )  # fmt: skip
    assert result.returncode == 0, result.stderr
    from_cpp = _parse(result.stdout)
    controls = {"target_pitch": np.array([[220.0]], np.float32), "correction_strength": np.array([[1.0]], np.float32)}
    expected = stream(load_runner(tiny_corrector / "saved_model"), audio[: n_buffers * 512], controls).outputs["corrected_audio"]
    np.testing.assert_allclose(from_cpp["corrected_audio"], expected, rtol=1e-4, atol=1e-5)
    missing = subprocess.run(
        [str(binary), str(tiny_corrector / "saved_model"), str(tmp_path / "audio.f32")], capture_output=True, text=True
    )
    assert missing.returncode == 1 and "target_pitch: give its value as target_pitch=VALUE" in missing.stderr
