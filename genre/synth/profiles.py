"""The genre profiles: the musical vocabulary and the distribution each genre draws artists from.

Owns the tables every other part of the renderer reads by name: scales, chord progressions,
16-step drum patterns, and one :class:`GenreProfile` per genre in ``GENRES`` (tempo, drums,
harmony, timbres per part, production). It hands on plain, immutable data; the drawing is
``genre.synth.style``'s, the sounds behind the timbre names are ``genre.synth.sources``'.

Genres are overlapping *distributions*, not templates: ``GROUPS`` names the attribute groups an
artist may borrow, with probability ``BORROW``, from another genre's profile.
"""

from __future__ import annotations

from dataclasses import dataclass
from types import MappingProxyType

GENRES: tuple[str, ...] = (
    "Hip-Hop",
    "Pop",
    "Folk",
    "Experimental",
    "Rock",
    "International",
    "Electronic",
    "Instrumental",
)

Weights = tuple[tuple[str, float], ...]
Range = tuple[float, float]  # (mean, standard deviation)

BORROW = 0.15  # chance that one attribute group of an artist comes from another genre's profile

SCALES = MappingProxyType(
    {
        "major": (0, 2, 4, 5, 7, 9, 11),
        "minor": (0, 2, 3, 5, 7, 8, 10),
        "dorian": (0, 2, 3, 5, 7, 9, 10),
        "mixolydian": (0, 2, 4, 5, 7, 9, 10),
        "lydian": (0, 2, 4, 6, 7, 9, 11),
        "harmonic_minor": (0, 2, 3, 5, 7, 8, 11),
        "phrygian_dominant": (0, 1, 4, 5, 7, 8, 10),
        "double_harmonic": (0, 1, 4, 5, 7, 8, 11),
        "pentatonic_major": (0, 2, 4, 7, 9),
        "pentatonic_minor": (0, 3, 5, 7, 10),
        "hirajoshi": (0, 2, 3, 7, 8),
        "whole_tone": (0, 2, 4, 6, 8, 10),
        "chromatic": tuple(range(12)),
    }
)

# Chord roots as scale degrees (0-based); families are what genre profiles weigh.
PROGRESSIONS = MappingProxyType(
    {
        "pop": ((0, 4, 5, 3), (0, 5, 3, 4), (0, 3, 4, 3), (5, 3, 0, 4), (0, 3, 0, 4)),
        "minor": ((0, 5, 2, 6), (0, 3, 4, 0), (0, 6, 5, 6), (0, 3, 6, 2), (0, 5, 3, 4)),
        "modal": ((0, 6), (0, 1), (0, 3), (0, 6, 0, 4)),
        "static": ((0,), (0, 0, 0, 3), (0, 0, 5, 5)),
        "random": ((0, 2, 5, 1), (0, 4, 1, 3), (0, 3, 1, 5), (2, 0, 4, 1)),
    }
)

# 16-step drum patterns: kick, snare, hat, percussion. 'x' hit, 'o' soft hit played 60% of
# the time, 'O' open hat. "irregular" is generated per track (odd loop lengths).
PATTERNS = MappingProxyType(
    {
        "four_floor": ("x...x...x...x...", "....x.......x...", "o.O.o.O.o.O.o.O.", "................"),
        "backbeat": ("x.....x.x.......", "....x.......x...", "x.x.x.x.x.x.x.x.", "................"),
        "boombap": ("x.....xo..x.....", "....x.......x..o", "x.x.x.x.x.x.x.x.", "................"),
        "halftime": ("x......ox.....o.", "........x.......", "xoxoxoxoxoxoxoxo", "................"),
        "breakbeat": ("x.x.......x.....", "....x..o.x..x..o", "x.x.x.x.x.x.x.x.", "..............o."),
        "clave": ("x.......x.......", "................", "o.o.o.o.o.o.o.o.", "x..x..x...x.x..."),
        "afro": ("x..x..x.x..x..x.", "....o.......o...", "x.xxx.x.x.xxx.x.", "x.x.xx.x.x.x...."),
        "shaker": ("x.......o.......", "................", "oxoxoxoxoxoxoxox", "......o.......o."),
    }
)


