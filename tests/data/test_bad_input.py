"""Bad input through decoding, the sources and `prepare`: each case ends as a clip prepared, a clip
skipped (or padded) with its reason in the manifest, or one error naming the file; nothing else is lost."""

from __future__ import annotations

import json
import os
import re
import shutil
import subprocess
import sys
import tempfile
from pathlib import Path

import numpy as np
import pytest
import soundfile as sf

from genre.data.audio import AudioConfig, ClipError, load_clip
from genre.data.folders import load_folder_catalog
from genre.data.manifest import read_manifest, sha256_file
from genre.data.prepare import PARTIAL_DIR, OutputError, plan_shards, prepare
from tests.conftest import REAL_MP3, tiny_features, tiny_prepare
from tests.data.decoders import Decoded, die_on_crash_files, refuse_to_decode

ROOT = Path(__file__).resolve().parents[2]
RAW_ONLY = tiny_prepare(features=tiny_features(kinds=("raw",)))


def _permissions_bite() -> bool:
    """Whether chmod 000 stops this process from reading a file: not for root (CAP_DAC_OVERRIDE)."""
    with tempfile.TemporaryDirectory() as folder:
        probe = Path(folder) / "probe"
        probe.write_bytes(b"x")
        probe.chmod(0)
        try:
            probe.read_bytes()
        except PermissionError:
            return True
        return False


AS_ROOT = not _permissions_bite()
ROOT_REASON = "running as root: file permissions do not stop root, so chmod cannot make a file unreadable here"


@pytest.fixture
def permissions_bite(request):
    """True where chmod 000 stops this process, and the test runs here. As root (CI), the test runs
    again in a child process whose root may not override file permissions (`setpriv` drops
    CAP_DAC_OVERRIDE and CAP_DAC_READ_SEARCH), must pass there, and this process skips the body."""
    if not AS_ROOT:
        return True
    if shutil.which("setpriv") is None:
        pytest.skip(ROOT_REASON + ", and there is no setpriv to drop that override")
    command = ["setpriv", "--bounding-set", "-dac_override,-dac_read_search", sys.executable, "-m", "pytest"]
    command += ["-q", "-p", "no:cacheprovider", request.node.nodeid]
    done = subprocess.run(command, cwd=ROOT, capture_output=True, text=True)
    assert done.returncode == 0 and "1 passed" in done.stdout, done.stdout[-3000:] + done.stderr[-2000:]
    return False


# The real MP3 is about 32 KB a second (256 kbit/s) after its tags: this many bytes hold about 2 s.
TWO_SECONDS_OF_MP3 = 72_000


def _tone(seconds: float, rate: int, channels: int = 1, amplitude: float = 0.5, freq: float = 440.0) -> np.ndarray:
    t = np.arange(round(seconds * rate)) / rate
    mono = amplitude * np.sin(2 * np.pi * freq * t)
    return np.repeat(mono[:, None], channels, axis=1).astype(np.float32)


def _peak_frequency(signal: np.ndarray, rate: int) -> float:
    return float(np.fft.rfftfreq(len(signal), 1 / rate)[np.abs(np.fft.rfft(signal)).argmax()])


def _write(path: Path | bytes, data: np.ndarray, rate: int, **kwargs) -> None:
    sf.write(path if isinstance(path, bytes) else str(path), data, rate, **kwargs)


def _damaged_mp3(path: Path, kind: str) -> Path:
    data = REAL_MP3.read_bytes()
    if kind == "cut":  # a download cut off part way: the Xing header still declares 29.98 s
        data = data[:TWO_SECONDS_OF_MP3]
    elif kind == "corrupt":  # garbage over 20 KB of frames after about 2 s
        garbage = np.random.default_rng(0).integers(0, 256, 20_000, dtype=np.uint8).tobytes()
        data = data[:TWO_SECONDS_OF_MP3] + garbage + data[TWO_SECONDS_OF_MP3 + len(garbage) :]
    path.write_bytes(data)
    return path


# Decoding, file by file.


@pytest.mark.parametrize(("subtype", "atol"), [("PCM_U8", 1 / 64), ("PCM_24", 1e-6), ("FLOAT", 1e-7), ("DOUBLE", 1e-7)])
def test_wav_sample_formats_decode_to_the_same_signal(tmp_path, subtype, atol):
    tone = _tone(2.0, 22050)
    _write(tmp_path / "tone.wav", tone, 22050, subtype=subtype)
    clip = load_clip(tmp_path / "tone.wav", AudioConfig(duration=2.0))
    np.testing.assert_allclose(clip.signal, tone[:, 0], atol=atol)


