"""Phrases played by real sampled instruments: the synthetic generator's note lists (key, scale,
tempo, detune, vibrato, scoops, timing jitter) rendered by General MIDI soundfont banks through
FluidSynth, with exact labels and exact twins.

Labels: f0 = MIDI note + the pitch bend FluidSynth played in that 64-sample block + the sample's
own measured tuning (data/tuning.py). A note is voiced while it sounds: from its note-on, and
after its note-off for as long as it rings (a guitar, piano or marimba keeps its pitch). The in-tune twin is the same notes with bends that put every
block exactly on the scale note the engine would snap to (its tuning cancelled too); the on-grid
twin is the same performance with the notes on the tempo grid. Notes whose samples cannot be
labelled (too far off, or wandering: recorded vibrato) are moved to a labellable neighbour.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

import numpy as np

from autotune_keras import contract, music
from autotune_keras.config import SoundfontConfig
from autotune_keras.data import gm, labels
from autotune_keras.data.fluid import BLOCK, FluidRenderer, RenderNote, bend_units, units_to_cents
from autotune_keras.data.synth import Phrase, draw_notes, f0_contour, lowpass_noise, timing_jitter
from autotune_keras.data.tuning import VELOCITIES, TuningTable

RINGING_FLOOR_DB = -30.0  # and after its note-off, while it rings within this of its own peak
_RENDERERS: dict[str, tuple[FluidRenderer, TuningTable]] = {}  # one per bank per process


class UnlabellableProgram(ValueError):
    """A program has no note whose sample can be labelled in this bank."""


@dataclass(frozen=True)
class SoundfontPhrase:
    """Which phrase: its number, bank and program."""

    index: int
    bank: str
    program: int

    @property
    def name(self) -> str:
        spec = gm.DRUM_KIT if self.program == gm.DRUM_KIT.number else gm.PROGRAMS[self.program]
        return f"soundfont/{gm.bank_name(self.bank)}/{self.program:03d}-{spec.name}/{self.index:06d}"


def programs_of(cfg: SoundfontConfig) -> list[int]:
    """The GM programs a build plays (every one in data/gm.py unless ``cfg.programs`` names some)."""
    chosen = list(cfg.programs) or sorted(gm.PROGRAMS)
    unknown = [p for p in chosen if p not in gm.PROGRAMS]
    if unknown:
        raise ValueError(f"soundfont.programs: {unknown} are not melodic programs of data/gm.py")
    return chosen


def phrases(cfg: SoundfontConfig) -> list[SoundfontPhrase]:
    """``cfg.num_phrases`` phrases cycling through every (bank, program), so all are covered,
    then ``cfg.drum_phrases`` drum-kit loops per bank."""
    if cfg.num_phrases + cfg.drum_phrases == 0:
        raise ValueError("soundfont: num_phrases and drum_phrases are both 0: nothing to play")
    banks, programs = list(cfg.banks), programs_of(cfg)
    pairs = [(bank, program) for program in programs for bank in banks]
    melodic = [SoundfontPhrase(i, *pairs[i % len(pairs)]) for i in range(cfg.num_phrases)]
    drums = [
        SoundfontPhrase(cfg.num_phrases + i, banks[i % len(banks)], gm.DRUM_KIT.number) for i in range(cfg.drum_phrases * len(banks))
    ]
    return melodic + drums


def held_out(phrase: SoundfontPhrase, cfg: SoundfontConfig) -> str:
    """Why a phrase is kept out of training ('bank', 'instrument') or '' when it is not."""
    if gm.is_reserved_bank(phrase.bank):
        return "bank"
    return "instrument" if phrase.program in cfg.held_out_programs else ""



def renderer(bank: str) -> tuple[FluidRenderer, TuningTable]:
    """This process's FluidSynth for ``bank`` and its tuning table."""
    if bank not in _RENDERERS:
        synth = FluidRenderer(bank)
        _RENDERERS[bank] = (synth, TuningTable(synth))
    return _RENDERERS[bank]


