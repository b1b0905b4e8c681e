"""Export files: exact bytes, CSV/JSONL rules, formula guard, encodings, hashing, atomicity,
failure cleanup under a real file-size limit, and flat memory."""
from __future__ import annotations

import csv
import hashlib
import io
import json
import os
import subprocess
import sys
import textwrap
import time
from pathlib import Path

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from services.export_files import (
    COLUMNS,
    CSV_HEADER,
    ExportWriter,
    content_type,
    file_extension,
    format_csv_rows,
    format_jsonl_rows,
    is_temp_file_name,
    remove_stale_temp_files,
)

ROOT = Path(__file__).resolve().parents[1]
HEADER = b"account_handle,account_name,customer_name,channel,sent_at,sender_type,sender_name,content\r\n"
BOM = b"\xef\xbb\xbf"
TRIGGERS = ["=", "+", "-", "@", "\t", "\r"]


def row(content="hello", **overrides) -> tuple[str, ...]:
    values = {"account_handle": "support1", "account_name": "サポート", "customer_name": "山田 太郎",
              "channel": "LINE", "sent_at": "2026-11-25T10:15:00+09:00", "sender_type": "CUSTOMER",
              "sender_name": "山田 太郎", "content": content}
    values.update(overrides)
    return tuple(values[c] for c in COLUMNS)


def export(tmp_path: Path, rows, fmt="CSV", encoding="UTF8_BOM", name="out") -> tuple[bytes, int, str]:
    path = tmp_path / f"{name}.{file_extension(fmt)}"
    with ExportWriter(path, fmt, encoding) as writer:
        writer.write_rows(rows)
        count, sha = writer.commit()
    return path.read_bytes(), count, sha


def reference_csv(rows) -> str:
    """What the csv module writes for the guarded rows."""
    buf = io.StringIO()
    writer = csv.writer(buf, lineterminator="\r\n")
    writer.writerows([["'" + v if v[:1] in TRIGGERS else v for v in r] for r in rows])
    return buf.getvalue()


def reference_jsonl(rows) -> str:
    return "".join(json.dumps(dict(zip(COLUMNS, r)), ensure_ascii=False, separators=(",", ":")) + "\n"
                   for r in rows)


def leftovers(directory: Path) -> list[str]:
    return sorted(p.name for p in directory.iterdir())


# --- exact bytes ------------------------------------------------------------------------------

SAMPLE = [
    row("plain"),
    row("a,b"),
    row('say "hi"'),
    row("line1\nline2\r\nline3"),
    row("a=b"),
    row("=SUM(A1)", customer_name="-Bob"),
]
SAMPLE_BODY = (
    "support1,サポート,山田 太郎,LINE,2026-11-25T10:15:00+09:00,CUSTOMER,山田 太郎,plain\r\n"
    'support1,サポート,山田 太郎,LINE,2026-11-25T10:15:00+09:00,CUSTOMER,山田 太郎,"a,b"\r\n'
    'support1,サポート,山田 太郎,LINE,2026-11-25T10:15:00+09:00,CUSTOMER,山田 太郎,"say ""hi"""\r\n'
    'support1,サポート,山田 太郎,LINE,2026-11-25T10:15:00+09:00,CUSTOMER,山田 太郎,"line1\nline2\r\nline3"\r\n'
    "support1,サポート,山田 太郎,LINE,2026-11-25T10:15:00+09:00,CUSTOMER,山田 太郎,a=b\r\n"
    "support1,サポート,'-Bob,LINE,2026-11-25T10:15:00+09:00,CUSTOMER,山田 太郎,'=SUM(A1)\r\n"
)


def test_csv_utf8_bom_exact_bytes(tmp_path):
    data, count, sha = export(tmp_path, SAMPLE, "CSV", "UTF8_BOM")
    assert data == BOM + HEADER + SAMPLE_BODY.encode("utf-8")
    assert count == len(SAMPLE)
    assert sha == hashlib.sha256(data).hexdigest()


def test_csv_utf8_exact_bytes_without_bom(tmp_path):
    data, count, _ = export(tmp_path, SAMPLE, "CSV", "UTF8")
    assert data == HEADER + SAMPLE_BODY.encode("utf-8")
    assert not data.startswith(BOM)
    assert count == len(SAMPLE)


def test_csv_cp932_exact_bytes(tmp_path):
    data, _, _ = export(tmp_path, SAMPLE, "CSV", "CP932")
    assert data == HEADER + SAMPLE_BODY.encode("cp932")
    assert b"\xef\xbb\xbf" not in data
    assert "サポート".encode("cp932") in data


