"""Build TFRecord shards from the synthetic generator or a folder of audio.

    python -m autotune_keras.dataset --source synthetic --out tf_records/demo
    python -m autotune_keras.dataset --source soundfont --out tf_records/soundfont   # real sampled instruments
    python -m autotune_keras.dataset --source voice --out tf_records/voice           # real voices, sung
    python -m autotune_keras.dataset --source soundfont --out tf_records/soundfont_drums --soundfont.num_phrases=0 --soundfont.drum_phrases=150  # drum loops alone
    python -m autotune_keras.dataset --source PATH/TO/FOLDER --out tf_records/mine
    python -m autotune_keras.dataset --source soundfont --out /mnt/shared/soundfont --runner DataflowRunner --beam_options "$OPTIONS"
        (OPTIONS: Beam's own flags, e.g. "--project=P --region=R --temp_location=gs://B/tmp")

Every build is an Apache Beam pipeline: locally the DirectRunner with --workers processes.

A killed build run again resumes and ends with the same ``manifest.json`` (autotune_keras/data/build.py).
"""

from __future__ import annotations

from autotune_keras.cli import run
from autotune_keras.config import CONFIG_DIR, DatasetConfig, load
from autotune_keras.data import sources
from autotune_keras.data.build import build_dataset


def main(
    source: str = sources.SYNTHETIC,
    out: str = "tf_records/demo",
    config: str = str(CONFIG_DIR / "dataset.yaml"),
    overwrite: bool = False,
    quiet: bool = False,
    runner: str = "DirectRunner",
    beam_options: str = "",
    **overrides,
) -> None:
    """Build TFRecord shards. Any config key is also a flag, dotted for sections, e.g.
    --synthetic.num_phrases=50 --workers=2 --segment_seconds=4
    --soundfont.num_phrases=1800 --soundfont.drum_phrases=100 --soundfont.banks=/a.sf2,/b.sf2 --soundfont.programs=40,41
    --voice.num_phrases=480 --voice.voices=kal_diphone,lp_diphone (lists: comma-separated)

    Args:
      source: 'synthetic' (the embedded generator), 'soundfont' (GM soundfont banks through
        FluidSynth: --soundfont.banks, --soundfont.programs), 'voice' (festival voices sung by
        the WORLD vocoder: --voice.voices), or a folder of wav/flac/ogg/mp3 files.
      out: output folder for shards and manifest.json.
      config: YAML file parsed into DatasetConfig (configs/dataset.yaml).
      overwrite: replace a dataset this project built there with other settings (a folder that
        holds anything else is never touched).
      quiet: no progress bar or summary.
      runner: Apache Beam runner: DirectRunner (this machine, --workers processes), or
        DataflowRunner / FlinkRunner / SparkRunner (then OUT must be a folder every worker mounts).
      beam_options: Beam's own pipeline flags for that runner, as one quoted string.
    """
    cfg = load(DatasetConfig, config, overrides=overrides)
    build_dataset(source, out, cfg, overwrite=overwrite, progress=not quiet, runner=runner, beam_options=beam_options)


def cli() -> None:
    """Console-script entry point."""
    run(main, "autotune_keras.dataset")


if __name__ == "__main__":
    cli()
