"""The real-timbre sources, for real: FluidSynth playing the TimGM6mb bank, festival voices sung
by the WORLD vocoder. Their labels are measured against the audio, held-out material lands in
the test split only, and a build reports what it cannot label instead of failing."""

from __future__ import annotations

import json
import os
from pathlib import Path

import numpy as np
import pytest

from autotune_keras import music
from autotune_keras.config import DatasetConfig, SoundfontConfig, VoiceConfig
from autotune_keras.data import gm, labels, tuning
from autotune_keras.data.build import build_dataset
from autotune_keras.evaluation.clips import load_clips

TIMGM = Path("/usr/share/sounds/sf2/TimGM6mb.sf2")
pytestmark = pytest.mark.skipif(not TIMGM.is_file(), reason="needs the Debian packages tools/setup.sh installs (as root)")
GUITAR, VIOLA, CHOIR = 24, 41, 52  # clean labels; held out; samples wander (cannot be labelled)


@pytest.fixture(scope="module", autouse=True)
def tuning_cache(tmp_path_factory):
    """A fresh tuning cache: the measurement itself is part of what is tested."""
    before = os.environ.get(tuning.CACHE_ENV)
    os.environ[tuning.CACHE_ENV] = str(tmp_path_factory.mktemp("cache"))
    yield
    os.environ.pop(tuning.CACHE_ENV) if before is None else os.environ.__setitem__(tuning.CACHE_ENV, before)


def small(**soundfont) -> DatasetConfig:
    params = {"num_phrases": 6, "phrase_seconds": 3.0, "banks": (str(TIMGM),), "programs": (GUITAR, VIOLA, CHOIR)} | soundfont
    return DatasetConfig(segment_seconds=3.0, sources_per_chunk=3, workers=1, soundfont=SoundfontConfig(**params))


def all_clips(records: Path) -> list:
    """Clips of every split that has any."""
    splits = json.loads((records / "manifest.json").read_text())["splits"]
    return [c for split, entry in splits.items() if entry["examples"] for c in load_clips(records, split)]


@pytest.fixture(scope="module")
def soundfont_records(tmp_path_factory):
    out = tmp_path_factory.mktemp("records") / "soundfont"
    build_dataset("soundfont", out, small(), progress=False)
    return out


def test_manifest_splits_held_out_instruments_to_test_and_reports_unlabellable_programs(soundfont_records):
    manifest = json.loads((soundfont_records / "manifest.json").read_text())
    sources = {s["name"]: s for s in manifest["sources"]}
    viola = [s for name, s in sources.items() if "/041-viola/" in name]
    guitar = [s for name, s in sources.items() if "/024-nylon_guitar/" in name]
    assert len(viola) == 2 and all(s["split"] == "test" and s["holdout"] == "instrument" for s in viola)
    assert len(guitar) == 2 and all(s["holdout"] == "" and s["labels"] == "soundfont" for s in guitar)
    skipped = [s for s in manifest["skipped"] if "/052-choir_aahs/" in s["name"]]
    assert len(skipped) == 2 and all("can be labelled" in s["reason"] for s in skipped)


def test_labels_match_the_audio_and_twins_sit_on_the_scale(soundfont_records):
    clips = all_clips(soundfont_records)
    assert {c.family for c in clips} == {"guitars", "strings"}
    errors, twin_errors = [], []
    for clip in clips:
        label = np.repeat(clip.f0_hz, clip.hop)[: len(clip.audio)]
        errors.append(tuning.steady_frame_errors(clip.audio, label, max_range_cents=6.0))  # drift and jitter move it
        twin_errors.append(tuning.steady_frame_errors(clip.target_audio, np.repeat(clip.target_f0_hz, clip.hop)[: len(clip.audio)]))
        target = clip.target_f0_hz[clip.target_f0_hz > 0]
        assert np.max(np.abs(music.hz_to_midi(target) - np.round(music.hz_to_midi(target)))) < 0.01  # exact notes
        notes = np.round(music.hz_to_midi(target)).astype(int) % 12
        key = music.key_to_pitch_class(clip.key)
        assert set((notes - key) % 12) <= set(music.scale_intervals(clip.scale))
    errors, twin_errors = np.concatenate(errors), np.concatenate(twin_errors)
    assert len(errors) > 30 and np.mean(np.abs(errors) <= 5.0) > 0.9
    assert len(twin_errors) > 30 and np.mean(np.abs(twin_errors) <= 5.0) > 0.9


def test_a_fluidr3_bank_is_only_ever_test_data(tmp_path):
    reserved = tmp_path / "FluidR3_GM.sf2"
    reserved.symlink_to(TIMGM)  # judged by its name, as a user's copy would be
    assert gm.is_reserved_bank(reserved)
    manifest = build_dataset("soundfont", tmp_path / "out", small(banks=(str(reserved),), programs=(GUITAR,)), progress=False)
    assert {s["split"] for s in manifest["sources"]} == {"test"} and {s["holdout"] for s in manifest["sources"]} == {"bank"}


