"""YAML configs parsed into dataclasses.

The dataclass defaults are the single source of defaults; a YAML file under ``configs/`` only
states what an experiment changes. Unknown keys and out-of-range values raise
:class:`ConfigError` naming the key.
"""

from __future__ import annotations

import dataclasses
import types
import typing
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, TypeVar

import yaml

from autotune_keras import contract
from autotune_keras.data import gm

T = TypeVar("T")
# festival voices built from recorded speech (diphones, unit selection): US and Italian male and
# female, Finnish, Czech adult and child, Russian
VOICES = (
    "kal_diphone", "ked_diphone", "pc_diphone", "lp_diphone", "suo_fi_lj_diphone", "hy_fi_mv_diphone",
    "czech_dita", "czech_krb", "czech_machac", "msu_ru_nsh_clunits",
)  # fmt: skip

CONFIG_DIR = Path(__file__).resolve().parent.parent / "configs"


class ConfigError(ValueError):
    """A config file or override is invalid; the message names the key."""


BOOLEAN_WORDS = {"true": True, "false": False, "yes": True, "no": False, "1": True, "0": False, "on": True, "off": False}


def read_yaml(path: Path) -> Any:
    """A YAML file's data; a syntax error names the file, line and column."""
    try:
        return yaml.safe_load(path.read_text())
    except yaml.YAMLError as error:
        mark = getattr(error, "problem_mark", None)
        where = f"{path}:{mark.line + 1}:{mark.column + 1}" if mark is not None else str(path)
        problem = getattr(error, "problem", None) or str(error).splitlines()[0]
        raise ConfigError(f"{where}: not valid YAML ({problem})") from None


def _ranged(default: Any, low: float | None = None, high: float | None = None, **kwargs):
    return field(default=default, metadata={"range": (low, high)}, **kwargs)


# --------------------------------------------------------------------------- dataset


@dataclass
class SyntheticConfig:
    """The embedded synthetic source: how many phrases and what they contain."""

    num_phrases: int = _ranged(240, 1)
    seed: int = 1234
    phrase_seconds: float = _ranged(3.0, 0.5, 30.0)
    voice_fraction: float = _ranged(0.6, 0.0, 1.0)  # the rest are instrument timbres
    max_detune_cents: float = _ranged(50.0, 0.0, 100.0)
    timing_jitter_seconds: float = _ranged(0.04, 0.0, 0.25)
    # the timing model's training pairs: a sigma per phrase, clipped to 0.45 of a grid step, some notes on it
    timing_jitter_range: tuple[float, float] = (0.015, 0.030)  # a sigma drawn per phrase (s); (0, 0): timing_jitter_seconds
    max_jitter_steps: float = _ranged(0.45, 0.0, 0.5)  # jitter clipped to this share of a grid step (0: to 2.5 sigma)
    on_grid_fraction: float = _ranged(0.15, 0.0, 1.0)  # notes played exactly on the grid
    tempo_range_bpm: tuple[float, float] = (80.0, 160.0)
    midi_range: tuple[float, float] = (40.0, 83.0)  # E2..B5, inside the contract's 80-2000 Hz


@dataclass
class SoundfontConfig:
    """Real sampled instruments: the synthetic generator's phrases played by General MIDI
    soundfont banks through FluidSynth, labelled exactly (data/soundfont.py)."""

    num_phrases: int = _ranged(240, 0)  # melodic phrases (0 with drum_phrases: a drum-loop set)
    seed: int = 2468
    phrase_seconds: float = _ranged(3.0, 0.5, 30.0)
    max_detune_cents: float = _ranged(50.0, 0.0, 100.0)
    timing_jitter_seconds: float = _ranged(0.04, 0.0, 0.25)
    # the timing model's training pairs: a sigma per phrase, clipped to 0.45 of a grid step, some notes on it
    timing_jitter_range: tuple[float, float] = (0.015, 0.030)  # a sigma drawn per phrase (s); (0, 0): timing_jitter_seconds
    max_jitter_steps: float = _ranged(0.45, 0.0, 0.5)  # jitter clipped to this share of a grid step (0: to 2.5 sigma)
    on_grid_fraction: float = _ranged(0.15, 0.0, 1.0)  # notes played exactly on the grid
    tempo_range_bpm: tuple[float, float] = (80.0, 160.0)
    midi_range: tuple[float, float] = (40.0, 95.0)
    banks: tuple[str, ...] = gm.DEFAULT_TRAINING_BANKS  # .sf2 files; FluidR3-derived ones go to test only
    programs: tuple[int, ...] = ()  # GM programs to play (empty: every one in data/gm.py)
    held_out_programs: tuple[int, ...] = gm.HELD_OUT_PROGRAMS  # rendered into the test split only
    drum_phrases: int = _ranged(0, 0)  # drum-kit loops (no pitch) per bank, beside the melodic phrases
    # the hits on one grid line of a drum loop share its jitter, each then spread by this sigma (s)
    drum_limb_spread_seconds: float = _ranged(0.002, 0.0, 0.02)


