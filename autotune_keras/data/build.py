"""Build TFRecord shards from the synthetic generator or a folder of audio (the library behind
``python -m autotune_keras.dataset``).

Sources are processed in chunks, each chunk one job of an Apache Beam pipeline (data/beam.py: the
DirectRunner's processes locally, or Dataflow / Flink / Spark); each chunk writes its shards
atomically and then a small record under ``OUT/.chunks``. Re-running skips finished chunks, so a
killed build resumes and ends with the same ``manifest.json``. The manifest is written here from
the chunk records once every job has finished.
"""

from __future__ import annotations

import hashlib
import json
import os
import shutil
import time
from pathlib import Path

from autotune_keras import contract
from autotune_keras.config import DatasetConfig, to_dict
from autotune_keras.data import beam, records, sources
from autotune_keras.data.records import SCHEMA_VERSION, ShardWriter
from autotune_keras.files import atomic_write_json

SPLITS = ("train", "validation", "test")
# the project's own dataset folders (relative to the working directory) and their sources: only
# these are built on demand when training finds them missing
DEFAULT_FOLDERS = {
    "tf_records/pitch_detector": sources.SYNTHETIC,
    "tf_records/demo": sources.SYNTHETIC,
    "tf_records/soundfont": sources.SOUNDFONT,
    "tf_records/voice": sources.VOICE,
}
CHUNK_DIR = ".chunks"
MANIFEST = "manifest.json"
# a generated source whose labelling changed: its datasets built before are rebuilt (a source left
# out is at version 1; 2 for voice: notes rendered near silence are no longer labelled voiced)
LABEL_VERSIONS = {"voice": 2}


def _fingerprint(cfg: DatasetConfig, source: str) -> str:
    settings = to_dict(cfg)
    settings.pop("workers")  # how many processes build it does not change the data
    for kind in sources.GENERATED:  # only the settings of the source being built
        if kind != source:
            settings.pop(kind)
    payload = {"config": settings, "schema": SCHEMA_VERSION, "sample_rate": contract.SAMPLE_RATE}
    if source in LABEL_VERSIONS:
        payload["labels"] = LABEL_VERSIONS[source]
    text = json.dumps(payload, sort_keys=True)
    return hashlib.sha256(text.encode()).hexdigest()


def _chunk_record_path(out: Path, chunk: int) -> Path:
    return out / CHUNK_DIR / f"chunk-{chunk:05d}.json"


def _chunk_is_done(out: Path, chunk: int, refs: list[sources.SourceRef], fingerprint: str) -> bool:
    path = _chunk_record_path(out, chunk)
    if not path.is_file():
        return False
    try:
        record = json.loads(path.read_text())
    except json.JSONDecodeError:
        return False
    if record.get("fingerprint") != fingerprint:
        return False
    if [(s["name"], s["sha256"]) for s in record["sources"]] != [(r.name, r.sha256) for r in refs]:
        return False
    return all(
        (out / shard["path"]).is_file() and (out / shard["path"]).stat().st_size == shard["bytes"] for shard in record["shards"]
    )


def _build_chunk(job: tuple) -> dict:
    """Worker: turn one chunk of sources into shards; returns the chunk record."""
    os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")
    out, chunk, refs, cfg, fingerprint, metadata = job
    out = Path(out)
    writers = {
        split: ShardWriter(out, f"{split}-c{chunk:05d}", int(cfg.shard_max_mb * 1e6), contract.SAMPLE_RATE) for split in SPLITS
    }
    source_rows, skipped = [], []
    for ref in refs:
        split = sources.split_of(ref.name, cfg.split_fractions, ref.holdout)
        try:
            segments, label_source = sources.load_segments(ref, cfg, metadata)
        except sources.SkipSource as reason:
            skipped.append({"name": ref.name, "reason": str(reason)})
            source_rows.append({"name": ref.name, "sha256": ref.sha256, "split": None})
            continue
        except Exception as error:  # noqa: BLE001 - one broken file never aborts a build
            skipped.append({"name": ref.name, "reason": f"{type(error).__name__}: {error}"})
            source_rows.append({"name": ref.name, "sha256": ref.sha256, "split": None})
            continue
        seconds = 0.0
        for segment in segments:
            writers[split].write(records.serialize(segment), len(segment.audio))
            seconds += len(segment.audio) / contract.SAMPLE_RATE
        source_rows.append(
            {"name": ref.name, "sha256": ref.sha256, "split": split, "segments": len(segments),
             "seconds": round(seconds, 3), "labels": label_source, "holdout": ref.holdout,
             "instrument": segments[0].metadata.get("instrument", "unknown") if segments else "unknown"}
        )  # fmt: skip
    shards = []
    for split in SPLITS:
        for shard in writers[split].close():
            shards.append(shard | {"split": split})
    record = {"chunk": chunk, "fingerprint": fingerprint, "sources": source_rows, "skipped": skipped, "shards": shards}
    atomic_write_json(_chunk_record_path(out, chunk), record)
    return record