def test_cp932_replaces_what_it_cannot_hold(tmp_path):
    rows = [row("😀①髙～〜ｱ¥", account_name="窓口😀")]
    data, _, _ = export(tmp_path, rows, "CSV", "CP932")
    body = data[len(HEADER):]
    # emoji and ¥ (U+00A5) have no CP932 code: "?"; ① (NEC row 13), 髙 (IBM extension), ～
    # (0x8160; Python's cp932 also maps the WAVE DASH 〜 there) and half-width katakana do.
    expected_content = b"?" + b"\x87\x40" + b"\xee\xe0" + b"\x81\x60" + b"\x81\x60" + b"\xb1" + b"?"
    assert body.endswith(b"," + expected_content + b"\r\n")
    assert ("窓口".encode("cp932") + b"?,") in body
    assert body == "".join([",".join(rows[0]), "\r\n"]).encode("cp932", "replace")
    assert data.decode("cp932").count("?") == 3


def test_utf8_keeps_every_character(tmp_path):
    rows = [row("😀①髙～〜ｱ¥ e\u0301 \u2028")]
    data, _, _ = export(tmp_path, rows, "CSV", "UTF8")
    assert data.decode("utf-8").endswith(",😀①髙～〜ｱ¥ e\u0301 \u2028\r\n")


def test_empty_exports(tmp_path):
    assert export(tmp_path, [], "CSV", "UTF8_BOM")[:2] == (BOM + HEADER, 0)
    assert export(tmp_path, [], "CSV", "CP932", name="b")[:2] == (HEADER, 0)
    data, count, sha = export(tmp_path, [], "JSONL", "UTF8")
    assert (data, count, sha) == (b"", 0, hashlib.sha256(b"").hexdigest())


# --- formula guard ----------------------------------------------------------------------------

@pytest.mark.parametrize("trigger", TRIGGERS)
@pytest.mark.parametrize("column", COLUMNS)
def test_formula_guard_on_every_trigger_and_column(tmp_path, trigger, column):
    value = trigger + "1+2"
    data, _, _ = export(tmp_path, [row(**{column: value})], "CSV", "UTF8")
    line = data[len(HEADER):].decode()
    cells = next(csv.reader(io.StringIO(line, newline="")))
    assert cells[COLUMNS.index(column)] == "'" + value
    assert sum(cell.startswith("'") for cell in cells) == 1
    expected = "'" + value
    if trigger == "\r":
        expected = '"' + expected + '"'  # a CR inside a cell is quoted
    assert expected in line


@pytest.mark.parametrize("value", ["a=b", "1+2", "x-y", "mail@example.com", "a\tb", " =1", "＝1", "＋81",
                                   "'=already", "", "?", "#1", "%", "(1)"])
def test_no_guard_for_other_values(tmp_path, value):
    data, _, _ = export(tmp_path, [row(value)], "CSV", "UTF8")
    cells = next(csv.reader(io.StringIO(data[len(HEADER):].decode(), newline="")))
    assert cells[-1] == value


def test_header_is_never_guarded_and_jsonl_is_raw(tmp_path):
    assert CSV_HEADER.encode() == HEADER
    rows = [row("=1+1", account_name="@x", sender_name="-y")]
    data, _, _ = export(tmp_path, rows, "JSONL", "UTF8")
    obj = json.loads(data)
    assert obj["content"] == "=1+1" and obj["account_name"] == "@x" and obj["sender_name"] == "-y"


# --- JSONL ------------------------------------------------------------------------------------

def test_jsonl_exact_lines_and_keys(tmp_path):
    rows = [row("こんにちは"), row('a "quoted" \\ back\nslash\ttab\x01', customer_name="😀")]
    data, count, sha = export(tmp_path, rows, "JSONL", "CP932")  # the encoding is ignored
    assert count == 2 and sha == hashlib.sha256(data).hexdigest()
    assert not data.startswith(BOM)
    assert data == (
        '{"account_handle":"support1","account_name":"サポート","customer_name":"山田 太郎",'
        '"channel":"LINE","sent_at":"2026-11-25T10:15:00+09:00","sender_type":"CUSTOMER",'
        '"sender_name":"山田 太郎","content":"こんにちは"}\n'
        '{"account_handle":"support1","account_name":"サポート","customer_name":"😀",'
        '"channel":"LINE","sent_at":"2026-11-25T10:15:00+09:00","sender_type":"CUSTOMER",'
        '"sender_name":"山田 太郎","content":"a \\"quoted\\" \\\\ back\\nslash\\ttab\\u0001"}\n'
    ).encode("utf-8")
    lines = data.split(b"\n")
    assert lines[-1] == b"" and len(lines) == 3
    for line, original in zip(lines, rows):
        obj = json.loads(line.decode("utf-8"))
        assert list(obj) == list(COLUMNS)
        assert tuple(obj.values()) == original