@pytest.mark.parametrize("rate", [8000, 96000])
def test_other_sample_rates_are_resampled_to_the_data_set_rate(tmp_path, rate):
    _write(tmp_path / "tone.wav", _tone(2.0, rate), rate)
    clip = load_clip(tmp_path / "tone.wav", AudioConfig(sample_rate=22050, duration=3.0))
    assert clip.seconds == pytest.approx(2.0, abs=1e-3)
    assert clip.valid_samples == pytest.approx(2 * 22050, abs=2)
    assert _peak_frequency(clip.signal[: clip.valid_samples], 22050) == pytest.approx(440, abs=1)


def test_six_channels_are_downmixed_to_their_mean(tmp_path):
    six = _tone(2.0, 22050, channels=6) * np.arange(1, 7, dtype=np.float32) / 6  # channel k at k/6 of the level
    _write(tmp_path / "surround.wav", six, 22050, subtype="FLOAT")
    clip = load_clip(tmp_path / "surround.wav", AudioConfig(duration=2.0))
    np.testing.assert_allclose(clip.signal, six.mean(axis=1), atol=1e-6)


def test_a_cut_mp3_keeps_what_decodes_and_says_it_was_cut(tmp_path):
    clip = load_clip(_damaged_mp3(tmp_path / "cut.mp3", "cut"), AudioConfig(duration=30.0))
    assert 1.5 < clip.seconds < 2.5
    assert clip.cut_short.startswith("file cut short: decodes") and "29.98 s its header declares" in clip.cut_short
    assert load_clip(REAL_MP3, AudioConfig(duration=30.0)).cut_short == ""  # a whole file is not flagged


def test_corrupt_frames_mid_mp3_keep_the_audio_before_them(tmp_path):
    clip = load_clip(_damaged_mp3(tmp_path / "corrupt.mp3", "corrupt"), AudioConfig(duration=30.0))
    assert 1.5 < clip.seconds < 2.5
    assert clip.cut_short.startswith("decoding stopped at")
    assert np.isfinite(clip.signal).all() and np.abs(clip.signal[: clip.valid_samples]).max() > 0.05


def test_an_unreadable_file_is_a_clip_error_saying_so(tmp_path, permissions_bite):
    if not permissions_bite:
        return  # it ran, and passed, in a process where permissions bite
    path = tmp_path / "locked.wav"
    _write(path, _tone(2.0, 22050), 22050)
    path.chmod(0)
    with pytest.raises(ClipError, match=r"^unreadable file: Permission denied$"):
        load_clip(path, AudioConfig(duration=2.0))


def test_audioread_decodes_what_libsndfile_cannot(tmp_path, monkeypatch):
    tone = _tone(2.0, 22050)
    _write(tmp_path / "tone.wav", tone, 22050, subtype="PCM_16")

    def libsndfile_fails(*args, **kwargs):
        raise sf.LibsndfileError(1, "Error opening: ")  # 1: "Format not recognised."

    # audioread's standard-library reader (WAV, AIFF, AU) is there without any backend installed.
    monkeypatch.setattr(sf, "SoundFile", libsndfile_fails)
    clip = load_clip(tmp_path / "tone.wav", AudioConfig(duration=2.0))
    np.testing.assert_allclose(clip.signal, tone[:, 0], atol=1 / 32768 + 1e-6)


def test_a_file_neither_decoder_reads_names_both_errors(tmp_path):
    (tmp_path / "fake.wav").write_bytes(b"RIFF\x00\x00\x00\x00WAVX" + bytes(200))
    with pytest.raises(ClipError, match=r"^undecodable audio: libsndfile: Format not recognised\.; audioread: "):
        load_clip(tmp_path / "fake.wav", AudioConfig(duration=2.0))


# The folder source.


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


def test_non_utf8_file_names_are_prepared_and_listed(tmp_path):
    root = tmp_path / "music"
    (root / "latin").mkdir(parents=True)
    _write(root / "latin" / "ok.wav", _tone(3.0, 22050), 22050)
    short = os.fsencode(root / "latin") + b"/caf\xe9.wav"  # Latin-1, not UTF-8
    _write(short, _tone(2.0, 22050), 22050)
    manifest = prepare(load_folder_catalog(root), tmp_path / "data", RAW_ONLY)
    assert manifest.clip_count("train") + manifest.clip_count("validation") + manifest.clip_count("test") == 2
    assert [os.fsencode(p["path"]) for p in read_manifest(tmp_path / "data").padded] == [short]
    assert manifest.skipped == []


# prepare end to end.


