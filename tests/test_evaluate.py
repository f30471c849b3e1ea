"""evaluate (report + plots) and realtime (budget verdict) on real exported models."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest
import soundfile as sf
from conftest import harmonic_tone

from autotune_keras.evaluate import evaluate

ROOT = Path(__file__).resolve().parent.parent
SHIPPED = ROOT / "saved_models" / "pitch_detector"
PNG_MAGIC = b"\x89PNG"


@pytest.fixture(scope="module")
def labelled_folder(tmp_path_factory) -> Path:
    folder = tmp_path_factory.mktemp("takes")
    sf.write(folder / "a220.wav", harmonic_tone(220.0, 1.5, 48000), 48000)
    times = np.arange(0, 1.5, 0.01)
    (folder / "a220.f0.csv").write_text("time,frequency,confidence\n" + "\n".join(f"{t:.3f},220.000,1.000" for t in times) + "\n")
    sf.write(folder / "e330.flac", harmonic_tone(330.0, 1.0), 44100)  # no csv: pYIN labels
    (folder / "broken.wav").write_bytes(b"not audio at all")
    return folder


def test_evaluate_audio_folder_scores_the_shipped_detector(labelled_folder, tmp_path, capsys):
    result = evaluate(SHIPPED, audio=labelled_folder, out=tmp_path / "report")
    assert "broken.wav" in capsys.readouterr().out  # reported and skipped
    scores = result["models"][str(SHIPPED)]
    assert scores["rpa_50"] > 0.9 and scores["voicing_recall"] > 0.9
    assert scores["artifacts"] == {"non_finite_outputs": 0, "confident_out_of_range": 0, "confidence_outside_0_1": 0}
    assert scores["buffers_under_latency_budget"] > 0.9 and scores["latency_ms"]["median"] < 5.0
    assert "NAME.f0.csv files + librosa.pyin" in result["data"]
    saved = json.loads((tmp_path / "report" / "evaluation.json").read_text())
    assert saved["models"][str(SHIPPED)]["rpa_50"] == scores["rpa_50"]
    report = (tmp_path / "report" / "report.md").read_text()
    assert "| RPA 50 / 25 / 10 cents |" in report and "![contours.png](contours.png)" in report
    for plot in ("contours.png", "errors_and_latency.png", "reliability.png"):
        assert (tmp_path / "report" / plot).read_bytes()[:4] == PNG_MAGIC
    assert 0.0 <= scores["calibration"]["ece"] <= 1.0 and "| confidence calibration error" in report


def test_evaluate_compares_several_models_on_the_same_records(synthetic_records, tmp_path):
    result = evaluate(
        SHIPPED,
        data=synthetic_records,
        split="train",
        compare=f"{SHIPPED / 'pitch_detector_float.tflite'},{SHIPPED}",  # comma-separated, one twice
        limit=2,
        snr_db=20,
        out=tmp_path,
    )
    assert list(result["models"]) == [str(SHIPPED), str(SHIPPED / "pitch_detector_float.tflite"), f"{SHIPPED} (compare 2)"]
    int8, float32, again = result["models"].values()
    assert int8["frames"] == float32["frames"] > 0
    assert abs(int8["rpa_50"] - float32["rpa_50"]) < 0.1  # INT8 tracks float on the same noisy clips
    assert again["rpa_50"] == int8["rpa_50"]  # the same model on the same clips scores the same
    assert "20 dB SNR" in result["data"]
    header = (tmp_path / "report.md").read_text().splitlines()[4]
    assert "pitch_detector_float.tflite" in header and "`" + str(SHIPPED) + "`" in header


def test_evaluate_names_a_folder_without_an_export_report(tmp_path):
    (tmp_path / "model.onnx").write_bytes(b"")
    with pytest.raises(FileNotFoundError, match="model.onnx: no export_report.json"):
        evaluate(tmp_path / "model.onnx")


@pytest.mark.parametrize("model", ["pitch_detector_int8.tflite", "pitch_detector.onnx"])
def test_realtime_reports_every_budget(model, tmp_path):
    out = tmp_path / "rt.json"
    result = subprocess.run(
        [sys.executable, "-m", "autotune_keras.realtime", "--model", str(SHIPPED / model), "--seconds", "1.5", "--json_out", str(out)],
        cwd=ROOT, capture_output=True, text=True, env=os.environ | {"MPLBACKEND": "Agg"},
    )  # fmt: skip
    assert result.returncode == 0, result.stderr
    figures = json.loads(out.read_text())
    assert figures["buffers"] == int(1.5 * 44100) // 512 and figures["paced"] is True
    assert 1.4 < figures["wall_seconds"] < 5.0  # paced: about the audio's own duration
    assert 0 < figures["latency_ms"]["median"] < 5.0 and 0 < figures["cpu_fraction"] < 1.0
    assert [c["name"] for c in figures["checks"]] == [
        "latency p99 per buffer", "CPU of one core", "memory (runtime + model)", "model size",
    ]  # fmt: skip
    verdict = "PASS" if all(c["passed"] for c in figures["checks"]) else "FAIL"
    assert f"Overall: {verdict}" in result.stdout
    assert figures["checks"][3]["passed"]  # a few MB against 50


def test_realtime_names_a_missing_model(tmp_path):
    result = subprocess.run(
        [sys.executable, "-m", "autotune_keras.realtime", "--model", str(tmp_path / "none.tflite"), "--seconds", "1"],
        cwd=ROOT, capture_output=True, text=True,
    )  # fmt: skip
    assert result.returncode != 0 and "none.tflite: no such model file or folder" in result.stderr


def test_evaluate_corrector_against_the_dsp_baseline(tmp_path):
    result = evaluate(ROOT / "saved_models" / "pitch_corrector", compare="baseline", limit=2, out=tmp_path)
    assert list(result["models"]) == [str(ROOT / "saved_models" / "pitch_corrector"), "DSP baseline"]
    for scores in result["models"].values():
        assert scores["phrases"] == 2 and 0.0 <= scores["within_10_cents"] <= 1.0
        assert 0.0 < scores["stoi"] <= 1.0 and scores["envelope_distance"] > 0
        # the uncorrected input is measured against the same twin on both distances
        assert scores["envelope_input_to_in_tune"] > 0 and scores["mr_stft_input_to_in_tune"] > 0
        assert scores["clicks"] == 0 and scores["non_finite_samples"] == 0 and scores["clipped_samples"] == 0
        assert scores["strength_0_snr_db_min"] >= 40.0
    report = (tmp_path / "report.md").read_text()
    assert "| output pitch within 10 cents of the scale note (verifiable steady frames) |" in report and "`DSP baseline`" in report
    assert report.count("(uncorrected input's distance)") == 2  # beside the STFT and the envelope rows
    assert result["in_tune_twin_ceiling"]["within_10_cents"] > 0.99  # the exact answer scores ~1 on steady frames
    assert "the measurement's ceiling" in report
    assert (tmp_path / "correction.png").read_bytes()[:4] == PNG_MAGIC


def test_evaluate_refuses_mixed_model_kinds(tmp_path):
    with pytest.raises(ValueError, match="one kind"):
        evaluate(SHIPPED, compare=ROOT / "saved_models" / "pitch_corrector", out=tmp_path)


def test_realtime_streams_a_given_file_back_to_back(tmp_path):
    take = tmp_path / "take.wav"
    sf.write(take, harmonic_tone(247.0, 0.5, 22050), 22050)  # looped to --seconds
    out = tmp_path / "rt.json"
    result = subprocess.run(
        [sys.executable, "-m", "autotune_keras.realtime", "--model", str(ROOT / "saved_models" / "pitch_corrector"),
         "--audio", str(take), "--seconds", "2", "--paced", "False", "--json_out", str(out)],
        cwd=ROOT, capture_output=True, text=True,
    )  # fmt: skip
    assert result.returncode == 0, result.stderr
    figures = json.loads(out.read_text())
    assert figures["paced"] is False and figures["buffers"] == 2 * 44100 // 512
    assert figures["wall_seconds"] < 2.0  # back to back: faster than real time
    assert figures["model"].endswith("pitch_corrector_int8.tflite")


def test_expected_calibration_error_sees_overconfidence():
    from autotune_keras.evaluation.pitch_metrics import calibration

    rng = np.random.default_rng(0)
    confidence = rng.uniform(0, 1, 20000)
    honest = rng.uniform(0, 1, 20000) < confidence  # right with probability = confidence
    assert calibration(confidence, honest)["ece"] < 0.02
    boastful = rng.uniform(0, 1, 20000) < confidence * 0.5  # right half as often as it claims
    result = calibration(confidence, boastful)
    assert result["ece"] == pytest.approx(0.25, abs=0.02)
    assert sum(b["frames"] for b in result["reliability"]) == 20000


def test_evaluate_timing_model_against_slicing_with_a_clip_bootstrap(synthetic_records, tmp_path):
    timing = ROOT / "saved_models" / "timing_adjuster"
    result = evaluate(timing, data=synthetic_records, split="train", compare="baseline", limit=3, out=tmp_path)
    names = list(result["models"])
    assert names == ["input", str(timing), "slicing baseline"]
    model, baseline = result["models"][str(timing)], result["models"]["slicing baseline"]
    assert model["clips"] == 3 and model["onset_deviation_rms_ms"] < result["models"]["input"]["onset_deviation_rms_ms"]
    assert "rms_difference_from_model" not in model
    difference = baseline["rms_difference_from_model"]
    expected = baseline["onset_deviation_rms_ms"] - model["onset_deviation_rms_ms"]
    assert difference["ms"] == pytest.approx(expected) and difference["low"] <= difference["ms"] <= difference["high"]
    report = (tmp_path / "report.md").read_text()
    assert f"| RMS deviation less `{timing}`'s, ms [95 % interval, clips resampled] |" in report