def _w(spec: str) -> Weights:
    """Parse ``"a:3 b:1"`` into categorical weights (keeps the profile table compact)."""
    return tuple((name, float(weight)) for name, weight in (item.split(":") for item in spec.split()))


@dataclass(frozen=True)
class GenreProfile:
    """The distribution one genre draws artist styles from (see ``draw_artist_style``)."""

    # rhythm: BPM; chances of swing and of drums in a track; drum patterns and kits
    tempo: Range
    swing: float
    drums: float
    patterns: Weights
    kits: Weights
    # harmony and melody; density in lead notes per beat, atonal = chance a note leaves the scale
    scales: Weights
    progressions: Weights
    bass_patterns: Weights
    density: Range
    atonal: float
    # timbres per part ("none" = part absent)
    bass: Weights
    chords: Weights
    lead: Weights
    texture: Weights
    # production: master low-pass (log2 Hz), saturation, reverb wet; chances of delay, bit-crush,
    # vinyl crackle and side-chain pumping; hiss and RMS loudness (dBFS); section contrast (dB);
    # stem levels (dB: drums, bass, chords, lead, texture)
    cutoff: Range
    drive: Range
    reverb: Range
    delay: float
    crush: float
    vinyl: float
    hiss: Range
    loudness: Range
    pump: float
    dynamics: Range
    mix: tuple[float, float, float, float, float]