@dataclass
class VoiceConfig:
    """A real human voice: festival's recorded speech units resynthesized by the WORLD vocoder on
    sung melodies, the imposed f0 being the label (data/voice.py)."""

    num_phrases: int = _ranged(120, 1)
    seed: int = 1357
    phrase_seconds: float = _ranged(3.0, 0.5, 30.0)
    max_detune_cents: float = _ranged(50.0, 0.0, 100.0)
    timing_jitter_seconds: float = _ranged(0.03, 0.0, 0.25)
    # the timing model's training pairs: a sigma per phrase, clipped to 0.45 of a grid step, some notes on it
    timing_jitter_range: tuple[float, float] = (0.015, 0.030)  # a sigma drawn per phrase (s); (0, 0): timing_jitter_seconds
    max_jitter_steps: float = _ranged(0.45, 0.0, 0.5)  # jitter clipped to this share of a grid step (0: to 2.5 sigma)
    on_grid_fraction: float = _ranged(0.15, 0.0, 1.0)  # notes played exactly on the grid
    tempo_range_bpm: tuple[float, float] = (70.0, 140.0)
    voices: tuple[str, ...] = VOICES  # festival voices (festival's voice.list)
    held_out_voices: tuple[str, ...] = ("lp_diphone", "ked_diphone")  # rendered into the test split only


@dataclass
class DatasetConfig:
    """How audio becomes TFRecord shards."""

    segment_seconds: float = _ranged(3.0, 0.5, 30.0)
    min_segment_seconds: float = _ranged(0.5, 0.1, 30.0)
    label_hop: int = _ranged(128, 32, contract.BUFFER_SIZE)  # samples between label frames
    loudness_lufs: float = _ranged(-18.0, -60.0, 0.0)
    split_fractions: tuple[float, float, float] = (0.7, 0.2, 0.1)  # train / validation / test
    sources_per_chunk: int = _ranged(16, 1)  # sources processed (and resumed) together
    shard_max_mb: float = _ranged(64.0, 1.0)
    workers: int = _ranged(0, 0)  # 0 = one per core
    synthetic: SyntheticConfig = field(default_factory=SyntheticConfig)
    soundfont: SoundfontConfig = field(default_factory=SoundfontConfig)
    voice: VoiceConfig = field(default_factory=VoiceConfig)

    def validate(self) -> None:
        """Cross-field checks."""
        if abs(sum(self.split_fractions) - 1.0) > 1e-6 or min(self.split_fractions) < 0:
            raise ConfigError(f"split_fractions: must be three non-negative numbers summing to 1, got {self.split_fractions}")
        if self.min_segment_seconds > self.segment_seconds:
            raise ConfigError("min_segment_seconds: must not exceed segment_seconds")
        if self.label_hop & (self.label_hop - 1) or contract.BUFFER_SIZE % self.label_hop:
            raise ConfigError(f"label_hop: must be a power of two dividing {contract.BUFFER_SIZE}, got {self.label_hop}")
        low, high = self.synthetic.tempo_range_bpm
        if not contract.TEMPO_MIN_BPM <= low <= high <= contract.TEMPO_MAX_BPM:
            raise ConfigError(f"synthetic.tempo_range_bpm: must lie in {contract.TEMPO_MIN_BPM}-{contract.TEMPO_MAX_BPM}")


