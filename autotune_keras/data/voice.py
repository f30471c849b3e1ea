"""A real human voice singing with exact f0: festival's recorded speech units (diphones and unit
selection voices) analysed by the WORLD vocoder (pyworld) into spectral envelope and
aperiodicity, stretched so each syllable's vowel fills a note of a melody, and resynthesized on
the melody's performed f0 contour, which is then the label.

Each syllable keeps its consonant before the note's onset and stretches its vowel over the note,
as a singer does. The in-tune twin is the same voice on the contour snapped to the scale; the
on-grid twin is the same performance with its notes on the tempo grid.
"""

from __future__ import annotations

import shutil
import subprocess
import tempfile
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from autotune_keras import contract, music
from autotune_keras.config import VoiceConfig
from autotune_keras.data import labels
from autotune_keras.data.synth import Phrase, draw_notes, f0_contour, lowpass_noise

FRAME_MS = 5.0  # WORLD frame period
SYLLABLES = ("la", "na", "ma", "da", "ta", "ro", "lo", "no", "mi", "li", "ne", "le", "so", "do", "re", "fa", "vu", "mu", "ka", "sa")
INSTALL_HINT = "install festival and its voices: apt-get install festival festvox-kallpc16k ... (tools/setup.sh does)"
MAX_RISE_FRAMES = 30  # a note reaches its held vowel within 150 ms of the vowel's start
MAX_FALL_FRAMES = 8  # and leaves it over at most 40 ms at its end
SMOOTH_FRAMES = 5  # the envelope is averaged over 25 ms: WORLD's frame-to-frame analysis noise moves the pitch heard
HIGH_BAND_SLOPE = -18.0  # dB per octave above the recording's band, so the voice is not cut off sharply
# MIDI register per festival voice (adult male, adult female, child)
REGISTERS = {"lp_diphone": (55, 77), "suo_fi_lj_diphone": (55, 77), "czech_dita": (55, 79), "czech_krb": (60, 81)}
MALE_REGISTER = (43, 67)


class VoiceError(ValueError):
    """festival or WORLD cannot render a voice phrase; the message says why."""


def _pyworld():
    """pyworld, imported without its pkg_resources deprecation notice."""
    import warnings

    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        import pyworld
    return pyworld


@dataclass(frozen=True)
class VoicePhrase:
    """Which phrase: its number and festival voice."""

    index: int
    voice: str

    @property
    def name(self) -> str:
        return f"voice/{self.voice}/{self.index:06d}"


def phrases(cfg: VoiceConfig) -> list[VoicePhrase]:
    """``cfg.num_phrases`` phrases cycling through the voices."""
    return [VoicePhrase(i, cfg.voices[i % len(cfg.voices)]) for i in range(cfg.num_phrases)]


def speak(text: str, voice: str) -> tuple[np.ndarray, int]:
    """festival's rendering of ``text`` by ``voice`` (float64 mono, its own rate)."""
    import soundfile as sf

    if shutil.which("text2wave") is None:
        raise VoiceError(f"festival's text2wave is not installed; {INSTALL_HINT}")
    with tempfile.TemporaryDirectory() as folder:
        source, out = Path(folder) / "text.txt", Path(folder) / "speech.wav"
        source.write_text(text + "\n")
        result = subprocess.run(
            ["text2wave", "-eval", f"(voice_{voice})", "-o", str(out), str(source)], capture_output=True, text=True, timeout=60
        )
        if result.returncode != 0 or not out.is_file() or out.stat().st_size < 1000:
            raise VoiceError(f"festival voice {voice!r} failed: {(result.stderr or result.stdout).strip()[-200:]}")
        audio, rate = sf.read(str(out), dtype="float64", always_2d=True)
    return audio.mean(axis=1), rate


def analyse(speech: np.ndarray, rate: int, sample_rate: int) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """WORLD parameters of ``speech`` at ``sample_rate``: f0 [frames], spectral envelope and
    aperiodicity [frames, bins], the envelope extended above the recording's band."""
    import librosa

    pyworld = _pyworld()
    audio = librosa.resample(speech, orig_sr=rate, target_sr=sample_rate, res_type="soxr_hq").astype(np.float64)
    f0, times = pyworld.dio(audio, sample_rate, f0_floor=60.0, f0_ceil=600.0, frame_period=FRAME_MS)
    f0 = pyworld.stonemask(audio, f0, times, sample_rate)
    envelope = pyworld.cheaptrick(audio, f0, times, sample_rate)
    aperiodicity = pyworld.d4c(audio, f0, times, sample_rate)
    freqs = np.linspace(0, sample_rate / 2, envelope.shape[1])
    edge = 0.9 * rate / 2
    above = freqs > edge
    reference = envelope[:, np.searchsorted(freqs, edge) - 1][:, None]
    envelope[:, above] = reference * (freqs[above] / edge)[None, :] ** (HIGH_BAND_SLOPE / (10 * np.log10(2)))
    aperiodicity[:, above] = np.maximum(aperiodicity[:, above], 0.5)
    return f0, envelope, aperiodicity