@pytest.fixture(scope="module")
def zoo(tmp_path_factory) -> tuple[Path, object]:
    """A folder tree with every kind of odd but usable file and every kind of bad one, prepared once."""
    root = tmp_path_factory.mktemp("zoo") / "music"
    _folder_tree(root)
    formats = root / "formats"
    formats.mkdir()
    _write(formats / "rate8k.wav", _tone(3.0, 8000), 8000)
    _write(formats / "rate96k.wav", _tone(3.0, 96000), 96000)
    _write(formats / "six.wav", _tone(3.0, 22050, channels=6), 22050)
    for subtype in ("PCM_U8", "PCM_24", "FLOAT"):
        _write(formats / f"{subtype.lower()}.wav", _tone(3.0, 22050), 22050, subtype=subtype)
    for value in ("nan", "inf"):
        bad = _tone(3.0, 22050)
        bad[1000] = float(value)
        _write(root / "noisy" / f"{value}.wav", bad, 22050, subtype="FLOAT")
    _damaged_mp3(root / "noisy" / "cut.mp3", "cut")
    _damaged_mp3(root / "noisy" / "corrupt.mp3", "corrupt")
    return root, prepare(load_folder_catalog(root), root.parent / "data", RAW_ONLY)


def _by_name(entries: list[dict]) -> dict[str, dict]:
    return {Path(e["path"]).name: e for e in entries}


def test_prepare_keeps_every_usable_file_and_lists_every_bad_one(zoo):
    root, manifest = zoo
    assert manifest.genres == ["calm", "formats", "noisy"]
    counts = {g: sum(manifest.counts[s][g] for s in manifest.counts) for g in manifest.genres}
    assert counts == {"calm": 4, "formats": 6, "noisy": 4}  # noisy: b.wav, REAL.MP3, cut.mp3, corrupt.mp3
    reasons = {name: e["reason"] for name, e in _by_name(manifest.skipped).items()}
    assert reasons == {
        "nan.wav": "non-finite samples (NaN or inf) in decoded audio",
        "inf.wav": "non-finite samples (NaN or inf) in decoded audio",
        "loop.wav": "symbolic link loop",
        "gone.wav": "broken symbolic link to 'nowhere.wav'",
        "up": f"link to a folder already read ({root / 'calm'}): a loop or a duplicate",
    }
    assert read_manifest(root.parent / "data").skipped == manifest.skipped


def test_cut_and_corrupt_mp3s_are_padded_with_the_reason(zoo):
    _, manifest = zoo
    padded = _by_name(manifest.padded)
    assert set(padded) == {"cut.mp3", "corrupt.mp3"}
    assert padded["cut.mp3"]["reason"].startswith("file cut short: decodes")
    assert padded["corrupt.mp3"]["reason"].startswith("decoding stopped at")
    assert all(1.5 < p["seconds"] < 2.5 for p in padded.values())


def test_prepare_skips_an_unreadable_file_and_keeps_the_rest(tmp_path, permissions_bite):
    if not permissions_bite:
        return  # it ran, and passed, in a process where permissions bite
    _folder_tree(tmp_path / "music")
    locked = tmp_path / "music" / "noisy" / "b.wav"
    locked.chmod(0)
    manifest = prepare(load_folder_catalog(tmp_path / "music"), tmp_path / "data", RAW_ONLY)
    assert _by_name(manifest.skipped)["b.wav"]["reason"] == "unreadable file: Permission denied"
    assert sum(manifest.clip_count(s) for s in manifest.counts) == 5


@pytest.mark.slow
def test_a_worker_that_dies_mid_clip_is_reported_and_the_rest_prepared(tmp_path):
    root = tmp_path / "music"
    for genre in ("a", "b"):
        (root / genre).mkdir(parents=True)
        for i in range(5):
            _write(root / genre / f"{i}.wav", _tone(3.0, 22050, freq=300 + 50 * i), 22050)
    _write(root / "b" / "crash.wav", _tone(3.0, 22050), 22050)
    catalog = load_folder_catalog(root)
    order = [Path(path).name for plan in plan_shards(catalog, 4, 3) for _, path, _ in plan.rows]
    assert order.index("crash.wav") == 1  # nine clips come after it: some are in flight when its worker dies
    config = tiny_prepare(features=tiny_features(kinds=("raw",)), workers=2, decode=die_on_crash_files)
    manifest = prepare(catalog, tmp_path / "data", config)
    assert [(Path(s["path"]).name, s["reason"].split(" (")[0]) for s in manifest.skipped] == [
        ("crash.wav", "worker process died preparing this clip")
    ]
    assert sum(manifest.clip_count(s) for s in manifest.counts) == 10
    # The same bytes as a run in which that clip was merely bad: every other clip came through intact.
    (root / "b" / "crash.wav").write_bytes(b"")
    reference = prepare(load_folder_catalog(root), tmp_path / "reference", RAW_ONLY)
    assert reference.shards == manifest.shards


