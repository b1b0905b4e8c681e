"""Response-history export files: streaming CSV / JSONL writers with an atomic commit.

Pure file code, no database: the caller feeds rows (tuples in `COLUMNS` order, every value a
`str`, `sent_at` already formatted) batch by batch and commits at the end. A caller that has the
rows already formatted and encoded exactly as described below (the export job has the database
produce them) hands over the bytes with `write_encoded` instead.

- The file is written to a hidden temporary file beside the final path
  (`.<final name>.<pid>.<random>.tmp`) and renamed onto the final path by `commit()` after
  flush + fsync (then the directory is fsynced), so a reader never sees a half-written file.
  Leaving the `with` block without a commit (exception, cancellation) removes the temporary
  file; so does any failure while writing or committing.
- SHA-256 and the row count are computed over exactly the bytes written, as they are written.
- CSV: RFC 4180, CRLF line ends, header row, minimal quoting: byte-for-byte what
  `csv.writer(f, lineterminator="\\r\\n")` writes. A cell starting with `=`, `+`, `-`, `@`,
  TAB or CR gets a leading `'` (spreadsheet formula injection); the header is not touched.
  Encodings: `UTF8_BOM` (UTF-8 with a BOM), `UTF8`, `CP932` (Windows-31J, Python's `cp932`
  codec; characters it cannot hold become `?`).
- JSONL: one compact UTF-8 JSON object per line (`\\n`), keys in `COLUMNS` order, raw values
  (no formula guard), non-ASCII characters as they are (`ensure_ascii=False`). The encoding
  argument is ignored.
- A lone surrogate (which no valid text contains) becomes `?` in every encoding rather than
  failing the export.

Speed: rows are processed in chunks of a few MiB, column by column, with C-level string
operations; a column of a chunk that needs no quoting / escaping / guarding (the common case
for every column but the message text) is copied as it is, and only the cells of the other
columns go through a per-cell function. Each chunk is encoded once, hashed once and written
once. The output is identical to the `csv` / `json` modules' (checked by the tests).
"""
from __future__ import annotations

import errno
import hashlib
import os
import re
import secrets
import time
from itertools import islice, repeat
from operator import itemgetter
from json.encoder import encode_basestring as _json_string  # the C encoder json.dumps uses
from pathlib import Path
from typing import Iterable, Sequence

COLUMNS = ("account_handle", "account_name", "customer_name", "channel", "sent_at", "sender_type",
           "sender_name", "content")
FORMATS = ("CSV", "JSONL")
ENCODINGS = ("UTF8_BOM", "UTF8", "CP932")

_NCOLS = len(COLUMNS)
_CODECS = {"UTF8_BOM": "utf-8", "UTF8": "utf-8", "CP932": "cp932"}
_BOM = b"\xef\xbb\xbf"
TEMP_SUFFIX = ".tmp"

# Chunking: rows are formatted, encoded, hashed and written a chunk at a time. The number of
# rows per chunk adapts so that a chunk is about _TARGET_CHUNK_BYTES once encoded.
_TARGET_CHUNK_BYTES = 2 * 1024 * 1024
_MIN_CHUNK_ROWS = 16
_MAX_CHUNK_ROWS = 8192

_FORMULA_TRIGGERS = frozenset("=+-@\t\r")
# A cell starts right after a \x1f in the column string built by "\x1f".join(column); a \x1f
# inside a value can only cause a false alarm (the slow, exact path), never a miss.
_TRIGGER_AFTER_SEP = re.compile("\x1f[=+\\-@\t\r]")
_CSV_SPECIAL = (",", '"', "\r", "\n")  # what makes csv.writer (QUOTE_MINIMAL, "\r\n") quote


def file_extension(fmt: str) -> str:
    """"csv" or "jsonl"."""
    _check_format(fmt)
    return "jsonl" if fmt == "JSONL" else "csv"


def content_type(fmt: str, encoding: str = "UTF8_BOM") -> str:
    """The Content-Type of a download (the encoding only matters for CSV)."""
    _check_format(fmt)
    if fmt == "JSONL":
        return "application/x-ndjson; charset=utf-8"
    _check_encoding(encoding)
    return "text/csv; charset=windows-31j" if encoding == "CP932" else "text/csv; charset=utf-8"


def _check_format(fmt: str) -> None:
    if fmt not in FORMATS:
        raise ValueError(f"unknown export format {fmt!r}")


def _check_encoding(encoding: str) -> None:
    if encoding not in ENCODINGS:
        raise ValueError(f"unknown CSV encoding {encoding!r}")


# --- CSV --------------------------------------------------------------------------------------

def _csv_cell(value: str) -> str:
    """One cell exactly as csv.writer (QUOTE_MINIMAL, CRLF) writes it, after the formula guard."""
    if value[:1] in _FORMULA_TRIGGERS:
        value = "'" + value
    if '"' in value:
        return '"' + value.replace('"', '""') + '"'
    if "," in value or "\n" in value or "\r" in value:
        return '"' + value + '"'
    return value


