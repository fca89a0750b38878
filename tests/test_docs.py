"""The tutorial chapters (docs/0*.md) and README.zh-CN.md cannot drift from the code.

Every ```python block of a chapter runs, in order, in one namespace per chapter (one test per
chapter), in a temporary working directory. Blocks that are not meant to run use another fence
language (```text, ```bash). Links to images and other chapters must point at existing files.
"""

from __future__ import annotations

import importlib.util
import re
from pathlib import Path

import matplotlib

matplotlib.use("Agg")

import matplotlib.pyplot as plt
import pytest

ROOT = Path(__file__).resolve().parents[1]
DOCS = ROOT / "docs"
CHAPTERS = sorted(DOCS.glob("[0-9][0-9]-*.md"))
FAQ = DOCS / "faq.md"  # not a chapter: FAQ, troubleshooting, layer table, migration from pytorch-grad-cam
ZH_README = ROOT / "README.zh-CN.md"
EXPECTED = [
    "01-overview.md",
    "02-convolution-layers.md",
    "03-feature-map-analysis.md",
    "04-cam-techniques.md",
    "05-comparison-guide.md",
    "06-transformers-segmentation-detection.md",
    "07-saliency-and-activation-maximization.md",
]
FENCE_OPEN = re.compile(r"^```(\S*)", re.M)
PYTHON_BLOCK = re.compile(r"^```python\n(.*?)^```\s*$", re.S | re.M)
LINK = re.compile(r"\]\(([^)\s]+)\)")
PAPERS = {
    "Zeiler & Fergus 2014": "1311.2901",
    "Simonyan et al. 2014": "1312.6034",
    "Zhou et al. 2016 (CAM)": "1512.04150",
    "Selvaraju et al. 2017 (Grad-CAM)": "1610.02391",
    "Chattopadhyay et al. 2018 (Grad-CAM++)": "1710.11063",
    "Wang et al. 2020 (Score-CAM)": "1910.01279",
    "Adebayo et al. 2018 (sanity checks)": "1810.03292",
    "Wang et al. 2020 (CNN Explainer)": "2004.15004",
}


def python_blocks(path: Path) -> list[str]:
    return PYTHON_BLOCK.findall(path.read_text(encoding="utf-8"))


def test_the_chapters_exist():
    assert [p.name for p in CHAPTERS] == EXPECTED


@pytest.mark.parametrize("chapter", [*CHAPTERS, FAQ], ids=lambda p: p.stem)
def test_chapter_code_runs(chapter, tmp_path, monkeypatch):
    blocks = python_blocks(chapter)
    assert blocks, f"{chapter.name} has no python block"
    if any("import paddle" in b for b in blocks) and importlib.util.find_spec("paddle") is None:
        pytest.skip("PaddlePaddle is not installed")
    monkeypatch.chdir(tmp_path)  # files the examples write land here
    namespace: dict = {"__name__": f"__docs_{chapter.stem.replace('-', '_')}__"}
    for i, block in enumerate(blocks):
        code = compile(block, f"{chapter.name} python block {i + 1}", "exec")
        exec(code, namespace)
        plt.close("all")


@pytest.mark.parametrize("path", [*CHAPTERS, FAQ, ZH_README], ids=lambda p: p.name)
def test_fences_are_labelled(path):
    """An unlabelled or misspelt fence would silently not run (or render badly)."""
    text = path.read_text(encoding="utf-8")
    langs = FENCE_OPEN.findall(text)
    openers = langs[0::2]  # fences alternate: opener, closer
    assert all(lang in {"python", "bash", "text"} for lang in openers), openers
    assert all(lang == "" for lang in langs[1::2]), "a fence is not closed where expected"


@pytest.mark.parametrize("path", [*CHAPTERS, FAQ, ZH_README, ROOT / "bench" / "README.md"], ids=lambda p: p.name)
def test_relative_links_resolve(path):
    missing = []
    for target in LINK.findall(path.read_text(encoding="utf-8")):
        if target.startswith(("http://", "https://", "#", "mailto:")):
            continue
        if not (path.parent / target.split("#")[0]).exists():
            missing.append(target)
    assert not missing, f"{path.name} links to missing files: {missing}"


def test_every_image_is_used():
    """docs/images holds no stale figure (scripts/make_doc_figures.py writes what the chapters show)."""
    text = "\n".join(p.read_text(encoding="utf-8") for p in [*CHAPTERS, ZH_README, ROOT / "README.md"])
    unused = [p.name for p in sorted((DOCS / "images").iterdir()) if f"images/{p.name}" not in text]
    assert not unused, unused


def test_every_paper_is_cited_with_its_arxiv_link():
    text = "\n".join(p.read_text(encoding="utf-8") for p in CHAPTERS)
    missing = [name for name, arxiv in PAPERS.items() if f"https://arxiv.org/abs/{arxiv}" not in text]
    assert not missing, missing