def prepare(bank: str, program: int) -> int:
    """Measure (or load) the tuning of every note of ``program`` in ``bank``; returns how many
    notes can be labelled (drum loops need no tuning)."""
    if program == gm.DRUM_KIT.number:
        return 0
    spec = gm.PROGRAMS[program]
    synth, table = renderer(bank)
    if not synth.has_program(program):
        return 0
    return sum(t.usable for t in table.program(program, spec.low, spec.high).values())


def tuning_cached(bank: str, program: int) -> bool:
    """Whether :func:`prepare` has nothing left to measure for ``program`` in ``bank``."""
    if program == gm.DRUM_KIT.number:
        return True
    spec = gm.PROGRAMS[program]
    synth, table = renderer(bank)
    return not synth.has_program(program) or table.is_cached(program, spec.low, spec.high)


def _velocity_layer(velocity: float) -> int:
    """The measured velocity layer nearest a note's velocity (0.5..1 of full)."""
    return min(VELOCITIES, key=lambda v: abs(v - 127 * velocity))


def _labellable(table: dict, key: int, velocity: int) -> int | None:
    """``velocity`` if that sample can be labelled, else the nearest layer that can, else None."""
    for layer in sorted(VELOCITIES, key=lambda v: abs(v - velocity)):
        if table[f"{key}/{layer}"].usable:
            return layer
    return None