# --------------------------------------------------------------------------- pipeline


@dataclass
class PitchShiftConfig:
    """Resample by up to +-max_cents; f0 labels move with it."""

    probability: float = _ranged(0.5, 0.0, 1.0)
    max_cents: float = _ranged(50.0, 0.0, 1200.0)


@dataclass
class TimeStretchConfig:
    """Phase-vocoder stretch by up to +-max_fraction; labels and onsets move, f0 does not."""

    probability: float = _ranged(0.3, 0.0, 1.0)
    max_fraction: float = _ranged(0.1, 0.0, 0.5)


@dataclass
class NoiseConfig:
    """Additive white or pink noise at an SNR drawn from [min_snr_db, max_snr_db]."""

    probability: float = _ranged(0.5, 0.0, 1.0)
    min_snr_db: float = _ranged(10.0, -10.0, 80.0)
    max_snr_db: float = _ranged(40.0, -10.0, 80.0)


@dataclass
class ReverbConfig:
    """Convolution with a synthetic room impulse response (decaying noise)."""

    probability: float = _ranged(0.3, 0.0, 1.0)
    min_rt60: float = _ranged(0.1, 0.01, 3.0)
    max_rt60: float = _ranged(0.8, 0.01, 3.0)
    max_wet: float = _ranged(0.5, 0.0, 1.0)


@dataclass
class FormantShiftConfig:
    """Warp the spectral envelope by a factor in [1-max_fraction, 1+max_fraction]; f0 stays."""

    probability: float = _ranged(0.3, 0.0, 1.0)
    max_fraction: float = _ranged(0.15, 0.0, 0.5)


@dataclass
class DynamicsConfig:
    """Random gain plus a feed-forward compressor."""

    probability: float = _ranged(0.5, 0.0, 1.0)
    max_gain_db: float = _ranged(12.0, 0.0, 40.0)
    min_ratio: float = _ranged(1.0, 1.0, 20.0)
    max_ratio: float = _ranged(6.0, 1.0, 20.0)
    threshold_db: float = _ranged(-24.0, -60.0, 0.0)


@dataclass
class ColourConfig:
    """Microphone, room and speaker colouration: a random EQ (tilt and resonances) and, now and then,
    a low cut that can take the fundamental away (the pitch must then be heard in the harmonics)."""

    probability: float = _ranged(0.5, 0.0, 1.0)
    max_tilt_db_per_octave: float = _ranged(3.0, 0.0, 12.0)
    bumps: int = _ranged(3, 0, 8)
    max_bump_db: float = _ranged(6.0, 0.0, 24.0)
    low_cut_probability: float = _ranged(0.3, 0.0, 1.0)
    low_cut_hz: tuple[float, float] = (60.0, 300.0)


@dataclass
class PeriodDoublingConfig:
    """Input only: voiced audio amplitude-modulated at half its pitch by a depth drawn from
    [min_depth, max_depth], so every other period is louder (as in reeds, brass and creaky voice)
    while the label keeps the pitch. The waveform then repeats at twice the labelled period more
    exactly than at it. Meant to teach the detector to keep the shorter period; it also taught
    more readings an octave up and measured worse overall, so it is off (docs/DETECTOR.md)."""

    probability: float = _ranged(0.0, 0.0, 1.0)
    min_depth: float = _ranged(0.1, 0.0, 1.0)
    max_depth: float = _ranged(0.5, 0.0, 1.0)


@dataclass
class WeakFundamentalConfig:
    """Input only: the first harmonic of the labelled pitch turned down by [min_db, max_db] where
    voiced (a vowel whose first formant lifts the second harmonic, a reed's weak fundamental)
    while the label keeps the pitch, which the third harmonic and the waveform's period still show.
    Meant to teach the detector not to read such a note an octave high."""

    probability: float = _ranged(0.0, 0.0, 1.0)
    min_db: float = _ranged(6.0, 0.0, 60.0)
    max_db: float = _ranged(24.0, 0.0, 60.0)