def test_content_types_and_extensions():
    assert file_extension("CSV") == "csv" and file_extension("JSONL") == "jsonl"
    assert content_type("CSV", "UTF8_BOM") == "text/csv; charset=utf-8"
    assert content_type("CSV", "UTF8") == "text/csv; charset=utf-8"
    assert content_type("CSV", "CP932") == "text/csv; charset=windows-31j"
    assert content_type("JSONL", "CP932") == "application/x-ndjson; charset=utf-8"
    with pytest.raises(ValueError):
        file_extension("XLSX")
    with pytest.raises(ValueError):
        content_type("CSV", "LATIN1")
    with pytest.raises(ValueError):
        ExportWriter(Path("/tmp/x.csv"), "CSV", "UTF16")


# --- equivalence with the csv / json modules, parse-back --------------------------------------

SPECIALS = st.sampled_from([",", '"', "\r", "\n", "\r\n", "\t", "=", "+", "-", "@", "'", "\\", "\x1f",
                            "\x00", "\x7f", "\u2028", "😀", "①", "é", " ", "a", "あ"])
VALUE = st.one_of(
    st.text(max_size=12),
    st.lists(SPECIALS, max_size=6).map("".join),
    st.sampled_from(["2026-11-25T10:15:00+09:00", "CUSTOMER", "LINE", "plain", ""]),
)
ROWS = st.lists(st.tuples(*[VALUE] * len(COLUMNS)), max_size=25)
# "plain" rows make whole columns take the fast path; mixing them in covers both paths
PLAIN_ROWS = st.lists(st.just(row("plain")), max_size=5)


@settings(max_examples=300, deadline=None)
@given(rows=ROWS, plain=PLAIN_ROWS)
def test_csv_and_jsonl_text_equal_the_stdlib_modules(rows, plain):
    rows = plain + rows
    assert format_csv_rows(rows) == reference_csv(rows)
    assert format_jsonl_rows(rows) == reference_jsonl(rows)