def test_a_drum_loop_set_holds_only_drum_loops_and_an_empty_build_is_refused(tmp_path):
    """``num_phrases: 0`` with drum loops builds a drum-only set (to mix into a training run); with
    neither there is nothing to play, and the build says so before writing."""
    manifest = build_dataset("soundfont", tmp_path / "drums", small(num_phrases=0, drum_phrases=3), progress=False)
    names = [s["name"] for s in manifest["sources"]]
    assert len(names) == 3 and all("/128-drum_kit/" in name for name in names)
    with pytest.raises(ValueError, match="num_phrases and drum_phrases are both 0"):
        build_dataset("soundfont", tmp_path / "none", small(num_phrases=0), progress=False)
    assert not (tmp_path / "none").exists()


def test_a_missing_or_broken_soundfont_is_named(tmp_path):
    with pytest.raises(FileNotFoundError, match="nowhere.sf2: no such soundfont"):
        build_dataset("soundfont", tmp_path / "a", small(banks=(str(tmp_path / "nowhere.sf2"),)), progress=False)
    broken = tmp_path / "broken.sf2"
    broken.write_bytes(b"RIFF\x00\x00\x00\x00sfbk" + b"\x00" * 100)
    from autotune_keras.data.fluid import SoundfontError

    with pytest.raises((SoundfontError, ValueError), match="broken.sf2"):
        build_dataset("soundfont", tmp_path / "b", small(banks=(str(broken),)), progress=False)


def test_voice_phrases_are_sung_on_their_labels(tmp_path):
    cfg = DatasetConfig(
        segment_seconds=2.0, sources_per_chunk=2, workers=1,
        voice=VoiceConfig(num_phrases=2, phrase_seconds=2.0, voices=("kal_diphone", "lp_diphone")),
    )  # fmt: skip
    manifest = build_dataset("voice", tmp_path / "voice", cfg, progress=False)
    held_out = [s for s in manifest["sources"] if "lp_diphone" in s["name"]]
    assert held_out and all(s["split"] == "test" and s["holdout"] == "voice" for s in held_out)
    clips = all_clips(tmp_path / "voice")
    assert {c.family for c in clips} == {"voices"} and len(clips) == 2
    errors = np.concatenate(
        [tuning.steady_frame_errors(c.target_audio, np.repeat(c.target_f0_hz, c.hop)[: len(c.target_audio)]) for c in clips]
    )
    assert len(errors) > 10 and np.mean(np.abs(errors) <= 5.0) > 0.8
    for c in clips:  # no note is labelled voiced where it is not heard
        heard = labels.audible(c.audio)[:: c.hop][: len(c.f0_hz)]
        assert np.all(heard[c.f0_hz[: len(heard)] > 0]), c.name


def test_audible_marks_what_is_within_45_db_of_the_peak():
    t = np.arange(8192) / 44100.0
    tone = np.sin(2 * np.pi * 220.0 * t)
    audio = np.concatenate([tone, 10 ** (-60 / 20) * tone, 10 ** (-30 / 20) * tone]).astype(np.float32)
    heard = labels.audible(audio)
    assert heard.shape == audio.shape
    assert heard[:8192].all() and not heard[8192 + 64 : 16384 - 64].any() and heard[16384 + 64 :].all()


def test_bank_overlap_finds_a_banks_own_samples_and_not_another_banks():
    """The check behind 'no training sample is in the held-out bank' can find a shared sample."""
    from autotune_keras.data.sf2 import read_samples, shared_samples

    data, headers = read_samples(TIMGM)
    own = shared_samples(TIMGM, data)
    assert len(own) > 0.8 * len(headers)  # all but the tiny and silent ones
    shifted = data[2:] + data[:2]  # the same bytes one sample later: excerpts still match
    assert len(shared_samples(TIMGM, shifted)) > 0.8 * len(headers)
    scaled = (np.frombuffer(data, "<i2") // 2).astype("<i2").tobytes()  # a level change is not a copy
    assert len(shared_samples(TIMGM, scaled)) < 0.05 * len(headers)


def test_drum_hits_on_one_grid_line_are_played_together():
    """A drum loop's kick and hat on one line share the line's jitter (a few ms of limb spread),
    so a time warp can put the line's hits on it; lines played on the grid stay exactly on it."""
    from autotune_keras.data.soundfont import SoundfontPhrase, render_phrase

    cfg = SoundfontConfig(banks=(str(TIMGM),), phrase_seconds=3.0, drum_phrases=1, timing_jitter_range=(0.03, 0.03))
    phrase = render_phrase(SoundfontPhrase(0, str(TIMGM), gm.DRUM_KIT.number), cfg)
    lines, played = phrase.grid_onsets, phrase.onsets
    nearest = lines[np.argmin(np.abs(played[:, None] - lines[None, :]), axis=1)]
    offsets = (played - nearest) / 44100
    assert len(played) > len(lines) and np.std(offsets) > 0.01  # off the grid; hits of one line a block or more apart
    for line in np.unique(nearest):
        hits = offsets[nearest == line]
        assert np.ptp(hits) <= 5 * cfg.drum_limb_spread_seconds + 2 * 64 / 44100, (line, hits)
    assert np.any(offsets == 0.0)