PROFILES = MappingProxyType(
    {
        "Hip-Hop": GenreProfile(
            tempo=(88, 7),
            swing=0.7,
            drums=0.95,
            patterns=_w("boombap:6 halftime:3 backbeat:1"),
            kits=_w("lofi:5 808:4 acoustic:1"),
            scales=_w("minor:4 dorian:3 pentatonic_minor:2 harmonic_minor:1"),
            progressions=_w("minor:4 static:4 modal:2"),
            bass_patterns=_w("kick:6 whole:2 syncopated:2"),
            density=(0.8, 0.3),
            atonal=0.02,
            bass=_w("sub:7 sine:2 saw_bass:1"),
            chords=_w("epiano:5 piano:2 pad:1 none:2"),
            lead=_w("bell:2 piano:2 flute:2 pluck:1 none:3"),
            texture=_w("none:6 noise:3 glitch:1"),
            cutoff=(12.0, 0.35),
            drive=(0.3, 0.15),
            reverb=(0.15, 0.08),
            delay=0.2,
            crush=0.4,
            vinyl=0.6,
            hiss=(-48, 6),
            loudness=(-13, 1.5),
            pump=0.1,
            dynamics=(1.5, 1),
            mix=(3, 4, -3, -4, -3),
        ),
        "Pop": GenreProfile(
            tempo=(112, 10),
            swing=0.1,
            drums=0.95,
            patterns=_w("backbeat:5 four_floor:3 halftime:2"),
            kits=_w("electronic:5 acoustic:4 808:1"),
            scales=_w("major:7 mixolydian:1 minor:2"),
            progressions=_w("pop:8 minor:2"),
            bass_patterns=_w("eighths:4 syncopated:4 octave:2"),
            density=(1.6, 0.4),
            atonal=0.0,
            bass=_w("saw_bass:3 sub:3 pluck:2 square_bass:2"),
            chords=_w("piano:4 pad:3 guitar:2 pluck:1"),
            lead=_w("square_lead:4 saw_lead:2 pluck:2 bell:2"),
            texture=_w("none:8 noise:2"),
            cutoff=(13.5, 0.35),
            drive=(0.3, 0.15),
            reverb=(0.25, 0.08),
            delay=0.4,
            crush=0.02,
            vinyl=0.02,
            hiss=(-72, 6),
            loudness=(-12, 1.5),
            pump=0.3,
            dynamics=(3, 1),
            mix=(0, 0, 0, 3, -4),
        ),
        "Folk": GenreProfile(
            tempo=(98, 18),
            swing=0.2,
            drums=0.3,
            patterns=_w("shaker:6 backbeat:3 afro:1"),
            kits=_w("hand:6 acoustic:4"),
            scales=_w("major:4 mixolydian:2 dorian:2 pentatonic_major:2 minor:1"),
            progressions=_w("pop:4 modal:3 static:2 minor:1"),
            bass_patterns=_w("whole:4 walking:3 octave:2"),
            density=(1.0, 0.3),
            atonal=0.0,
            bass=_w("pluck:3 guitar:2 sine:1 none:4"),
            chords=_w("guitar:9 piano:1"),
            lead=_w("flute:4 pluck:3 strings:1 guitar:2 none:2"),
            texture=_w("none:8 drone:2"),
            cutoff=(12.6, 0.35),
            drive=(0.03, 0.03),
            reverb=(0.3, 0.08),
            delay=0.1,
            crush=0.02,
            vinyl=0.2,
            hiss=(-55, 6),
            loudness=(-19, 2),
            pump=0.0,
            dynamics=(4, 1.5),
            mix=(-4, -3, 3, 1, -3),
        ),
        "Experimental": GenreProfile(
            tempo=(110, 30),
            swing=0.2,
            drums=0.5,
            patterns=_w("irregular:7 breakbeat:2 halftime:1"),
            kits=_w("electronic:3 lofi:2 808:2 hand:1"),
            scales=_w("whole_tone:4 chromatic:4 phrygian_dominant:1 hirajoshi:1"),
            progressions=_w("random:6 static:4"),
            bass_patterns=_w("whole:4 syncopated:2 kick:1"),
            density=(1.3, 0.8),
            atonal=0.6,
            bass=_w("sub:2 saw_bass:2 square_bass:1 none:4"),
            chords=_w("pad:3 bell:3 organ:1 none:3"),
            lead=_w("bell:4 square_lead:2 saw_lead:2 none:2"),
            texture=_w("noise:5 glitch:5 drone:1"),
            cutoff=(13.2, 0.8),
            drive=(0.6, 0.4),
            reverb=(0.45, 0.2),
            delay=0.5,
            crush=0.5,
            vinyl=0.15,
            hiss=(-45, 10),
            loudness=(-16, 3),
            pump=0.1,
            dynamics=(5, 3),
            mix=(0, -2, 0, 0, 5),
        ),
        "Rock": GenreProfile(
            tempo=(128, 14),
            swing=0.05,
            drums=0.97,
            patterns=_w("backbeat:8 halftime:1 four_floor:1"),
            kits=_w("acoustic:9 lofi:1"),
            scales=_w("minor:3 pentatonic_minor:3 mixolydian:2 major:2"),
            progressions=_w("pop:3 minor:3 modal:2 static:2"),
            bass_patterns=_w("eighths:7 octave:2 whole:1"),
            density=(1.5, 0.4),
            atonal=0.02,
            bass=_w("saw_bass:5 square_bass:3 pluck:2"),
            chords=_w("dist_guitar:9 organ:1"),
            lead=_w("dist_guitar:5 saw_lead:3 none:2"),
            texture=_w("none:9 noise:1"),
            cutoff=(13.1, 0.3),
            drive=(1.0, 0.25),
            reverb=(0.15, 0.06),
            delay=0.2,
            crush=0.03,
            vinyl=0.03,
            hiss=(-60, 6),
            loudness=(-10.5, 1.2),
            pump=0.0,
            dynamics=(2, 1),
            mix=(1, 0, 4, 0, -4),
        ),
        "International": GenreProfile(
            tempo=(105, 18),
            swing=0.3,
            drums=0.8,
            patterns=_w("clave:5 afro:5 shaker:1"),
            kits=_w("hand:8 acoustic:2"),
            scales=_w("phrygian_dominant:3 double_harmonic:2 pentatonic_major:2 hirajoshi:2 harmonic_minor:2"),
            progressions=_w("static:5 modal:5"),
            bass_patterns=_w("syncopated:4 octave:2 whole:2"),
            density=(1.8, 0.5),
            atonal=0.05,
            bass=_w("pluck:3 sine:2 none:3"),
            chords=_w("guitar:3 strings:2 organ:1 none:4"),
            lead=_w("pluck:5 flute:3 bell:2"),
            texture=_w("drone:6 none:4"),
            cutoff=(12.9, 0.35),
            drive=(0.15, 0.1),
            reverb=(0.25, 0.08),
            delay=0.15,
            crush=0.03,
            vinyl=0.25,
            hiss=(-56, 6),
            loudness=(-15, 2),
            pump=0.0,
            dynamics=(3, 1.5),
            mix=(2, -2, -2, 3, 0),
        ),
        "Electronic": GenreProfile(
            tempo=(126, 6),
            swing=0.1,
            drums=0.98,
            patterns=_w("four_floor:8 breakbeat:2"),
            kits=_w("electronic:6 808:4"),
            scales=_w("minor:5 dorian:2 phrygian_dominant:1 pentatonic_minor:1"),
            progressions=_w("minor:4 static:4 modal:2"),
            bass_patterns=_w("eighths:3 syncopated:3 kick:2 octave:2"),
            density=(2.2, 0.5),
            atonal=0.05,
            bass=_w("saw_bass:4 sub:3 square_bass:3"),
            chords=_w("pad:5 pluck:3 none:2"),
            lead=_w("saw_lead:4 square_lead:3 bell:2 pluck:1"),
            texture=_w("noise:4 none:4 glitch:2"),
            cutoff=(13.8, 0.3),
            drive=(0.4, 0.15),
            reverb=(0.25, 0.08),
            delay=0.6,
            crush=0.1,
            vinyl=0.02,
            hiss=(-75, 5),
            loudness=(-11, 1.2),
            pump=0.7,
            dynamics=(3, 1.5),
            mix=(3, 2, -1, 0, -2),
        ),
        "Instrumental": GenreProfile(
            tempo=(80, 18),
            swing=0.1,
            drums=0.2,
            patterns=_w("backbeat:3 shaker:3 halftime:2"),
            kits=_w("acoustic:5 hand:3 electronic:2"),
            scales=_w("major:3 minor:3 harmonic_minor:2 lydian:2"),
            progressions=_w("pop:3 minor:5 modal:2"),
            bass_patterns=_w("whole:7 walking:2"),
            density=(0.9, 0.4),
            atonal=0.02,
            bass=_w("sine:3 pluck:1 none:5"),
            chords=_w("strings:5 piano:4 pad:1"),
            lead=_w("piano:5 strings:3 flute:2"),
            texture=_w("drone:3 none:7"),
            cutoff=(12.5, 0.35),
            drive=(0.02, 0.02),
            reverb=(0.55, 0.12),
            delay=0.1,
            crush=0.02,
            vinyl=0.05,
            hiss=(-65, 6),
            loudness=(-20, 2),
            pump=0.0,
            dynamics=(6, 2),
            mix=(-5, -3, 3, 1, -2),
        ),
    }
)

GROUPS = MappingProxyType(
    {  # attribute groups borrowed together from another genre
        "rhythm": ("tempo", "swing", "drums", "patterns", "kits"),
        "harmony": ("scales", "progressions", "bass_patterns", "density", "atonal"),
        "timbre": ("bass", "chords", "lead", "texture"),
        "production": (
            "cutoff",
            "drive",
            "reverb",
            "delay",
            "crush",
            "vinyl",
            "hiss",
            "loudness",
            "pump",
            "dynamics",
            "mix",
        ),
    }
)
