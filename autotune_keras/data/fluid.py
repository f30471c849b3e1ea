"""A soundfont bank played by FluidSynth (pyfluidsynth + libfluidsynth), rendered block by block so
every note-on, note-off and pitch bend lands on a known sample: labels stay exact.

FluidSynth applies events at the start of its 64-sample blocks. Notes here start and stop on block
boundaries, the pitch wheel (range 12 semitones, 14-bit: 0.146 cents a step) is set per block, and
:func:`bend_units` gives the exact bend each block played, which the labels use. The pitch
modulation a preset adds by itself (its LFOs and modulation envelope to pitch, read from the file
with sf2utils) is cancelled note by note, so the only pitch movement is the performer's.
"""

from __future__ import annotations

import ctypes
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from autotune_keras import contract

BLOCK = 64  # FluidSynth's block: events take effect at block starts
BEND_RANGE_SEMITONES = 12
BEND_UNITS = 8192  # half the 14-bit pitch wheel: BEND_RANGE_SEMITONES
CHANNELS = (0, 1, 2)  # notes rotate over channels so a releasing note keeps its own bend
DRUM_CHANNEL = 9
INSTALL_HINT = "install FluidSynth: apt-get install fluidsynth timgm6mb-soundfont csound-soundfont (tools/setup.sh does)"


# SoundFont 2.04 generators that move pitch by themselves: modLfoToPitch, vibLfoToPitch, modEnvToPitch
PITCH_GENERATORS = (5, 6, 7)


class SoundfontError(ValueError):
    """FluidSynth or a soundfont cannot be used; the message says why and how to fix it."""


def bend_units(cents: np.ndarray) -> np.ndarray:
    """Pitch-wheel offsets (integers, 0 = centre) that play ``cents``, clipped to the range."""
    units = np.round(np.asarray(cents, np.float64) / (100.0 * BEND_RANGE_SEMITONES) * BEND_UNITS)
    return np.clip(units, -BEND_UNITS, BEND_UNITS - 1).astype(np.int64)


def units_to_cents(units: np.ndarray) -> np.ndarray:
    """The cents a pitch-wheel offset plays."""
    return np.asarray(units, np.float64) * (100.0 * BEND_RANGE_SEMITONES) / BEND_UNITS


@dataclass
class RenderNote:
    """One note as FluidSynth plays it: start and stop in blocks, its pitch-wheel offset per
    block from its start until the next note takes its channel (``bends[i]`` plays in block
    ``start + i``; the last value holds)."""

    key: int
    velocity: int
    start: int
    stop: int
    bends: np.ndarray


def _library():
    try:
        import fluidsynth
    except (ImportError, OSError) as error:  # pyfluidsynth missing, or libfluidsynth not found
        raise SoundfontError(f"FluidSynth is not available ({error}); {INSTALL_HINT}") from None
    lib = ctypes.CDLL(fluidsynth.lib)
    lib.fluid_synth_write_float.argtypes = [ctypes.c_void_p, ctypes.c_int] + [ctypes.c_void_p, ctypes.c_int, ctypes.c_int] * 2
    lib.fluid_synth_pitch_wheel_sens.argtypes = [ctypes.c_void_p, ctypes.c_int, ctypes.c_int]
    lib.fluid_synth_set_interp_method.argtypes = [ctypes.c_void_p, ctypes.c_int, ctypes.c_int]
    lib.fluid_synth_set_gen.argtypes = [ctypes.c_void_p, ctypes.c_int, ctypes.c_int, ctypes.c_float]
    return fluidsynth, lib


def _signed(amount: int) -> int:
    return amount - 65536 if amount > 32767 else amount


def _matches(bag, key: int, velocity: int) -> bool:
    keys, velocities = bag.key_range or (0, 127), bag.velocity_range or (0, 127)
    return keys[0] <= key <= keys[1] and velocities[0] <= velocity <= velocities[1]


class PitchModulation:
    """How far each preset's LFOs and modulation envelope move a note's pitch (cents of depth, per
    generator), from the soundfont's preset and instrument zones (SF2 2.04: instrument values,
    plus preset offsets; global zones as defaults)."""

    def __init__(self, bank: Path):
        import logging

        from sf2utils.sf2parse import Sf2File

        logging.disable(logging.WARNING)  # sf2utils warns through the root logger about loop points
        try:
            with open(bank, "rb") as handle:
                parsed = Sf2File(handle)
        finally:
            logging.disable(logging.NOTSET)
        self.presets = {(p.bank, p.preset): p for p in parsed.presets if hasattr(p, "preset")}

    def of(self, program: int, key: int, velocity: int, bank: int = 0) -> dict[int, float]:
        """Generator -> depth (summed over the layers that sound, of which the first is kept)."""
        preset = self.presets.get((bank, program))
        if preset is None:
            return {}
        preset_global = next((b for b in preset.bags if b.instrument is None), None)
        for pbag in preset.bags:
            if pbag.instrument is None or not _matches(pbag, key, velocity):
                continue
            inst_global = next((b for b in pbag.instrument.bags if b.sample is None), None)
            for ibag in pbag.instrument.bags:
                if ibag.sample is None or not _matches(ibag, key, velocity):
                    continue
                depth = {}
                for gen in PITCH_GENERATORS:
                    value = 0
                    for zone, fallback in ((ibag, inst_global), (pbag, preset_global)):
                        gens = zone.gens if gen in zone.gens else (fallback.gens if fallback is not None else {})
                        value += _signed(gens[gen].amount) if gen in gens else 0
                    if value:
                        depth[gen] = float(value)
                return depth
        return {}


