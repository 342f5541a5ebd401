"""The data directory's layout: which files are SQLBot's own state, never a datasource.

The data directory holds user databases *and* the app's state (the chat store, the checkpoints, the
registry file, the demo builds, the upload area). A user database may live anywhere in it except in
the app's state, so :func:`app_file_owning` answers, for a candidate datasource file, which piece of
app state it is, by resolved path (symlinks followed) and by inode (hard links), or None.

Every module that writes app state names its file here, so the refusal cannot drift from what is written.
"""

from __future__ import annotations

import os
from collections.abc import Iterable, Iterator
from dataclasses import dataclass
from pathlib import Path

CHATS_DB = "chats.sqlite"
"""The chat store (server/store.py)."""
CHECKPOINTS_DB = "checkpoints.sqlite"
"""LangGraph's checkpoints, unless ``SQLBOT_CHECKPOINT_DB`` moves them."""
REGISTRY_FILE = "datasources.json"
"""The user datasources' registrations."""
DEMO_DIR = "demo"
"""Demo builds, their locks and build log."""
UPLOADS_DIR = "uploads"
"""Uploaded files and the DuckDB databases made from them (``uploads/<id>/``)."""

_SIDECARS = ("", "-wal", "-shm", "-journal", ".wal", ".tmp")
"""SQLite's and DuckDB's companion files: as much app state as the database itself."""


@dataclass(frozen=True)
class AppFile:
    """One piece of app state: a file (with its sidecars) or a whole directory."""

    path: Path
    what: str
    """What it is, for the refusal message."""
    is_dir: bool = False
    per_datasource: bool = False
    """A directory of per-datasource directories (``uploads/<id>/``): only those are app state."""


def app_state(data_dir: Path, extra: Iterable[Path] = ()) -> list[AppFile]:
    """Every piece of app state under ``data_dir``, plus ``extra`` files kept elsewhere (a moved checkpoint DB)."""
    return [
        AppFile(data_dir / CHATS_DB, "the chat store"),
        AppFile(data_dir / CHECKPOINTS_DB, "the chat checkpoints"),
        AppFile(data_dir / REGISTRY_FILE, "the datasource registry"),
        AppFile(data_dir / DEMO_DIR, "the demo builds", is_dir=True),
        AppFile(data_dir / ".spill", "the query workers' spill files", is_dir=True),
        AppFile(data_dir / "secrets.json", "the datasource passwords"),
        AppFile(data_dir / UPLOADS_DIR, "another upload's files", is_dir=True, per_datasource=True),
        *(AppFile(Path(p), "the chat checkpoints") for p in extra),
    ]


def upload_area(data_dir: Path, datasource_id: str) -> Path:
    """Where an uploaded datasource's files live (the only datasource allowed inside the upload area)."""
    return data_dir / UPLOADS_DIR / datasource_id


def _files_under(root: Path) -> Iterator[Path]:
    for dirpath, _, names in os.walk(root):
        for name in names:
            yield Path(dirpath, name)


def app_file_owning(candidate: Path, data_dir: Path, *, datasource_id: str, extra: Iterable[Path] = ()) -> AppFile | None:
    """The piece of app state ``candidate`` (an existing file, already resolved) is or lies in, else None.

    ``datasource_id``'s own upload directory is allowed: that is where an upload's database lives.
    A hard link is found by inode, which is only looked for when the file has more than one link.
    """
    own_upload = upload_area(data_dir, datasource_id).resolve()
    linked = candidate.stat()
    for app_file in app_state(data_dir, extra):
        root = app_file.path.resolve()
        if app_file.is_dir:
            inside = candidate.is_relative_to(root) and not candidate.is_relative_to(own_upload)
            if app_file.per_datasource:  # only the uploads' own directories are app state, not a file beside them
                inside = inside and len(candidate.relative_to(root).parts) > 1
            if inside:
                return app_file
            members = _files_under(root) if linked.st_nlink > 1 else iter(())
        else:
            sidecars = [root.with_name(root.name + suffix) for suffix in _SIDECARS]
            if candidate in sidecars:
                return app_file
            members = iter(sidecars) if linked.st_nlink > 1 else iter(())
        for member in members:
            if member.resolve().is_relative_to(own_upload):
                continue
            if app_file.per_datasource and len(member.relative_to(app_file.path).parts) == 1:
                continue
            try:
                other = member.stat()
            except OSError:
                continue
            if (other.st_dev, other.st_ino) == (linked.st_dev, linked.st_ino):
                return app_file
    return None