def render_drum_loop(phrase: SoundfontPhrase, cfg: SoundfontConfig, sample_rate: int = contract.SAMPLE_RATE) -> Phrase:
    """A drum-kit loop on a 16th-note grid (kick, snare, hats, toms, cymbals), played with timing
    jitter and again on the grid; it has no pitch (f0 and voicing 0 throughout). The hits on one
    grid line share one jitter, as a drummer's limbs strike together, each then spread by
    ``cfg.drum_limb_spread_seconds`` (a line played on the grid stays exactly on it)."""
    synth, _ = renderer(phrase.bank)
    rng = np.random.default_rng([cfg.seed, phrase.index])
    tempo = float(rng.uniform(*cfg.tempo_range_bpm))
    step = 60.0 / tempo / 4
    hits: list[tuple[float, int, int]] = []  # (grid time, key, velocity)
    busy = rng.random()
    for i in range(int((cfg.phrase_seconds - 0.2) / step)):
        t, beat_step = 0.05 + i * step, i % 16
        if beat_step in (0, 8) or (beat_step in (6, 10, 14) and rng.random() < 0.3 * busy):
            hits.append((t, gm.KICK, int(rng.integers(90, 127))))
        if beat_step in (4, 12) or (rng.random() < 0.08 * busy):
            hits.append((t, gm.SNARE if rng.random() < 0.85 else gm.SIDE_STICK, int(rng.integers(70, 120))))
        if i % (1 if busy > 0.6 else 2) == 0:
            hits.append((t, gm.OPEN_HAT if rng.random() < 0.08 else gm.CLOSED_HAT, int(rng.integers(40, 100))))
        if beat_step >= 12 and rng.random() < 0.25 * busy:
            hits.append((t, int(rng.choice(gm.TOMS)), int(rng.integers(70, 120))))
    if rng.random() < 0.5:
        hits.append((0.05, gm.CRASH, 110))
    grid = np.array([h[0] for h in hits])
    lines, line_of_hit = np.unique(grid, return_inverse=True)
    line_jitter = timing_jitter(rng, cfg, len(lines), step)[line_of_hit]
    limb = cfg.drum_limb_spread_seconds
    spread = np.clip(rng.normal(0.0, limb, len(hits)), -2.5 * limb, 2.5 * limb) if limb > 0 else np.zeros(len(hits))
    jitter = np.where(line_jitter == 0.0, 0.0, line_jitter + spread)  # a line played on the grid stays on it
    n_blocks = int(np.ceil(cfg.phrase_seconds * sample_rate / BLOCK))

    def render(onsets: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
        starts = np.round(np.maximum(onsets, 0.0) * sample_rate / BLOCK).astype(int)
        notes = [
            RenderNote(key, velocity, int(start), int(start + 0.3 * sample_rate / BLOCK), np.zeros(1, np.int64))
            for (_, key, velocity), start in zip(hits, starts, strict=True)
        ]
        return synth.render(0, notes, n_blocks, drums=True), starts

    audio, starts = render(grid + jitter)
    on_grid, grid_starts = render(grid)
    gain = 0.5 / (max(float(np.max(np.abs(audio))), float(np.max(np.abs(on_grid)))) + 1e-9)
    silent = np.zeros(n_blocks * BLOCK, np.float32)
    return Phrase(
        audio=(audio * gain).astype(np.float32),
        in_tune_audio=(audio * gain).astype(np.float32),  # nothing to tune
        on_grid_audio=(on_grid * gain).astype(np.float32),
        f0_hz=silent,
        voicing=silent,
        target_f0_hz=silent,
        onsets=np.unique(starts * BLOCK).astype(np.int64),
        grid_onsets=np.unique(grid_starts * BLOCK).astype(np.int64),
        metadata={"instrument": gm.DRUM_KIT.name, "key": "", "scale": "", "tempo": tempo, "genre": "drums"},
    )


def render_phrase(phrase: SoundfontPhrase, cfg: SoundfontConfig, sample_rate: int = contract.SAMPLE_RATE) -> Phrase:
    """Render one phrase three times (performed, in tune, on the grid) with exact labels."""
    if phrase.program == gm.DRUM_KIT.number:
        return render_drum_loop(phrase, cfg, sample_rate)
    spec = gm.PROGRAMS[phrase.program]
    synth, tuning = renderer(phrase.bank)
    if not synth.has_program(phrase.program):
        raise UnlabellableProgram(f"{Path(phrase.bank).name} has no preset for program {phrase.program} ({spec.name})")
    table = tuning.program(phrase.program, spec.low, spec.high)
    rng = np.random.default_rng([cfg.seed, phrase.index])
    key = str(rng.choice(music.KEY_NAMES))
    scale = str(rng.choice(list(contract.SCALES)))
    tempo = float(rng.uniform(*cfg.tempo_range_bpm))
    notes = draw_notes(rng, cfg, spec.articulation, (spec.low, spec.high), music.key_to_pitch_class(key), contract.SCALES[scale], tempo)
    n_blocks = int(np.ceil(cfg.phrase_seconds * sample_rate / BLOCK))
    n = n_blocks * BLOCK

    # every note on a sample that can be labelled: its own, another velocity layer, or the
    # nearest scale note that has one
    scale_notes = [m for m in range(spec.low, spec.high + 1) if (m - music.key_to_pitch_class(key)) % 12 in contract.SCALES[scale]]
    velocities = []
    for i, midi in enumerate(notes.midi.astype(int)):
        wanted = _velocity_layer(notes.velocity[i])
        for candidate in sorted(scale_notes, key=lambda m: (abs(m - midi), m)):
            layer = _labellable(table, candidate, wanted)
            if layer is not None:
                notes.midi[i], velocity = candidate, layer
                break
        else:
            raise UnlabellableProgram(f"{Path(phrase.bank).name}: no note of {spec.name} can be labelled (samples off pitch or wandering)")
        velocities.append(velocity)

    drift = 8.0 * lowpass_noise(rng, n, 1.5, sample_rate)
    jitter = (6.0 if spec.articulation == "voice" else 1.0) * lowpass_noise(rng, n, 40.0, sample_rate)
    glide = spec.articulation in ("voice", "bowed")
    tune = np.array([table[f"{int(m)}/{v}"].offset_cents for m, v in zip(notes.midi, velocities, strict=True)])

    def render(onsets: np.ndarray, in_tune: bool) -> tuple[np.ndarray, np.ndarray, np.ndarray, np.ndarray]:
        """(audio, label f0 per sample, voicing per sample, note start blocks)."""
        f0, owner = f0_contour(notes, onsets, n, sample_rate, glide, drift, jitter)
        centre = np.arange(n_blocks) * BLOCK + BLOCK // 2
        block_owner = owner[centre]
        nominal = music.midi_to_hz(notes.midi[np.maximum(block_owner, 0)])
        performed = 1200 * np.log2(np.maximum(f0[centre], 1e-3) / nominal)  # cents above the note
        sounding = music.midi_to_hz(notes.midi[np.maximum(block_owner, 0)] + (performed + tune[np.maximum(block_owner, 0)]) / 100)
        if in_tune:  # where the engine would snap each block, with the sample's own tuning cancelled
            target = music.quantize_hz_to_scale(sounding, key, scale)
            wanted = 1200 * np.log2(target / nominal) - tune[np.maximum(block_owner, 0)]
        else:
            wanted = performed
        units = bend_units(np.where(block_owner >= 0, wanted, 0.0))
        starts = np.round(np.asarray(onsets) * sample_rate / BLOCK).astype(int)
        stops = np.round((np.asarray(onsets) + notes.length) * sample_rate / BLOCK).astype(int)
        render_notes = []
        for i in range(len(starts)):
            until = starts[i + 3] if i + 3 < len(starts) else n_blocks  # its channel's next note
            span = units[starts[i] : max(until, starts[i] + 1)]
            own = block_owner[starts[i] : starts[i] + len(span)] == i
            held = np.maximum.accumulate(np.where(own, np.arange(len(span)), 0))  # hold the last own bend
            render_notes.append(RenderNote(int(notes.midi[i]), velocities[i], int(starts[i]), int(stops[i]), span[held]))
        audio = synth.render(phrase.program, render_notes, n_blocks)
        # the note heard in each block: the one playing, else the last one started, ringing after
        # its note-off (a guitar, piano or marimba keeps its pitch) on the bend it ended with
        started = np.full(n_blocks, -1)
        for i in np.argsort(starts, kind="stable"):
            started[starts[i] :] = i
        heard = np.where(block_owner >= 0, block_owner, started)
        last_units = np.zeros(len(starts), np.int64)
        for i in range(len(starts)):
            owned = np.flatnonzero(block_owner == i)
            last_units[i] = units[owned[-1]] if len(owned) else 0
        played = units_to_cents(np.where(block_owner >= 0, units, last_units[np.maximum(heard, 0)])) + tune[np.maximum(heard, 0)]
        label = np.where(heard >= 0, music.midi_to_hz(notes.midi[np.maximum(heard, 0)] + played / 100), 0.0)
        level = labels.block_levels_db(audio, BLOCK)
        loud = level >= level.max() + labels.VOICED_FLOOR_DB
        note_peak = np.array([level[block_owner == i].max() if np.any(block_owner == i) else -np.inf for i in range(len(starts))])
        ringing = (block_owner < 0) & (heard >= 0) & (level >= note_peak[np.maximum(heard, 0)] + RINGING_FLOOR_DB)
        voiced = ((block_owner >= 0) | ringing) & loud
        return audio, np.repeat(np.where(voiced, label, 0.0), BLOCK), np.repeat(voiced, BLOCK), starts

    audio, f0, voicing, starts = render(notes.onset, in_tune=False)
    in_tune, target_f0, _, _ = render(notes.onset, in_tune=True)
    on_grid, _, _, grid_starts = render(notes.grid_onset, in_tune=False)
    peak = max(float(np.max(np.abs(x))) for x in (audio, in_tune, on_grid)) + 1e-9
    gain = 0.5 / peak
    metadata = {"instrument": spec.name, "key": key, "scale": scale, "tempo": tempo, "genre": "soundfont"}
    return Phrase(
        audio=(audio * gain).astype(np.float32),
        in_tune_audio=(in_tune * gain).astype(np.float32),
        on_grid_audio=(on_grid * gain).astype(np.float32),
        f0_hz=f0.astype(np.float32),
        voicing=voicing.astype(np.float32),
        target_f0_hz=np.where(voicing > 0, target_f0, 0.0).astype(np.float32),
        onsets=(starts * BLOCK).astype(np.int64),
        grid_onsets=(grid_starts * BLOCK).astype(np.int64),
        metadata=metadata,
    )