def _manifest(out: Path, source: str, cfg: DatasetConfig, fingerprint: str, chunk_records: list[dict]) -> dict:
    splits = {split: {"examples": 0, "seconds": 0.0, "shards": []} for split in SPLITS}
    all_sources, skipped = [], []
    for record in sorted(chunk_records, key=lambda r: r["chunk"]):
        for shard in record["shards"]:
            entry = splits[shard["split"]]
            entry["examples"] += shard["examples"]
            entry["seconds"] = round(entry["seconds"] + shard["seconds"], 3)
            entry["shards"].append({k: v for k, v in shard.items() if k != "split"})
        all_sources.extend(s for s in record["sources"] if s["split"] is not None)
        skipped.extend(record["skipped"])
    return {
        "schema_version": SCHEMA_VERSION,
        "source": source,
        "sample_rate": contract.SAMPLE_RATE,
        "label_hop": cfg.label_hop,
        "audio_encoding": "pcm16",
        "fingerprint": fingerprint,
        "config": to_dict(cfg),
        "splits": splits,
        "sources": all_sources,
        "skipped": skipped,
    }


def _measure_tunings(pending: list[tuple], workers: int, progress: bool, runner: str, options: str) -> None:
    """Measure every (bank, program) tuning the pending chunks need, as one Beam stage, before the
    chunks render (each is cached: a later build or a resumed one reads it)."""
    from tqdm import tqdm

    from autotune_keras.data import soundfont

    needed = sorted({(ref.bank, ref.program) for job in pending for ref in job[2]})
    soundfont.renderer(needed[0][0])  # FluidSynth and the soundfont load, or say why not, here
    todo = [job for job in needed if not soundfont.tuning_cached(*job)]
    bar = tqdm(total=len(needed), initial=len(needed) - len(todo), unit="program", desc="measuring soundfont tuning", disable=not progress)

    def poll() -> None:
        bar.update(len(needed) - sum(not soundfont.tuning_cached(*job) for job in todo) - bar.n)

    beam.run_jobs("measure tuning", todo, _prepare_program, runner, max(1, min(workers, len(todo))), options, poll)
    poll()
    bar.close()


def _prepare_program(job: tuple[str, int]) -> int:
    from autotune_keras.data import soundfont

    return soundfont.prepare(*job)


def check_dataset_folder(out: Path, source: Path | None) -> None:
    """Refuse an output folder a build must not write into: one that holds files this project
    did not write (no manifest.json, no chunk records), or one that is, holds or lies inside the
    source folder."""
    if source is not None:
        a, b = out.resolve(), source.resolve()
        if a == b or a.is_relative_to(b) or b.is_relative_to(a):
            raise FileExistsError(f"{out}: is, holds or lies in the source folder {source}; write the dataset elsewhere")
    if out.exists():
        if not out.is_dir():
            raise NotADirectoryError(f"{out}: is a file, not a folder")
        ours = (out / MANIFEST).is_file() or (out / CHUNK_DIR).is_dir()
        if any(out.iterdir()) and not ours:
            raise FileExistsError(f"{out}: holds files this project did not write (no {MANIFEST}); choose another folder")


