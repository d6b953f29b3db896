"""The documentation cannot rot: README.md and docs/*.md are checked against the code.

Every ```python block runs; every relative link (and its #anchor) resolves; every
`qdimd.x.y` / `inpaint.x.y` name and source path quoted in the text exists; the
README stays short, with the two Quick start commands.

Each Python block runs on its own (fresh globals), in a fresh temporary folder
holding ``photos/`` and ``quickdraw/`` (copies of ``tests/data``), offline:
internet sockets are refused and ``TORCH_HOME`` points at an empty folder, so
no example can lean on downloaded weights. The test id is ``FILE:LINE`` of the
block's opening fence, and tracebacks show the Markdown file's own line numbers.
"""
from __future__ import annotations

import importlib
import re
import shutil
import socket
from pathlib import Path
from typing import NamedTuple

import pytest

ROOT = Path(__file__).resolve().parents[2]
DATA = ROOT / "tests" / "data"
DOC_FILES = [ROOT / "README.md", *sorted((ROOT / "docs").glob("*.md"))]
PYTHON_INFOS = {"python", "py"}
README_MAX_LINES = 300
QUICK_START = ["make demo", "make test"]

FENCE = re.compile(r"^(?P<indent>[ \t]*)(?P<fence>`{3,}|~{3,})(?P<info>[^`]*)$")
LINK = re.compile(r"!?\[(?:[^\]\\]|\\.)*\]\(\s*<?(?P<target>[^)\s>]+)>?(?:\s+\"[^\"]*\")?\s*\)")
INLINE_CODE = re.compile(r"(`+).+?\1")
HEADING = re.compile(r"^#{1,6}\s+(?P<title>.+?)\s*#*\s*$")


class Block(NamedTuple):
    info: str
    line: int  # 1-based line of the opening fence
    code: str


def split_blocks(text: str) -> tuple[list[Block], list[tuple[int, str]]]:
    """Fenced code blocks, and the ``(line number, text)`` of every line outside them.

    A fence closes on a line of the same character, at least as long, with
    nothing else on it (CommonMark); the block's lines lose the fence's indentation.
    """
    blocks, prose = [], []
    lines = text.splitlines()
    i = 0
    while i < len(lines):
        m = FENCE.match(lines[i])
        if not m:
            prose.append((i + 1, lines[i]))
            i += 1
            continue
        indent, fence, info = m["indent"], m["fence"], m["info"].strip()
        closing = re.compile(rf"^[ \t]*{re.escape(fence[0])}{{{len(fence)},}}[ \t]*$")
        body, j = [], i + 1
        while j < len(lines) and not closing.match(lines[j]):
            body.append(lines[j][len(indent):] if lines[j].startswith(indent) else lines[j].lstrip())
            j += 1
        blocks.append(Block(info.split()[0].lower() if info else "", i + 1, "\n".join(body) + "\n"))
        i = j + 1
    return blocks, prose


def _rel(path: Path) -> str:
    return path.relative_to(ROOT).as_posix()


def _python_blocks() -> list[tuple[Path, Block]]:
    return [(path, block) for path in DOC_FILES
            for block in split_blocks(path.read_text(encoding="utf-8"))[0] if block.info in PYTHON_INFOS]


PYTHON_BLOCKS = _python_blocks()


@pytest.fixture
def doc_folder(tmp_path, monkeypatch):
    """A fresh working folder with the bundled example data, and no network."""
    for name in ("photos", "quickdraw"):
        shutil.copytree(DATA / name, tmp_path / name)
    torch_home = tmp_path.parent / f"{tmp_path.name}-torch-home"
    torch_home.mkdir()
    monkeypatch.setenv("TORCH_HOME", str(torch_home))
    real_connect = socket.socket.connect

    def connect(sock, address):
        if sock.family in (socket.AF_INET, socket.AF_INET6):
            raise OSError(f"documentation examples run offline (tried to connect to {address!r})")
        return real_connect(sock, address)

    monkeypatch.setattr(socket.socket, "connect", connect)
    monkeypatch.chdir(tmp_path)
    return tmp_path


@pytest.mark.parametrize(
    ("path", "block"), PYTHON_BLOCKS, ids=[f"{_rel(p)}:{b.line}" for p, b in PYTHON_BLOCKS])
def test_python_example_runs(path, block, doc_folder):
    # Pad with newlines so that tracebacks give the line in the Markdown file.
    code = compile("\n" * block.line + block.code, str(path), "exec")
    exec(code, {"__name__": "__docs_example__"})


