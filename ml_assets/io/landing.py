"""The landing contract, <landing>/<YYYY-MM-DD>/<any name>.csv|.parquet, and the quarantine of bad files."""

from __future__ import annotations

import datetime as dt
import os
from pathlib import Path
from typing import TYPE_CHECKING

import pandas as pd
from upath import UPath

if TYPE_CHECKING:
    pass

from ml_assets.io.files import atomic_write_bytes, parquet_bytes
from ml_assets.io.paths import is_local

LANDING_SUFFIXES = {"csv": ".csv", "parquet": ".parquet"}


# -- the landing contract: <landing>/<YYYY-MM-DD>/<any name>.csv|.parquet -----------------------
class LandingError(ValueError):
    pass


def is_partial_or_marker(name: str) -> bool:
    """Hidden and _-prefixed names are uploads in progress and markers, by the landing contract."""
    return name.startswith((".", "_"))


def day_folder(landing: UPath, day: str | dt.date) -> UPath:
    return landing / (day.isoformat() if isinstance(day, dt.date) else day)


def list_landing_files(landing: UPath, day: str, fmt: str) -> tuple[list[UPath], list[str]]:
    """The day's files of the spec's format, sorted; plus the names ignored (other formats, hidden)."""
    folder = day_folder(landing, day)
    try:
        entries = sorted(folder.iterdir(), key=lambda p: p.name)
    except (FileNotFoundError, NotADirectoryError):
        entries = []
    except PermissionError as exc:
        raise LandingError(
            f"access denied listing {folder} (check the credentials in the environment): {exc}"
        ) from None
    if not entries and not landing.exists():
        raise LandingError(f"the landing location {landing} does not exist (no such folder or bucket)")
    files: list[UPath] = []
    ignored: list[UPath] = []
    for entry in entries:
        # A link is listed whatever it points at (a file, a pipe, nothing), so that it is refused by name.
        if is_partial_or_marker(entry.name) or not (_is_link(entry) or entry.is_file()):
            continue
        (files if entry.name.endswith(LANDING_SUFFIXES[fmt]) else ignored).append(entry)
    if not files:
        extra = f" (ignored files of another format: {[p.name for p in ignored]})" if ignored else ""
        set_aside = landing / QUARANTINE / day
        try:
            reasons = sorted(p.name for p in set_aside.iterdir() if p.name.endswith(".reason.txt"))
        except (FileNotFoundError, NotADirectoryError):
            reasons = []
        if reasons:
            # Say why, not only where: the reason files are small ("<stamp> rejected <file>:\n<reason>").
            why = "; ".join((set_aside / r).read_text().split("\n", 1)[-1].strip()[:300] for r in reasons[:3])
            extra += f"; {len(reasons)} file(s) of this day are in {set_aside} (quarantined: {why})"
        raise LandingError(f"no {fmt} landing files for day {day} under {folder}{extra}")
    return files, [p.name for p in ignored]


def _is_link(path: UPath) -> bool:
    return is_local(path) and Path(path.path).is_symlink()


def link_problem(root: UPath, path: UPath) -> str | None:
    """Why `path` must not be opened as a landing file, or None. A symbolic link, or anything that
    resolves outside the landing folder (a linked day folder, say), is refused: it could point at
    any file the process can read. Object stores have no links; their keys stay under the prefix."""
    if not is_local(path):
        return None
    local = Path(path.path)
    if _is_link(path):
        return (
            f"{path} is a symbolic link (to {os.readlink(local)}): landing files must be regular files inside "
            "the landing folder; it was not opened"
        )
    resolved, inside = local.resolve(), Path(root.path).resolve()
    if not resolved.is_relative_to(inside):
        return f"{path} resolves to {resolved}, outside the landing folder {inside}; it was not opened"
    return None


def landing_fingerprint(root: UPath, files: list[UPath], salt: str = "") -> str:
    """A hash of the files' names and bytes (and `salt`): equal exactly when the day's landed
    content is. Read in 1 MiB chunks, so a big file is never held whole; a refused link is
    counted by its name and target, never opened."""
    import hashlib

    digest = hashlib.sha256(salt.encode())
    for path in sorted(files, key=lambda f: f.name):
        digest.update(f"\0{path.name}\0".encode())
        if problem := link_problem(root, path):
            digest.update(problem.encode())
            continue
        with path.open("rb") as fh:
            while chunk := fh.read(1 << 20):
                digest.update(chunk)
    return digest.hexdigest()