@settings(max_examples=60, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(rows=ROWS)
def test_parse_back_to_the_same_values(tmp_path, rows):
    def guard(value: str) -> str:
        return "'" + value if value[:1] in TRIGGERS else value

    for encoding, codec in (("UTF8_BOM", "utf-8-sig"), ("UTF8", "utf-8"), ("CP932", "cp932")):
        data, count, sha = export(tmp_path, rows, "CSV", encoding)
        assert count == len(rows) and sha == hashlib.sha256(data).hexdigest()
        parsed = list(csv.reader(io.StringIO(data.decode(codec), newline="")))
        assert parsed[0] == list(COLUMNS)
        expected = [tuple(map(guard, r)) for r in rows]
        if encoding == "CP932":
            expected = [tuple(v.encode("cp932", "replace").decode("cp932") for v in r) for r in expected]
        assert [tuple(r) for r in parsed[1:]] == expected
        assert not [f for f in leftovers(tmp_path) if is_temp_file_name(f)]

    data, count, _ = export(tmp_path, rows, "JSONL", "UTF8")
    lines = data.decode("utf-8").split("\n")
    assert lines[-1] == "" and len(lines) == count + 1 == len(rows) + 1
    assert [tuple(json.loads(line).values()) for line in lines[:-1]] == rows


def test_large_generator_in_one_call_equals_batches(tmp_path):
    def rows(n):
        for i in range(n):
            yield row(f"message {i}" + (",\n" if i % 7 == 0 else "") + ("=" if i % 11 == 0 else ""),
                      customer_name=("-" if i % 13 == 0 else "") + f"c{i}")

    path_a, path_b = tmp_path / "a.csv", tmp_path / "b.csv"
    with ExportWriter(path_a, "CSV", "UTF8_BOM") as writer:
        assert writer.write_rows(rows(30_000)) == 30_000
        result_a = writer.commit()
    with ExportWriter(path_b, "CSV", "UTF8_BOM") as writer:
        all_rows = list(rows(30_000))
        for start in range(0, len(all_rows), 777):
            writer.write_rows(all_rows[start:start + 777])
        assert writer.row_count == 30_000
        result_b = writer.commit()
    assert result_a == result_b == (30_000, hashlib.sha256(path_a.read_bytes()).hexdigest())
    assert path_a.read_bytes() == BOM + HEADER + reference_csv(all_rows).encode()


# --- atomicity and cleanup --------------------------------------------------------------------

def test_final_file_appears_only_at_commit(tmp_path):
    final = tmp_path / "export.csv"
    with ExportWriter(final, "CSV", "UTF8") as writer:
        writer.write_rows([row("x")] * 10)
        assert not final.exists()
        temp = writer.temp_path
        assert temp.parent == tmp_path and temp.name.startswith(".") and temp.name.endswith(".tmp")
        assert temp.exists() and is_temp_file_name(temp.name)
        assert writer.bytes_written == temp.stat().st_size
        count, sha = writer.commit()
        assert final.exists() and not temp.exists()
    assert (count, sha) == (10, hashlib.sha256(final.read_bytes()).hexdigest())
    assert leftovers(tmp_path) == ["export.csv"]
    assert writer.bytes_written == final.stat().st_size
    assert final.stat().st_mode & 0o777 == 0o600


def test_commit_replaces_an_existing_file_only_at_commit(tmp_path):
    final = tmp_path / "export.jsonl"
    final.write_bytes(b"old")
    with ExportWriter(final, "JSONL", "UTF8") as writer:
        writer.write_rows([row("new")])
        assert final.read_bytes() == b"old"
        writer.commit()
    assert json.loads(final.read_bytes())["content"] == "new"


def test_exception_inside_the_block_removes_the_temp_file(tmp_path):
    final = tmp_path / "export.csv"
    with pytest.raises(RuntimeError, match="boom"):
        with ExportWriter(final, "CSV", "UTF8_BOM") as writer:
            writer.write_rows([row()] * 100)
            assert writer.temp_path.exists()
            raise RuntimeError("boom")
    assert leftovers(tmp_path) == []


def test_leaving_without_commit_and_explicit_abort(tmp_path):
    final = tmp_path / "export.csv"
    with ExportWriter(final) as writer:
        writer.write_rows([row()])
    assert leftovers(tmp_path) == []
    writer = ExportWriter(final)
    writer.open()
    writer.abort()
    writer.abort()  # idempotent
    assert leftovers(tmp_path) == []
    with pytest.raises(RuntimeError):
        writer.write_rows([row()])


def test_bad_rows_fail_and_clean_up(tmp_path):
    for bad in ([row()[:7]], [row() + ("extra",)], [row()[:7] + (None,)], [row()[:7] + (3,)]):
        with pytest.raises((ValueError, TypeError)):
            with ExportWriter(tmp_path / "x.csv", "CSV", "UTF8") as writer:
                writer.write_rows([row()] + bad)
        with pytest.raises((ValueError, TypeError)):
            with ExportWriter(tmp_path / "x.jsonl", "JSONL", "UTF8") as writer:
                writer.write_rows(bad)
    assert leftovers(tmp_path) == []


def test_writer_cannot_be_reused_after_commit(tmp_path):
    with ExportWriter(tmp_path / "x.csv") as writer:
        writer.commit()
        with pytest.raises(RuntimeError):
            writer.write_rows([row()])
        with pytest.raises(RuntimeError):
            writer.commit()
        writer.abort()  # no effect after a commit
    assert leftovers(tmp_path) == ["x.csv"]


def test_temp_names_are_unique_per_writer(tmp_path):
    final = tmp_path / "same.csv"
    with ExportWriter(final) as first, ExportWriter(final) as second:
        assert first.temp_path != second.temp_path
        assert str(os.getpid()) in first.temp_path.name
        first.write_rows([row("first")])
        second.write_rows([row("second")])
        second.commit()
        first.commit()
    assert final.read_bytes().endswith(b",first\r\n")
    assert leftovers(tmp_path) == ["same.csv"]


def test_remove_stale_temp_files(tmp_path):
    old = tmp_path / ".export.csv.123.0123456789abcdef.tmp"
    fresh = tmp_path / ".export.csv.456.fedcba9876543210.tmp"
    keep = tmp_path / "export.csv"
    other = tmp_path / ".editor-swap.tmp"  # not ours, however old
    for p in (old, fresh, keep, other):
        p.write_bytes(b"x")
    past = time.time() - 7200
    os.utime(old, (past, past))
    os.utime(keep, (past, past))
    os.utime(other, (past, past))
    assert remove_stale_temp_files(tmp_path, older_than_seconds=3600) == 1
    assert leftovers(tmp_path) == sorted([fresh.name, keep.name, other.name])
    assert remove_stale_temp_files(tmp_path / "missing") == 0


# --- real failures and memory, in subprocesses --------------------------------------------------

def run_python(code: str, timeout: float = 120) -> str:
    env = {**os.environ, "PYTHONDONTWRITEBYTECODE": "1"}
    result = subprocess.run([sys.executable, "-B", "-c", textwrap.dedent(code)], cwd=ROOT, env=env,
                            capture_output=True, text=True, timeout=timeout)
    assert result.returncode == 0, result.stderr
    return result.stdout


@pytest.mark.parametrize("fmt", ["CSV", "JSONL"])
def test_write_failure_under_a_file_size_limit_leaves_nothing(tmp_path, fmt):
    out = run_python(f"""
        import errno, json, os, resource, signal, sys
        sys.path.insert(0, {str(ROOT)!r})
        from services.export_files import ExportWriter
        signal.signal(signal.SIGXFSZ, signal.SIG_IGN)
        resource.setrlimit(resource.RLIMIT_FSIZE, (200_000, 200_000))
        directory = {str(tmp_path)!r}
        result = {{}}
        try:
            with ExportWriter(os.path.join(directory, "export.out"), {fmt!r}, "UTF8_BOM") as writer:
                result["temp_seen"] = os.path.exists(writer.temp_path)
                for i in range(1000):
                    writer.write_rows([("h", "n", "c", "LINE", "2026-11-25T10:15:00+09:00", "CUSTOMER",
                                        "s", "メッセージ %d %d" % (i, j)) for j in range(500)])
                writer.commit()
            result["error"] = None
        except OSError as exc:
            result["error"] = exc.errno == errno.EFBIG and "EFBIG" or repr(exc)
        result["files"] = sorted(os.listdir(directory))
        print(json.dumps(result))
    """)
    result = json.loads(out)
    assert result == {"temp_seen": True, "error": "EFBIG", "files": []}
    assert leftovers(tmp_path) == []


MEMORY_PROBE = """
    import resource, sys
    sys.path.insert(0, {root!r})
    from services.export_files import ExportWriter

    def rows(start, stop):
        for i in range(start, stop):
            yield ("acct%d" % (i % 50), "サポート窓口", "顧客 %d" % i, "LINE", "2026-11-25T10:15:00+09:00",
                   "CUSTOMER", "顧客 %d" % i,
                   "こんにちは、注文 %d の件です。\\n二行目, \\"引用\\"" % i + "あ" * (i % 100))

    total = {total}
    with ExportWriter({path!r}, {fmt!r}, "UTF8_BOM") as writer:
        if {one_call}:
            writer.write_rows(rows(0, total))  # one lazy iterable of every row
        else:
            for start in range(0, total, 5000):
                batch = list(rows(start, min(start + 5000, total)))
                writer.write_rows(batch)
                del batch
        count, _ = writer.commit()
    assert count == total
    # Peak RSS in KiB. Linux carries ru_maxrss over exec() from the parent (here the pytest
    # process, often far bigger), so the process's own high-water mark, VmHWM, is preferred.
    try:
        with open("/proc/self/status") as status:
            print(next(int(line.split()[1]) for line in status if line.startswith("VmHWM:")))
    except (OSError, StopIteration):
        print(resource.getrusage(resource.RUSAGE_SELF).ru_maxrss)
"""


@pytest.mark.parametrize("fmt,one_call", [("CSV", False), ("JSONL", False), ("CSV", True)])
def test_memory_stays_flat(tmp_path, fmt, one_call):
    def peak_kib(total: int) -> int:
        path = str(tmp_path / f"mem{total}.{fmt}")
        return int(run_python(MEMORY_PROBE.format(root=str(ROOT), path=path, fmt=fmt, total=total,
                                                  one_call=one_call)))

    small, large = peak_kib(30_000), peak_kib(300_000)
    assert (tmp_path / f"mem300000.{fmt}").stat().st_size > 30_000_000
    # ten times the rows (tens of MB of output) must not grow the peak by more than ~16 MB
    assert large - small < 16 * 1024, (small, large)
