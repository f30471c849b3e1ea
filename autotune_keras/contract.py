"""The engine contract: the one place that says what the C++ engine expects.

Every other module imports these names; nothing else hard-codes a sample rate, a buffer size,
a scale or a tensor name.
"""

from __future__ import annotations

from dataclasses import dataclass
from types import MappingProxyType

SAMPLE_RATE = 44100
BUFFER_SIZE = 512  # samples per engine callback (11.6 ms)
CHANNELS = 1
DTYPE = "float32"

A4_HZ = 440.0  # reference tuning: the default, and what `target_pitch` assumes unless the engine says otherwise
A4_RANGE_HZ = (415.0, 466.0)  # baroque to high-pitched orchestras
PITCH_MIN_HZ = 80.0
PITCH_MAX_HZ = 2000.0
CONFIDENCE_THRESHOLD = 0.7  # a detection is valid at confidence >= this
# a correction in progress holds its note while the detector's confidence stays at or above this
# (a decaying piano note or a breathy vowel drops below the detection threshold, not off pitch)
HOLD_CONFIDENCE = 0.2

TEMPO_MIN_BPM = 60.0
TEMPO_MAX_BPM = 200.0
TIMING_SEQUENCE_SIZE = 2048

# Budgets per buffer on one CPU core.
LATENCY_BUDGET_MS = 5.0
CPU_BUDGET_FRACTION = 0.25
RAM_BUDGET_MB = 100.0
MODEL_SIZE_BUDGET_MB = 50.0

# Semitone offsets from the key.
SCALES = MappingProxyType(
    {
        "MAJOR": (0, 2, 4, 5, 7, 9, 11),
        "MINOR": (0, 2, 3, 5, 7, 8, 10),
        "BLUES": (0, 3, 5, 6, 7, 10),
        "PENTATONIC": (0, 2, 4, 7, 9),
        "DORIAN": (0, 2, 3, 5, 7, 9, 10),
        "MIXOLYDIAN": (0, 2, 4, 5, 7, 9, 10),
        "CHROMATIC": tuple(range(12)),
    }
)


STATE_SUFFIX = "_out"  # a state input X comes back as output X_out, fed back as X next buffer


def state_output(name: str) -> str:
    """The output that carries state input ``name`` to the next buffer."""
    return name + STATE_SUFFIX


@dataclass(frozen=True)
class Signature:
    """What an engine sees of one model: its tensors, which of them carry state, its buffer."""

    model: str
    audio_input: str  # the input that takes each new buffer of audio
    buffer_size: int  # samples per call
    inputs: tuple[str, ...]  # engine inputs other than state
    outputs: tuple[str, ...]  # engine outputs other than state
    state: tuple[str, ...] = ()  # state inputs; each returns as ``state_output(name)``
    confidence: str | None = None  # the output compared against CONFIDENCE_THRESHOLD, if any
    pitch: str | None = None  # an output in Hz (compared in cents), if any

    @property
    def state_pairs(self) -> dict[str, str]:
        """State input -> the output fed back as it."""
        return {name: state_output(name) for name in self.state}

    @property
    def all_inputs(self) -> tuple[str, ...]:
        return self.inputs + self.state

    @property
    def all_outputs(self) -> tuple[str, ...]:
        return self.outputs + tuple(state_output(name) for name in self.state)

    @property
    def controls(self) -> tuple[str, ...]:
        """Inputs that are neither the audio nor state (target pitch, strength, tempo, ...)."""
        return tuple(name for name in self.inputs if name != self.audio_input)


class PitchDetectorTensors:
    """Tensor names of the pitch detector's signature."""

    AUDIO_BUFFER = "audio_buffer"
    PITCH = "pitch"
    CONFIDENCE = "confidence"
    HARMONICS = "harmonics"
    AUDIO_STATE = "audio_state"  # the last context samples
    OCTAVE_STATE = "octave_state"  # [last confident pitch (Hz, 0: none), buffers it has held, buffers an octave away, (octave filter belief)]
    INPUTS = (AUDIO_BUFFER,)
    OUTPUTS = (PITCH, CONFIDENCE, HARMONICS)
    STATE = (AUDIO_STATE, OCTAVE_STATE)


class PitchCorrectorTensors:
    """Tensor names of the pitch corrector's signature."""

    AUDIO_BUFFER = "audio_buffer"
    TARGET_PITCH = "target_pitch"
    CORRECTION_STRENGTH = "correction_strength"
    CORRECTED_AUDIO = "corrected_audio"
    CONFIDENCE = "confidence"
    AUDIO_STATE = "audio_state"  # the delay line
    READ_OFFSET = "read_offset"  # read head delay minus the start delay
    LOG2_RATIO = "log2_ratio"  # pitch ratio reached at the end of the last buffer, in octaves
    INPUTS = (AUDIO_BUFFER, TARGET_PITCH, CORRECTION_STRENGTH)
    OUTPUTS = (CORRECTED_AUDIO, CONFIDENCE)
    STATE = (AUDIO_STATE, READ_OFFSET, LOG2_RATIO)


