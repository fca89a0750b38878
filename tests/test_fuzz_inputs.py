"""Fuzz every input a user hands to ``cnnvis explain`` (issue #17, part 3).

Each case is one command on the tiny torch cat/dog model. A case the tool must refuse ends with exit
status 2, exactly one ``Error:`` message containing a given phrase (what went wrong and what to do), no
traceback, no output folder (or the pre-existing one unchanged), no temporary file left behind, and the
user's files byte-for-byte and mtime unchanged. A case the tool must accept (an unusual but valid image,
a name full of HTML) ends with exit status 0 and a report in which names are escaped.

``CASES`` is the table the issue asks for; ``test_case_count`` pins its size.
"""

from __future__ import annotations

import hashlib
import html
import io
import os
import pickle
import re
import struct
import zlib
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import paddle
import pytest
import torch
from click.testing import CliRunner
from PIL import Image

from visualization.cli import main
from visualization.models.image_files import ImageFileError, open_rgb

from ._cli_models import tiny_catdog, tiny_catdog_paddle

IS_ROOT = hasattr(os, "geteuid") and os.geteuid() == 0


# ---------------------------------------------------------------- file makers
def _png(path: Path, arr: np.ndarray | None = None) -> Path:
    Image.fromarray(np.full((40, 48, 3), 120, np.uint8) if arr is None else arr).save(path)
    return path


def _png_header(path: Path, width: int, height: int) -> Path:
    """A PNG that declares ``width x height`` pixels and holds none: Pillow's bomb check runs on open."""

    def chunk(kind: bytes, data: bytes) -> bytes:
        return struct.pack(">I", len(data)) + kind + data + struct.pack(">I", zlib.crc32(kind + data))

    ihdr = struct.pack(">IIBBBBB", width, height, 8, 0, 0, 0, 0)
    path.write_bytes(b"\x89PNG\r\n\x1a\n" + chunk(b"IHDR", ihdr) + chunk(b"IEND", b""))
    return path


