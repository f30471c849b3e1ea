import numpy as np
import pytest

from autotune_keras.config import PipelineConfig, from_dict
from autotune_keras.data.pipeline import make_dataset

WINDOW = 4096
ALL_ON = {name: {"probability": 1.0} for name in ("pitch_shift", "time_stretch", "formant_shift", "reverb", "dynamics", "noise")}


def config(records, **overrides) -> PipelineConfig:
    data = {"records": str(records), "window_samples": WINDOW, "batch_size": 4, "shuffle_buffer": 8, "seed": 11}
    return from_dict(PipelineConfig, data | overrides)


def first_batches(ds, count=2):
    return [{k: v.numpy() for k, v in batch.items()} for batch in ds.take(count)]


def test_batches_have_fixed_shapes_and_sane_labels(synthetic_records):
    cfg = config(synthetic_records, augment={"enabled": True, **ALL_ON})
    for batch in first_batches(make_dataset(cfg, "train"), 3):
        assert batch["audio"].shape == (4, WINDOW) and batch["target_audio"].shape == (4, WINDOW)
        assert batch["f0_hz"].shape == (4, WINDOW // 128) and batch["onsets"].shape == (4, WINDOW // 128)
        assert np.all(np.isfinite(batch["audio"])) and np.all(np.isfinite(batch["target_audio"]))
        assert np.all(np.abs(batch["pitch_shift_cents"]) <= 50) and np.all(batch["pitch_shift_cents"] != 0)
        assert np.all(np.abs(batch["stretch_rate"] - 1) <= 0.1 + 1e-6) and np.all(batch["stretch_rate"] != 1)
        assert np.all(np.isfinite(batch["snr_db"]))
        voiced = batch["f0_hz"][batch["voicing"] > 0.5]
        assert np.all((voiced >= 75) & (voiced <= 2100))
        assert np.all(batch["has_target"])


def test_seeded_pipeline_is_deterministic(synthetic_records):
    cfg = config(synthetic_records)
    a, b = first_batches(make_dataset(cfg, "train")), first_batches(make_dataset(cfg, "train"))
    for x, y in zip(a, b, strict=True):
        np.testing.assert_array_equal(x["audio"], y["audio"])
        np.testing.assert_array_equal(x["f0_hz"], y["f0_hz"])
    c = first_batches(make_dataset(config(synthetic_records, seed=12), "train"))
    assert not np.array_equal(a[0]["audio"], c[0]["audio"])


def test_evaluation_split_is_unaugmented_and_repeatable(synthetic_records):
    cfg = config(synthetic_records, augment={"enabled": True, **ALL_ON})
    first, second = first_batches(make_dataset(cfg, "validation"), 1), first_batches(make_dataset(cfg, "validation"), 1)
    np.testing.assert_array_equal(first[0]["audio"], second[0]["audio"])
    assert np.all(first[0]["pitch_shift_cents"] == 0) and np.all(np.isinf(first[0]["snr_db"]))


def test_missing_dataset_and_split_errors(tmp_path, synthetic_records):
    with pytest.raises(FileNotFoundError, match="no manifest; build the dataset first"):
        make_dataset(config(tmp_path), "train")
    with pytest.raises(ValueError, match="split 'test' has no examples"):
        make_dataset(config(synthetic_records), "test")


def test_audio_only_pipeline_drops_target_tracks(synthetic_records):
    cfg = config(synthetic_records, with_targets=False, augment={"enabled": True, **ALL_ON})
    batch = first_batches(make_dataset(cfg, "train"), 1)[0]
    assert "target_audio" not in batch and "grid_audio" not in batch
    assert batch["audio"].shape == (4, WINDOW) and np.all(np.isfinite(batch["audio"]))


def test_mixed_record_folders_are_sampled_by_weight(synthetic_records, audio_folder, tmp_path):
    from conftest import tiny_dataset_config

    from autotune_keras.data.build import build_dataset

    folder_records = tmp_path / "folder"
    build_dataset(str(audio_folder), folder_records, tiny_dataset_config(), progress=False)
    mixed = from_dict(PipelineConfig, {"records": str(synthetic_records), "mix": [str(folder_records)], "batch_size": 8,
                                        "mix_weights": [0.5, 0.5], "with_targets": False})  # fmt: skip
    sources = [s.decode() for batch in make_dataset(mixed, "train").take(12) for s in batch["source"].numpy()]
    from_folder = np.mean([not s.startswith("synthetic/") for s in sources])
    assert 0.3 < from_folder < 0.7  # half and half, give or take the sampling
    only_synthetic = from_dict(PipelineConfig, {"records": str(synthetic_records), "mix": [str(folder_records)],
                                                "mix_weights": [1.0, 0.0], "batch_size": 8, "with_targets": False})  # fmt: skip
    assert all(s.startswith(b"synthetic/") for b in make_dataset(only_synthetic, "train").take(4) for s in b["source"].numpy())
    with pytest.raises(ValueError, match="2 weights for 3 record folders"):
        bad = from_dict(
            PipelineConfig, {"records": str(synthetic_records), "mix": [str(folder_records)] * 2, "mix_weights": [1, 1]}
        )
        make_dataset(bad, "train")


def test_training_batches_come_from_a_tf_data_service_worker(synthetic_records):
    import tensorflow as tf

    dispatcher = tf.data.experimental.service.DispatchServer()
    address = dispatcher.target.split("://")[1]
    worker = tf.data.experimental.service.WorkerServer(tf.data.experimental.service.WorkerConfig(dispatcher_address=address))
    try:
        cfg = config(synthetic_records, data_service=dispatcher.target, augment={"enabled": True, **ALL_ON})
        served = first_batches(make_dataset(cfg, "train"), 3)
        local = first_batches(make_dataset(config(synthetic_records, augment={"enabled": True, **ALL_ON}), "train"), 1)[0]
        for batch in served:
            assert set(batch) == set(local)
            assert batch["audio"].shape == (4, WINDOW) and np.all(np.isfinite(batch["audio"]))
            assert batch["f0_hz"].shape == (4, WINDOW // 128)
        assert worker._num_tasks() >= 1  # the worker, not this process, produced them (TF exposes no public count)
    finally:
        worker.stop()
        dispatcher.stop()


def test_data_service_address_is_checked(synthetic_records):
    from autotune_keras.config import ConfigError

    with pytest.raises(ConfigError, match="data_service"):
        config(synthetic_records, data_service="localhost:5000")


def test_one_augmentation_draw_covers_a_crop_of_windows_with_noise_per_window(synthetic_records):
    from autotune_keras.data.pipeline import read_manifest, windows_per_crop

    cfg = config(synthetic_records, shuffle_buffer=0, windows_per_crop=4, augment={"enabled": True, **ALL_ON})
    manifest = read_manifest(synthetic_records)
    assert windows_per_crop(cfg, manifest, WINDOW, 1.2) == min(4, int(manifest["config"]["segment_seconds"] * 44100 // (WINDOW * 1.2)))
    assert windows_per_crop(cfg, manifest, 10**7, 1.2) == 1  # a crop longer than a segment: one window
    windows = windows_per_crop(cfg, manifest, WINDOW, 1.2)
    assert windows >= 2, "the test dataset's segments must hold several windows"
    cfg = config(synthetic_records, shuffle_buffer=0, batch_size=windows, windows_per_crop=windows,
                 augment={"enabled": True, **ALL_ON})  # fmt: skip
    for batch in first_batches(make_dataset(cfg, "train"), 2):  # unshuffled: a batch is one crop
        assert len(set(batch["pitch_shift_cents"])) == 1 and len(set(batch["stretch_rate"])) == 1
        assert len(set(batch["source"])) == 1
        assert len(set(np.round(batch["snr_db"], 4))) == windows  # noise drawn per window
        assert batch["audio"].shape == (windows, WINDOW) and np.all(np.isfinite(batch["audio"]))


def test_focused_windows_put_the_later_onset_of_the_closest_pair_in_the_span(tmp_path):
    from conftest import CLOSE_PAIR_ONSETS, records_with_onsets

    from autotune_keras.config import ConfigError

    records_with_onsets(tmp_path, CLOSE_PAIR_ONSETS)  # the closest pair: 20000, 22000
    span = {"span_start": 2048, "span_samples": 1024}
    plain = {"with_targets": False, "shuffle_buffer": 0, "batch_size": 16, "augment": {"enabled": False}}
    focused = config(tmp_path, **plain, focus={"share": 1.0, **span})
    for batch in first_batches(make_dataset(focused, "train"), 3):
        for labels in batch["onsets"]:
            in_span = np.flatnonzero(labels[16:25]) + 16
            assert len(in_span) == 1, labels  # only the pair's later onset, 22000
            assert labels[in_span[0] - 16]  # with the earlier one 2000 samples (16 frames) before it
    no_close_pair = config(tmp_path, **plain, focus={"share": 1.0, "max_gap_ms": 40.0, **span})  # cropped at random
    onsets_in_span = [labels[16:25].any() for batch in first_batches(make_dataset(no_close_pair, "train"), 3) for labels in batch["onsets"]]
    assert np.mean(onsets_in_span) < 0.6
    with pytest.raises(ConfigError, match="sets no focus span"):
        make_dataset(config(tmp_path, focus={"share": 0.5}), "train")


def test_windows_focused_on_the_first_onset_put_it_in_the_span(tmp_path):
    """``focus.on: first_onset`` places each window so the segment's first onset (4000 samples
    in, 31 frames) lies in the span, with nothing labelled before it, starting the crop before the
    segment (silence first) when the span lies further in than the onset; an unknown ``on`` is
    refused."""
    from conftest import CLOSE_PAIR_ONSETS, records_with_onsets

    from autotune_keras.config import ConfigError

    records_with_onsets(tmp_path, CLOSE_PAIR_ONSETS)
    span = {"span_start": 2048, "span_samples": 1024}
    plain = {"with_targets": False, "shuffle_buffer": 0, "batch_size": 16, "augment": {"enabled": False}}
    first = config(tmp_path, **plain, focus={"share": 1.0, "on": "first_onset", **span})
    places = set()
    for batch in first_batches(make_dataset(first, "train"), 3):
        for labels in batch["onsets"]:
            in_span = np.flatnonzero(labels[16:25]) + 16
            assert len(in_span) == 1 and not labels[: in_span[0]].any(), labels
            places.add(int(in_span[0]))
    assert len(places) > 1, places  # at a random sample of the span
    late_span = {"span_start": 6144, "span_samples": 1024}  # frames 48-55: the onset (frame 31) is
    # reached only by a crop that starts before the segment, 17-24 frames of silence first
    for batch in first_batches(make_dataset(config(tmp_path, **plain, window_samples=8192, focus={"share": 1.0, "on": "first_onset", **late_span}), "train"), 2):
        for labels, audio in zip(batch["onsets"], batch["audio"], strict=True):
            in_span = np.flatnonzero(labels[48:57]) + 48
            assert len(in_span) == 1 and not labels[: in_span[0]].any(), labels
            lead = (in_span[0] - 31) * 128
            assert np.all(audio[:lead] == 0.0) and np.any(audio[lead : lead + 128] != 0.0)
    with pytest.raises(ConfigError, match="focus.on"):
        config(tmp_path, **plain, focus={"share": 1.0, "on": "loudest", **span})