@dataclass(frozen=True)
class Syllable:
    """Speech frames of one syllable: consonant start, vowel start, the vowel's steadiest frame
    (least envelope change), vowel end."""

    consonant: int
    vowel: int
    steady: int
    end: int


def syllables(voiced: np.ndarray, log_envelope: np.ndarray, min_frames: int = 8) -> list[Syllable]:
    """The syllables of the speech: each voiced run with up to 150 ms of consonant before it."""
    edges = np.flatnonzero(np.diff(np.concatenate([[0], voiced.astype(int), [0]])))
    runs = [(a, b) for a, b in zip(edges[::2], edges[1::2], strict=True) if b - a >= min_frames]
    change = np.concatenate([[np.inf], np.mean(np.abs(np.diff(log_envelope, axis=0)), axis=1)])
    out, previous_end = [], 0
    for start, end in runs:  # the steadiest frame soon after the vowel starts (a run may hold several syllables)
        inner = slice(start + 3, min(start + MAX_RISE_FRAMES, end - 3))
        steady = inner.start + int(np.argmin(change[inner])) if inner.stop > inner.start else (start + end) // 2
        out.append(Syllable(max(previous_end, start - 30), start, steady, min(end, steady + MAX_FALL_FRAMES + 1)))
        previous_end = end
    return out


def time_map(units: list[Syllable], onsets: np.ndarray, lengths: np.ndarray, frames: int, frame_s: float) -> np.ndarray:
    """For each output frame, the speech frame it shows (-1: silence). Note i sings syllable
    i % len(units): its consonant ends at the note's onset; the vowel runs at natural speed from
    its start to its steadiest frame, holds there (drifting over one frame, as a held vowel does)
    and runs on to its end as the note ends. A note too short for that squeezes the vowel."""
    source = np.full(frames, -1.0)
    for i, (onset, length) in enumerate(zip(onsets, lengths, strict=True)):
        unit = units[i % len(units)]
        first, last = int(round(onset / frame_s)), int(round((onset + length) / frame_s))
        lead = np.arange(max(first - (unit.vowel - unit.consonant), 0), min(first, frames))
        source[lead] = unit.vowel - (first - lead)
        count = last - first
        rise, fall = unit.steady - unit.vowel, unit.end - 1 - unit.steady
        if count > rise + fall + 2:
            hold = count - rise - fall
            path = np.concatenate(
                [
                    unit.vowel + np.arange(rise),
                    unit.steady + 0.5 - 0.5 * np.cos(np.linspace(0, 2 * np.pi, hold)),
                    unit.steady + 1 + np.arange(fall),
                ]
            )
        else:
            path = unit.vowel + np.arange(count) * (unit.end - 1 - unit.vowel) / max(count - 1, 1)
        span = np.arange(first, min(last, frames))
        source[span] = np.minimum(path[: len(span)], unit.end - 1)
    return source


