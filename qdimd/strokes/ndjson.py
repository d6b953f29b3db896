"""Quick, Draw! drawings: the :class:`Drawing` record and the ndjson reader.

Reads both official ndjson layouts of the Quick, Draw! dataset (Google Creative
Lab, CC BY 4.0), plain or gzip-compressed, detected per record:

* simplified: strokes ``[[x...], [y...]]`` with integer coordinates in 0..255;
* raw: strokes ``[[x...], [y...], [t...]]`` with float canvas-pixel coordinates.
  They are normalised like Google's own simplification: aligned to the
  top-left (minimum x and y become 0) and scaled uniformly so that the longer
  side spans 0..255. Ramer-Douglas-Peucker simplification (Google uses epsilon
  2.0) is optional (``simplify_raw``). Deviation: Google also resamples strokes
  at 1 px spacing before RDP; that step is skipped (it changes no shape).

Bad input never ends in a traceback: every malformed record, unreadable or
empty file goes to the :class:`~qdimd.errors.ProblemLog` with its file and
line (strict mode raises :class:`~qdimd.errors.InputError` at the first one).
"""
from __future__ import annotations

import gzip
import zlib
from dataclasses import dataclass
from itertools import chain
from pathlib import Path
from typing import Collection, Iterator, NamedTuple

import numpy as np

from ..errors import ProblemLog
from ..io import JSONDecodeError, PathLike, json_loads

RAW_LIMIT = 1e5  # canvas pixels; raw coordinates beyond this are absurd
KEY_LIMIT = 2**64
MAX_POINTS = 20_000
"""Points per drawing beyond which a record is skipped and reported, in every reader (ndjson, .bin,
.npz, .qds sources). Real drawings have a few hundred (simplified) to a few thousand (raw; a game
lasts 20 s) points; the cap keeps one hostile record from exhausting memory or stalling generation
(cairo's stroking time grows with the square of a self-crossing stroke's points)."""
MAX_STROKES = 5_000
"""Strokes per drawing beyond which a record is skipped and reported (real drawings: under 100)."""
MAX_LINE_BYTES = 8 << 20
"""Bytes per ndjson line beyond which the line is skipped unread and reported (8 MiB; real lines:
under 30 kB; a drawing of :data:`MAX_POINTS` raw points takes under 1 MB)."""


@dataclass(frozen=True, eq=False)
class Drawing:
    """One Quick, Draw! drawing.

    Attributes:
        word: the category, e.g. ``"cat"``.
        countrycode: two-letter country of the player (may be empty).
        timestamp: when it was drawn, as in the source (may be empty).
        recognized: whether the game's classifier recognised it.
        key_id: the dataset's unique id (unsigned 64-bit).
        strokes: one ``(n, 2)`` float64 array of x, y per stroke in the
            simplified space 0..255; ``n >= 1`` and ``n == 1`` is a dot.
    """

    word: str
    countrycode: str
    timestamp: str
    recognized: bool
    key_id: int
    strokes: tuple[np.ndarray, ...]


class Record(NamedTuple):
    """A parsed drawing in flat form (what the store builder consumes)."""

    word: str
    countrycode: str
    timestamp: str
    recognized: bool
    key_id: int
    points: np.ndarray  # (P, 2) int64 (simplified) or float64 (normalised raw) in 0..255
    lengths: list[int]  # points per stroke, each >= 1

    def to_drawing(self) -> Drawing:
        cuts = np.cumsum(self.lengths[:-1], dtype=np.int64)
        points = np.ascontiguousarray(self.points, dtype=np.float64)
        return Drawing(self.word, self.countrycode, self.timestamp, self.recognized, self.key_id,
                       tuple(np.split(points, cuts)))


class BadRecord(ValueError):
    """A record that cannot be read; the message is the reason."""


