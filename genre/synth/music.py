"""Synthetic, music-like audio for the embedded demo/test data set.

This module owns one thing: rendering audio. ``draw_artist_style`` turns a genre into an
:class:`ArtistStyle` (everything an artist keeps across its tracks), and ``render_track``
turns a style plus per-track randomness into one clip: a beat grid from a tempo, a drum kit,
a bass line on a chord progression, chords, a melody in a key and scale, cheap timbres
(wavetable additive, FM, noise), sections, effects, noise and mastering.

It hands on a float32 ``(samples, channels)`` array, finite, peak below 0.99 and never silent.
The FMA-shaped tree, metadata, encoding and features belong to the callers.

Genres are overlapping *distributions*, not templates: each attribute group of a style is
drawn from its genre's profile, or, with probability ``_BORROW``, from another genre's,
so the clips are hard but learnable. Every draw comes from the ``numpy.random.Generator``
passed in; same style and same generator state give bit-identical audio.
"""

from __future__ import annotations

from dataclasses import dataclass
from functools import lru_cache
from types import MappingProxyType
from typing import Any

import numpy as np
from scipy import fft, signal

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
Event = tuple[float, float, float, float]  # note: time (s), duration (s), MIDI pitch, velocity
Range = tuple[float, float]  # (mean, standard deviation)

_BORROW = 0.15  # chance that one attribute group of an artist comes from another genre's profile
_STEPS_PER_BAR = 16
_TABLE = 2048  # wavetable size (power of two: the top bits of a wrapping 32-bit phase index it)

