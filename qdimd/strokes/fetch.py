"""One file over HTTP(S), resumable, verified and completed atomically (urllib only).

A file only ever appears under its final name complete:

- data goes to ``.<name>.part`` beside the destination first; a later call
  resumes it with ``Range: bytes=N-`` (``206`` appends, a ``200`` that ignores
  the range starts over, ``416`` means the part is already whole or stale);
- connection errors, timeouts, HTTP 408/425/429/5xx and truncated bodies are
  retried with exponential backoff ``backoff * 2**k`` (capped at 60 s); an
  attempt that grows the part file beyond its best size resets the count;
- the result must have the served size (``Content-Length`` or the total of
  ``Content-Range``) and, where Google Cloud Storage sends ``x-goog-hash``, the
  served MD5; only then is it renamed into place (``os.replace``);
- an existing destination whose size matches the server's (``HEAD``) is kept;
  one that does not is removed before downloading again;
- 404 and other client errors fail at once, without retries;
- the part file is locked (``flock``) while written, so two processes never
  interleave writes, and setting ``stop`` ends a transfer between chunks,
  leaving the part file (a correct prefix) for the next call.
"""
from __future__ import annotations

import base64
import hashlib
import http.client
import os
import threading
import time
import urllib.error
import urllib.request
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

from ..errors import InputError

CHUNK_BYTES = 1 << 20
MAX_DELAY_S = 60.0
RETRY_CODES = frozenset({408, 425, 429, 500, 502, 503, 504})
NETWORK_ERRORS = (OSError, http.client.HTTPException)  # urllib.error.URLError is an OSError


@dataclass(frozen=True)
class FetchResult:
    """Outcome of one file.

    Attributes:
        status: ``"downloaded"``, ``"skipped"`` (already complete) or ``"failed"``.
        size: bytes of the final file (0 if failed).
        error: why it failed, else None.
    """

    path: Path
    status: str
    size: int = 0
    error: str | None = None


class Stopped(Exception):
    """The transfer was stopped through its ``stop`` event (e.g. on Ctrl-C)."""


class _Retry(Exception):
    """A transient failure: try again after a pause."""


class _Fatal(Exception):
    """A failure that retrying cannot fix (404, other 4xx, a locked file)."""


def part_path(dest: Path) -> Path:
    """Where the partial data of ``dest`` lives: ``DIR/.<name>.part``."""
    return dest.with_name(f".{dest.name}.part")


def _request(url: str, timeout: float, headers: dict[str, str] | None = None, method: str = "GET"):
    from ..version import __version__

    req = urllib.request.Request(url, headers={"User-Agent": f"qdimd/{__version__}", **(headers or {})}, method=method)
    return urllib.request.urlopen(req, timeout=timeout)  # noqa: S310 (callers check the scheme)


def _http_error(exc: urllib.error.HTTPError, url: str) -> Exception:
    exc.close()
    if exc.code in RETRY_CODES:
        return _Retry(f"HTTP {exc.code} {exc.reason}")
    if exc.code in (404, 410):
        return _Fatal(f"not on the server (HTTP {exc.code}): {url}")
    return _Fatal(f"HTTP {exc.code} {exc.reason}: {url}")


def _unreachable(exc: Exception) -> _Retry:
    return _Retry(f"cannot reach the server: {getattr(exc, 'reason', exc)}")


def _content_range(value: str | None) -> tuple[int | None, int | None]:
    """``bytes 10-99/100`` -> (10, 100); ``bytes */100`` -> (None, 100); unknown -> (None, None)."""
    try:
        _, spec = (value or "").split(" ", 1)
        span, total = spec.split("/", 1)
        start = None if span == "*" else int(span.split("-", 1)[0])
        return start, (None if total == "*" else int(total))
    except ValueError:
        return None, None


def _length(headers) -> int | None:
    value = headers.get("Content-Length")
    return int(value) if value and value.isdigit() else None


