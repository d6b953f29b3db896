"""qdimd.strokes.download and ``qdimd download`` against a real HTTP server on 127.0.0.1.

The server serves the bucket layout from memory, honours ``Range`` and can
misbehave per file: answer 500, drop the connection halfway, ignore ranges,
announce more bytes than it has, or send a wrong ``x-goog-hash``.
"""
from __future__ import annotations

import base64
import hashlib
import signal
import socket
import subprocess
import sys
import threading
import time
from dataclasses import dataclass
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from urllib.parse import unquote, urlsplit

import numpy as np
import pytest
from click.testing import CliRunner

from cli.qdimd_main import main
from qdimd.strokes.categories import CATEGORIES
from qdimd.strokes.download import FORMATS, download, file_url
from qdimd.errors import InputError

FAST = dict(backoff=0.01, timeout=120.0)  # the timeout only guards against a hang


@dataclass
class Mode:
    """How the server misbehaves for one path (counts are of GET requests)."""

    fail_first: int = 0        # answer 500 to the first N GETs
    drop_first: int = 0        # send half the body, then close, for the first N GETs
    ignore_range: bool = False  # answer 200 with the whole file to range requests
    extra_length: int = 0      # announce this many bytes more than the file has (a broken mirror)
    md5: str | None = None     # "good" or "bad": send x-goog-hash
    hold: threading.Event | None = None  # send half of the first GET's body, wait for the event, then close;
    #                                      later GETs send no body (the file can never complete)
    stored_gzip: bool = False  # say the bucket stores it gzipped (x-goog-hash is then of other bytes)


