"""Download Quick, Draw! files from the public ``quickdraw_dataset`` bucket.

Server layout under the base URL (the bucket's, also expected of mirrors)::

    full/simplified/<category>.ndjson   full/raw/<category>.ndjson
    full/binary/<category>.bin          sketchrnn/<category>.npz

Files land as ``DIR/<category>.<ext>`` (spaces kept; URLs are percent-quoted),
``jobs`` at a time. Each goes through :func:`qdimd.strokes.fetch.fetch_file`: partial
data in ``DIR/.<category>.<ext>.part`` resumed with HTTP ``Range``, retries with
exponential backoff, verification against the served size (and MD5 where the
bucket sends one), completion by atomic rename, complete files skipped. A file
that fails (404, retries exhausted) is reported and the others go on.
Interrupting (Ctrl-C) stops every transfer between chunks and keeps the part
files, which hold a correct prefix, for the next run.
"""
from __future__ import annotations

import os
import threading
from collections.abc import Callable, Iterable
from concurrent.futures import ThreadPoolExecutor, as_completed
from dataclasses import dataclass
from pathlib import Path
from types import MappingProxyType
from urllib.parse import quote

from .categories import CATEGORIES, check_categories
from .fetch import FetchResult, Stopped, _ignore, check_server, fetch_file

DEFAULT_BASE_URL = "https://storage.googleapis.com/quickdraw_dataset"
FORMATS = MappingProxyType({
    "simplified": ("full/simplified", ".ndjson"),
    "raw": ("full/raw", ".ndjson"),
    "binary": ("full/binary", ".bin"),
    "sketchrnn": ("sketchrnn", ".npz"),
})


@dataclass(frozen=True)
class FileResult(FetchResult):
    """The :class:`~qdimd.strokes.fetch.FetchResult` of one category file."""

    category: str = ""


@dataclass(frozen=True)
class DownloadReport:
    """All file outcomes, in the order the categories were given."""

    results: tuple[FileResult, ...]

    def with_status(self, status: str) -> tuple[FileResult, ...]:
        return tuple(r for r in self.results if r.status == status)

    @property
    def failed(self) -> tuple[FileResult, ...]:
        return self.with_status("failed")

    def summary(self) -> str:
        """One line of counts, then one line per failed file."""
        counts = {s: len(self.with_status(s)) for s in ("downloaded", "skipped", "failed")}
        size = sum(r.size for r in self.results)
        lines = [f"{counts['downloaded']} downloaded, {counts['skipped']} already complete, "
                 f"{counts['failed']} failed ({_human(size)} on disk)"]
        lines += [f"  {r.category}: {r.error}" for r in self.failed]
        return "\n".join(lines)


def _human(size: int) -> str:
    for unit, scale in (("GB", 1e9), ("MB", 1e6), ("kB", 1e3)):
        if size >= scale:
            return f"{size / scale:.1f} {unit}"
    return f"{size} B"


def file_url(base_url: str, fmt: str, category: str) -> str:
    """URL of one category file under ``base_url`` (bucket layout, name percent-quoted)."""
    folder, ext = FORMATS[fmt]
    return f"{base_url.rstrip('/')}/{folder}/{quote(category + ext)}"


def download(
    categories: Iterable[str] | None,
    fmt: str,
    out_dir: str | os.PathLike,
    *,
    base_url: str = DEFAULT_BASE_URL,
    jobs: int = 4,
    retries: int = 5,
    backoff: float = 1.0,
    timeout: float = 60.0,
    on_size: Callable[[str, int | None, int], None] = _ignore,
    on_bytes: Callable[[int], None] = _ignore,
    on_file: Callable[[FileResult], None] = _ignore,
) -> DownloadReport:
    """Download category files into ``out_dir``.

    Args:
        categories: official names (:data:`qdimd.strokes.categories.CATEGORIES`); None = all 345.
        fmt: ``simplified``, ``raw``, ``binary`` or ``sketchrnn``.
        out_dir: destination folder, created if missing.
        base_url: the bucket's URL or a mirror with the same layout.
        jobs: files downloaded at once (threads).
        retries: retries per file after transient failures.
        backoff: first pause between retries in seconds; doubles each time.
        timeout: seconds without data before a connection counts as lost.
        on_size: ``(category, total_bytes or None, bytes_already_on_disk)``, once per file.
        on_bytes: bytes received (negative when thrown away); called from worker threads.
        on_file: each finished :class:`FileResult`, from the calling thread.

    Returns:
        The outcome of every file; failed files do not raise.

    Raises:
        InputError: unknown categories (with close matches) or an unreachable server.
        ValueError: a bad format, URL or number.
        KeyboardInterrupt: interrupted; every transfer is stopped first, part files are kept.
    """
    if fmt not in FORMATS:
        raise ValueError(f"Expected format in {tuple(FORMATS)}, got {fmt!r}")
    if not base_url.startswith(("http://", "https://")):
        raise ValueError(f"Expected an http:// or https:// base URL, got {base_url!r}")
    if jobs < 1 or retries < 0 or backoff < 0 or timeout <= 0:
        raise ValueError(f"Expected jobs >= 1, retries >= 0, backoff >= 0 and timeout > 0, "
                         f"got {jobs}, {retries}, {backoff}, {timeout}")
    names = list(CATEGORIES) if categories is None else check_categories(categories)
    out = Path(out_dir)
    out.mkdir(parents=True, exist_ok=True)
    check_server(file_url(base_url, fmt, names[0]), retries=min(retries, 2), backoff=backoff, timeout=timeout)
    stop = threading.Event()
    ext = FORMATS[fmt][1]

    def fetch(name: str) -> FileResult:
        result = fetch_file(file_url(base_url, fmt, name), out / f"{name}{ext}", retries=retries, backoff=backoff,
                            timeout=timeout, stop=stop, on_size=lambda total, done: on_size(name, total, done),
                            on_bytes=on_bytes)
        return FileResult(**vars(result), category=name)

    results: dict[str, FileResult] = {}
    pool = ThreadPoolExecutor(max_workers=jobs, thread_name_prefix="qdimd-download")
    try:
        futures = {pool.submit(fetch, name): name for name in names}
        for future in as_completed(futures):
            results[futures[future]] = future.result()
            on_file(results[futures[future]])
    except BaseException as exc:
        stop.set()
        pool.shutdown(wait=True, cancel_futures=True)
        if isinstance(exc, Stopped):
            raise KeyboardInterrupt from None
        raise
    pool.shutdown(wait=True)
    return DownloadReport(tuple(results[name] for name in names))
