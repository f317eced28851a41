"""The FMA source: reads the real Free Music Archive layout into a `Catalog`.

Layout (as distributed by the data set's authors):
    ROOT/fma_metadata/tracks.csv    three header rows: top level, column name, then `track_id`
    ROOT/fma_metadata/genres.csv    genre_id,#tracks,parent,title,top_level
    ROOT/fma_{subset}/NNN/NNNNNN.mp3

`('set','subset')` is an ordered category (small < medium < large): subset `medium` holds
`small` too. The official split `('set','split')` is artist-filtered; `split="random"` replaces
it with the study's seeded, stratified 64/16/20 clip-level split.
"""

from __future__ import annotations

import ast
from pathlib import Path

import pandas as pd

from genre.data.catalog import Catalog, CatalogError, Skip, is_synthetic, stratified_split

SUBSETS: tuple[str, ...] = ("small", "medium", "large")
SPLIT_METHODS: tuple[str, ...] = ("official", "random")
# FMA's own split names, mapped onto ours.
FMA_SPLITS = {"training": "train", "validation": "validation", "test": "test"}
TRACK_COLUMNS = {
    ("set", "subset"): "subset",
    ("set", "split"): "split",
    ("track", "genre_top"): "genre",
    ("track", "genres"): "genre_ids",
    ("track", "duration"): "duration",
    ("artist", "id"): "artist_id",
}
GENRE_COLUMNS = ("genre_id", "parent", "title", "top_level")


def audio_path(root: Path, subset: str, track_id: int) -> Path:
    name = f"{track_id:06d}"
    return Path(root) / f"fma_{subset}" / name[:3] / f"{name}.mp3"


def read_tracks(path: Path) -> pd.DataFrame:
    """tracks.csv as a flat frame indexed by track_id, with the columns of TRACK_COLUMNS renamed."""
    path = Path(path)
    if not path.is_file():
        raise CatalogError(f"{path}: no such file (expected FMA's fma_metadata/tracks.csv)")
    try:
        raw = pd.read_csv(path, index_col=0, header=[0, 1], low_memory=False)
    except (pd.errors.ParserError, pd.errors.EmptyDataError, UnicodeDecodeError, ValueError) as err:
        raise CatalogError(f"{path}: not a readable FMA tracks.csv ({err})") from err
    if not isinstance(raw.columns, pd.MultiIndex) or raw.columns.nlevels != 2:
        raise CatalogError(f"{path}: expected FMA's two-level column header (e.g. 'set','subset')")
    missing = [c for c in TRACK_COLUMNS if c not in raw.columns]
    if missing:
        raise CatalogError(f"{path}: missing column(s) {missing}; FMA's tracks.csv has them under its 3-row header")
    tracks = raw[list(TRACK_COLUMNS)].copy()
    tracks.columns = list(TRACK_COLUMNS.values())
    try:
        tracks.index = tracks.index.astype("int64")
    except (TypeError, ValueError) as err:
        raise CatalogError(f"{path}: track_id column holds non-integer values ({err})") from err
    tracks.index.name = "track_id"
    if tracks.index.duplicated().any():
        raise CatalogError(f"{path}: track_id {tracks.index[tracks.index.duplicated()][0]} appears twice")
    tracks["subset"] = pd.Categorical(tracks["subset"], categories=SUBSETS, ordered=True)
    tracks["genre_ids"] = [_parse_id_list(v, path, tid) for tid, v in tracks["genre_ids"].items()]
    return tracks


def _parse_id_list(value: object, path: Path, track_id: int) -> list[int]:
    # tracks.csv stores list-valued columns as Python literals, e.g. "[21, 811]".
    if isinstance(value, float) and pd.isna(value):
        return []
    try:
        parsed = ast.literal_eval(str(value))
    except (ValueError, SyntaxError) as err:
        raise CatalogError(f"{path}: track {track_id}: ('track','genres') is not a list: {value!r}") from err
    if not isinstance(parsed, list):
        raise CatalogError(f"{path}: track {track_id}: ('track','genres') is not a list: {value!r}")
    return [int(v) for v in parsed]