@dataclass
class AugmentConfig:
    """The on-the-fly augmentations, each with a probability and a range."""

    enabled: bool = True
    pitch_shift: PitchShiftConfig = field(default_factory=PitchShiftConfig)
    time_stretch: TimeStretchConfig = field(default_factory=TimeStretchConfig)
    formant_shift: FormantShiftConfig = field(default_factory=FormantShiftConfig)
    reverb: ReverbConfig = field(default_factory=ReverbConfig)
    dynamics: DynamicsConfig = field(default_factory=DynamicsConfig)
    noise: NoiseConfig = field(default_factory=NoiseConfig)
    colour: ColourConfig = field(default_factory=ColourConfig)
    period_doubling: PeriodDoublingConfig = field(default_factory=PeriodDoublingConfig)
    weak_fundamental: WeakFundamentalConfig = field(default_factory=WeakFundamentalConfig)

    def validate(self) -> None:
        """Cross-field checks."""
        if self.noise.min_snr_db > self.noise.max_snr_db:
            raise ConfigError("augment.noise.min_snr_db: must not exceed max_snr_db")
        if self.reverb.min_rt60 > self.reverb.max_rt60:
            raise ConfigError("augment.reverb.min_rt60: must not exceed max_rt60")
        if self.dynamics.min_ratio > self.dynamics.max_ratio:
            raise ConfigError("augment.dynamics.min_ratio: must not exceed max_ratio")
        if self.period_doubling.min_depth > self.period_doubling.max_depth:
            raise ConfigError("augment.period_doubling.min_depth: must not exceed max_depth")
        if self.weak_fundamental.min_db > self.weak_fundamental.max_db:
            raise ConfigError("augment.weak_fundamental.min_db: must not exceed max_db")


FOCUS_CHOICES = ("close_pair", "first_onset")


@dataclass
class FocusConfig:
    """Training windows placed on one onset of each segment: a share of the windows puts it
    inside the window's span ``span_start`` + [0, ``span_samples``), or is cropped at random when
    the segment has none. ``on: close_pair``: the later onset of the segment's closest pair (the
    one following the onset before it most closely, between ``min_gap_ms`` and ``max_gap_ms``
    after it); ``on: first_onset``: the segment's first onset (a phrase's first note, after
    silence, where a segment starts a phrase). The model's training sets the span (the frames it
    learns from), the YAML sets the share. The augmentation's pitch shift and stretch (a read rate
    up to ~1.17) may move the onset a little off the span."""

    share: float = _ranged(0.0, 0.0, 1.0)  # of training windows; 0 = every window cropped at random
    on: str = "close_pair"  # or "first_onset"
    min_gap_ms: float = _ranged(30.0, 0.0)  # onsets closer than this count as one attack
    max_gap_ms: float = _ranged(80.0, 0.0)  # a pair further apart is no close pair
    span_start: int = _ranged(0, 0)  # samples from the window's first sample
    span_samples: int = _ranged(0, 0)

    def validate(self) -> None:
        """Cross-field checks."""
        if self.on not in FOCUS_CHOICES:
            raise ConfigError(f"pipeline.focus.on: {self.on!r}; expected one of {', '.join(FOCUS_CHOICES)}")


@dataclass
class PipelineConfig:
    """How shards become batches."""

    records: str = "tf_records/demo"
    mix: tuple[str, ...] = ()  # more record folders trained on together with `records`
    mix_weights: tuple[float, ...] = ()  # sampling weight of records then each mix folder (default: by audio length)
    window_samples: int = _ranged(4 * contract.BUFFER_SIZE, contract.BUFFER_SIZE)
    batch_size: int = _ranged(32, 1)
    shuffle_buffer: int = _ranged(256, 0)
    cycle_length: int = _ranged(4, 1)  # shards read at once by interleave
    seed: int | None = 0  # None = nondeterministic order and augmentation
    with_targets: bool = True  # also window / augment target_audio and grid_audio (corrector, timing)
    eval_windows_per_example: int = _ranged(8, 1)  # fixed windows cut from each validation/test segment
    # training: consecutive windows cut from one random crop of a segment, augmented by one draw
    # (reading and the FFT transforms are paid per crop, not per window; noise is drawn per window);
    # capped so the crop fits in a segment. 1 = a crop and a draw per window
    windows_per_crop: int = _ranged(8, 1)
    # grpc://HOST:PORT of a tf.data service dispatcher: training batches are read, augmented and
    # batched by its workers (other machines) instead of this process; "" = in process
    data_service: str = ""
    augment: AugmentConfig = field(default_factory=AugmentConfig)
    focus: FocusConfig = field(default_factory=FocusConfig)

    def validate(self) -> None:
        """Cross-field checks."""
        self.augment.validate()
        self.focus.validate()
        if self.focus.span_start + self.focus.span_samples > self.window_samples:
            raise ConfigError(
                f"pipeline.focus: span {self.focus.span_start} + {self.focus.span_samples} samples "
                f"does not fit a {self.window_samples}-sample window"
            )
        if self.data_service and not self.data_service.startswith(("grpc://", "grpc+local://")):
            raise ConfigError(f"pipeline.data_service: {self.data_service!r} is not a dispatcher address (grpc://HOST:PORT)")


