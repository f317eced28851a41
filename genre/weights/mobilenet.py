"""MobileNetV2's ImageNet weights in Keras's own cache, fetched once by `genre weights fetch mobilenet`.

`keras.applications.MobileNetV2(weights="imagenet")` reads `KERAS_HOME/models/<file>` and downloads
it there with `keras.utils.get_file` when it is missing. `genre` never lets that happen as a side
effect of building a model (`genre.models.mobilenet` fails with a message instead); this module is
the one explicit step that fills the cache, through the same `get_file` call Keras makes, or by
copying a file the user names (`--file`, for machines without network access).

Keras publishes no checksum for these files (its `mobilenet_v2` module calls `get_file` without
`file_hash`), so none is pinned here: `sha256` lets a user pin one they trust (get_file checks it),
and every fetch reports the SHA-256 of the file it cached. What is cached is checked to be real
weights before it stays: an HDF5 file whose every layer loads into MobileNetV2 of that width;
anything else is removed with an error naming it.
"""

from __future__ import annotations

import shutil
import socket
from dataclasses import dataclass
from pathlib import Path

from genre.data.manifest import sha256_file
from genre.models.mobilenet import IMAGENET_ALPHAS, IMAGENET_ROWS, WEIGHTS_URL, imagenet_weights_path

HDF5_SIGNATURE = b"\x89HDF\r\n\x1a\n"
FETCH_COMMAND = "genre weights fetch mobilenet"
# A download that hangs (a silently dropped connection) fails after this long rather than stalling a job.
SOCKET_TIMEOUT_SECONDS = 30.0


@dataclass(frozen=True)
class FetchedWeights:
    path: Path  # where Keras looks for them
    sha256: str
    source: str  # the URL or the file they came from
    cached_before: bool  # already in the cache: nothing was downloaded or copied


def fetch_mobilenet(
    alpha: float = 1.0,
    rows: int = 224,
    file: str | Path | None = None,
    *,
    base_url: str = WEIGHTS_URL,
    sha256: str | None = None,
) -> FetchedWeights:
    """Puts the no-top ImageNet weights of MobileNetV2 (`alpha`, `rows`) where Keras looks for them.

    Downloads `base_url + <file name>` with `keras.utils.get_file`, unless `file` is given (copied),
    or the file is already cached (kept). `sha256`: the digest the file must have."""
    if float(alpha) not in IMAGENET_ALPHAS:
        raise ValueError(f"ImageNet weights exist only for alpha in {list(IMAGENET_ALPHAS)}, got {alpha!r}")
    if rows not in IMAGENET_ROWS:
        raise ValueError(f"ImageNet weights exist only for {list(IMAGENET_ROWS)} rows, got {rows!r}")
    target = imagenet_weights_path(alpha, rows)
    cached_before = target.is_file() and file is None
    if file is not None:
        source = Path(file).expanduser()
        if not source.is_file():
            raise FileNotFoundError(f"--file {file}: no such file (expected {target.name} from {base_url})")
        _check_digest(source, sha256)
        target.parent.mkdir(parents=True, exist_ok=True)
        partial = target.with_name(target.name + ".partial")
        shutil.copyfile(source, partial)
        partial.replace(target)
        origin = str(source)
    else:
        origin = base_url + target.name
        if not cached_before:
            _download(target, origin, sha256)
        else:
            _check_digest(target, sha256)
    check_weights_file(target, alpha, rows)
    return FetchedWeights(path=target, sha256=sha256_file(target), source=origin, cached_before=cached_before)


def _download(target: Path, origin: str, sha256: str | None) -> None:
    import keras

    previous = socket.getdefaulttimeout()
    socket.setdefaulttimeout(SOCKET_TIMEOUT_SECONDS)  # urllib, under get_file, takes no timeout of its own
    try:
        path = keras.utils.get_file(target.name, origin, file_hash=sha256, cache_subdir="models")
    except ValueError as err:  # what get_file raises for a file whose digest is not `sha256`; it keeps the file
        target.unlink(missing_ok=True)
        raise ValueError(f"{origin}: {err}; nothing was cached") from err
    except Exception as err:  # get_file wraps network errors in plain Exceptions
        target.unlink(missing_ok=True)
        reason = getattr(err.__context__, "reason", None) or err  # the URLError get_file wrapped, if any
        raise FileNotFoundError(
            f"could not download {origin} ({reason}); on a machine without network access, fetch that file "
            f"elsewhere and run `{FETCH_COMMAND} --file FILE`"
        ) from err
    finally:
        socket.setdefaulttimeout(previous)
    if Path(path).resolve() != target.resolve():
        raise RuntimeError(f"keras.utils.get_file wrote {path}, not {target} where MobileNetV2 looks")


def _check_digest(path: Path, sha256: str | None) -> None:
    if sha256 is not None and (actual := sha256_file(path)) != sha256.lower():
        raise ValueError(f"{path} has SHA-256 {actual}, not the expected {sha256}")


def check_weights_file(path: Path, alpha: float, rows: int) -> None:
    """Loads `path` into MobileNetV2(alpha, rows, no top); removes it and raises ValueError if it fails."""
    import keras

    with open(path, "rb") as f:
        signature = f.read(len(HDF5_SIGNATURE))
    problem = None if signature == HDF5_SIGNATURE else "not an HDF5 file"
    if problem is None:
        model = keras.applications.MobileNetV2(
            input_shape=(rows, rows, 3), alpha=alpha, include_top=False, weights=None
        )
        try:
            model.load_weights(str(path))
        except Exception as err:  # h5py and Keras raise several types for a file of the wrong shape
            problem = f"its weights do not load into MobileNetV2 alpha={alpha} ({type(err).__name__}: {err})"
    if problem is not None:
        path.unlink()
        raise ValueError(f"{path}: {problem}; removed it from the cache. Run `{FETCH_COMMAND}` again")