class FluidRenderer:
    """One soundfont bank in a FluidSynth instance (dry: no reverb, no chorus, 7th-order
    interpolation), rendering mono float32 at the engine's rate."""

    def __init__(self, bank: str | Path, sample_rate: int = contract.SAMPLE_RATE):
        fluidsynth, self._lib = _library()
        self.bank = Path(bank)
        if not self.bank.is_file():
            raise SoundfontError(f"{self.bank}: no such soundfont; {INSTALL_HINT}")
        settings = {"synth.reverb.active": 0, "synth.chorus.active": 0, "synth.polyphony": 256}
        self.synth = fluidsynth.Synth(gain=0.5, samplerate=sample_rate, **settings)
        self.sfid = self.synth.sfload(str(self.bank))
        if self.sfid < 0:
            raise SoundfontError(f"{self.bank}: FluidSynth cannot load this soundfont")
        self.sample_rate = sample_rate
        self.modulation = PitchModulation(self.bank)

    def close(self) -> None:
        """Free the synth."""
        self.synth.delete()

    def has_program(self, program: int, bank: int = 0) -> bool:
        """Whether the soundfont has preset ``program`` in MIDI bank ``bank`` (128: drum kits)."""
        return self.synth.sfpreset_name(self.sfid, bank, program) is not None

    def _reset(self, program: int, drums: bool) -> None:
        self.synth.system_reset()
        channels = (DRUM_CHANNEL,) if drums else CHANNELS
        for channel in channels:
            self.synth.program_select(channel, self.sfid, 128 if drums else 0, program)
            self._lib.fluid_synth_pitch_wheel_sens(self.synth.synth, channel, BEND_RANGE_SEMITONES)
            self._lib.fluid_synth_set_interp_method(self.synth.synth, channel, 7)  # FLUID_INTERP_HIGHEST
            self.synth.cc(channel, 1, 0)  # modulation wheel: no LFO vibrato but the performer's
            self.synth.pitch_bend(channel, 0)

    def _write(self, blocks: int, out: np.ndarray, at: int) -> None:
        n = blocks * BLOCK
        left, right = np.zeros(n, np.float32), np.zeros(n, np.float32)
        self._lib.fluid_synth_write_float(self.synth.synth, n, left.ctypes.data, 0, 1, right.ctypes.data, 0, 1)
        out[at : at + n] = 0.5 * (left + right)

    def render(self, program: int, notes: list[RenderNote], blocks: int, drums: bool = False) -> np.ndarray:
        """``blocks`` * 64 samples of ``notes`` played by ``program`` (a drum kit when ``drums``;
        drum notes need no bends)."""
        self._reset(program, drums)
        events: dict[int, list] = {}
        for index, note in enumerate(notes):
            channel = DRUM_CHANNEL if drums else CHANNELS[index % len(CHANNELS)]
            for offset, bend in enumerate(note.bends):
                if offset == 0 or bend != note.bends[offset - 1]:
                    events.setdefault(note.start + offset, []).append(("bend", channel, int(bend)))
            depth = self.modulation.of(program, note.key, note.velocity, 128 if drums else 0)
            for gen in PITCH_GENERATORS:  # cancel the preset's own pitch movement for this note
                events.setdefault(note.start, []).append(("gen", channel, gen, -depth.get(gen, 0.0)))
            events.setdefault(note.start, []).append(("on", channel, note.key, note.velocity))
            events.setdefault(note.stop, []).append(("off", channel, note.key))
        out = np.zeros(blocks * BLOCK, np.float32)
        at = 0
        for block in sorted(b for b in events if b < blocks) + [blocks]:
            if block > at:
                self._write(block - at, out, at * BLOCK)
                at = block
            for event in sorted(events.get(block, ()), key=lambda e: {"off": 0, "bend": 1, "gen": 1, "on": 2}[e[0]]):
                if event[0] == "gen":
                    self._lib.fluid_synth_set_gen(self.synth.synth, event[1], event[2], event[3])
                elif event[0] == "bend":
                    self.synth.pitch_bend(event[1], event[2])
                elif event[0] == "on":
                    self.synth.noteon(event[1], event[2], event[3])
                else:
                    self.synth.noteoff(event[1], event[2])
        return out
