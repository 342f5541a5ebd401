"""Turn an uploaded CSV or Parquet file into a DuckDB database inside the data directory.

The upload is written under ``data_dir/uploads/<id>/`` (the id is validated before it is used in a path),
loaded into one table named after the file, and the resulting DuckDB file is registered like any other.
"""

from __future__ import annotations

import re
import shutil
from pathlib import Path
from typing import BinaryIO

import duckdb

from datasources.layout import upload_area

UPLOAD_SUFFIXES = {".csv": "read_csv_auto", ".tsv": "read_csv_auto", ".parquet": "read_parquet"}


class UploadError(Exception):
    """The upload could not be turned into a table; the message says why."""


def table_name(filename: str) -> str:
    """A safe SQL identifier from an uploaded file's name."""
    stem = re.sub(r"[^0-9a-zA-Z_]+", "_", Path(filename).stem).strip("_").lower()
    if not stem or stem[0].isdigit():
        stem = f"t_{stem}" if stem else "data"
    return stem[:63]


def upload_dir(data_dir: Path, datasource_id: str) -> Path:
    """Where an uploaded datasource's files live."""
    return upload_area(data_dir, datasource_id)


def load_upload(
    data_dir: Path, datasource_id: str, filename: str, source: BinaryIO, *, max_bytes: int
) -> tuple[Path, str]:
    """Store ``source`` (at most ``max_bytes``) in ``uploads/<id>/<id>.duckdb``; returns the file and the table.

    Raises:
        UploadError: unsupported type, too large, or not parseable.
    """
    suffix = Path(filename).suffix.lower()
    reader = UPLOAD_SUFFIXES.get(suffix)
    if reader is None:
        raise UploadError(f"Upload a .csv, .tsv or .parquet file, not {suffix or 'a file without extension'}.")
    target = upload_dir(data_dir, datasource_id)
    if target.exists():
        raise UploadError(f"Files for {datasource_id!r} already exist in the data directory; choose another id.")
    target.mkdir(parents=True)
    try:
        raw = target / f"source{suffix}"
        with raw.open("wb") as out:
            copied = 0
            while chunk := source.read(1 << 20):
                copied += len(chunk)
                if copied > max_bytes:
                    raise UploadError(f"The upload is larger than {max_bytes / (1 << 20):g} MB.")
                out.write(chunk)
        if copied == 0:
            raise UploadError("The uploaded file is empty.")
        db = target / f"{datasource_id}.duckdb"
        table = table_name(filename)
        with duckdb.connect(str(db)) as conn:
            try:
                conn.execute(f'CREATE TABLE "{table}" AS SELECT * FROM {reader}(?)', [str(raw)])
            except duckdb.Error as exc:
                raise UploadError(f"{filename} could not be read as {suffix[1:].upper()}: {exc}") from exc
        return db, table
    except BaseException:
        shutil.rmtree(target, ignore_errors=True)
        raise