def _csv_column_is_plain(column: Sequence[str]) -> bool:
    """True when no cell of the column needs quoting or the formula guard (TypeError if a
    value is not a str)."""
    joined = "\x1f".join(column)
    for ch in _CSV_SPECIAL:
        if ch in joined:
            return False
    if joined[:1] in _FORMULA_TRIGGERS or _TRIGGER_AFTER_SEP.search(joined):
        return False
    return True


CSV_HEADER = ",".join(COLUMNS) + "\r\n"  # never guarded, needs no quoting


def csv_cell(value: str) -> str:
    """One CSV cell exactly as the writer writes it (formula guard, then minimal quoting)."""
    return _csv_cell(value)


def json_string(value: str) -> str:
    """One JSON string (quotes included) exactly as the JSONL writer writes it."""
    return _json_string(value)


def _columns(rows: Sequence[Sequence[str]]) -> list[list[str]]:
    """The rows' columns. (Not zip(*rows): its per-row iterators wake the garbage collector,
    which then scans every object the caller holds, a few times per chunk.)"""
    return [list(map(getter, rows)) for getter in _GETTERS]


_GETTERS = [itemgetter(j) for j in range(_NCOLS)]


def format_csv_rows(rows: Sequence[Sequence[str]]) -> str:
    """CSV text (CRLF line ends, guarded cells) of a list of rows, no header."""
    if not rows:
        return ""
    columns = _columns(rows)
    for j, column in enumerate(columns):
        if not _csv_column_is_plain(column):
            columns[j] = list(map(_csv_cell, column))
    return "\r\n".join(list(map(",".join, zip(*columns)))) + "\r\n"


# --- JSONL ------------------------------------------------------------------------------------

_JSON_KEYS = [_json_string(name) for name in COLUMNS]


def _json_column_is_plain(column: Sequence[str]) -> bool:
    """True when every value of the column is its own JSON string body (nothing to escape)."""
    joined = "".join(column)
    # isprintable() is False for every control character (and for a few harmless others,
    # which only send the column down the exact path).
    return joined.isprintable() and '"' not in joined and "\\" not in joined


def format_jsonl_rows(rows: Sequence[Sequence[str]]) -> str:
    """JSONL text of a list of rows: one compact object per line, keys in COLUMNS order."""
    if not rows:
        return ""
    pieces: list[Iterable[str]] = []
    prefix = "{"
    for key, column in zip(_JSON_KEYS, _columns(rows)):
        if _json_column_is_plain(column):
            pieces.append(repeat(prefix + key + ':"'))
            pieces.append(column)
            prefix = '",'
        else:
            pieces.append(repeat(prefix + key + ":"))
            pieces.append(map(_json_string, column))
            prefix = ","
    pieces.append(repeat(prefix[:-1] + "}"))
    return "\n".join(list(map("".join, zip(*pieces)))) + "\n"


# --- the writer -------------------------------------------------------------------------------

