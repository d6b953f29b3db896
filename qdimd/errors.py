"""User-facing errors and the bad-input report shared by every reader.

Readers never end in a traceback on bad data: they either skip the record and
note it in a :class:`ProblemLog` (the default) or, in strict mode, raise
:class:`InputError` naming the file and line.
"""
from __future__ import annotations

import os
from dataclasses import dataclass, field


class InputError(ValueError):
    """Bad input from the user: a file, a record, an option. The message says where."""


def printable(text: str) -> str:
    """``text`` safe to print or write as UTF-8: a file name that is not valid UTF-8 (which Python holds
    as surrogate escapes, ``os.fsdecode``) shows its raw bytes as ``\\xNN``."""
    try:
        text.encode("utf-8")
        return text
    except UnicodeEncodeError:
        try:
            return text.encode("utf-8", "surrogateescape").decode("utf-8", "backslashreplace")
        except UnicodeEncodeError:
            return text.encode("utf-8", "backslashreplace").decode("utf-8")


def name_problem(path: str | os.PathLike) -> str | None:
    """Why a file cannot be listed in a UTF-8 manifest or report (its name is not valid UTF-8), or None."""
    text = os.fspath(path)
    if printable(text) == text:
        return None
    return "file name is not valid UTF-8 (manifests and reports are UTF-8): rename the file"


@dataclass(frozen=True)
class Problem:
    """One skipped record or file."""

    path: str
    line: int | None
    reason: str

    def __str__(self) -> str:
        where = self.path if self.line is None else f"{self.path}:{self.line}"
        return f"{where}: {self.reason}"


@dataclass
class ProblemLog:
    """Collects skipped records; in strict mode the first one raises.

    Args:
        strict: raise :class:`InputError` at the first problem instead of skipping.
    """

    strict: bool = False
    problems: list[Problem] = field(default_factory=list)
    warnings: list[str] = field(default_factory=list)

    def add(self, path: str, line: int | None, reason: str) -> None:
        problem = Problem(printable(os.fsdecode(path)), line, printable(reason))
        if self.strict:
            raise InputError(f"{problem} (strict mode stops at the first bad record)")
        self.problems.append(problem)

    def warn(self, message: str) -> None:
        """Note a doubt about the input that skips nothing (e.g. an inverted mask polarity); strict: raise."""
        if self.strict:
            raise InputError(f"{message} (strict mode stops at the first warning)")
        if message not in self.warnings:
            self.warnings.append(message)

    def __len__(self) -> int:
        """The number of skipped records (warnings not counted)."""
        return len(self.problems)

    def __bool__(self) -> bool:
        return bool(self.problems or self.warnings)

    def summary(self, limit: int = 10) -> str:
        """A human summary: the warnings, then the count and the first ``limit`` places."""
        if not self.problems and not self.warnings:
            return "no bad records"
        lines = [f"warning: {w}" for w in self.warnings]
        if not self.problems:
            return "\n".join(lines)
        lines.append(f"skipped {len(self.problems)} bad record(s):")
        lines += [f"  {p}" for p in self.problems[:limit]]
        if len(self.problems) > limit:
            lines.append(f"  ... and {len(self.problems) - limit} more")
        return "\n".join(lines)