class Handler(BaseHTTPRequestHandler):
    protocol_version = "HTTP/1.0"  # the server closes after each response

    def log_message(self, *args):
        pass

    def do_HEAD(self):
        self.serve(head=True)

    def do_GET(self):
        self.serve(head=False)

    def serve(self, head: bool) -> None:
        srv = self.server
        path = unquote(urlsplit(self.path).path)
        asked = self.headers.get("Range")
        with srv.lock:
            srv.log.append((self.command, path, asked))
            gets = sum(1 for m, p, _ in srv.log if m == "GET" and p == path)
        data, mode = srv.files.get(path), srv.modes.get(path, Mode())
        if data is None:
            self.send_error(404)
            return
        if not head and gets <= mode.fail_first:
            self.send_error(500)
            return
        size = len(data) + mode.extra_length
        start = int(asked.removeprefix("bytes=").split("-")[0]) if asked and not mode.ignore_range else 0
        if start >= size and start:
            self.send_response(416)
            self.send_header("Content-Range", f"bytes */{size}")
            self.send_header("Content-Length", "0")
            self.end_headers()
            return
        self.send_response(206 if start else 200)
        self.send_header("Content-Length", str(size - start))
        if start:
            self.send_header("Content-Range", f"bytes {start}-{size - 1}/{size}")
        if mode.md5:
            digest = hashlib.md5(data if mode.md5 == "good" else data + b"x").digest()
            self.send_header("x-goog-hash", f"crc32c=AAAAAA==,md5={base64.b64encode(digest).decode()}")
            self.send_header("x-goog-stored-content-encoding", "gzip" if mode.stored_gzip else "identity")
        self.end_headers()
        if head:
            return
        body = data[start:]
        if mode.hold is not None:
            if gets == 1:
                self.wfile.write(body[: len(body) // 2])
            mode.hold.wait()
            return  # the connection closes: the body is cut short
        body = body[: len(body) // 2] if gets <= mode.fail_first + mode.drop_first else body
        self.wfile.write(body)


@pytest.fixture
def server():
    srv = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
    srv.daemon_threads = True
    srv.files, srv.modes, srv.log, srv.lock = {}, {}, [], threading.Lock()
    srv.base_url = f"http://127.0.0.1:{srv.server_address[1]}/bucket"
    thread = threading.Thread(target=srv.serve_forever, kwargs={"poll_interval": 0.05}, daemon=True)
    thread.start()
    yield srv
    srv.shutdown()
    srv.server_close()


def serve(srv, category: str, size: int = 300_000, fmt: str = "simplified", mode: Mode | None = None) -> bytes:
    """Put a file of ``size`` bytes under the bucket path of ``category`` and return its bytes."""
    data = np.random.default_rng(len(category) + size).integers(0, 256, size, dtype=np.uint8).tobytes()
    folder, ext = FORMATS[fmt]
    path = f"/bucket/{folder}/{category}{ext}"
    srv.files[path] = data
    if mode is not None:
        srv.modes[path] = mode
    return data


def gets(srv, category: str) -> list[str | None]:
    """The Range headers of the GET requests for a category's file, in order."""
    return [r for m, p, r in srv.log if m == "GET" and f"/{category}." in p]


def test_files_land_under_final_names_with_quoted_urls(server, tmp_path):
    want = {c: serve(server, c) for c in ("cat", "hot air balloon", "The Mona Lisa")}
    report = download(want, "simplified", tmp_path, base_url=server.base_url, jobs=3, **FAST)
    assert [r.status for r in report.results] == ["downloaded"] * 3
    for category, data in want.items():
        assert (tmp_path / f"{category}.ndjson").read_bytes() == data
    assert sorted(p.name for p in tmp_path.iterdir()) == sorted(f"{c}.ndjson" for c in want)  # no .part left
    assert "hot%20air%20balloon.ndjson" in file_url(server.base_url, "simplified", "hot air balloon")


@pytest.mark.parametrize("fmt, path", [("simplified", "full/simplified/cat.ndjson"), ("raw", "full/raw/cat.ndjson"),
                                       ("binary", "full/binary/cat.bin"), ("sketchrnn", "sketchrnn/cat.npz")])
def test_every_format_uses_the_bucket_layout(server, tmp_path, fmt, path):
    data = serve(server, "cat", 5000, fmt)
    download(["cat"], fmt, tmp_path, base_url=server.base_url, **FAST)
    assert ("GET", f"/bucket/{path}", None) in server.log
    assert (tmp_path / ("cat" + FORMATS[fmt][1])).read_bytes() == data


def test_partial_file_is_resumed_with_a_range_request(server, tmp_path):
    data = serve(server, "cat")
    (tmp_path / ".cat.ndjson.part").write_bytes(data[:123_456])
    sizes = []
    report = download(["cat"], "simplified", tmp_path, base_url=server.base_url,
                      on_size=lambda c, total, done: sizes.append((total, done)), **FAST)
    assert report.results[0].status == "downloaded"
    assert gets(server, "cat") == ["bytes=123456-"]
    assert sizes == [(len(data), 123_456)]
    assert (tmp_path / "cat.ndjson").read_bytes() == data
    assert not (tmp_path / ".cat.ndjson.part").exists()


def test_server_that_ignores_ranges_restarts_from_zero(server, tmp_path):
    data = serve(server, "cat", mode=Mode(ignore_range=True))
    (tmp_path / ".cat.ndjson.part").write_bytes(b"stale bytes from another version" * 100)
    counted = []
    download(["cat"], "simplified", tmp_path, base_url=server.base_url, on_bytes=counted.append, **FAST)
    assert (tmp_path / "cat.ndjson").read_bytes() == data
    assert sum(counted) == len(data)


def test_complete_part_file_answered_416_is_finished(server, tmp_path):
    data = serve(server, "cat")
    (tmp_path / ".cat.ndjson.part").write_bytes(data)
    report = download(["cat"], "simplified", tmp_path, base_url=server.base_url, **FAST)
    assert report.results[0].status == "downloaded"
    assert gets(server, "cat") == [f"bytes={len(data)}-"]
    assert (tmp_path / "cat.ndjson").read_bytes() == data


def test_dropped_connections_are_retried_and_resumed(server, tmp_path):
    data = serve(server, "cat", mode=Mode(drop_first=3))
    report = download(["cat"], "simplified", tmp_path, base_url=server.base_url, retries=1, **FAST)
    ranges = gets(server, "cat")
    assert report.results[0].status == "downloaded"  # each drop made progress, so retries=1 suffices
    assert len(ranges) == 4 and ranges[0] is None and all(r.startswith("bytes=") for r in ranges[1:])
    assert (tmp_path / "cat.ndjson").read_bytes() == data


def test_server_errors_are_retried_with_backoff(server, tmp_path):
    data = serve(server, "cat", mode=Mode(fail_first=2))
    report = download(["cat"], "simplified", tmp_path, base_url=server.base_url, retries=2, **FAST)
    assert report.results[0].status == "downloaded"
    assert len(gets(server, "cat")) == 3
    assert (tmp_path / "cat.ndjson").read_bytes() == data


def test_persistent_server_errors_fail_without_a_final_file(server, tmp_path):
    serve(server, "cat", mode=Mode(fail_first=99))
    report = download(["cat"], "simplified", tmp_path, base_url=server.base_url, retries=2, **FAST)
    assert report.results[0].status == "failed" and "HTTP 500" in report.results[0].error
    assert len(gets(server, "cat")) == 3
    assert not (tmp_path / "cat.ndjson").exists()


def test_missing_file_fails_alone_and_the_others_complete(server, tmp_path):
    data = serve(server, "dog")
    report = download(["cat", "dog"], "simplified", tmp_path, base_url=server.base_url, **FAST)
    cat, dog = report.results
    assert cat.status == "failed" and "404" in cat.error and "cat.ndjson" in cat.error
    assert len(gets(server, "cat")) == 1  # a 404 is not retried
    assert dog.status == "downloaded" and (tmp_path / "dog.ndjson").read_bytes() == data
    assert sorted(p.name for p in tmp_path.iterdir()) == ["dog.ndjson"]
    assert "1 failed" in report.summary() and "cat: not on the server" in report.summary()


def test_announced_size_never_reached_leaves_no_final_file(server, tmp_path):
    data = serve(server, "cat", mode=Mode(extra_length=1000))
    report = download(["cat"], "simplified", tmp_path, base_url=server.base_url, retries=2, **FAST)
    assert report.results[0].status == "failed" and "truncated" in report.results[0].error
    assert not (tmp_path / "cat.ndjson").exists()
    assert (tmp_path / ".cat.ndjson.part").read_bytes() == data  # a correct prefix, kept for resuming


@pytest.mark.parametrize("md5, gzip, status", [("good", False, "downloaded"), ("bad", False, "failed"),
                                               ("bad", True, "downloaded")])
def test_served_md5_is_verified(server, tmp_path, md5, gzip, status):
    serve(server, "cat", mode=Mode(md5=md5, stored_gzip=gzip))
    report = download(["cat"], "simplified", tmp_path, base_url=server.base_url, retries=1, **FAST)
    assert report.results[0].status == status
    assert (tmp_path / "cat.ndjson").exists() == (status == "downloaded")
    assert not (tmp_path / ".cat.ndjson.part").exists()


def test_complete_file_is_skipped_and_another_one_kept(server, tmp_path):
    cat, dog = serve(server, "cat"), serve(server, "dog")
    (tmp_path / "cat.ndjson").write_bytes(cat)
    (tmp_path / "dog.ndjson").write_bytes(dog[:-10])  # not written by a download (it renames only complete files)
    report = download(["cat", "dog"], "simplified", tmp_path, base_url=server.base_url, **FAST)
    assert [r.status for r in report.results] == ["skipped", "failed"]
    assert "not replaced" in report.results[1].error
    assert gets(server, "cat") == [] and gets(server, "dog") == []
    assert (tmp_path / "dog.ndjson").read_bytes() == dog[:-10]  # the user's file is kept
    (tmp_path / "dog.ndjson").unlink()
    assert download(["dog"], "simplified", tmp_path, base_url=server.base_url, **FAST).results[0].status == "downloaded"


def test_interrupt_keeps_only_a_correct_partial_file(server, tmp_path):
    data = serve(server, "cat", 2_000_000)

    def interrupt(n):
        raise KeyboardInterrupt

    with pytest.raises(KeyboardInterrupt):
        download(["cat"], "simplified", tmp_path, base_url=server.base_url, on_bytes=interrupt, **FAST)
    assert not (tmp_path / "cat.ndjson").exists()
    part = (tmp_path / ".cat.ndjson.part").read_bytes()
    assert 0 < len(part) < len(data) and data.startswith(part)
    download(["cat"], "simplified", tmp_path, base_url=server.base_url, **FAST)
    assert gets(server, "cat")[-1] == f"bytes={len(part)}-"
    assert (tmp_path / "cat.ndjson").read_bytes() == data


def test_ctrl_c_on_the_cli_exits_cleanly_and_the_next_run_resumes(server, tmp_path):
    # The server holds the body half-sent until the interrupt has been sent, so the outcome
    # does not depend on how fast this machine is (issue 10).
    hold = threading.Event()
    data = serve(server, "cat", 3_000_000, mode=Mode(hold=hold))
    part = tmp_path / ".cat.ndjson.part"
    command = [sys.executable, "-c", "from qdimd_cli.qdimd_main import main; main()", "download", "--categories", "cat",
               "--out", str(tmp_path), "--base-url", server.base_url, "--retries", "1000"]
    proc = subprocess.Popen(command, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
    try:
        while not (part.exists() and part.stat().st_size > 0):  # the first megabyte is on disk
            assert proc.poll() is None, proc.communicate()
            time.sleep(0.01)
        proc.send_signal(signal.SIGINT)
    finally:
        hold.set()  # the held connection closes; retries get no body, so the file stays partial
    _, err = proc.communicate()
    assert proc.returncode == 130 and "run the same command again to resume" in err and "Traceback" not in err
    assert not (tmp_path / "cat.ndjson").exists() and data.startswith(part.read_bytes())
    kept = part.stat().st_size
    server.modes.pop("/bucket/full/simplified/cat.ndjson")
    download(["cat"], "simplified", tmp_path, base_url=server.base_url, **FAST)
    assert gets(server, "cat")[-1] == f"bytes={kept}-" and (tmp_path / "cat.ndjson").read_bytes() == data


def test_unknown_categories_get_close_matches(tmp_path):
    with pytest.raises(InputError, match=r"'ct' \(did you mean 'cat'") as info:
        download(["ct", "hot air balon"], "simplified", tmp_path, base_url="http://127.0.0.1:9/")
    assert "'hot air balloon'" in str(info.value)
    assert len(CATEGORIES) == len(set(CATEGORIES)) == 345 and "zigzag" in CATEGORIES


def test_unreachable_server_is_a_clear_error(tmp_path):
    with socket.socket() as s:  # a port that nothing listens on
        s.bind(("127.0.0.1", 0))
        port = s.getsockname()[1]
    with pytest.raises(InputError, match="cannot reach http://127.0.0.1"):
        download(["cat"], "simplified", tmp_path, base_url=f"http://127.0.0.1:{port}", retries=0, **FAST)


def test_cli_downloads_and_reports_failures(server, tmp_path):
    data = serve(server, "hot air balloon", fmt="binary")
    args = ["download", "--format", "binary", "--out", str(tmp_path), "--base-url", server.base_url, "--retries", "0"]
    result = CliRunner().invoke(main, args + ["--categories", "hot air balloon"])
    assert result.exit_code == 0, result.output
    assert (tmp_path / "hot air balloon.bin").read_bytes() == data
    assert "1 downloaded" in result.output
    result = CliRunner().invoke(main, args + ["--categories", "hot air balloon, cat"])
    assert result.exit_code == 1
    assert "1 already complete, 1 failed" in result.output and "cat: not on the server (HTTP 404)" in result.output


def test_cli_errors_and_category_list(tmp_path):
    result = CliRunner().invoke(main, ["download", "--categories", "catt", "--out", str(tmp_path)])
    assert result.exit_code == 1 and "did you mean 'cat'" in result.output and "Traceback" not in result.output
    result = CliRunner().invoke(main, ["download", "--list-categories"])
    assert result.exit_code == 0 and result.output.splitlines() == list(CATEGORIES)


def test_partial_file_that_is_a_link_is_never_followed(server, tmp_path):
    serve(server, "cat")
    victim = tmp_path / "victim.txt"
    victim.write_bytes(b"precious")
    (tmp_path / ".cat.ndjson.part").symlink_to(victim)
    report = download(["cat"], "simplified", tmp_path, base_url=server.base_url, **FAST)
    assert report.results[0].status == "failed" and "symbolic link" in report.results[0].error
    assert victim.read_bytes() == b"precious" and not (tmp_path / "cat.ndjson").exists()