class ExportWriter:
    """Write one export file atomically.

        with ExportWriter(path, "CSV", "UTF8_BOM") as writer:
            for batch in batches:
                writer.write_rows(batch)
            row_count, sha256_hex = writer.commit()

    Until `commit()` returns, `final_path` is untouched (an existing file there is replaced
    atomically at commit). Without a commit the temporary file is removed on leaving the block.
    """

    def __init__(self, final_path: str | os.PathLike[str], fmt: str = "CSV",
                 encoding: str = "UTF8_BOM", *, file_mode: int = 0o600) -> None:
        _check_format(fmt)
        _check_encoding(encoding)
        self.final_path = Path(final_path)
        self.format = fmt
        self.encoding = encoding
        self.file_mode = file_mode
        self.temp_path = self.final_path.with_name(
            f".{self.final_path.name}.{os.getpid()}.{secrets.token_hex(8)}{TEMP_SUFFIX}")
        self.row_count = 0
        self.bytes_written = 0
        self._codec = "utf-8" if fmt == "JSONL" else _CODECS[encoding]
        self._format_rows = format_jsonl_rows if fmt == "JSONL" else format_csv_rows
        self._sha = hashlib.sha256()
        self._file = None
        self._state = "new"  # new -> open -> committed | aborted
        self._chunk_rows = 1024

    # context manager
    def __enter__(self) -> "ExportWriter":
        self.open()
        return self

    def __exit__(self, exc_type, exc, tb) -> None:
        if self._state != "committed":
            self.abort()

    def open(self) -> None:
        if self._state != "new":
            raise RuntimeError("ExportWriter can be opened once")
        fd = os.open(self.temp_path, os.O_WRONLY | os.O_CREAT | os.O_EXCL | os.O_CLOEXEC,
                     self.file_mode)
        self._file = os.fdopen(fd, "wb", buffering=0)
        self._state = "open"
        try:
            if self.format == "CSV":
                self._emit((_BOM if self.encoding == "UTF8_BOM" else b"")
                           + CSV_HEADER.encode(self._codec))
        except BaseException:
            self.abort()
            raise

    @property
    def sha256_hex(self) -> str:
        """Hex SHA-256 of the bytes written so far (of the whole file after commit)."""
        return self._sha.hexdigest()

    def write_rows(self, rows: Iterable[Sequence[str]]) -> int:
        """Append rows (tuples in COLUMNS order, all str); returns how many were written.

        Any iterable works, also a generator of millions of rows: it is consumed a chunk at a
        time. A failure (bad row, OSError such as a full disk) removes the temporary file and
        propagates; the writer cannot be used afterwards.
        """
        self._require_open()
        written = 0
        try:
            if isinstance(rows, (list, tuple)):
                start = 0
                while start < len(rows):
                    end = start + self._chunk_rows
                    written += self._write_chunk(rows[start:end])
                    start = end
            else:
                iterator = iter(rows)
                while chunk := list(islice(iterator, self._chunk_rows)):
                    written += self._write_chunk(chunk)
        except BaseException:
            self.abort()
            raise
        return written

    def write_encoded(self, data: bytes, row_count: int) -> int:
        """Append `row_count` rows that the caller already formatted and encoded exactly as
        `write_rows` would have (the export job lets the database do it); returns row_count.

        Same failure rule as `write_rows`: an error removes the temporary file and propagates.
        """
        self._require_open()
        try:
            self._emit(data)
        except BaseException:
            self.abort()
            raise
        self.row_count += row_count
        return row_count

    def commit(self) -> tuple[int, str]:
        """Flush, fsync, rename onto the final path, fsync the directory: (row_count, sha256)."""
        self._require_open()
        try:
            os.fsync(self._file.fileno())
            self._file.close()
            os.replace(self.temp_path, self.final_path)
        except BaseException:
            self.abort()
            raise
        self._file = None
        self._state = "committed"
        # The file is complete and in place; an error here (the rename may not survive a
        # power loss) still propagates.
        _fsync_directory(self.final_path.parent)
        return self.row_count, self.sha256_hex

    def abort(self) -> None:
        """Discard the temporary file (idempotent; does nothing after a commit)."""
        if self._state == "committed":
            return
        self._state = "aborted"
        if self._file is not None:
            try:
                self._file.close()
            except OSError:
                pass
            self._file = None
        try:
            os.unlink(self.temp_path)
        except FileNotFoundError:
            pass

    # internals
    def _require_open(self) -> None:
        if self._state != "open":
            raise RuntimeError(f"ExportWriter is {self._state}, not open")

    def _write_chunk(self, chunk: Sequence[Sequence[str]]) -> int:
        n = len(chunk)
        if not n:
            return 0
        lengths = set(map(len, chunk))
        if lengths != {_NCOLS}:
            raise ValueError(f"every row must have {_NCOLS} values, got lengths {sorted(lengths)}")
        data = self._format_rows(chunk).encode(self._codec, "replace")
        self._emit(data)
        self.row_count += n
        self._chunk_rows = max(_MIN_CHUNK_ROWS, min(_MAX_CHUNK_ROWS,
                                                     _TARGET_CHUNK_BYTES * n // max(len(data), 1)))
        return n

    def _emit(self, data: bytes) -> None:
        view = memoryview(data)
        while view:  # a raw write may be partial
            done = self._file.write(view)
            if done is None:  # pragma: no cover - only for non-blocking files
                continue
            view = view[done:]
        self._sha.update(data)
        self.bytes_written += len(data)


def _fsync_directory(directory: Path) -> None:
    """Make the rename durable. File systems that cannot fsync a directory are tolerated."""
    fd = os.open(directory, os.O_RDONLY | getattr(os, "O_DIRECTORY", 0))
    try:
        os.fsync(fd)
    except OSError as exc:
        if exc.errno not in (errno.EINVAL, errno.ENOTSUP, errno.EOPNOTSUPP, errno.EBADF):
            raise
    finally:
        os.close(fd)


_TEMP_NAME = re.compile(r"\..+\.[0-9]+\.[0-9a-f]{16}" + re.escape(TEMP_SUFFIX))


def is_temp_file_name(name: str) -> bool:
    """True for the name of an ExportWriter temporary file (`.<final name>.<pid>.<hex16>.tmp`)."""
    return _TEMP_NAME.fullmatch(name) is not None


def remove_stale_temp_files(directory: str | os.PathLike[str], older_than_seconds: float = 3600.0) -> int:
    """Remove temporary files left by writers that died (e.g. a killed worker): those not
    modified for `older_than_seconds`. Returns how many were removed."""
    cutoff = time.time() - older_than_seconds
    removed = 0
    try:
        entries = list(os.scandir(directory))
    except FileNotFoundError:
        return 0
    for entry in entries:
        if not is_temp_file_name(entry.name) or not entry.is_file(follow_symlinks=False):
            continue
        try:
            if entry.stat(follow_symlinks=False).st_mtime < cutoff:
                os.unlink(entry.path)
                removed += 1
        except FileNotFoundError:
            continue
    return removed