# --------------------------------------------------------------------------- loading


def _convert(value: Any, annotation: Any, key: str) -> Any:
    origin = typing.get_origin(annotation)
    args = typing.get_args(annotation)
    if dataclasses.is_dataclass(annotation):
        if not isinstance(value, dict):
            raise ConfigError(f"{key}: expected a mapping, got {value!r}")
        return _build(annotation, value, key + ".")
    if origin in (typing.Union, types.UnionType):
        if value is None and type(None) in args:
            return None
        inner = [a for a in args if a is not type(None)]
        return _convert(value, inner[0], key)
    if origin is tuple and len(args) == 2 and args[1] is Ellipsis:  # tuple[X, ...]: any length
        if isinstance(value, str):  # "a,b" or "[a,b]" from a command line (paths are no Python literals)
            value = [item.strip() for item in value.strip().strip("[]").split(",") if item.strip()]
        elif isinstance(value, (int, float)):
            value = [value]  # one item given alone
        if not isinstance(value, (list, tuple)):
            raise ConfigError(f"{key}: expected a list, got {value!r}")
        return tuple(_convert(_number(v) if args[0] in (int, float) else v, args[0], f"{key}[{i}]") for i, v in enumerate(value))
    if origin is tuple:
        if not isinstance(value, (list, tuple)) or len(value) != len(args):
            raise ConfigError(f"{key}: expected a list of {len(args)} values, got {value!r}")
        return tuple(_convert(v, a, f"{key}[{i}]") for i, (v, a) in enumerate(zip(value, args, strict=True)))
    if annotation is bool:
        if isinstance(value, str) and value.strip().lower() in BOOLEAN_WORDS:  # a command line's "false"
            return BOOLEAN_WORDS[value.strip().lower()]
        if not isinstance(value, bool):
            raise ConfigError(f"{key}: expected true or false, got {value!r}")
        return value
    if annotation in (int, float):
        value = _number(value)
        if isinstance(value, bool) or not isinstance(value, (int, float)):
            raise ConfigError(f"{key}: expected a number, got {value!r}")
        if annotation is int and float(value) != int(value):
            raise ConfigError(f"{key}: expected an integer, got {value!r}")
        return annotation(value)
    if annotation is str:
        if not isinstance(value, str):
            raise ConfigError(f"{key}: expected a string, got {value!r}")
        return value
    return value


def _number(value: Any) -> Any:
    """A number written as text ("0.4") as a number; anything else unchanged."""
    if isinstance(value, str):
        try:
            return float(value) if any(c in value for c in ".eE") else int(value)
        except ValueError:
            return value
    return value


def _build(cls: type[T], data: dict, prefix: str = "") -> T:
    hints = typing.get_type_hints(cls)
    fields = {f.name: f for f in dataclasses.fields(cls)}
    unknown = sorted(set(data) - set(fields), key=str)
    if unknown:
        key = unknown[0]
        hint = (
            " (YAML reads a bare on/off/yes/no as a boolean: quote the key, e.g. \"on\":)"
            if isinstance(key, bool)
            else ""
        )
        raise ConfigError(f"{prefix}{key}: unknown key{hint} (known: {', '.join(sorted(fields))})")
    kwargs = {}
    for name, value in data.items():
        key = prefix + name
        converted = _convert(value, hints[name], key)
        low, high = fields[name].metadata.get("range", (None, None))
        if low is not None and converted < low or high is not None and converted > high:
            raise ConfigError(f"{key}: {converted!r} is out of range [{low}, {high if high is not None else 'inf'}]")
        kwargs[name] = converted
    return cls(**kwargs)