def test_every_documentation_file_has_python_examples_collected():
    files = {p for p, _ in PYTHON_BLOCKS}
    assert ROOT / "README.md" in files
    assert len(PYTHON_BLOCKS) >= len(files) >= 2


def test_split_blocks_reads_indented_and_long_fences():
    text = "a\n```python\nx = 1\n```\n- item\n\n  ````bash\n  echo ```\n  ````\n~~~\nraw\n~~~\nb\n"
    blocks, prose = split_blocks(text)
    assert blocks == [Block("python", 2, "x = 1\n"), Block("bash", 7, "echo ```\n"), Block("", 10, "raw\n")]
    assert prose == [(1, "a"), (5, "- item"), (6, ""), (13, "b")]


def slug(title: str) -> str:
    """GitHub's anchor for a heading: lower case, punctuation dropped, spaces to hyphens."""
    title = re.sub(r"\[([^\]]*)\]\([^)]*\)", r"\1", title).lower()
    return re.sub(r"[^\w\- ]", "", title).replace(" ", "-")


def anchors(path: Path) -> set[str]:
    """The heading anchors of a Markdown file (a repeated heading gets ``-1``, ``-2``, ...)."""
    found, counts = set(), {}
    for _, line in split_blocks(path.read_text(encoding="utf-8"))[1]:
        m = HEADING.match(line)
        if m:
            base = slug(m["title"])
            n = counts.get(base, 0)
            counts[base] = n + 1
            found.add(base if n == 0 else f"{base}-{n}")
    return found


def relative_links(path: Path) -> list[tuple[int, str]]:
    """``(line, target)`` of every Markdown link or image outside code that is not a URL."""
    out = []
    for number, line in split_blocks(path.read_text(encoding="utf-8"))[1]:
        for m in LINK.finditer(INLINE_CODE.sub("", line)):
            target = m["target"]
            if not re.match(r"^[a-z][a-z0-9+.-]*:", target, re.I):
                out.append((number, target))
    return out


@pytest.mark.parametrize("path", DOC_FILES, ids=[_rel(p) for p in DOC_FILES])
def test_relative_links_point_to_existing_files_and_headings(path):
    broken = []
    for number, target in relative_links(path):
        file_part, _, anchor = target.partition("#")
        dest = (path.parent / file_part).resolve() if file_part else path
        if not dest.exists():
            broken.append(f"{_rel(path)}:{number}: {target} (no such file)")
        elif dest != ROOT and ROOT not in dest.parents:
            broken.append(f"{_rel(path)}:{number}: {target} (outside the repository)")
        elif anchor and dest.suffix == ".md" and anchor not in anchors(dest):
            broken.append(f"{_rel(path)}:{number}: {target} (no heading #{anchor} in {dest.name})")
    assert not broken, "\n".join(broken)


def test_links_are_found_and_checked():
    links = [t for p in DOC_FILES for _, t in relative_links(p)]
    assert "docs/preview.png" in links and "docs/README.md" in links
    assert slug("`qdimd bucket`: a fixed test split, or sort your own masks") == \
        "qdimd-bucket-a-fixed-test-split-or-sort-your-own-masks"


def _section(text: str, title: str) -> str:
    m = re.search(rf"^## {re.escape(title)}\n(?P<body>.*?)(?=^## |\Z)", text, re.M | re.S)
    assert m, f"README.md has no '## {title}' section"
    return m["body"]


def test_readme_is_short_and_quick_start_is_two_commands():
    text = (ROOT / "README.md").read_text(encoding="utf-8")
    assert len(text.splitlines()) <= README_MAX_LINES
    blocks, _ = split_blocks(_section(text, "Quick start"))
    commands = [line.split("#", 1)[0].strip() for b in blocks for line in b.code.splitlines()]
    assert [c for c in commands if c] == QUICK_START
    makefile = (ROOT / "Makefile").read_text(encoding="utf-8")
    for target in ("demo", "test"):
        assert re.search(rf"^{target}:", makefile, re.M), f"Makefile has no {target} target"
    assert "make test" in (ROOT / ".ci" / "run").read_text(encoding="utf-8")


NAME = re.compile(r"\b(?:qdimd|inpaint)(?:\.[A-Za-z_]\w*)+")
SOURCE_PATH = re.compile(r"^(?:qdimd|inpaint|cli|tests|benchmarks|data|docs)/[\w./-]*$")