def _truncated(path: Path, fmt: str) -> Path:
    src = path.with_name("full" + path.suffix)
    Image.fromarray(np.random.default_rng(0).integers(0, 255, (64, 64, 3), np.uint8)).save(src, fmt)
    path.write_bytes(src.read_bytes()[: src.stat().st_size // 2])
    src.unlink()
    return path


def _sixteen_bit(path: Path) -> Path:
    Image.fromarray(np.full((20, 30), 32768, np.uint16)).save(path)
    return path


def _palette_transparent(path: Path) -> Path:
    img = Image.new("P", (20, 20), 0)
    img.putpalette([0, 0, 0, 200, 30, 30] + [0] * 762)
    img.paste(1, (5, 5, 15, 15))
    img.save(path, transparency=0)
    return path


def _cmyk(path: Path) -> Path:
    Image.new("CMYK", (24, 24), (0, 255, 255, 0)).save(path, "JPEG")
    return path


def _exif_rotated(path: Path) -> Path:
    exif = Image.Exif()
    exif[0x0112] = 6  # orientation: rotate 90 degrees clockwise to display
    Image.fromarray(np.full((20, 40, 3), 90, np.uint8)).save(path, "JPEG", exif=exif)
    return path


def _loop(path: Path) -> Path:
    other = path.with_name("loop-b" + path.suffix)
    path.symlink_to(other.name)
    other.symlink_to(path.name)
    return path


def _evil_pickle(path: Path, marker: Path) -> Path:
    class _System:
        def __reduce__(self):
            return (os.system, (f"touch '{marker}'",))

    path.write_bytes(pickle.dumps({"conv1.weight": _System()}))
    return path


# ---------------------------------------------------------------- the cases
@dataclass
class Case:
    name: str
    kind: str  # "image", "images-dir", "weights", "out", "names"
    make: Callable[[Path], list[str]]  # builds the inputs under the folder, returns the extra CLI args
    expect: str  # a phrase of the one message (refused), or "ok"
    framework: str = "torch"


def _img(make_file: Callable[[Path], Path], name: str) -> Callable[[Path], list[str]]:
    return lambda d: ["--image", str(make_file(d / name))]


def _dir(*files: tuple[str, Callable[[Path], object]]) -> Callable[[Path], list[str]]:
    def make(d: Path) -> list[str]:
        folder = d / "photos"
        folder.mkdir()
        for name, fn in files:
            fn(folder / name)
        return ["--images-dir", str(folder), "--batch-size", "1"]

    return make


def _with_photo(*args: str) -> Callable[[Path], list[str]]:
    def make(d: Path) -> list[str]:
        return ["--image", str(_png(d / "cat.png")), *[a.format(d=d) for a in args]]

    return make


def _weights(make_file: Callable[[Path], object]) -> Callable[[Path], list[str]]:
    def make(d: Path) -> list[str]:
        make_file(d / "w.bin")
        return ["--image", str(_png(d / "cat.png")), "--weights", str(d / "w.bin")]

    return make


def _bad_shapes(path: Path) -> None:
    sd = tiny_catdog().state_dict()
    sd["fc2.weight"] = torch.zeros(3, 3)
    torch.save(sd, path)


def _out_file(force: bool, stream: bool = False) -> Callable[[Path], list[str]]:
    def make(d: Path) -> list[str]:
        (d / "notes.txt").write_text("the user's notes\n")
        inputs = ["--images-dir", str(_dir(("cat.png", _png))(d)[1])] if stream else ["--image", str(_png(d / "c.png"))]
        return [*inputs, "--out", str(d / "notes.txt"), *(["--force"] if force else [])]

    return make


def _full_folder(d: Path) -> list[str]:
    (d / "o").mkdir()
    (d / "o" / "keep.txt").write_text("keep me")
    return ["--image", str(_png(d / "cat.png"))]


def _inside_file(d: Path) -> list[str]:
    (d / "notes.txt").write_text("x")
    return ["--image", str(_png(d / "cat.png")), "--out", str(d / "notes.txt" / "report")]


def _read_only(d: Path) -> list[str]:
    ro = d / "ro"
    ro.mkdir()
    ro.chmod(0o555)
    return ["--image", str(_png(d / "cat.png")), "--out", str(ro / "report")]


HTML_NAME = '<img src=x onerror=alert(1)>".png'
QUOTE_NAME = 'it\'s "the" cat & co.png'


def _classes(data: bytes) -> Callable[[Path], list[str]]:
    def make(d: Path) -> list[str]:
        (d / "classes.txt").write_bytes(data)
        return ["--image", str(_png(d / "cat.png")), "--classes", str(d / "classes.txt")]

    return make


CASES = [
    # images (--image)
    Case("zero bytes", "image", _img(lambda p: (p.write_bytes(b""), p)[1], "empty.png"), "the file is empty"),
    Case("truncated PNG", "image", _img(lambda p: _truncated(p, "PNG"), "cut.png"), "complete image file"),
    Case("truncated JPEG", "image", _img(lambda p: _truncated(p, "JPEG"), "cut.jpg"), "complete image file"),
    Case("text named .jpg", "image", _img(lambda p: (p.write_text("hello"), p)[1], "notes.jpg"), "not an image"),
    Case("16-bit PNG", "image", _img(_sixteen_bit, "deep.png"), "ok"),
    Case("palette PNG with transparency", "image", _img(_palette_transparent, "pal.png"), "ok"),
    Case("CMYK JPEG", "image", _img(_cmyk, "cmyk.jpg"), "ok"),
    Case("EXIF-rotated JPEG", "image", _img(_exif_rotated, "phone.jpg"), "ok"),
    Case("1x1 image", "image", _img(lambda p: _png(p, np.zeros((1, 1, 3), np.uint8)), "dot.png"), "ok"),
    Case("over 2x the bomb limit", "image", _img(lambda p: _png_header(p, 20000, 20000), "bomb.png"), "bomb"),
    Case("1x-2x the bomb limit", "image", _img(lambda p: _png_header(p, 10000, 10000), "big.png"), "bomb"),
    Case("symlink loop", "image", _img(_loop, "loop-a.jpg"), "symlink loop"),
    Case("broken symlink", "image", _img(lambda p: (p.symlink_to("gone.png"), p)[1], "dangling.png"), "symlink"),
    Case("folder without images", "image", lambda d: ["--image", str((d / "e").mkdir() or d / "e")], "no image files"),
    # a folder (--images-dir)
    Case(
        "junk among photos",
        "images-dir",
        _dir(
            ("a.png", _png), (".DS_Store", lambda p: p.write_bytes(b"\0\1")), ("z.jpg", lambda p: p.write_text("junk"))
        ),
        "z.jpg",
    ),
    Case(
        "only junk",
        "images-dir",
        _dir(("a.txt", lambda p: p.write_text("x")), ("b", lambda p: p.write_text("y"))),
        "no image files",
    ),
    Case("folder symlink loop", "images-dir", _dir(("a.png", _png), ("self", lambda p: p.symlink_to("."))), "ok"),
    Case("file symlink loop", "images-dir", _dir(("a.png", _png), ("loop-a.jpg", _loop)), "symlink loop"),
    Case(
        "empty image in folder",
        "images-dir",
        _dir(("a.png", _png), ("b.png", lambda p: p.write_bytes(b""))),
        "the file is empty",
    ),
    # weights
    Case("wrong shapes", "weights", _weights(_bad_shapes), "do not fit"),
    Case(
        "wrong framework (.pdparams for torch)",
        "weights",
        _weights(lambda p: paddle.save(tiny_catdog_paddle().state_dict(), str(p))),
        "PaddlePaddle state dict",
    ),
    Case(
        "wrong framework (.pt for Paddle)",
        "weights",
        _weights(lambda p: torch.save(tiny_catdog().state_dict(), p)),
        "PyTorch checkpoint",
        "paddle",
    ),
    Case(
        "malicious pickle",
        "weights",
        _weights(lambda p: _evil_pickle(p, p.with_name("PWNED"))),
        "holds something other than tensors",
    ),
    Case(
        "malicious pickle, Paddle",
        "weights",
        _weights(lambda p: _evil_pickle(p, p.with_name("PWNED"))),
        "holds something other than tensors",
        "paddle",
    ),
    Case("empty weights file", "weights", _weights(lambda p: p.write_bytes(b"")), "is empty"),
    Case(
        "weights is a folder",
        "weights",
        lambda d: ["--image", str(_png(d / "cat.png")), "--weights", str((d / "w").mkdir() or d / "w")],
        "is a directory",
    ),
    # --out
    Case("--out is an existing file", "out", _out_file(False), "is a file"),
    Case("--out is an existing file, --force", "out", _out_file(True), "is a file"),
    Case("--out is an existing file, --images-dir", "out", _out_file(False, stream=True), "is a file"),
    Case("--out inside a file", "out", _inside_file, "which is a file"),
    Case("--out a full folder, no --force", "out", _full_folder, "--force"),
    Case("--out in a read-only folder", "out", _read_only, "ok" if IS_ROOT else "permission denied"),
    # names
    Case("image name with HTML", "names", _img(_png, HTML_NAME), "ok"),
    Case("image name with quotes", "names", _img(_png, QUOTE_NAME), "ok"),
    Case("class names with HTML", "names", _classes(b"<script>alert(1)</script>\n\"dog\" & 'co'\n"), "ok"),
    Case("class names not UTF-8", "names", _classes(b"\xff\xfe\x00c\x00a\x00t"), "class-names file"),
    Case("images-dir names with HTML", "names", _dir((HTML_NAME, _png), (QUOTE_NAME, _png)), "ok"),
]


def test_case_count():
    assert len(CASES) == 37
    kinds = {k: sum(c.kind == k for c in CASES) for k in ("image", "images-dir", "weights", "out", "names")}
    assert kinds == {"image": 14, "images-dir": 5, "weights": 7, "out": 6, "names": 5}


def _snapshot(folder: Path, skip: Path) -> dict[str, tuple[str, int]]:
    """Every user file under ``folder`` (outside ``skip``): content hash and mtime; links by their target."""
    out = {}
    for dirpath, dirnames, filenames in os.walk(folder):
        dirnames[:] = [n for n in dirnames if Path(dirpath, n) != skip]
        for name in filenames:
            p = Path(dirpath, name)
            if p.is_symlink():
                out[str(p)] = (os.readlink(p), 0)
            else:
                out[str(p)] = (hashlib.sha256(p.read_bytes()).hexdigest(), p.stat().st_mtime_ns)
    return out


@pytest.mark.parametrize("case", CASES, ids=[c.name for c in CASES])
def test_fuzz_case(tmp_path, case):
    args = case.make(tmp_path)
    if "--out" not in args:
        args += ["--out", str(tmp_path / "o")]
    out = Path(args[args.index("--out") + 1])
    model = "tests._cli_models:tiny_catdog" if case.framework == "torch" else "tests._cli_models:tiny_catdog_paddle"
    before = _snapshot(tmp_path, out)
    existed = out.exists()
    out_before = _snapshot(out, Path("/nonexistent")) if out.is_dir() else None
    head = ["explain", "--framework", case.framework, "--model", model, "--input-size", "32", "--method", "gradcam"]
    res = CliRunner().invoke(main, [*head, "--no-progress", *args])
    text = res.output
    assert "Traceback" not in text, text
    assert not (tmp_path / "PWNED").exists()
    if case.expect == "ok":
        assert res.exit_code == 0, text
        if case.kind == "names":
            _check_escaped(out)
    else:
        assert res.exit_code == 2, text
        assert len(re.findall(r"^Error:", text, re.M)) == 1 and case.expect in text, text
        if existed:
            if out_before is not None:
                assert _snapshot(out, Path("/nonexistent")) == out_before  # the folder is as it was
        elif "--images-dir" not in args:
            assert not out.exists()  # nothing half-written
        else:  # a streamed folder keeps the images finished before the bad one, complete
            assert all(not p.name.endswith(".tmp") for p in out.rglob("*")) if out.exists() else True
    leftovers = [p for p in tmp_path.rglob("*") if p.name.endswith(".tmp") or p.name.startswith((".o.", ".report."))]
    assert not leftovers, leftovers
    assert _snapshot(tmp_path, out) == before  # the user's files untouched


def _check_escaped(out: Path) -> None:
    if (out / "report.html").is_file():
        page = (out / "report.html").read_text(encoding="utf-8")
        assert "<img src=x" not in page and "<script>alert" not in page
        assert html.escape("<img src=x onerror=alert(1)>") in page or "&lt;script&gt;" in page or "&quot;" in page
    else:  # streamed: the index names the file exactly, the outputs have safe names
        index = (out / "index.csv").read_text(encoding="utf-8")
        assert "onerror" in index
        assert all(
            set(p.name) <= set("abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ0123456789-_.")
            for p in out.rglob("*.npz")
        )


# ---------------------------------------------------------------- what the accepted images decode to
def test_open_rgb_decodes_unusual_images_as_they_are_shown(tmp_path):
    deep = np.asarray(open_rgb(_sixteen_bit(tmp_path / "deep.png")))
    assert deep.shape == (20, 30, 3) and abs(int(deep[0, 0, 0]) - 128) <= 1  # scaled, not clipped to white
    pal = np.asarray(open_rgb(_palette_transparent(tmp_path / "pal.png")))
    assert tuple(pal[0, 0]) == (255, 255, 255) and tuple(pal[10, 10]) == (200, 30, 30)  # transparent -> white
    cmyk = np.asarray(open_rgb(_cmyk(tmp_path / "cmyk.jpg")))
    assert cmyk[12, 12, 0] > 200 and cmyk[12, 12, 1] < 60  # red
    assert open_rgb(_exif_rotated(tmp_path / "phone.jpg")).size == (20, 40)  # upright: 20 wide, 40 high
    with pytest.raises(ImageFileError, match="decompression-bomb limit"):
        open_rgb(_png_header(tmp_path / "bomb.png", 10000, 10000))
    with pytest.raises(ImageFileError, match="decompression-bomb limit") as info:  # an upload: bytes in memory
        open_rgb(io.BytesIO((tmp_path / "bomb.png").read_bytes()), name="bomb.png")
    assert "'bomb.png'" in str(info.value)
    empty = tmp_path / "empty.png"
    empty.write_bytes(b"")
    with pytest.raises(ImageFileError) as info:
        open_rgb(empty)
    assert str(info.value).count("Could not read") == 1 and "the file is empty" in str(info.value)