def read_ndjson(path: PathLike, *, problems: ProblemLog, categories: Collection[str] | None = None,
                recognized_only: bool = False, simplify_raw: float | None = None) -> Iterator[Drawing]:
    """Yield the drawings of a Quick, Draw! ndjson file (simplified or raw layout, plain or ``.gz``).

    Args:
        path: the ndjson file.
        problems: collects skipped records and files (strict mode raises).
        categories: keep only these words (``None`` = all).
        recognized_only: keep only drawings the game recognised.
        simplify_raw: RDP epsilon applied to raw-layout drawings after normalisation
            (Google uses 2.0); ``None`` keeps every point.

    Yields:
        :class:`Drawing` in file order.

    Raises:
        InputError: only in strict mode, at the first bad record or file.
    """
    for record in iter_records(path, problems=problems, categories=categories,
                               recognized_only=recognized_only, simplify_raw=simplify_raw):
        yield record.to_drawing()


def iter_records(path: PathLike, *, problems: ProblemLog, categories: Collection[str] | None = None,
                 recognized_only: bool = False, simplify_raw: float | None = None) -> Iterator[Record]:
    """Like :func:`read_ndjson` but yields flat :class:`Record` (faster: no per-stroke arrays)."""
    wanted = None if categories is None else frozenset(categories)
    lines = _open_lines(path, problems)
    if lines is None:
        return
    n = records = 0
    try:
        for n, line in enumerate(_bounded_lines(lines, MAX_LINE_BYTES), 1):
            if line is None:
                records += 1
                problems.add(str(path), n, f"line longer than {MAX_LINE_BYTES:,} bytes (the cap of "
                                           "qdimd.strokes.ndjson.MAX_LINE_BYTES); skipped unread")
                continue
            if not line.strip():
                continue
            records += 1
            try:
                record = parse_record(line, simplify_raw)
            except BadRecord as exc:
                problems.add(str(path), n, str(exc))
                continue
            if (wanted is None or record.word in wanted) and (record.recognized or not recognized_only):
                yield record
    except (OSError, EOFError, zlib.error) as exc:
        problems.add(str(path), n + 1, f"unreadable from here on ({exc})")
        return
    finally:
        lines.close()
    if records == 0:  # no line, or only blank ones
        problems.add(str(path), None, "empty file (no drawings)")


def _open_lines(path: PathLike, problems: ProblemLog):
    """The file's binary line iterator, or ``None`` after noting why it cannot be read."""
    p = Path(path)
    try:
        f = gzip.open(p, "rb") if p.name.endswith(".gz") else open(p, "rb")
        head = f.peek(4096)[:4096] if hasattr(f, "peek") else b""
    except FileNotFoundError:
        problems.add(str(path), None, "no such file")
        return None
    except IsADirectoryError:
        problems.add(str(path), None, "is a folder, not an ndjson file")
        return None
    except (OSError, EOFError, zlib.error) as exc:
        problems.add(str(path), None, f"cannot read ({exc})")
        return None
    if b"\0" in head or not _is_utf8_prefix(head):
        f.close()
        problems.add(str(path), None, "not UTF-8 text (is it a binary .bin/.npz file or another encoding?)")
        return None
    return f


def _bounded_lines(f, limit: int) -> Iterator[bytes | None]:
    """The lines of a binary file, each read with at most ``limit + 1`` bytes in memory; a longer
    line is consumed in blocks and yields ``None`` (so one huge line cannot exhaust memory)."""
    while True:
        line = f.readline(limit + 1)
        if not line:
            return
        if len(line) > limit and not line.endswith(b"\n"):
            while True:  # the rest of the line, a block at a time
                rest = f.readline(1 << 20)
                if not rest or rest.endswith(b"\n"):
                    break
            yield None
        else:
            yield line


def _is_utf8_prefix(data: bytes) -> bool:
    """Whether ``data`` is valid UTF-8, allowing a character cut at the end."""
    for cut in range(4):
        try:
            data[: len(data) - cut].decode("utf-8")
            return True
        except UnicodeDecodeError:
            continue
    return False