class TimingTensors:
    """Tensor names of the timing model's signature."""

    AUDIO_SEQUENCE = "audio_sequence"
    TARGET_TEMPO = "target_tempo"
    MUSICAL_CONTEXT = "musical_context"
    ADJUSTED_AUDIO = "adjusted_audio"
    TIMING_CONFIDENCE = "timing_confidence"
    AUDIO_STATE = "audio_state"  # the delay line
    READ_DELAY = "read_delay"  # samples the read head is behind the write head, minus the latency
    ONSET_POSITIONS = "onset_positions"  # detected onsets not yet played (samples from the write head; < 0)
    ONSET_SHIFTS = "onset_shifts"  # how far each must move to land on its grid line (samples)
    ONSET_CONFIDENCES = "onset_confidences"
    SINCE_ONSET = "since_onset"  # how far the read head has played past the last onset (samples)
    BAND_ENERGIES = "band_energies"  # the onset network's band power of the frames heard in earlier calls
    INPUTS = (AUDIO_SEQUENCE, TARGET_TEMPO, MUSICAL_CONTEXT)
    OUTPUTS = (ADJUSTED_AUDIO, TIMING_CONFIDENCE)
    STATE = (AUDIO_STATE, READ_DELAY, ONSET_POSITIONS, ONSET_SHIFTS, ONSET_CONFIDENCES, SINCE_ONSET, BAND_ENERGIES)


# musical_context [b, F] of the timing model, in this order
TIMING_CONTEXT = (
    "grid_step_beats",  # the grid: 1 = quarter notes, 0.5 = 8ths, 0.25 = 16ths, 1/3 = 8th triplets
    "grid_phase",  # where the sequence's first sample lies between grid lines, in grid steps (0..1)
    "strength",  # 0 (leave the timing alone) .. 1 (every onset onto its grid line)
)
GRIDS = MappingProxyType({"1/4": 1.0, "1/8": 0.5, "1/16": 0.25, "1/8T": 1.0 / 3.0, "1/16T": 1.0 / 6.0})


PITCH_DETECTOR = Signature(
    model="pitch_detector",
    audio_input=PitchDetectorTensors.AUDIO_BUFFER,
    buffer_size=BUFFER_SIZE,
    inputs=PitchDetectorTensors.INPUTS,
    outputs=PitchDetectorTensors.OUTPUTS,
    state=PitchDetectorTensors.STATE,
    confidence=PitchDetectorTensors.CONFIDENCE,
    pitch=PitchDetectorTensors.PITCH,
)
PITCH_CORRECTOR = Signature(
    model="pitch_corrector",
    audio_input=PitchCorrectorTensors.AUDIO_BUFFER,
    buffer_size=BUFFER_SIZE,
    inputs=PitchCorrectorTensors.INPUTS,
    outputs=PitchCorrectorTensors.OUTPUTS,
    state=PitchCorrectorTensors.STATE,
    confidence=PitchCorrectorTensors.CONFIDENCE,
)
TIMING_ADJUSTER = Signature(
    model="timing_adjuster",
    audio_input=TimingTensors.AUDIO_SEQUENCE,
    buffer_size=TIMING_SEQUENCE_SIZE,
    inputs=TimingTensors.INPUTS,
    outputs=TimingTensors.OUTPUTS,
    state=TimingTensors.STATE,
    confidence=TimingTensors.TIMING_CONFIDENCE,
)
SIGNATURES = MappingProxyType({s.model: s for s in (PITCH_DETECTOR, PITCH_CORRECTOR, TIMING_ADJUSTER)})
AUDIO_INPUTS = (PitchDetectorTensors.AUDIO_BUFFER, TimingTensors.AUDIO_SEQUENCE)  # inputs that take audio
# Values for control inputs when a tool streams without a score: a steady note at full strength,
# a mid tempo.
CONTROL_DEFAULTS = MappingProxyType(
    {
        PitchCorrectorTensors.TARGET_PITCH: 220.0,
        PitchCorrectorTensors.CORRECTION_STRENGTH: 1.0,
        TimingTensors.TARGET_TEMPO: 120.0,
        TimingTensors.MUSICAL_CONTEXT: (0.25, 0.0, 1.0),  # 16ths, a grid line at the start, full strength
    }
)