def test_bench_frameworks_placeholder():
    """The lead developer fills in the torch-vs-Paddle table of `python -m bench.bench_frameworks` here."""
    text = (DOCS / "05-comparison-guide.md").read_text(encoding="utf-8")
    assert "python -m bench.bench_frameworks" in text
    lines = text.splitlines()
    # the marker may be replaced by the table; if it is still there it stands alone on its line, once
    assert text.count("BENCH_FRAMEWORKS_TABLE") == lines.count("<!-- BENCH_FRAMEWORKS_TABLE -->") <= 1


def test_zh_readme_quick_start_is_the_english_one():
    """README.zh-CN.md shows the same quick-start code as README.md (which tests/test_readme.py runs)."""
    english = python_blocks(ROOT / "README.md")
    chinese = python_blocks(ZH_README)
    assert chinese == english
    text = ZH_README.read_text(encoding="utf-8")
    for command in ("bash scripts/demo.sh", "bash scripts/test.sh", "docs/images/report.png"):
        assert command in text
    for chapter in EXPECTED:
        assert f"docs/{chapter}" in text


def _structure(path: Path) -> dict:
    """What a README says, independent of its language: headings, code blocks, commands, links, images."""
    text = path.read_text(encoding="utf-8")
    bash = re.findall(r"^```bash\n(.*?)^```", text, re.S | re.M)
    return {
        "heading levels": [len(m) for m in re.findall(r"^(#+) ", text, re.M)],
        "fence languages": FENCE_OPEN.findall(text)[0::2],
        "python blocks": python_blocks(path),
        # commands without their (translated) comments
        "bash commands": [[re.sub(r"\s+#.*$", "", line).rstrip() for line in b.splitlines()] for b in bash],
        # a link to a translated page counts as the link to the original
        "relative links": sorted(
            {t.replace(".zh-CN.md", ".md") for t in LINK.findall(text) if not t.startswith(("http://", "https://"))}
        ),
        "table rows": len(re.findall(r"^\|", text, re.M)),
    }


def test_zh_readme_has_the_english_structure():
    """README.zh-CN.md says everything README.md says: same sections in the same order, same code, links and tables."""
    english, chinese = _structure(ROOT / "README.md"), _structure(ZH_README)
    for key in english:
        assert chinese[key] == english[key], f"README.zh-CN.md and README.md differ in their {key}"


def test_zh_examples_walkthrough_has_the_english_structure():
    english, chinese = _structure(ROOT / "examples" / "README.md"), _structure(ROOT / "examples" / "README.zh-CN.md")
    for key in english:
        assert chinese[key] == english[key], f"examples/README.zh-CN.md and examples/README.md differ in their {key}"


# top-level modules the chapters and notebooks import -> the distribution that provides them (IPython: the
# notebooks' kernel, which jupyterlab brings)
DISTRIBUTIONS = {
    "PIL": "pillow",
    "skimage": "scikit-image",
    "paddle": "paddlepaddle",
    "tensorflow": "tensorflow-cpu",
    "tensorboardX": "tensorboardx",
    "IPython": "jupyterlab",
}


def _requirement_names(requirements: list[str]) -> set[str]:
    return {re.split(r"[<>=!~\[; ]", r, maxsplit=1)[0].strip().lower() for r in requirements}


def test_chapter_01_install_line_covers_every_import():
    """The one `pip install -e ".[...]"` line of chapter 01 installs every package a chapter or notebook imports."""
    import json
    import sys

    import tomllib

    project = tomllib.loads((ROOT / "pyproject.toml").read_text(encoding="utf-8"))["project"]
    line = re.search(r'pip install -e "\.\[([a-z,]+)\]"', (DOCS / "01-overview.md").read_text(encoding="utf-8"))
    assert line, 'chapter 01 has no `pip install -e ".[...]"` line'
    installed = _requirement_names(project["dependencies"])
    for extra in line.group(1).split(","):
        installed |= _requirement_names(project["optional-dependencies"][extra])
    code = [b for p in [*CHAPTERS, FAQ] for b in python_blocks(p)]
    for nb in sorted((ROOT / "notebooks").glob("*.ipynb")):
        code += [
            "".join(c["source"])
            for c in json.loads(nb.read_text(encoding="utf-8"))["cells"]
            if c["cell_type"] == "code"
        ]
    modules = {m for b in code for m in re.findall(r"^\s*(?:import|from)\s+([A-Za-z_]\w*)", b, re.M)}
    third_party = modules - set(sys.stdlib_module_names) - {"visualization", "__future__"}
    missing = sorted(m for m in third_party if DISTRIBUTIONS.get(m, m).lower() not in installed)
    assert not missing, f"chapter 01's install line does not install {missing}"