def parse_record(line: bytes | str, simplify_raw: float | None = None) -> Record:
    """Parse one ndjson line into a :class:`Record`.

    Raises:
        BadRecord: the line is not a valid Quick, Draw! record (the message says why).
    """
    try:
        obj = json_loads(line)
    except JSONDecodeError as exc:
        raise BadRecord(f"malformed JSON ({exc})") from None
    if not isinstance(obj, dict):
        raise BadRecord(f"Expected a JSON object, got {type(obj).__name__}")
    word = obj.get("word")
    if not isinstance(word, str) or not word:
        raise BadRecord("Expected a non-empty string 'word'")
    key_id = _key_id(obj.get("key_id"))
    recognized = obj.get("recognized", True)
    if not isinstance(recognized, bool):
        raise BadRecord(f"Expected 'recognized' true or false, got {recognized!r}")
    countrycode, timestamp = obj.get("countrycode", ""), obj.get("timestamp", "")
    if not isinstance(countrycode, str) or not isinstance(timestamp, str):
        raise BadRecord("Expected strings for 'countrycode' and 'timestamp'")
    text = line.encode() if isinstance(line, str) else line
    check_bools = text.count(b"true") + text.count(b"false") > 1  # one is 'recognized'
    points, lengths, raw = _flatten(obj.get("drawing"), check_bools)
    if raw:
        points = normalize_raw(points)
        if simplify_raw is not None:
            points, lengths = _simplify(points, lengths, simplify_raw)
    return Record(word, countrycode, timestamp, recognized, key_id, points, lengths)


def _key_id(value) -> int:
    if isinstance(value, str) and value.isdigit():
        value = int(value)
    if isinstance(value, bool) or not isinstance(value, int) or not 0 <= value < KEY_LIMIT:
        raise BadRecord(f"Expected 'key_id' an unsigned 64-bit integer (or its digits), got {value!r}")
    return value


def _flatten(drawing, check_bools: bool) -> tuple[np.ndarray, list[int], bool]:
    """Strokes to ``(P, 2)`` points (int64 or float64), per-stroke lengths and whether the layout is raw."""
    if not isinstance(drawing, list) or not drawing:
        raise BadRecord("Expected 'drawing' a non-empty list of strokes")
    if len(drawing) > MAX_STROKES:
        raise BadRecord(too_large(len(drawing), "strokes"))
    try:  # fast path: a few C-level passes; _diagnose names the problem otherwise
        arities = set(map(len, drawing))
        xl = [stroke[0] for stroke in drawing]
        yl = [stroke[1] for stroke in drawing]
        lengths = list(map(len, xl))
        ok = (arities == {2} or arities == {3}) and lengths == list(map(len, yl))
    except (TypeError, KeyError, IndexError):
        ok = False
    if not ok:
        _diagnose(drawing)
    if sum(lengths) > MAX_POINTS:
        raise BadRecord(too_large(sum(lengths), "points"))
    if 0 in lengths:  # empty strokes carry nothing to draw; they are dropped
        xl = [x for x in xl if x]
        yl = [y for y in yl if y]
        lengths = [n for n in lengths if n]
        if not lengths:
            raise BadRecord("no points in any stroke")
    flat = list(chain.from_iterable(xl))
    flat += chain.from_iterable(yl)
    if check_bools and any(type(v) is bool for v in flat):
        raise BadRecord("non-numeric coordinate (true/false)")
    try:
        values = np.array(flat)
    except (ValueError, TypeError, OverflowError):
        raise BadRecord("non-numeric or nested coordinate") from None
    if values.ndim != 1 or values.dtype.kind not in "iuf":
        raise BadRecord("non-numeric or nested coordinate")
    if values.dtype.kind == "f" and not np.isfinite(values).all():
        raise BadRecord("coordinate is not finite (NaN or infinity)")
    raw = 3 in arities
    low, high = (-RAW_LIMIT, RAW_LIMIT) if raw else (0, 255)
    vmin, vmax = values.min(), values.max()
    if vmin < low or vmax > high:
        layout = "raw" if raw else "simplified"
        raise BadRecord(f"coordinate out of range for the {layout} layout: Expected {low:g}..{high:g}, "
                        f"got {vmin:g}..{vmax:g}")
    return values.reshape(2, -1).T, lengths, raw