def build_dataset(
    source: str,
    out: str | Path,
    cfg: DatasetConfig,
    overwrite: bool = False,
    progress: bool = True,
    runner: str = beam.DIRECT,
    beam_options: str = "",
) -> dict:
    """Build (or resume) shards of ``source`` under ``out`` with an Apache Beam pipeline on
    ``runner`` (``beam_options``: Beam's own flags); returns the manifest."""
    from tqdm import tqdm

    out = Path(out)
    generated = source in sources.GENERATED
    source_label = source if generated else str(Path(source))
    fingerprint = _fingerprint(cfg, source_label)
    manifest_path = out / MANIFEST
    # everything that can be wrong with the request is found before anything is written
    beam.check_runner(runner, beam_options)
    refs = sources.generated_sources(source, cfg) if generated else sources.folder_sources(source)
    if not refs:
        raise FileNotFoundError(f"{source}: no audio files ({', '.join(sources.audio_io.AUDIO_EXTENSIONS)})")
    metadata = {} if generated else sources.read_metadata(source)
    check_dataset_folder(out, None if generated else Path(source))
    if manifest_path.is_file() and json.loads(manifest_path.read_text()).get("fingerprint") != fingerprint:
        if not overwrite:
            raise FileExistsError(f"{out}: holds a dataset built with other settings; pass --overwrite to rebuild it")
        shutil.rmtree(out)  # ours: check_dataset_folder saw its manifest
    (out / CHUNK_DIR).mkdir(parents=True, exist_ok=True)
    for stale in out.glob(".*.tmp-*"):  # left by a killed build
        stale.unlink()
    for stale in (out / CHUNK_DIR).glob(".*.tmp-*"):
        stale.unlink()

    size = cfg.sources_per_chunk
    chunks = [refs[i : i + size] for i in range(0, len(refs), size)]
    done, pending = [], []
    for number, chunk_refs in enumerate(chunks):
        if _chunk_is_done(out, number, chunk_refs, fingerprint):
            done.append(json.loads(_chunk_record_path(out, number).read_text()))
        else:
            pending.append((str(out), number, chunk_refs, cfg, fingerprint, metadata))
    # shards of chunks that are no longer part of this build (e.g. fewer phrases now)
    known = {f"{split}-c{n:05d}" for n in range(len(chunks)) for split in SPLITS}
    for shard in out.glob("*.tfrecord"):
        if shard.name.rsplit("-", 1)[0] not in known:
            shard.unlink()
    for record_file in (out / CHUNK_DIR).glob("chunk-*.json"):
        if int(record_file.stem.split("-")[1]) >= len(chunks):
            record_file.unlink()

    workers = cfg.workers or os.cpu_count() or 1
    started = time.perf_counter()
    if source == sources.SOUNDFONT and pending:
        _measure_tunings(pending, workers, progress, runner, beam_options)
    workers = max(1, min(workers, len(pending)))
    bar = tqdm(
        total=len(refs), initial=sum(len(r["sources"]) for r in done), unit="src", desc=f"building {out}", disable=not progress
    )
    new_records: dict[int, dict] = {}

    def collect() -> None:  # chunk records the workers have written so far
        for job in pending:
            number = job[1]
            if number not in new_records and _chunk_is_done(out, number, job[2], fingerprint):
                record = new_records[number] = json.loads(_chunk_record_path(out, number).read_text())
                for skip in record["skipped"] if progress else ():
                    bar.write(f"skipped {skip['name']}: {skip['reason']}")
                bar.update(len(record["sources"]))

    beam.run_jobs("build chunks", pending, _build_chunk, runner, workers, beam_options, collect)
    collect()
    bar.close()
    missing = [job[1] for job in pending if job[1] not in new_records]
    if missing:
        raise RuntimeError(f"{out}: the pipeline finished but chunk(s) {missing[:5]} wrote no record; run the build again to resume")
    built_seconds = sum(s.get("seconds", 0.0) for record in new_records.values() for s in record["sources"])
    elapsed = time.perf_counter() - started

    manifest = _manifest(out, source_label, cfg, fingerprint, done + list(new_records.values()))
    atomic_write_json(manifest_path, manifest)
    if progress:
        for split in SPLITS:
            entry = manifest["splits"][split]
            print(
                f"{split:>10}: {entry['examples']:6d} examples, {entry['seconds'] / 60:7.2f} min, {len(entry['shards'])} shards"
            )
        print(f"   skipped: {len(manifest['skipped'])} source(s)")
        if built_seconds:
            print(f"     speed: {built_seconds / elapsed:.1f} s of audio per wall second ({runner}, {workers} workers, {elapsed:.1f} s)")
    return manifest


def ensure_dataset(folder: str | Path, cfg: DatasetConfig) -> None:
    """Build ``folder`` when it is missing and is one of DEFAULT_FOLDERS; any other missing
    folder is an error (a mistyped path must not quietly become a new dataset)."""
    folder = Path(folder)
    if (folder / MANIFEST).is_file():
        return
    source = next((kind for name, kind in DEFAULT_FOLDERS.items() if folder.resolve() == Path(name).resolve()), None)
    if source is None:
        raise FileNotFoundError(f"{folder}: no dataset there; build it first: python -m autotune_keras.dataset --out {folder} --source ...")
    print(f"{folder} not found: building it from the {source} source first")
    build_dataset(source, folder, cfg)
