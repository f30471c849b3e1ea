import pytest

from autotune_keras.config import CONFIG_DIR, ConfigError, DatasetConfig, PipelineConfig, load


def test_shipped_configs_parse():
    dataset = load(DatasetConfig, CONFIG_DIR / "dataset.yaml")
    assert dataset.synthetic.num_phrases > 0
    pipeline = load(PipelineConfig, CONFIG_DIR / "pipeline.yaml")
    assert pipeline.augment.enabled


def test_unknown_key_is_named(tmp_path):
    path = tmp_path / "bad.yaml"
    path.write_text("synthetic:\n  num_frases: 3\n")
    with pytest.raises(ConfigError, match=r"bad.yaml: synthetic.num_frases: unknown key"):
        load(DatasetConfig, path)


def test_a_bare_on_key_read_as_a_boolean_is_explained(tmp_path):
    path = tmp_path / "bad.yaml"
    path.write_text("focus: {share: 0.2, on: first_onset}\n")
    with pytest.raises(ConfigError, match=r"focus.True: unknown key \(YAML reads a bare on/off/yes/no as a boolean"):
        load(PipelineConfig, path)
    path.write_text('focus: {share: 0.2, "on": first_onset}\n')
    assert load(PipelineConfig, path).focus.on == "first_onset"


def test_out_of_range_value_is_named(tmp_path):
    path = tmp_path / "bad.yaml"
    path.write_text("augment:\n  noise:\n    probability: 1.5\n")
    with pytest.raises(ConfigError, match=r"augment.noise.probability: 1.5 is out of range \[0.0, 1.0\]"):
        load(PipelineConfig, path)


def test_wrong_type_and_cross_field_checks():
    with pytest.raises(ConfigError, match="segment_seconds: expected a number"):
        load(DatasetConfig, overrides={"segment_seconds": "long"})
    with pytest.raises(ConfigError, match="split_fractions"):
        load(DatasetConfig, overrides={"split_fractions": [0.5, 0.2, 0.1]})
    with pytest.raises(ConfigError, match="min_snr_db"):
        load(PipelineConfig, overrides={"augment.noise.min_snr_db": 50.0, "augment.noise.max_snr_db": 20.0})


def test_overrides_use_dotted_keys():
    cfg = load(DatasetConfig, CONFIG_DIR / "dataset.yaml", overrides={"synthetic.num_phrases": 7, "workers": 1})
    assert cfg.synthetic.num_phrases == 7 and cfg.workers == 1


def test_override_flags_take_their_value_as_the_next_word():
    """`--key value` (a config override) must not shift the positional arguments after it."""
    from autotune_keras.cli import prepare_args

    def command(source: str = "synthetic", out: str = "x", overwrite: bool = False, **overrides) -> None:
        """A CLI of the dataset kind."""

    args = prepare_args(command, ["--synthetic.num_phrases", "6", "--pipeline.mix", "", "--out", "d", "--overwrite"])
    assert args == ["--synthetic.num_phrases", "6", "--pipeline.mix", "", "--out", "'d'", "--overwrite"]
    assert prepare_args(command, ["folder", "--workers", "2", "out"]) == ["'folder'", "--workers", "2", "'out'"]


def test_a_flag_the_command_does_not_take_is_refused_before_it_runs():
    """A command without config overrides names the unknown flag and its own flags, instead of
    running to the end and only then complaining (fire's way)."""
    from autotune_keras.cli import UsageError, prepare_args

    def command(model: str = "m", out: str | None = None, limit: int | None = None) -> None:
        """A CLI of the evaluate kind."""

    with pytest.raises(UsageError, match=r"--overwrite: no such flag \(this command takes --model, --out, --limit\)"):
        prepare_args(command, ["--model", "x", "--overwrite"])
    assert prepare_args(command, ["--limit=3", "--out", "o"]) == ["--limit=3", "--out", "'o'"]


def test_model_decoding_and_merging_choices_are_checked():
    from autotune_keras.models.pitch_detector.training import DetectorExperiment
    from autotune_keras.models.timing_adjuster.training import TimingExperiment

    with pytest.raises(ValueError, match="model.same_line_onsets: .first."):
        load(TimingExperiment, CONFIG_DIR / "timing_adjuster.yaml", overrides={"model.same_line_onsets": "first"})
    with pytest.raises(ValueError, match="model.superharmonics"):
        load(DetectorExperiment, CONFIG_DIR / "pitch_detector.yaml", overrides={"model.superharmonics": [1]})