def inline_code(path: Path) -> list[tuple[int, str]]:
    """``(line, text)`` of every inline code span outside code blocks."""
    return [(number, m.group(0).strip("`").strip()) for number, line in split_blocks(path.read_text(encoding="utf-8"))[1]
            for m in INLINE_CODE.finditer(line)]


def resolves(dotted: str) -> bool:
    """Whether ``a.b.c`` is an importable module or an attribute path below one."""
    parts = dotted.split(".")
    for cut in range(len(parts), 0, -1):
        try:
            obj = importlib.import_module(".".join(parts[:cut]))
        except ImportError:
            continue
        try:
            for attr in parts[cut:]:
                obj = getattr(obj, attr)
        except AttributeError:
            return False
        return True
    return False


@pytest.mark.parametrize("path", DOC_FILES, ids=[_rel(p) for p in DOC_FILES])
def test_module_names_and_source_paths_in_the_text_exist(path):
    missing = []
    for number, code in inline_code(path):
        for name in NAME.findall(code):
            if not resolves(name):
                missing.append(f"{_rel(path)}:{number}: {name} (no such module or attribute)")
        if SOURCE_PATH.match(code) and not (ROOT / code).exists():
            missing.append(f"{_rel(path)}:{number}: {code} (no such file)")
    assert not missing, "\n".join(missing)


def test_names_and_paths_are_found_and_checked():
    found = {name for p in DOC_FILES for _, code in inline_code(p) for name in NAME.findall(code)}
    assert {"qdimd.masks.generator.mask_rng", "qdimd.augment", "inpaint.nn.inception"} <= found
    assert resolves("qdimd.masks.generator.mask_rng") and resolves("inpaint.fill.fill_image")
    assert not resolves("qdimd.generator.mask_rng") and not resolves("qdimd.MaskGenerator.no_such_method")
    paths = {code for p in DOC_FILES for _, code in inline_code(p) if SOURCE_PATH.match(code)}
    assert "qdimd/masks/targeted.py" in paths


def _shell_commands(path: Path) -> list[str]:
    """The commands of the shell blocks of ``path``, continuation lines joined, ``&&`` chains split."""
    blocks, _ = split_blocks(path.read_text(encoding="utf-8"))
    text = "\n".join(b.code for b in blocks if b.info in ("bash", "sh", "shell", "console"))
    return [c.strip() for line in text.replace("\\\n", " ").splitlines() for c in line.split("&&") if c.strip()]


@pytest.mark.parametrize("path", DOC_FILES, ids=_rel)
def test_eval_recipes_followed_in_turn_never_reuse_a_report_folder(path):
    """`inpaint eval` refuses a --out holding other methods: recipes of one page need their own --out each."""
    methods: dict[str, set[tuple[str, ...]]] = {}
    for command in _shell_commands(path):
        if "inpaint eval" in command and "--out" in command:
            out = re.search(r"--out\s+(\S+)", command)[1].rstrip("/")
            methods.setdefault(out, set()).add(tuple(sorted(re.findall(r"--method\s+(\S+)", command))))
    assert not [out for out, sets in methods.items() if len(sets) > 1]


@pytest.mark.parametrize("path", DOC_FILES, ids=_rel)
def test_lama_predict_gets_absolute_paths(path):
    """LaMa's predict.py runs under hydra, which changes the working directory: relative paths break."""
    for command in _shell_commands(path):
        if "predict.py" in command:
            for key in ("model.path", "indir", "outdir"):
                value = re.search(rf"\b{re.escape(key)}=(\S+)", command)
                assert value and value[1].startswith(("/", "$(", "$PWD", "${PWD}")), (key, command)


@pytest.mark.parametrize("path", DOC_FILES, ids=_rel)
def test_inpaint_commands_run_where_their_relative_paths_are(path):
    """A recipe that enters a tool's checkout (`cd lama`) comes back (`cd ..`) before our commands."""
    for block in split_blocks(path.read_text(encoding="utf-8"))[0]:
        if block.info not in ("bash", "sh", "shell", "console"):
            continue
        depth = 0
        for command in [c.strip() for line in block.code.splitlines() for c in line.split("&&")]:
            if re.match(r"cd\s+\S", command):
                depth += -command.split()[1].rstrip("/").count("..") or 1
            elif re.match(r"(\w+=\S+\s+)*(inpaint|qdimd)\s", command):
                assert depth <= 0, (block.line, command)