def landing_days(landing: UPath, fmt: str) -> dict[str, int]:
    """The day folders (YYYY-MM-DD) under `landing` that hold at least one file of the format, in
    order, with the bytes of those files. Other names (`_quarantine`, a typo'd folder) are not days."""
    try:
        folders = [p for p in landing.iterdir() if p.is_dir()]
    except (FileNotFoundError, NotADirectoryError):
        return {}
    days = {}
    for folder in folders:
        try:
            dt.date.fromisoformat(folder.name)
        except ValueError:
            continue
        files = [
            f for f in folder.iterdir() if not is_partial_or_marker(f.name) and f.name.endswith(LANDING_SUFFIXES[fmt])
        ]
        if len(folder.name) == 10 and files:
            days[folder.name] = sum(f.stat().st_size for f in files)
    return dict(sorted(days.items()))


def read_landing_file(path: UPath, fmt: str) -> pd.DataFrame:
    """Read one landing file as it is (CSV columns as text; typing is the schema's job)."""
    try:
        with path.open("rb") as f:
            if fmt == "csv":
                return pd.read_csv(f, dtype=str, keep_default_na=True)
            return pd.read_parquet(f, engine="pyarrow")
    except pd.errors.EmptyDataError:
        raise LandingError(f"{path}: the file is empty (no header, no rows)") from None
    except pd.errors.ParserError as exc:
        raise LandingError(f"{path}: cannot parse the file: {exc}".strip()) from None
    except PermissionError as exc:
        raise LandingError(f"{path}: access denied (check the credentials in the environment): {exc}") from None
    except (OSError, ValueError) as exc:
        raise LandingError(f"{path}: cannot read the {fmt} file: {exc}") from None


QUARANTINE = "_quarantine"


def quarantine_file(landing: UPath, day: str, path: UPath, reason: str) -> UPath:
    """Move a rejected landing file to <landing>/_quarantine/<day>/ with <name>.reason.txt beside it.

    Never deletes: a file already quarantined under that name is kept, and the new one gets a
    time-stamped name. Put a fixed file back into <landing>/<day>/ and re-materialize the day.
    """
    folder = landing / QUARANTINE / day
    dest = folder / path.name
    if dest.exists():
        dest = folder / f"{dt.datetime.now(dt.UTC).strftime('%Y%m%dT%H%M%S%f')}-{path.name}"
    stamp = dt.datetime.now(dt.UTC).strftime("%Y-%m-%dT%H:%M:%SZ")
    atomic_write_bytes(folder / f"{dest.name}.reason.txt", f"{stamp} rejected {path}:\n{reason}\n".encode())
    if is_local(path):
        Path(dest.path).parent.mkdir(parents=True, exist_ok=True)
    path.fs.mv(path.path, dest.path)
    return dest


def read_or_quarantine(
    root: UPath, day: str, files: list[UPath], fmt: str, parse, log, check_all=None
) -> tuple[list[pd.DataFrame], list[dict]]:
    """Read and `parse(frame, source)` each of a day folder's files; a file whose reading or parsing
    fails (LandingError, SchemaError) is quarantined with its reason. Returns the parsed frames and
    what was quarantined (file, quarantined_to, reason).

    `check_all(frames)` sees every readable file before any is parsed: an error it raises (a column
    the spec names that no file has is the spec's mistake, not the files') stops the day with every
    file left where it is."""
    from ml_assets.core.schema import SchemaError

    quarantined: list[dict] = []

    def set_aside(path: UPath, exc: Exception) -> None:
        dest = quarantine_file(root, day, path, str(exc))
        log.warning(f"quarantined {path} -> {dest}: {exc}")
        quarantined.append({"file": str(path), "quarantined_to": str(dest), "reason": str(exc)})

    read = []
    for i, path in enumerate(files, start=1):
        if problem := link_problem(root, path):
            if not _is_link(path):
                # Resolves outside through a linked folder: nothing there is ours to move.
                raise LandingError(problem)
            set_aside(path, LandingError(problem))  # moves the link itself; its target is untouched
            continue
        log.info(f"reading {i}/{len(files)}: {path}")
        try:
            read.append((path, read_landing_file(path, fmt)))
        except LandingError as exc:
            set_aside(path, exc)
    if check_all is not None and read:
        check_all([frame for _, frame in read])
    frames = []
    for path, frame in read:
        try:
            frames.append(parse(frame, str(path)))
        except SchemaError as exc:
            set_aside(path, exc)
    return frames, quarantined


def write_landing_file(landing: UPath, day: dt.date, name: str, df: pd.DataFrame, fmt: str) -> UPath:
    path = day_folder(landing, day) / f"{name}{LANDING_SUFFIXES[fmt]}"
    data = df.to_csv(index=False).encode() if fmt == "csv" else parquet_bytes(df)
    atomic_write_bytes(path, data)
    return path