def too_large(count: int, what: str) -> str:
    """The reason a drawing over a cap (:data:`MAX_POINTS` points or :data:`MAX_STROKES` strokes) is skipped."""
    cap = MAX_POINTS if what == "points" else MAX_STROKES
    name = "MAX_POINTS" if what == "points" else "MAX_STROKES"
    return f"drawing too large: {count:,} {what}, Expected at most {cap:,} (qdimd.strokes.ndjson.{name})"


def _diagnose(drawing: list) -> None:
    """Raise :class:`BadRecord` naming the first malformed stroke."""
    arity = None
    for i, stroke in enumerate(drawing):
        if not isinstance(stroke, list) or len(stroke) not in (2, 3) or not all(isinstance(c, list) for c in stroke):
            raise BadRecord(f"stroke {i}: Expected [[x...], [y...]] or [[x...], [y...], [t...]]")
        if arity is not None and len(stroke) != arity:
            raise BadRecord(f"stroke {i}: mixes the simplified [x, y] and raw [x, y, t] layouts")
        arity = len(stroke)
        if len(stroke[0]) != len(stroke[1]):
            raise BadRecord(f"stroke {i}: x has {len(stroke[0])} values but y has {len(stroke[1])}")
    raise BadRecord("malformed strokes")


def normalize_raw(points: np.ndarray) -> np.ndarray:
    """Google's normalisation of raw canvas coordinates: top-left aligned, longer side scaled to 255.

    Args:
        points: ``(P, 2)`` float x, y in canvas pixels.

    Returns:
        ``(P, 2)`` float64 with minimum 0 per axis and ``max == 255`` on the longer side
        (a drawing that is a single point lands on 0, 0).
    """
    points = np.asarray(points, dtype=np.float64)
    shifted = points - points.min(axis=0)
    extent = shifted.max()
    if not extent > 0:
        return shifted
    scale = 255.0 / extent
    return shifted * scale if np.isfinite(scale) else shifted / extent * 255.0  # a subnormal extent overflows 255 / extent


def rdp(points: np.ndarray, epsilon: float) -> np.ndarray:
    """Ramer-Douglas-Peucker simplification of one stroke.

    Args:
        points: ``(n, 2)`` float.
        epsilon: keep a point when it lies farther than this from the segment that would replace it
            (distance to the segment, not the infinite line, so every dropped point stays within epsilon).

    Returns:
        ``(m, 2)`` subset of ``points`` (first and last always kept; ``m <= n``).
    """
    n = len(points)
    if n < 3:
        return points
    keep = np.zeros(n, dtype=bool)
    keep[[0, n - 1]] = True
    stack = [(0, n - 1)]
    while stack:
        a, b = stack.pop()
        if b - a < 2:
            continue
        seg = points[b] - points[a]
        rel = points[a + 1:b] - points[a]
        # distance to the segment (not the infinite line), so the result stays within epsilon
        t = np.clip(rel @ seg / max(float(seg @ seg), 1e-12), 0.0, 1.0)
        dist = np.hypot(*(rel - t[:, None] * seg).T)
        i = int(np.argmax(dist))
        if dist[i] > epsilon:
            mid = a + 1 + i
            keep[mid] = True
            stack += [(a, mid), (mid, b)]
    return points[keep]


def _simplify(points: np.ndarray, lengths: list[int], epsilon: float) -> tuple[np.ndarray, list[int]]:
    if not epsilon >= 0:
        raise ValueError(f"Expected simplify_raw >= 0 or None, got {epsilon!r}")
    cuts = np.cumsum(lengths[:-1], dtype=np.int64)
    parts = [rdp(s, epsilon) for s in np.split(points, cuts)]
    return np.concatenate(parts), [len(p) for p in parts]