def _served_md5(headers) -> bytes | None:
    """The MD5 of ``x-goog-hash``, unless the bucket stores the object compressed (then the
    hash is of the stored bytes, not of the decompressed body that it serves)."""
    if headers.get("x-goog-stored-content-encoding", "identity") != "identity":
        return None
    for value in headers.get_all("x-goog-hash") or ():
        for item in value.split(","):
            key, _, digest = item.strip().partition("=")
            if key == "md5":
                try:
                    return base64.b64decode(digest)
                except ValueError:
                    return None
    return None


def _file_md5(path: Path) -> bytes:
    digest = hashlib.md5(usedforsecurity=False)
    with open(path, "rb") as f:
        for block in iter(lambda: f.read(CHUNK_BYTES), b""):
            digest.update(block)
    return digest.digest()


def _lock(f) -> None:
    try:
        import fcntl
    except ImportError:  # pragma: no cover (Windows: no advisory lock)
        return
    try:
        fcntl.flock(f.fileno(), fcntl.LOCK_EX | fcntl.LOCK_NB)
    except OSError:
        raise _Fatal(f"{f.name} is being written by another process") from None


def _ignore(*args) -> None:
    pass


@dataclass
class _Transfer:
    """Mutable state of one file's download, private to the thread that runs it."""

    url: str
    dest: Path
    timeout: float
    stop: threading.Event
    on_size: Callable[[int | None, int], None]
    on_bytes: Callable[[int], None]
    size_reported: bool = False
    md5: bytes | None = None

    @property
    def part(self) -> Path:
        return part_path(self.dest)

    def part_size(self) -> int:
        return self.part.stat().st_size if self.part.exists() else 0

    def report_size(self, total: int | None, done: int) -> None:
        if not self.size_reported:
            self.size_reported = True
            self.on_size(total, done)

    def remote_size(self) -> int | None:
        """The served size from ``HEAD`` (None if the server does not say or refuses HEAD)."""
        try:
            with _request(self.url, self.timeout, method="HEAD") as resp:
                return _length(resp.headers)
        except urllib.error.HTTPError as exc:
            if exc.code in (405, 501):
                exc.close()
                return None
            raise _http_error(exc, self.url) from None
        except NETWORK_ERRORS as exc:
            raise _unreachable(exc) from None

    def attempt(self) -> None:
        """One GET from the current part size; complete, verify and rename, or raise."""
        offset = self.part_size()
        try:
            resp = _request(self.url, self.timeout, {"Range": f"bytes={offset}-"} if offset else None)
        except urllib.error.HTTPError as exc:
            if exc.code == 416 and offset:
                total = _content_range(exc.headers.get("Content-Range"))[1]
                exc.close()
                if total == offset:
                    self.report_size(total, offset)
                    return self.finish(total)
                self.discard(offset)
                raise _Retry("the partial file is larger than the served file; starting over") from None
            raise _http_error(exc, self.url) from None
        except NETWORK_ERRORS as exc:
            raise _unreachable(exc) from None
        with resp:
            self.md5 = _served_md5(resp.headers) or self.md5
            if resp.status == 206:
                start, total = _content_range(resp.headers.get("Content-Range"))
                if start != offset:
                    self.discard(offset)
                    raise _Retry(f"the server resumed at byte {start}, not {offset}; starting over")
            else:  # 200: no range asked, or the server ignored it
                total = _length(resp.headers)
                self.uncount(offset)
                offset = 0
            self.report_size(total, offset)
            with open(self.part, "ab") as f:
                _lock(f)
                f.truncate(offset)
                while True:
                    if self.stop.is_set():
                        raise Stopped
                    try:
                        chunk = resp.read(CHUNK_BYTES)
                    except NETWORK_ERRORS as exc:
                        raise _Retry(f"connection lost: {exc!r}") from None
                    if not chunk:
                        break
                    f.write(chunk)
                    self.on_bytes(len(chunk))
                f.flush()
                os.fsync(f.fileno())
        size = self.part_size()
        if total is not None and size < total:
            raise _Retry(f"truncated body ({size} of {total} bytes)")
        if total is not None and size > total:
            self.discard(size)
            raise _Retry(f"got {size} bytes, the server announced {total}; starting over")
        self.finish(size)

    def finish(self, size: int) -> None:
        if self.md5 is not None and _file_md5(self.part) != self.md5:
            self.discard(size)
            raise _Retry("MD5 differs from the server's x-goog-hash; starting over")
        os.replace(self.part, self.dest)

    def discard(self, counted: int) -> None:
        self.part.unlink(missing_ok=True)
        self.uncount(counted)

    def uncount(self, n: int) -> None:
        """Take thrown-away bytes off the progress count (they count once the size is reported)."""
        if self.size_reported and n:
            self.on_bytes(-n)