def read_top_level_genres(path: Path) -> dict[int, str]:
    """genres.csv's top-level genres, id -> title."""
    path = Path(path)
    if not path.is_file():
        raise CatalogError(f"{path}: no such file (expected FMA's fma_metadata/genres.csv)")
    try:
        genres = pd.read_csv(path)
    except (pd.errors.ParserError, pd.errors.EmptyDataError, UnicodeDecodeError) as err:
        raise CatalogError(f"{path}: not a readable FMA genres.csv ({str(err).strip()})") from err
    missing = [c for c in GENRE_COLUMNS if c not in genres.columns]
    if missing:
        raise CatalogError(f"{path}: missing column(s) {missing}; expected {list(GENRE_COLUMNS)}")
    for column in ("genre_id", "parent"):
        numbers = pd.to_numeric(genres[column], errors="coerce")
        bad = genres.index[numbers.isna() | (numbers != numbers.round())]
        if len(bad):  # line numbers count the header as line 1
            value = genres.at[bad[0], column]
            raise CatalogError(f"{path}: line {bad[0] + 2}: {column} is not an integer: {value!r}")
        genres[column] = numbers.astype("int64")
    top = genres[genres["parent"] == 0]
    untitled = top.index[top["title"].isna() | (top["title"].astype(str).str.strip() == "")]
    if len(untitled):
        genre_id = top.at[untitled[0], "genre_id"]
        raise CatalogError(f"{path}: line {untitled[0] + 2}: top-level genre {genre_id} has no title")
    return dict(zip(top["genre_id"], top["title"].astype(str), strict=True))


def load_fma_catalog(root: Path, subset: str = "small", split: str = "official", seed: int = 0) -> Catalog:
    """The clips of one FMA subset, with their top genre and split."""
    root = Path(root)
    if subset not in SUBSETS:
        raise ValueError(f"unknown FMA subset {subset!r}; valid subsets are {list(SUBSETS)}")
    if split not in SPLIT_METHODS:
        raise ValueError(f"unknown split method {split!r}; valid methods are {list(SPLIT_METHODS)}")
    tracks_csv = root / "fma_metadata" / "tracks.csv"
    tracks = read_tracks(tracks_csv)
    top_level = set(read_top_level_genres(root / "fma_metadata" / "genres.csv").values())

    tracks = tracks[tracks["subset"] <= subset]
    if tracks.empty:
        raise CatalogError(f"{tracks_csv}: no track has ('set','subset') <= {subset!r}")
    skipped: list[Skip] = []
    keep = []
    for track_id, row in tracks.iterrows():
        path = str(audio_path(root, subset, int(track_id)))
        genre = row["genre"]
        if not isinstance(genre, str) or not genre:
            skipped.append(Skip(int(track_id), path, "no genre_top in tracks.csv"))
        elif genre not in top_level:
            skipped.append(Skip(int(track_id), path, f"unknown genre {genre!r}: not a top-level genre in genres.csv"))
        elif split == "official" and row["split"] not in FMA_SPLITS:
            skipped.append(Skip(int(track_id), path, f"unknown official split {row['split']!r} in tracks.csv"))
        else:
            keep.append(track_id)
    tracks = tracks.loc[keep]
    if tracks.empty:
        raise CatalogError(f"{tracks_csv}: no track of subset {subset!r} has a usable genre_top")

    frame = pd.DataFrame(
        {
            "track_id": tracks.index.to_numpy(dtype="int64"),
            "path": [str(audio_path(root, subset, int(t))) for t in tracks.index],
            "genre": tracks["genre"].to_numpy(dtype=object),
            "artist_id": tracks["artist_id"].to_numpy(),
            "duration": tracks["duration"].to_numpy(),
        }
    )
    if split == "official":
        frame["split"] = [FMA_SPLITS[s] for s in tracks["split"]]
    else:
        frame["split"] = stratified_split(frame["track_id"], frame["genre"], seed)
    return Catalog(
        tracks=frame,
        genres=tuple(sorted(frame["genre"].unique())),
        source={"kind": "fma", "root": str(root), "subset": subset, "split": split},
        synthetic=is_synthetic(root),
        skipped=tuple(skipped),
    )