_SCALES = MappingProxyType(
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
_PROGRESSIONS = MappingProxyType(
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
_PATTERNS = MappingProxyType(
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
class _Timbre:
    """Cheap synthesis recipe: wavetable that fades from a bright to a dull spectrum, or FM."""

    bright: float  # spectral slope of the attack (harmonic k has amplitude k**-bright)
    dull: float  # slope the tone decays to (per-harmonic decay, pluck/piano-like)
    attack: float  # seconds
    decay: float  # amplitude time constant in seconds; 0 means sustained
    tone_decay: float = 0.2  # seconds for the bright-to-dull fade / FM index decay
    odd: bool = False  # odd harmonics only (square, clarinet-like)
    vibrato: float = 0.0  # relative frequency depth at 5 Hz
    detune: float = 0.0  # second detuned voice (chorus, supersaw-like pads)
    drive: float = 0.0  # tanh saturation (distorted guitar)
    fm_ratio: float = 0.0  # > 0 switches to two-operator FM
    fm_index: float = 0.0
    breath: float = 0.0  # noise mixed in (flute)


_TIMBRES = MappingProxyType(
    {
        "pluck": _Timbre(1.0, 3.0, 0.002, 0.45, 0.05),
        "guitar": _Timbre(0.9, 2.5, 0.003, 0.9, 0.15),
        "piano": _Timbre(1.2, 3.0, 0.002, 1.3, 0.3),
        "epiano": _Timbre(0, 0, 0.003, 1.1, 0.4, fm_ratio=1.0, fm_index=1.3),
        "bell": _Timbre(0, 0, 0.001, 1.8, 0.6, fm_ratio=3.5, fm_index=3.0),
        "organ": _Timbre(1.8, 1.8, 0.01, 0.0, odd=True),
        "strings": _Timbre(1.1, 1.1, 0.15, 0.0, vibrato=0.004, detune=0.004),
        "pad": _Timbre(1.3, 1.3, 0.35, 0.0, detune=0.007),
        "saw_lead": _Timbre(1.0, 1.0, 0.01, 0.0, detune=0.004),
        "square_lead": _Timbre(1.0, 1.0, 0.01, 0.0, odd=True, vibrato=0.003),
        "flute": _Timbre(2.8, 2.8, 0.06, 0.0, vibrato=0.005, breath=0.06),
        "dist_guitar": _Timbre(1.0, 1.6, 0.003, 2.0, 0.5, drive=5.0),
        "sub": _Timbre(6.0, 6.0, 0.005, 1.5),
        "sine": _Timbre(4.0, 6.0, 0.005, 0.8, 0.1),
        "saw_bass": _Timbre(1.0, 2.5, 0.004, 1.0, 0.12),
        "square_bass": _Timbre(1.0, 2.5, 0.004, 1.0, 0.15, odd=True),
    }
)
_SUSTAINED = frozenset(name for name, t in _TIMBRES.items() if t.decay == 0.0)


@dataclass(frozen=True)
class _GenreProfile:
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


_PROFILES = MappingProxyType(
    {
        "Hip-Hop": _GenreProfile(
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
        "Pop": _GenreProfile(
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
        "Folk": _GenreProfile(
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
        "Experimental": _GenreProfile(
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
        "Rock": _GenreProfile(
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
        "International": _GenreProfile(
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
        "Electronic": _GenreProfile(
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
        "Instrumental": _GenreProfile(
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

_GROUPS = MappingProxyType(
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


@dataclass(frozen=True)
class ArtistStyle:
    """Everything an artist keeps across its tracks; tracks vary around it."""

    genre: str
    tempo: float  # BPM centre
    tempo_jitter: float  # relative spread across tracks
    swing: float  # delay of off-beat 16ths, fraction of a step
    humanize: float  # timing jitter, seconds
    drum_prob: float  # chance a track has drums
    patterns: tuple[str, str]  # main and alternative drum pattern
    kit: str
    kick_tune: float  # kick pitch multiplier
    scale: str
    key: int  # favourite key (pitch class)
    key_loyalty: float  # chance a track is in the favourite key
    progressions: tuple[tuple[int, ...], ...]
    bass_pattern: str
    density: float
    atonal: float
    bass: tuple[str, str]  # main and alternative timbre; "none" allowed
    chords: tuple[str, str]
    lead: tuple[str, str]
    texture: str
    lead_octave: int
    cutoff_hz: float
    drive: float
    reverb: float  # wet level
    delay: float  # feedback-delay level on the lead, 0 = off
    crush_bits: int  # 0 = off
    vinyl: float  # crackle rate per second, 0 = off
    hiss_db: float
    loudness_db: float
    pump: float  # side-chain depth, 0 = off
    dynamics_db: float
    width: float  # stereo spread, 0..1
    mix_db: tuple[float, ...]  # level of drums, bass, chords, lead, texture


def _pick(rng: np.random.Generator, weights: Weights) -> str:
    p = np.array([w for _, w in weights])
    return weights[int(rng.choice(len(weights), p=p / p.sum()))][0]


def _normal(rng: np.random.Generator, spec: Range, lo: float, hi: float) -> float:
    return float(np.clip(rng.normal(spec[0], spec[1]), lo, hi))


def draw_artist_style(genre: str, rng: np.random.Generator) -> ArtistStyle:
    """Draw one artist's style from ``genre``'s profile (groups sometimes from another genre)."""
    if genre not in _PROFILES:
        raise ValueError(f"unknown genre {genre!r}; expected one of {', '.join(GENRES)}")
    fields: dict[str, object] = {}
    for names in _GROUPS.values():
        source = genre
        if rng.random() < _BORROW:
            others = [g for g in GENRES if g != genre]
            source = others[int(rng.integers(len(others)))]
        for name in names:
            fields[name] = getattr(_PROFILES[source], name)
    p = _GenreProfile(**fields)  # type: ignore[arg-type]
    progs = _PROGRESSIONS[_pick(rng, p.progressions)]
    chosen = rng.choice(len(progs), size=min(2, len(progs)), replace=False)
    return ArtistStyle(
        genre=genre,
        tempo=_normal(rng, p.tempo, 55, 185),
        tempo_jitter=float(rng.uniform(0.01, 0.06)),
        swing=float(rng.uniform(0.1, 0.35)) if rng.random() < p.swing else 0.0,
        humanize=float(rng.uniform(0.0, 0.012)),
        drum_prob=float(np.clip(p.drums + rng.normal(0, 0.1), 0.0, 1.0)),
        patterns=(_pick(rng, p.patterns), _pick(rng, p.patterns)),
        kit=_pick(rng, p.kits),
        kick_tune=float(rng.uniform(0.85, 1.2)),
        scale=_pick(rng, p.scales),
        key=int(rng.integers(12)),
        key_loyalty=float(rng.uniform(0.3, 0.9)),
        progressions=tuple(progs[int(i)] for i in chosen),
        bass_pattern=_pick(rng, p.bass_patterns),
        density=_normal(rng, p.density, 0.3, 3.5),
        atonal=float(np.clip(p.atonal + rng.normal(0, 0.1), 0.0, 1.0)),
        bass=(_pick(rng, p.bass), _pick(rng, p.bass)),
        chords=(_pick(rng, p.chords), _pick(rng, p.chords)),
        lead=(_pick(rng, p.lead), _pick(rng, p.lead)),
        texture=_pick(rng, p.texture),
        lead_octave=int(rng.choice([4, 5], p=[0.6, 0.4])),
        cutoff_hz=float(2.0 ** _normal(rng, p.cutoff, 10.5, 14.3)),
        drive=_normal(rng, p.drive, 0.0, 1.5),
        reverb=_normal(rng, p.reverb, 0.0, 0.9),
        delay=float(rng.uniform(0.15, 0.4)) if rng.random() < p.delay else 0.0,
        crush_bits=int(rng.integers(5, 10)) if rng.random() < p.crush else 0,
        vinyl=float(rng.uniform(2, 15)) if rng.random() < p.vinyl else 0.0,
        hiss_db=_normal(rng, p.hiss, -90, -30),
        loudness_db=_normal(rng, p.loudness, -26, -8),
        pump=float(rng.uniform(0.3, 0.8)) if rng.random() < p.pump else 0.0,
        dynamics_db=_normal(rng, p.dynamics, 0.0, 12.0),
        width=float(rng.uniform(0.2, 0.9)),
        mix_db=tuple(float(v) for v in np.add(p.mix, rng.normal(0, 1.5, 5))),
    )


# ----------------------------------------------------------------------------------------------
# Track plan: per-track choices drawn around the artist style.


@dataclass(frozen=True)
class _Track:
    """Per-track decisions: grid, harmony, parts, and the arrangement per bar."""

    sr: int
    n: int  # samples
    step_s: float  # seconds per 16th note
    swing: float
    offset_s: float  # the clip starts mid-song, so the grid is shifted
    n_steps: int
    key: int
    scale: tuple[int, ...]
    progression: tuple[int, ...]
    chord_steps: int  # harmonic rhythm
    drums: bool
    pattern: tuple[str, str, str, str]
    bass: str  # timbres; "none" = part absent
    chords: str
    lead: str
    section_gain: np.ndarray  # per bar, linear
    active: np.ndarray  # (bars, 4) bool: drums, bass, chords, lead


def _irregular_pattern(rng: np.random.Generator) -> tuple[str, str, str, str]:
    """Random kick/snare/hat/percussion rows of one odd length: loops that drift against the bar."""
    length = int(rng.choice([5, 7, 9, 11, 13]))
    rows = ("".join(np.where(rng.random(length) < p, "x", ".")) for p in (0.3, 0.2, 0.45, 0.25))
    kick, snare, hat, perc = rows
    return kick, snare, hat, perc


def _plan(style: ArtistStyle, rng: np.random.Generator, seconds: float, sr: int) -> _Track:
    """Draw one track around the artist style: tempo, key, progression, parts and sections."""
    tempo = float(np.clip(style.tempo * np.exp(rng.normal(0, style.tempo_jitter)), 50, 200))
    step_s = 60.0 / tempo / 4
    bar_s = step_s * _STEPS_PER_BAR
    offset_s = float(rng.uniform(0, 4 * bar_s))
    n_bars = int(np.ceil((seconds + offset_s) / bar_s)) + 1
    name = style.patterns[0] if rng.random() < 0.7 else style.patterns[1]
    pattern = _irregular_pattern(rng) if name == "irregular" else _PATTERNS[name]
    # Sections of 2-8 bars; quiet ones thin out the arrangement (intro, breakdown).
    section_len = int(rng.choice([2, 4, 8]))
    levels = rng.integers(0, 3, size=n_bars // section_len + 1).repeat(section_len)[:n_bars]
    gain = 10.0 ** (-style.dynamics_db * (2 - levels) / 2 / 20)
    keep = np.array([0.5, 0.8, 1.0])[levels][:, None] > rng.random((n_bars, 4))
    drums = bool(rng.random() < style.drum_prob)
    pairs = (style.bass, style.chords, style.lead)  # the artist's main timbre, sometimes its alternative
    bass, chords, lead = (main if rng.random() < 0.75 else alt for main, alt in pairs)
    if bass == chords == lead == "none":  # never silent: some tonal part always plays
        lead = "piano"
    present = np.array([drums, bass != "none", chords != "none", lead != "none"])
    active = keep & present
    first_tonal = 1 + int(np.flatnonzero(present[1:])[0])
    active[~active[:, 1:].any(axis=1), first_tonal] = True  # no bar without a tonal part
    key = style.key if rng.random() < style.key_loyalty else int(rng.integers(12))
    prog = style.progressions[int(rng.integers(len(style.progressions)))]
    return _Track(
        sr=sr,
        n=round(seconds * sr),
        step_s=step_s,
        swing=style.swing,
        offset_s=offset_s,
        n_steps=n_bars * _STEPS_PER_BAR,
        key=key,
        scale=_SCALES[style.scale],
        progression=prog,
        chord_steps=int(rng.choice([8, 16, 32], p=[0.15, 0.6, 0.25])),
        drums=drums,
        pattern=pattern,
        bass=bass,
        chords=chords,
        lead=lead,
        section_gain=gain,
        active=active,
    )


def _step_time(tr: _Track, steps: Any) -> Any:
    """Seconds (relative to the clip start) of grid steps, with swing on off-beat 16ths."""
    return steps * tr.step_s + (steps % 2) * tr.swing * tr.step_s - tr.offset_s


def _midi(tr: _Track, degree: int, base: int) -> float:
    scale = tr.scale
    return float(base + tr.key + 12 * (degree // len(scale)) + scale[degree % len(scale)])


# ----------------------------------------------------------------------------------------------
# Sound sources. Note waveforms are cached per track: melodies reuse few (pitch, length) pairs.


@lru_cache(maxsize=512)
def _table(slope: float, k_max: int, odd: bool) -> np.ndarray:
    """One cycle with harmonic amplitudes k**-slope, built by an inverse FFT; cached, as a track's
    notes ask for a few dozen distinct tables a thousand times. Read-only: callers share it."""
    k = np.arange(1, k_max + 1)
    spectrum = np.zeros(_TABLE // 2 + 1, dtype=complex)
    spectrum[1 : k_max + 1] = -1j * k**-slope * ((k % 2 == 1) | (not odd))
    wave = np.fft.irfft(spectrum, _TABLE)
    table = (wave / np.abs(wave).max()).astype(np.float32)
    table.flags.writeable = False
    return table


def _phase(freq: float, n: int, sr: int, vibrato: float) -> np.ndarray:
    """Table indices of an oscillator; a 32-bit fixed-point phase wraps by itself, so the top
    11 bits are the index with no mask (and uint32 is twice as fast as uint64)."""
    if vibrato:
        t = np.arange(n) / sr
        phase = np.cumsum(freq * (1 + vibrato * np.sin(2 * np.pi * 5.0 * t))) / sr
        return (phase * _TABLE).astype(np.int64) & (_TABLE - 1)
    inc = np.uint32(round(freq / sr * 2**32) % 2**32)
    return (np.arange(n, dtype=np.uint32) * inc) >> np.uint32(32 - int(np.log2(_TABLE)))


def _osc(table: np.ndarray, freq: float, n: int, sr: int, vibrato: float) -> np.ndarray:
    """Wavetable oscillator."""
    return table[_phase(freq, n, sr, vibrato)]


Shape = tuple[np.ndarray, np.ndarray, np.ndarray]  # time (s), amplitude envelope, bright-to-dull fade


def _shape(tb: _Timbre, n: int, sr: int) -> Shape:
    """What a note of ``n`` samples shares with every other of its length and timbre, whatever its pitch."""
    t = np.arange(n, dtype=np.float32) / sr
    env = np.minimum(t / tb.attack, 1.0)
    if tb.decay:
        env *= np.exp(-t / tb.decay)
    fade = min(n, int(0.02 * sr))  # release ramp: no clicks at note ends
    env[n - fade :] *= np.linspace(1, 0, fade, dtype=np.float32)
    return t, env, np.exp(-t / tb.tone_decay)


def _tone(name: str, midi: float, shape: Shape, sr: int, rng: np.random.Generator) -> np.ndarray:
    tb = _TIMBRES[name]
    t, env, fall = shape
    n = len(t)
    freq = 440.0 * 2.0 ** ((midi - 69) / 12)
    if tb.fm_ratio:
        wave = np.sin(2 * np.pi * freq * tb.fm_ratio * t)
        wave *= fall
        wave *= np.float32(tb.fm_index)
        wave += np.float32(2 * np.pi * freq) * t
        wave = np.sin(wave, out=wave)
    else:
        k_max = max(1, min(24, int(0.45 * sr / freq)))  # band-limit: no harmonic above Nyquist
        phase = _phase(freq, n, sr, tb.vibrato)  # bright and dull tones share one phase
        wave = _table(tb.bright, k_max, tb.odd)[phase]
        if tb.dull != tb.bright:
            dull = _table(tb.dull, k_max, tb.odd)[phase]
            wave -= dull
            wave *= fall
            wave += dull
        if tb.detune:
            wave *= np.float32(0.6)
            wave += np.float32(0.4) * _osc(_table(tb.bright, k_max, tb.odd), freq * (1 + tb.detune), n, sr, 0)
    if tb.breath:
        wave += np.float32(tb.breath) * rng.standard_normal(n, dtype=np.float32)
    wave *= env
    if tb.drive:
        wave *= np.float32(tb.drive)
        wave = np.tanh(wave, out=wave)
        wave *= np.float32(1 / np.tanh(tb.drive))
    return wave


def _place(out: np.ndarray, start: int, wave: np.ndarray, gain: float) -> None:
    a, b = max(start, 0), min(start + len(wave), len(out))
    if a < b:
        out[a:b] += wave[a - start : b - start] * np.float32(gain)


def _render_notes(tr: _Track, timbre: str, events: list[Event], rng: np.random.Generator) -> np.ndarray:
    """Mix (time_s, duration_s, midi, velocity) events of one timbre into a mono stem."""
    out = np.zeros(tr.n, dtype=np.float32)
    cache: dict[tuple[float, int], np.ndarray] = {}
    shapes: dict[int, Shape] = {}  # a part's notes come in few lengths
    tb = _TIMBRES[timbre]
    tail = 0.08 if timbre in _SUSTAINED else 0.5 * tb.decay
    for time, dur, midi, vel in events:
        n = int(tr.sr * min(max(dur, 0.05) + tail, 4.0))
        key = (round(midi, 2), n)
        if key not in cache:
            if n not in shapes:
                shapes[n] = _shape(tb, n, tr.sr)
            cache[key] = _tone(timbre, midi, shapes[n], tr.sr, rng)
        _place(out, int(time * tr.sr), cache[key], vel)
    return out


def _drum_kit(kit: str, tune: float, sr: int, rng: np.random.Generator) -> dict[str, np.ndarray]:
    """One-shot drum sounds from sine sweeps and shaped noise."""

    def burst(seconds: float, decay: float, bright: int, attack: float = 0.0) -> np.ndarray:
        n = int(seconds * sr)
        x = rng.standard_normal(n + bright).astype(np.float32)
        for _ in range(bright):  # each difference tilts the noise towards the highs
            x = np.diff(x)
        t = np.arange(n, dtype=np.float32) / sr
        env = np.exp(-t / decay) * (np.minimum(t / attack, 1) if attack else 1)
        return x * env / (2.0**bright)

    def sweep(seconds: float, f0: float, decay: float, drop: float = 2.0) -> np.ndarray:
        t = np.arange(int(seconds * sr), dtype=np.float32) / sr
        phase = 2 * np.pi * f0 * (t + drop * 0.02 * (1 - np.exp(-t / 0.02)))  # falling pitch
        return np.sin(phase) * np.exp(-t / decay)

    hat, open_hat = burst(0.08, 0.025, 2), burst(0.3, 0.15, 2)
    if kit == "808":
        kick, snare, perc = sweep(0.9, 45 * tune, 0.45), burst(0.25, 0.06, 1), sweep(0.15, 800, 0.04, 0.0)
    elif kit == "electronic":
        gap = int(0.011 * sr)  # a clap is three quick noise bursts
        clap = sum(np.pad(burst(0.15, 0.03, 1), (i * gap, (2 - i) * gap)) for i in range(3))
        kick, snare, perc = sweep(0.4, 52 * tune, 0.18), clap, sweep(0.05, 1700, 0.012, 0.0)
    elif kit == "lofi":
        kick, snare, perc = sweep(0.3, 60 * tune, 0.12), burst(0.2, 0.08, 0), sweep(0.05, 1200, 0.01, 0.0)
        hat, open_hat = burst(0.08, 0.03, 1), burst(0.25, 0.1, 1)
    elif kit == "hand":
        kick, perc = sweep(0.35, 80 * tune, 0.15, 1.0), sweep(0.25, 320, 0.09, 0.5)
        snare = burst(0.12, 0.04, 1) + 0.5 * sweep(0.12, 400, 0.04, 0.3)
        hat, open_hat = burst(0.12, 0.05, 2, attack=0.015), burst(0.25, 0.1, 2, attack=0.03)  # shaker
    else:  # acoustic
        kick = sweep(0.35, 55 * tune, 0.16) + 0.3 * burst(0.35, 0.004, 1)
        snare = burst(0.3, 0.12, 1) + 0.6 * sweep(0.3, 190, 0.05, 0.5)
        perc = sweep(0.4, 120, 0.15, 0.5)
    return {"kick": kick, "snare": 0.8 * snare, "hat": 0.5 * hat, "open": 0.4 * open_hat, "perc": 0.6 * perc}


def _render_drums(tr: _Track, style: ArtistStyle, rng: np.random.Generator) -> np.ndarray:
    out = np.zeros(tr.n, dtype=np.float32)
    kit = _drum_kit(style.kit, style.kick_tune, tr.sr, rng)
    steps = np.arange(tr.n_steps)
    bars = steps // _STEPS_PER_BAR
    on = tr.active[bars, 0]
    times = _step_time(tr, steps) + rng.normal(0, style.humanize + 1e-9, tr.n_steps)
    for row, sound in zip(tr.pattern, ("kick", "snare", "hat", "perc"), strict=True):
        chars = np.array(list(row))[steps % len(row)]
        hit = ((chars == "x") | (chars == "O") | ((chars == "o") & (rng.random(tr.n_steps) < 0.6))) & on
        vel = np.where(chars == "o", 0.55, 1.0) * rng.uniform(0.8, 1.0, tr.n_steps) * tr.section_gain[bars]
        for i in np.flatnonzero(hit):
            wave = kit["open"] if chars[i] == "O" else kit[sound]
            _place(out, int(times[i] * tr.sr), wave, float(vel[i]))
    # Snare fill at the end of some bars (music-like phrase endings).
    for bar in np.flatnonzero(tr.active[:, 0] & (rng.random(len(tr.active)) < 0.15)):
        for i in range(bar * _STEPS_PER_BAR + 12, bar * _STEPS_PER_BAR + 16):
            _place(out, int(times[i] * tr.sr), kit["snare"], 0.4 + 0.15 * (i % 4))
    return out


def _chord_root(tr: _Track, step: int) -> int:
    return tr.progression[(step // tr.chord_steps) % len(tr.progression)]


def _bass_events(tr: _Track, style: ArtistStyle, rng: np.random.Generator) -> list[Event]:
    events = []
    kick = tr.pattern[0]
    per_chord = [(s, tr.chord_steps) for s in range(0, _STEPS_PER_BAR, min(tr.chord_steps, _STEPS_PER_BAR))]
    lens = {
        "whole": per_chord,
        "eighths": [(s, 2) for s in range(0, 16, 2)],
        "octave": [(s, 2) for s in range(0, 16, 2)],
        "walking": [(s, 4) for s in range(0, 16, 4)],
        "syncopated": [(s, 3) for s in (0, 3, 6, 8, 11, 14)],
        "kick": [(s, 4) for s in range(16) if kick[s % len(kick)] == "x"] or [(0, 16)],
    }
    for bar in np.flatnonzero(tr.active[:, 1]):
        for j, (s, d) in enumerate(lens[style.bass_pattern]):
            step = bar * _STEPS_PER_BAR + s
            if step % tr.chord_steps and style.bass_pattern == "whole":
                continue
            deg = _chord_root(tr, step)
            if style.bass_pattern == "walking":
                deg += (0, 1, 2, 4)[j % 4]
            midi = _midi(tr, deg, 36) + (12 if style.bass_pattern == "octave" and j % 2 else 0)
            if style.bass_pattern == "syncopated" and rng.random() < 0.3:
                midi += 7
            events.append((float(_step_time(tr, step)), d * tr.step_s * 0.9, midi, 0.9 * float(tr.section_gain[bar])))
    return events


def _chord_events(tr: _Track, rng: np.random.Generator, atonal: float) -> list[Event]:
    name = tr.chords
    if name in _SUSTAINED:
        hits = [(s, tr.chord_steps) for s in range(0, _STEPS_PER_BAR, min(tr.chord_steps, _STEPS_PER_BAR))]
    elif name in ("guitar", "dist_guitar"):
        hits = [(s, 2) for s in ((0, 4, 6, 10, 12, 14) if name == "guitar" else range(0, 16, 2))]
    else:
        hits = [[(0, 8), (8, 8)], [(s, 4) for s in range(0, 16, 4)], [(0, 6), (6, 10)]][int(rng.integers(3))]
    events = []
    for bar in np.flatnonzero(tr.active[:, 2]):
        for s, d in hits:
            step = bar * _STEPS_PER_BAR + s
            if s >= _STEPS_PER_BAR or (name in _SUSTAINED and step % tr.chord_steps):
                continue
            root = _chord_root(tr, step)
            degrees = (root, root + 4, root + 7) if name == "dist_guitar" else (root, root + 2, root + 4)
            t0 = float(_step_time(tr, step))
            for i, deg in enumerate(degrees):
                if name == "dist_guitar":  # power chord: root, fifth, octave in semitones
                    midi = _midi(tr, root, 40) + (0, 7, 12)[i]
                else:
                    midi = _midi(tr, deg, 52)
                    midi -= 12 * (midi > 72)
                if rng.random() < atonal * 0.5:
                    midi += float(rng.integers(-2, 3))  # clusters and smeared harmony
                strum = 0.012 * i if name == "guitar" else 0.0
                vel = 0.35 * tr.section_gain[bar] * (rng.uniform(0.75, 1.0) if name != "pad" else 1.0)
                events.append((t0 + strum, d * tr.step_s, midi, vel))
    return events


def _lead_events(tr: _Track, style: ArtistStyle, rng: np.random.Generator) -> list[Event]:
    """Motif-based melody: a 1-2 bar motif is repeated with variations, occasionally renewed."""
    length = _STEPS_PER_BAR * int(rng.choice([1, 2]))
    strength = np.tile([1.0, 0.35, 0.6, 0.35], length // 4)
    prob = np.clip(strength * style.density / 4 / 0.575, 0.02, 0.95)
    moves = np.array([-3, -2, -1, 0, 1, 2, 3, 4])
    p_moves = np.array([0.05, 0.15, 0.25, 0.1, 0.25, 0.12, 0.05, 0.03])

    def motif() -> tuple[np.ndarray, np.ndarray]:
        onsets = np.flatnonzero(rng.random(length) < prob)
        onsets = onsets if onsets.size else np.array([0])
        degrees = np.cumsum(rng.choice(moves, size=onsets.size, p=p_moves)) + int(rng.choice([0, 2, 4]))
        return onsets, np.clip(degrees, -4, 10)

    onsets, degrees = motif()
    events = []
    base = 12 * (style.lead_octave + 1)
    for start in range(0, tr.n_steps, length):
        bar = start // _STEPS_PER_BAR
        if rng.random() < 0.3:
            onsets, degrees = motif()
        elif rng.random() < 0.5:  # vary a note or two
            degrees = degrees.copy()
            degrees[rng.integers(degrees.size)] += int(rng.choice([-1, 1]))
        durs = np.diff(np.append(onsets, length)) * rng.uniform(0.6, 1.0)
        for o, deg, d in zip(onsets, degrees, durs, strict=True):
            step = start + int(o)
            if step >= tr.n_steps or not tr.active[step // _STEPS_PER_BAR, 3]:
                continue
            midi = _midi(tr, int(deg), base)
            if rng.random() < style.atonal:
                midi += float(rng.integers(-6, 7)) + (rng.uniform(-0.5, 0.5) if style.atonal > 0.5 else 0)
            vel = 0.45 * tr.section_gain[bar] * rng.uniform(0.7, 1.0)
            events.append((float(_step_time(tr, step)), min(d, 8) * tr.step_s, midi, vel))
    return events


def _upsample(x: np.ndarray, factor: int, n: int) -> np.ndarray:
    """Linear interpolation by an integer factor (for control-rate and low-rate signals)."""
    if x.size == 0:  # clips shorter than one low-rate sample
        return np.zeros(n, dtype=np.float32)
    if factor > 1:
        step = np.diff(x, append=x[-1:])
        y = np.empty((len(x), factor), dtype=np.float32)
        for j in range(factor):  # one pass per phase: no (len, factor) temporaries
            np.multiply(step, np.float32(j / factor), out=y[:, j])
            y[:, j] += x
        x = y.ravel()
    if len(x) >= n:  # the usual case: a view, no copy
        return x[:n]
    return np.pad(x, (0, n - len(x)), mode="edge")


def _texture(tr: _Track, style: ArtistStyle, rng: np.random.Generator) -> np.ndarray:
    n, sr = tr.n, tr.sr
    if style.texture == "drone":  # tanpura/organ-like pedal on the tonic, looped cheaply
        freq = 440.0 * 2.0 ** ((36 + tr.key + 12 * int(rng.integers(2)) - 69) / 12)
        cycles = max(1, round(2.0 * freq))
        loop = _osc(_table(1.5, 12, False), freq, round(cycles * sr / freq), sr, 0)
        lfo = 0.7 + 0.3 * np.sin(2 * np.pi * 0.2 * np.arange(n // 256 + 2) * 256 / sr)
        return 0.25 * np.resize(loop, n) * _upsample(lfo.astype(np.float32), 256, n)
    if style.texture == "noise":  # slowly breathing low-passed noise bed
        m = n // 16 + 2
        noise = rng.standard_normal(m).astype(np.float32)
        swell = 0.6 + 0.4 * np.sin(2 * np.pi * 0.1 * np.arange(m) * 16 / sr + rng.uniform(0, 6))
        return 0.2 * _upsample(noise * swell.astype(np.float32), 16, n)
    if style.texture == "glitch":  # stuttered noise and beep fragments on the grid
        out = np.zeros(n, dtype=np.float32)
        for step in rng.choice(tr.n_steps, size=tr.n_steps // 6, replace=False):
            m = int(tr.step_s * sr * rng.uniform(0.2, 1.0))
            wave = (
                rng.standard_normal(m)
                if rng.random() < 0.5
                else np.sign(np.sin(2 * np.pi * rng.uniform(300, 3000) * np.arange(m) / sr))
            )
            start = _step_time(tr, int(step)) * sr
            for rep in range(int(rng.integers(1, 4))):  # stutter: the fragment repeats back to back
                _place(out, int(start) + rep * m, wave.astype(np.float32), 0.2)
        return out
    return np.zeros(n, dtype=np.float32)


# ----------------------------------------------------------------------------------------------
# Effects and mastering.


def _delay(x: np.ndarray, samples: int, feedback: float) -> np.ndarray:
    y = x.copy()
    for tap in range(1, 4):
        d = tap * samples
        if d < len(x):
            y[d:] += feedback**tap * x[:-d]
    return y


def _reverb(send: np.ndarray, sr: int, seconds: float, channels: int, rng: np.random.Generator) -> list[np.ndarray]:
    """FFT convolution with decaying-noise impulse responses, run at ~11 kHz: tails are dark anyway."""
    factor = max(1, sr // 11025)
    m = len(send) // factor
    low = sum(send[j : m * factor : factor] for j in range(factor)) / np.float32(factor)
    t = np.arange(int(seconds * sr / factor), dtype=np.float32) / np.float32(sr / factor)
    size = fft.next_fast_len(m + len(t), real=True)
    spectrum = fft.rfft(low, size)
    outs = []
    for _ in range(channels):  # independent IRs per channel give stereo width
        ir = rng.standard_normal(len(t), dtype=np.float32) * np.exp(np.float32(-6.9 / seconds) * t)
        ir /= np.sqrt(np.vdot(ir, ir) * factor)
        wet = fft.irfft(spectrum * fft.rfft(ir, size), size)[:m]
        outs.append(_upsample(wet, factor, len(send)))
    return outs


def _pump(tr: _Track, depth: float) -> np.ndarray:
    """Side-chain style gain dip on every beat (the house/EDM 'breathing')."""
    hop = 64
    t = np.arange(tr.n // hop + 2) * hop / tr.sr + tr.offset_s
    phase = np.mod(t, 4 * tr.step_s)
    return _upsample((1 - depth * np.exp(-phase / 0.08)).astype(np.float32), hop, tr.n)


def _crush(x: np.ndarray, bits: int, hold: int) -> np.ndarray:
    levels = 2.0 ** (bits - 1)
    y = np.round(x * levels) / levels
    return np.repeat(y[..., ::hold], hold, axis=-1)[..., : x.shape[-1]] if hold > 1 else y


def _noise_floor(n: int, sr: int, style: ArtistStyle, rng: np.random.Generator) -> np.ndarray:
    # A tiled block of a prime length (~0.37 s) sounds like hiss and costs far less than n draws.
    block = rng.standard_normal(min(n, 16411 * max(1, sr // 44100)), dtype=np.float32)
    hiss = np.resize(block * np.float32(10 ** (style.hiss_db / 20)), n)
    if style.vinyl and n > 1:
        clicks = rng.integers(0, n - 1, rng.poisson(style.vinyl * n / sr))
        hiss[clicks] += rng.uniform(-0.3, 0.3, clicks.size).astype(np.float32)
        hiss[clicks + 1] -= 0.5 * hiss[clicks]  # a crackle is a short doublet
    return hiss


def _rms(x: np.ndarray) -> float:
    return float(np.sqrt(np.vdot(x, x) / x.size)) + 1e-12


Stem = tuple[np.ndarray, float, float, float]  # mono signal, gain, pan in -1..1, reverb send


def _stems(tr: _Track, style: ArtistStyle, rng: np.random.Generator) -> list[Stem]:
    """Render the parts present in this track as mono stems."""
    gain = (10 ** ((np.array(style.mix_db) + rng.normal(0, 1.0, 5)) / 20)).tolist()  # per-track balance
    pump = _pump(tr, style.pump) if style.pump else None
    stems = []
    if tr.drums:
        stems.append((_render_drums(tr, style, rng), gain[0], 0.0, 0.3))
    if tr.bass != "none":
        bass = _render_notes(tr, tr.bass, _bass_events(tr, style, rng), rng)
        stems.append((bass * pump if pump is not None else bass, gain[1], 0.0, 0.1))
    if tr.chords != "none":
        chords = _render_notes(tr, tr.chords, _chord_events(tr, rng, style.atonal), rng)
        stems.append((chords * pump if pump is not None else chords, gain[2], -style.width, 0.8))
    if tr.lead != "none":
        lead = _render_notes(tr, tr.lead, _lead_events(tr, style, rng), rng)
        if style.delay:
            lead = _delay(lead, int(tr.step_s * tr.sr * int(rng.choice([2, 3, 4]))), style.delay)
        stems.append((lead, gain[3], style.width * 0.5, 1.0))
    if style.texture != "none":
        stems.append((_texture(tr, style, rng), gain[4], float(rng.uniform(-1, 1)) * style.width, 0.6))
    return stems


def _master(out: np.ndarray, tr: _Track, style: ArtistStyle, rng: np.random.Generator) -> np.ndarray:
    """Tone, saturation, lo-fi, noise floor, loudness and a soft limiter on (channels, n) audio."""
    cutoff = min(style.cutoff_hz * np.exp(rng.normal(0, 0.15)), 0.45 * tr.sr)
    sos = signal.butter(2, cutoff, fs=tr.sr, output="sos").astype(np.float32)
    out = signal.sosfilt(sos, out, axis=1)
    drive = style.drive + 0.05
    out *= np.float32(drive / (4 * _rms(out)))  # drive into the saturator at a fixed level
    out = np.tanh(out, out=out)
    out *= np.float32(1 / np.tanh(drive))
    if style.crush_bits:
        out = _crush(out, style.crush_bits, max(1, int(rng.integers(1, 5)) * tr.sr // 22050))
    noise = _noise_floor(tr.n, tr.sr, style, rng)
    for c in range(len(out)):  # shifted copies: decorrelated channels without more noise
        shift = c * 7919 % tr.n
        out[c, shift:] += noise[: tr.n - shift]
        out[c, :shift] += noise[tr.n - shift :]
    target = 10 ** ((style.loudness_db + rng.normal(0, 1.0)) / 20)
    out *= np.float32(target / (0.99 * _rms(out)))
    out = np.tanh(out, out=out)
    out *= np.float32(0.99)  # soft limiter: peak stays below 0.99
    return np.minimum(np.maximum(out, -0.99, out=out), 0.99, out=out)


def render_track(
    style: ArtistStyle, rng: np.random.Generator, *, seconds: float = 30.0, sample_rate: int = 44100, channels: int = 2
) -> np.ndarray:
    """Render one clip of ``style``: float32 ``(round(seconds * sample_rate), channels)``.

    Per-track variation (tempo jitter, key, progression, parts, sections, mix) comes from
    ``rng``. The result is finite, its peak is at most 0.99 and it is never silent.
    """
    if style.genre not in _PROFILES:
        raise ValueError(f"unknown genre {style.genre!r}; expected one of {', '.join(GENRES)}")
    if round(seconds * sample_rate) < 1 or sample_rate < 8000 or channels not in (1, 2):
        raise ValueError(
            f"need at least one sample, sample_rate >= 8000, channels 1 or 2; got {seconds}, {sample_rate}, {channels}"
        )
    tr = _plan(style, rng, seconds, sample_rate)
    stems = _stems(tr, style, rng)
    out = np.zeros((channels, tr.n), dtype=np.float32)  # channel-major: contiguous rows are faster
    for stem, gain, pan, _ in stems:
        angle = (pan + 1) * np.pi / 4  # constant-power pan law, unity gain in the centre
        pan_gains = [1.0] if channels == 1 else [np.sqrt(2) * np.cos(angle), np.sqrt(2) * np.sin(angle)]
        for c, g in enumerate(pan_gains):
            out[c] += np.float32(gain * g) * stem
    if style.reverb > 0.01:  # mono send, decorrelated return per channel
        send = np.zeros(tr.n, dtype=np.float32)
        for stem, gain, _, amount in stems:
            send += np.float32(gain * amount) * stem
        for c, wet in enumerate(_reverb(send, tr.sr, 0.6 + 2.5 * style.reverb, channels, rng)):
            out[c] += np.float32(style.reverb * 1.5) * wet
    return np.ascontiguousarray(_master(out, tr, style, rng).T)