def fetch_file(
    url: str,
    dest: str | os.PathLike,
    *,
    retries: int = 5,
    backoff: float = 1.0,
    timeout: float = 60.0,
    stop: threading.Event | None = None,
    on_size: Callable[[int | None, int], None] = _ignore,
    on_bytes: Callable[[int], None] = _ignore,
) -> FetchResult:
    """Download ``url`` to ``dest`` with the guarantees of the module docstring.

    Args:
        url: an http(s) URL.
        dest: the final file; its folder must exist.
        retries: retries after transient failures.
        backoff: first pause between retries in seconds; doubles each time.
        timeout: seconds without data before a connection counts as lost.
        stop: set it to end the transfer between chunks.
        on_size: ``(total_bytes or None, bytes_already_on_disk)``, once, when the size is known.
        on_bytes: bytes received (negative when received bytes are thrown away).

    Returns:
        The outcome; failures are returned, not raised.

    Raises:
        Stopped: ``stop`` was set.
    """
    job = _Transfer(url, Path(dest), timeout, stop or threading.Event(), on_size, on_bytes)
    failures, best = 0, job.part_size()
    if job.part.is_symlink():  # appended to and truncated: never through a link to another file
        return FetchResult(job.dest, "failed", 0, f"{job.part} is a symbolic link where the partial file goes; "
                           "not followed: remove it to download")
    while True:
        try:
            if job.dest.exists():
                size, have = job.remote_size(), job.dest.stat().st_size
                if size is None or size == have:
                    job.report_size(have, have)
                    return FetchResult(job.dest, "skipped", have)
                # never written by a download (which renames only complete, verified files): not ours to delete
                return FetchResult(job.dest, "failed", 0, f"{job.dest} exists with {have} bytes, the server has {size}; "
                                   "not replaced: move or delete it to download it again")
            job.attempt()
            return FetchResult(job.dest, "downloaded", job.dest.stat().st_size)
        except _Retry as exc:
            now = job.part_size()
            if now > best:
                best, failures = now, 0
            failures += 1
            if failures > retries:
                return FetchResult(job.dest, "failed", 0, f"{exc} (gave up after {retries} retries)")
            if job.stop.wait(min(backoff * 2 ** (failures - 1), MAX_DELAY_S)):
                raise Stopped from None
        except _Fatal as exc:
            return FetchResult(job.dest, "failed", 0, str(exc))
        except OSError as exc:  # the local disk: full, read-only, permissions
            return FetchResult(job.dest, "failed", 0, f"cannot write {job.dest}: {exc}")


def check_server(url: str, *, retries: int, backoff: float, timeout: float) -> None:
    """Raise :class:`InputError` unless something answers HTTP at ``url`` (any status counts)."""
    for failure in range(retries + 1):
        try:
            with _request(url, timeout, method="HEAD"):
                return
        except urllib.error.HTTPError as exc:
            exc.close()
            return
        except NETWORK_ERRORS as exc:
            reason = getattr(exc, "reason", exc)
        if failure < retries:
            time.sleep(min(backoff * 2 ** failure, MAX_DELAY_S))
    raise InputError(f"cannot reach {url}: {reason}. Check the network (or proxy settings) and --base-url.")