def _set_dotted(data: dict, dotted: str, value: Any) -> None:
    parts = dotted.split(".")
    node = data
    for part in parts[:-1]:
        node = node.setdefault(part, {})
        if not isinstance(node, dict):
            raise ConfigError(f"{dotted}: {part} is not a section")
    node[parts[-1]] = value


def from_dict(cls: type[T], data: dict | None, overrides: dict[str, Any] | None = None) -> T:
    """Build config ``cls`` from a dict plus dotted-key overrides, validating every key."""
    data = dict(data or {})
    for dotted, value in (overrides or {}).items():
        _set_dotted(data, dotted, value)
    config = _build(cls, data)
    if hasattr(config, "validate"):
        config.validate()
    return config


def load(cls: type[T], path: str | Path | None = None, overrides: dict[str, Any] | None = None, section: str | None = None) -> T:
    """Load ``cls`` from a YAML file (optionally one top-level ``section`` of it)."""
    data: dict = {}
    if path is not None:
        path = Path(path)
        if not path.is_file():
            raise ConfigError(f"{path}: config file not found")
        loaded = read_yaml(path) or {}
        if not isinstance(loaded, dict):
            raise ConfigError(f"{path}: the top level must be a mapping")
        data = loaded.get(section, {}) if section else loaded
    try:
        return from_dict(cls, data, overrides)
    except ConfigError as error:
        raise ConfigError(f"{path}: {error}" if path else str(error)) from None


def to_dict(config: Any) -> dict:
    """A config as plain YAML-able data (tuples become lists)."""

    def plain(value):
        if isinstance(value, tuple):
            return [plain(v) for v in value]
        if isinstance(value, dict):
            return {k: plain(v) for k, v in value.items()}
        return value

    return plain(dataclasses.asdict(config))


# --------------------------------------------------------------------------- training


DISTRIBUTE_CHOICES = ("none", "mirrored", "multi_worker")


@dataclass
class TrainConfig:
    """Keras fit settings shared by every model."""

    run_dir: str = "runs/pitch_detector"
    epochs: int = _ranged(60, 1)
    steps_per_epoch: int = _ranged(200, 1)
    validation_steps: int = _ranged(20, 1)
    learning_rate: float = _ranged(1e-3, 1e-6, 1.0)
    lr_decay_epochs: int = _ranged(40, 1)  # cosine decay to 5 % over this many epochs
    early_stopping_patience: int = _ranged(10, 1)
    checkpoint_every_epochs: int = _ranged(5, 1)
    contour_clips: int = _ranged(3, 0)  # validation clips drawn into TensorBoard each epoch
    # > 0: judge, checkpoint and keep an exponential moving average of the weights over training
    # steps (this momentum per step) instead of the last step's weights; 0: off
    ema_momentum: float = _ranged(0.0, 0.0, 0.9999)
    seed: int = 0
    # tf.distribute: "none" (one device), "mirrored" (every local GPU/CPU device), or "multi_worker"
    # (MultiWorkerMirroredStrategy over the cluster in TF_CONFIG; pipeline.batch_size is the global batch)
    distribute: str = "none"

    def validate(self) -> None:
        """Cross-field checks."""
        if self.distribute not in DISTRIBUTE_CHOICES:
            raise ConfigError(f"train.distribute: {self.distribute!r}; expected one of {', '.join(DISTRIBUTE_CHOICES)}")


@dataclass
class QATConfig:
    """Quantization-aware fine-tuning after float training."""

    enabled: bool = True
    epochs: int = _ranged(5, 1)
    steps_per_epoch: int = _ranged(200, 1)
    learning_rate: float = _ranged(1e-4, 1e-7, 1.0)