def test_an_output_folder_that_cannot_be_written_is_an_error_before_any_work(tmp_path, capsys):
    from genre.cli import main

    _folder_tree(tmp_path / "music")
    catalog = load_folder_catalog(tmp_path / "music")
    config = tiny_prepare(decode=refuse_to_decode)  # decoding anything raises Decoded instead
    (tmp_path / "a-file").write_text("x")
    with pytest.raises(OutputError, match=rf"^{re.escape(str(tmp_path / 'a-file'))}: exists and is not a folder"):
        prepare(catalog, tmp_path / "a-file", config)
    under_a_file = tmp_path / "a-file" / "data"
    with pytest.raises(OutputError, match=rf"^{re.escape(str(under_a_file))}/\.partial/identity: cannot write: "):
        prepare(catalog, under_a_file, config)
    if not AS_ROOT:
        (tmp_path / "read-only").mkdir(mode=0o555)
        with pytest.raises(OutputError, match="cannot write: Permission denied"):
            prepare(catalog, tmp_path / "read-only" / "data", config)
    with pytest.raises(Decoded):  # the check above is not vacuous: here decoding starts
        prepare(catalog, tmp_path / "writable", config)
    # The command line says it in one line.
    assert main(["prepare", "--folders", str(tmp_path / "music"), "--out", str(under_a_file), "--quiet"]) == 2
    err = capsys.readouterr().err.strip()
    assert err.startswith(f"genre prepare: error: {under_a_file}/.partial/identity: cannot write: ") and "\n" not in err


def _prepare_args(root: Path, out: Path) -> list[str]:
    return ["prepare", "--folders", str(root), "--out", str(out), "--features", "raw", "--duration", "3"]


PREPARE_OPTIONS = ["--raw-windows", "3", "--raw-window-length", "2000", "--shard-size", "4", "--seed", "3"]
PREPARE_OPTIONS += ["--workers", "1", "--quiet"]

# Run as a child process: a file-size limit that makes writes past 16 KB fail, as a full disk would.
# It writes no bytecode: under the limit a .pyc would be cut short, and later imports of it fail.
FULL_DISK = """
import sys
sys.dont_write_bytecode = True
import resource, signal
signal.signal(signal.SIGXFSZ, signal.SIG_IGN)  # a failed write, not a killed process
resource.setrlimit(resource.RLIMIT_FSIZE, (16384, resource.getrlimit(resource.RLIMIT_FSIZE)[1]))
from genre.cli import main
sys.exit(main(sys.argv[1:]))
"""


@pytest.mark.slow
def test_a_full_disk_is_one_error_and_the_rerun_resumes(tmp_path, capsys):
    from genre.cli import main

    root = tmp_path / "music"
    for genre in ("a", "b", "c"):
        (root / genre).mkdir(parents=True)
        for i in range(5):
            _write(root / genre / f"{i}.wav", _tone(3.0, 22050, freq=300 + 40 * i), 22050)
    # The first shard's clips are empty files: it is written (no records) before the limit bites.
    first = plan_shards(load_folder_catalog(root, seed=3), shard_size=4, seed=3)[0]
    for _, path, _ in first.rows:
        Path(path).write_bytes(b"")
    out, reference = tmp_path / "data", tmp_path / "reference"
    args = _prepare_args(root, out) + PREPARE_OPTIONS
    env = {**os.environ, "PYTHONDONTWRITEBYTECODE": "1"}
    full = subprocess.run([sys.executable, "-c", FULL_DISK, *args], cwd=ROOT, capture_output=True, text=True, env=env)
    assert full.returncode == 2, full.stderr[-3000:]
    last = full.stderr.strip().splitlines()[-1]
    assert re.fullmatch(
        rf"genre prepare: error: {re.escape(str(out))}/train/raw-00001-of-\d+\.tfrecord\.tmp: cannot write: "
        r"File too large; finished shards are kept: .* run the same command again to resume",
        last,
    ), full.stderr[-3000:]
    assert "Traceback" not in full.stderr
    assert (out / PARTIAL_DIR / f"{first.key}.json").is_file() and not (out / "manifest.json").exists()
    assert not list(out.rglob("*.tmp"))  # the failed shard's partial files are freed
    finished = {p: sha256_file(p) for p in out.rglob("*.tfrecord")}

    assert main([*_prepare_args(root, out), *[o for o in PREPARE_OPTIONS if o != "--quiet"]]) == 0
    shards = len(plan_shards(load_folder_catalog(root, seed=3), 4, 3))
    assert f"resuming: 1 of {shards} shards already done" in capsys.readouterr().err
    assert main(_prepare_args(root, reference) + PREPARE_OPTIONS) == 0
    assert json.loads((out / "manifest.json").read_text()) == json.loads((reference / "manifest.json").read_text())
    assert all(sha256_file(p) == digest for p, digest in finished.items())  # kept, not written again
