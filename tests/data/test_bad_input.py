"""Bad input through decoding, the sources and `prepare`: each case ends as a clip prepared, a clip
skipped (or padded) with its reason in the manifest, or one error naming the file; nothing else is lost."""

from __future__ import annotations

import shutil
from pathlib import Path

import numpy as np
import soundfile as sf

from genre.data.folders import load_folder_catalog
from tests.conftest import REAL_MP3


def _tone(seconds: float, rate: int, channels: int = 1, amplitude: float = 0.5, freq: float = 440.0) -> np.ndarray:
    t = np.arange(round(seconds * rate)) / rate
    mono = amplitude * np.sin(2 * np.pi * freq * t)
    return np.repeat(mono[:, None], channels, axis=1).astype(np.float32)


def _write(path: Path | bytes, data: np.ndarray, rate: int, **kwargs) -> None:
    sf.write(path if isinstance(path, bytes) else str(path), data, rate, **kwargs)


def _folder_tree(root: Path) -> None:
    (root / "calm" / "nested" / "deeper").mkdir(parents=True)
    (root / "noisy").mkdir()
    _write(root / "calm" / "a.wav", _tone(3.0, 22050), 22050)
    _write(root / "calm" / "LOUD.WAV", _tone(3.0, 22050), 22050)
    _write(root / "calm" / "tone.au", _tone(3.0, 22050), 22050, format="AU")
    _write(root / "calm" / "nested" / "deeper" / "inner.flac", _tone(3.0, 22050), 22050)
    _write(root / "noisy" / "b.wav", _tone(3.0, 22050, freq=880.0), 22050)
    shutil.copy(REAL_MP3, root / "noisy" / "REAL.MP3")
    (root / "calm" / "loop.wav").symlink_to("loop.wav")  # points at itself
    (root / "calm" / "gone.wav").symlink_to("nowhere.wav")
    (root / "calm" / "nested" / "up").symlink_to("..")  # a folder loop back to calm/
    (root / "calm" / ".hidden").mkdir()
    _write(root / "calm" / ".hidden" / "ignored.wav", _tone(3.0, 22050), 22050)


def test_folders_follow_nesting_and_report_links_that_loop_or_break(tmp_path):
    _folder_tree(tmp_path)
    catalog = load_folder_catalog(tmp_path)
    rows = zip(catalog.tracks["path"], catalog.tracks["genre"], strict=True)
    kept = {Path(p).relative_to(tmp_path).as_posix(): g for p, g in rows}
    assert kept == {
        "calm/LOUD.WAV": "calm",
        "calm/a.wav": "calm",
        "calm/nested/deeper/inner.flac": "calm",
        "calm/tone.au": "calm",
        "noisy/REAL.MP3": "noisy",
        "noisy/b.wav": "noisy",
    }
    skipped = {Path(s.path).relative_to(tmp_path).as_posix(): s.reason for s in catalog.skipped}
    assert skipped == {
        "calm/loop.wav": "symbolic link loop",
        "calm/gone.wav": "broken symbolic link to 'nowhere.wav'",
        "calm/nested/up": f"link to a folder already read ({tmp_path / 'calm'}): a loop or a duplicate",
    }
