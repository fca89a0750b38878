"""``python -m bench``: one smoke run of the three frameworks, checked for the shape of its table (never for times)."""

from __future__ import annotations

import importlib.util
import re

from bench.__main__ import main
from bench.all_methods import PYTORCH_GRAD_CAM, SALIENCY_METHODS, SKIPPED, TORCHCAM, Settings, methods

RATIO = re.compile(r"^(\d+\.\d+)x$")


def _table(text: str) -> dict[str, list[str]]:
    lines = [ln for ln in text.splitlines() if ln.startswith("|")]
    header = [c.strip() for c in lines[0].strip("|").split("|")]
    rows = [[c.strip() for c in ln.strip("|").split("|")] for ln in lines[2:]]
    assert all(len(r) == len(header) for r in rows)
    return {r[0]: dict(zip(header, r)) for r in rows}


def _ratio(cell: str) -> float:
    m = RATIO.match(cell)
    assert m, f"not a ratio: {cell!r}"
    return float(m.group(1))


def test_quick_run_has_every_method_in_every_framework(capsys):
    # 64 px: the smallest input at which EfficientNet's _act1 is spatial (2 x 2); at 32 px it is 1 x 1 and refused
    argv = ["--quick", "--framework", "torch", "paddle", "keras", "--size", "64", "--threads", "1", "--no-vit"]
    text = main(argv)
    out = capsys.readouterr().out
    assert out.strip() == text.strip()  # stdout holds the header, the table and the import check only
    assert all(f"{fw} " in out.splitlines()[0] for fw in ("torch", "paddle", "keras"))
    check = out.strip().splitlines()[-1]  # a fresh interpreter imported every module of visualization.keras
    assert check.startswith("Import check (ok)"), check
    assert "tensorflow yes, keras yes, torch no, paddle no" in check and "saliency" in check

    table = _table(text)
    expected = methods(Settings.quick(size=32))
    assert list(table) == ["forward (no grad), absolute"] + [m.label for m in expected]
    forward = table["forward (no grad), absolute"]
    for fw in ("torch", "paddle", "keras"):
        assert re.match(r"^\d+\.\d ms$", forward[f"{fw} time/fwd"])
        assert re.match(r"^\d+\.\d$", forward[f"{fw} peak MiB"])

    have_torchcam = importlib.util.find_spec("torchcam") is not None
    have_captum = importlib.util.find_spec("captum") is not None
    have_grad_cam = importlib.util.find_spec("pytorch_grad_cam") is not None
    for m in expected:
        row = table[m.label]
        if m.key == "scorecam":  # exact Score-CAM only with --full
            assert {row["torch time/fwd"], row["paddle time/fwd"], row["keras time/fwd"]} == {SKIPPED}
            assert row["torchcam time/fwd"] == SKIPPED
            continue
        for fw in ("torch", "paddle", "keras"):
            assert _ratio(row[f"{fw} time/fwd"]) > 0, (m.label, fw, row)
            assert re.match(r"^\d+\.\d( \(\d+\.\dx\))?$", row[f"{fw} peak MiB"]), (m.label, fw, row)
        if m.key in TORCHCAM:
            assert (
                (_ratio(row["torchcam time/fwd"]) > 0) if have_torchcam else row["torchcam time/fwd"].startswith("n/a")
            )
        else:
            assert row["torchcam time/fwd"] == "-"
        if m.key in (*SALIENCY_METHODS, "gradcam"):
            assert (_ratio(row["captum time/fwd"]) > 0) if have_captum else row["captum time/fwd"].startswith("n/a")
        else:
            assert row["captum time/fwd"] == "-"
        cell = row["pytorch-grad-cam time/fwd"]
        if not have_grad_cam:
            # pytorch-grad-cam needs torchvision and opencv, which do not work with the CPU torch build
            # used here: the column must then say so rather than show a number.
            assert cell.startswith("n/a"), cell
        elif m.key in PYTORCH_GRAD_CAM:
            assert _ratio(cell) > 0, cell
        else:
            assert cell == "-", cell


def test_quick_vit_table_has_every_method_and_batch():
    from bench.vit import vit_section

    text = vit_section(["torch", "paddle"], quick=True, repeats=1)
    lines = [ln for ln in text.splitlines() if ln.startswith("|")]
    header = [c.strip() for c in lines[0].strip("|").split("|")]
    assert header == ["ViT method", "torch batch 1", "paddle batch 1", "torch batch 2", "paddle batch 2"]
    rows = {r[0]: r[1:] for r in ([c.strip() for c in ln.strip("|").split("|")] for ln in lines[2:])}
    assert list(rows) == ["forward (no grad), absolute", "Grad-CAM", "Grad-CAM++", "Score-CAM (top 40)", "Ablation-CAM"]
    for name, cells in rows.items():
        for cell in cells:
            assert re.match(r"^\d+\.\d+ ms$" if name.startswith("forward") else r"^\d+\.\d+x$", cell), (name, cell)