def render_phrase(phrase: VoicePhrase, cfg: VoiceConfig, sample_rate: int = contract.SAMPLE_RATE) -> Phrase:
    """Render one phrase three times (performed, in tune, on the grid) with exact labels."""
    pyworld = _pyworld()
    rng = np.random.default_rng([cfg.seed, phrase.index])
    key = str(rng.choice(music.KEY_NAMES))
    scale = str(rng.choice(list(contract.SCALES)))
    tempo = float(rng.uniform(*cfg.tempo_range_bpm))
    register = REGISTERS.get(phrase.voice, MALE_REGISTER)
    notes = draw_notes(rng, _Performance(cfg, register), "voice", register, music.key_to_pitch_class(key), contract.SCALES[scale], tempo)
    text = " ".join(str(s) for s in rng.choice(SYLLABLES, size=len(notes.onset) + 2))
    speech_f0, envelope, aperiodicity = analyse(*speak(text, phrase.voice), sample_rate)
    silence = np.full(envelope.shape[1], 1e-12)
    log_envelope = _smooth_frames(np.log(envelope + 1e-16), SMOOTH_FRAMES)
    aperiodicity = _smooth_frames(aperiodicity, SMOOTH_FRAMES)
    units = syllables(speech_f0 > 0, log_envelope)
    if not units:
        raise VoiceError(f"festival voice {phrase.voice!r} produced no voiced syllable for {text!r}")
    n = int(round(cfg.phrase_seconds * sample_rate))
    frame_s = FRAME_MS / 1000
    frames = int(n / sample_rate / frame_s) + 2
    frame_at = np.round(np.arange(frames) * frame_s * sample_rate).astype(int)
    drift = 8.0 * lowpass_noise(rng, n, 1.5, sample_rate)
    jitter = 4.0 * lowpass_noise(rng, n, 40.0, sample_rate)

    def render(onsets: np.ndarray, in_tune: bool) -> tuple[np.ndarray, np.ndarray]:
        """(audio, label f0 per sample) of the voice on the notes starting at ``onsets``."""
        f0, owner = f0_contour(notes, onsets, n, sample_rate, True, drift, jitter)
        if in_tune:
            f0 = music.quantize_hz_to_scale(f0, key, scale)
        source = time_map(units, onsets, notes.length, frames, frame_s)
        sounding = source >= 0
        position = np.clip(source, 0, len(speech_f0) - 1)
        index = np.round(position).astype(int)
        frame_f0 = np.where(sounding & (speech_f0[index] > 0) & (owner[np.minimum(frame_at, n - 1)] >= 0), f0[np.minimum(frame_at, n - 1)], 0.0)
        # the envelope read between speech frames (log-linear), not jumping from frame to frame:
        # each jump would shift the pulses' phase and so the pitch heard
        sp = np.where(sounding[:, None], np.exp(_between(log_envelope, position)), silence[None, :])
        ap = np.where(sounding[:, None], np.clip(_between(aperiodicity, position), 0.0, 1.0), 1.0)
        audio = pyworld.synthesize(frame_f0, np.ascontiguousarray(sp), np.ascontiguousarray(ap), sample_rate, FRAME_MS)[:n]
        audio = np.pad(audio, (0, max(0, n - len(audio))))
        # the f0 WORLD sings at each sample: its frames' f0, interpolated; a sample next to an
        # unvoiced frame is left unlabelled
        t = np.arange(n) / sample_rate / frame_s
        lo = np.minimum(np.floor(t).astype(int), frames - 2)
        both = (frame_f0[lo] > 0) & (frame_f0[lo + 1] > 0)
        label = np.where(both, np.interp(t, np.arange(frames), frame_f0), 0.0)
        return audio, label

    audio, f0 = render(notes.onset, in_tune=False)
    # WORLD renders some syllables near silence (60-90 dB down) while their f0 is set: a note
    # that is not heard is not labelled voiced (the soundfont source's floor)
    f0 = np.where(labels.audible(audio), f0, 0.0)
    in_tune, target_f0 = render(notes.onset, in_tune=True)
    on_grid, _ = render(notes.grid_onset, in_tune=False)
    peak = max(float(np.max(np.abs(x))) for x in (audio, in_tune, on_grid)) + 1e-9
    gain = 0.5 / peak
    metadata = {"instrument": f"festival_{phrase.voice}", "key": key, "scale": scale, "tempo": tempo, "genre": "voice"}
    return Phrase(
        audio=(audio * gain).astype(np.float32),
        in_tune_audio=(in_tune * gain).astype(np.float32),
        on_grid_audio=(on_grid * gain).astype(np.float32),
        f0_hz=f0.astype(np.float32),
        voicing=(f0 > 0).astype(np.float32),
        target_f0_hz=np.where(f0 > 0, target_f0, 0.0).astype(np.float32),
        onsets=(notes.onset * sample_rate).astype(np.int64),
        grid_onsets=(notes.grid_onset * sample_rate).astype(np.int64),
        metadata=metadata,
    )


def _between(values: np.ndarray, position: np.ndarray) -> np.ndarray:
    """Rows of ``values`` read at fractional ``position`` s, linearly interpolated."""
    lo = np.floor(position).astype(int)
    hi = np.minimum(lo + 1, len(values) - 1)
    weight = (position - lo)[:, None]
    return (1 - weight) * values[lo] + weight * values[hi]


def _smooth_frames(values: np.ndarray, width: int) -> np.ndarray:
    """A moving average over ``width`` frames (edges repeated)."""
    padded = np.pad(values, ((width // 2, width // 2), (0, 0)), mode="edge")
    kernel = np.ones(width) / width
    return np.apply_along_axis(lambda column: np.convolve(column, kernel, mode="valid"), 0, padded)


@dataclass
class _Performance:
    """The performance settings draw_notes reads, for a voice source."""

    phrase_seconds: float
    max_detune_cents: float
    timing_jitter_seconds: float
    timing_jitter_range: tuple[float, float]
    max_jitter_steps: float
    on_grid_fraction: float
    midi_range: tuple[float, float]

    def __init__(self, cfg: VoiceConfig, register: tuple[int, int]):
        for name in ("phrase_seconds", "max_detune_cents", "timing_jitter_seconds", "timing_jitter_range", "max_jitter_steps", "on_grid_fraction"):
            setattr(self, name, getattr(cfg, name))
        self.midi_range = (float(register[0]), float(register[1]))
