"""A small builder for one self-contained HTML page.

Every image is embedded as a base64 PNG (and also written next to the page), plotly.js is
embedded once in the page head, and every user-provided string goes through :func:`html.escape`.
:meth:`HtmlReport.write` builds the whole folder in a temporary directory beside the target and
moves it into place at the end, so an interrupted run leaves no half-written report.

Example:
    >>> import tempfile, pathlib
    >>> r = HtmlReport("Demo <1>")
    >>> r.add_heading("Predictions")
    >>> r.add_table(["class", "p"], [["Egyptian cat", "0.61"]])
    >>> out = r.write(pathlib.Path(tempfile.mkdtemp()) / "report")
    >>> "&lt;1&gt;" in (out / "report.html").read_text()
    True
"""

from __future__ import annotations

import base64
import html
import io
import os
import re
import shutil
import tempfile
from collections.abc import Sequence
from pathlib import Path
from typing import Any

from ..core.errors import VisualizationError

_CSS = """
body{font-family:system-ui,-apple-system,'Segoe UI',sans-serif;margin:0 auto;max-width:1280px;padding:0 24px 48px;color:#1d2330}
h1{margin:24px 0 4px} h2{margin-top:36px;border-bottom:1px solid #dde1e8;padding-bottom:4px} h3{margin-bottom:6px}
p.note{color:#555;margin:4px 0 12px} figure{margin:8px 0 20px} figcaption{color:#555;font-size:0.9em}
img{max-width:100%;height:auto;border:1px solid #eee}
table{border-collapse:collapse;margin:8px 0 16px;font-size:0.92em} th,td{border:1px solid #dde1e8;padding:4px 10px;text-align:left}
th{background:#f4f6f9} td.num{text-align:right;font-variant-numeric:tabular-nums}
nav a{margin-right:14px} .grid{display:flex;flex-wrap:wrap;gap:16px}
details summary{cursor:pointer;color:#1d2330;margin:4px 0}
"""


def check_output_folder(out: str | os.PathLike[str], force: bool = False) -> None:
    """Refuse an output path before any work is done: a file (even with ``force``: only folders are
    replaced), a non-empty folder without ``force``, or a place that cannot be written.

    Raises:
        OutputExistsError: ``out`` is a file, or a non-empty folder and ``force`` is false.
        OutputNotWritableError: ``out`` lies inside a file, or its nearest existing folder is not writable.
    """
    out = Path(out)
    if out.is_symlink() and not out.exists():
        raise OutputNotWritableError(f"--out {str(out)!r} is a broken symbolic link; choose another folder.")
    if out.exists() and not out.is_dir():
        raise OutputExistsError(
            f"--out {str(out)!r} is a file, not a folder; it is left as it is. Choose a folder name for the output."
        )
    if out.is_dir() and any(out.iterdir()) and not force:
        raise OutputExistsError(
            f"The output folder {str(out)!r} exists and is not empty; pass --force (force=True) to "
            "replace it, or choose another folder."
        )
    parent = out.absolute().parent
    while not parent.exists() and parent != parent.parent:
        parent = parent.parent
    if not parent.is_dir():
        raise OutputNotWritableError(f"--out {str(out)!r} lies inside {str(parent)!r}, which is a file; choose a folder.")
    if not os.access(parent, os.W_OK | os.X_OK):
        raise OutputNotWritableError(
            f"Cannot write to {str(parent)!r} (permission denied), so --out {str(out)!r} cannot be created; "
            "choose a folder you can write to."
        )


class OutputNotWritableError(VisualizationError, PermissionError):
    """The output folder cannot be created or written (the message says where and why)."""


class OutputExistsError(VisualizationError, FileExistsError):
    """The output folder exists and is not empty."""


def _slug(text: str) -> str:
    return re.sub(r"[^a-z0-9]+", "-", text.lower()).strip("-") or "section"


class HtmlReport:
    """Collects headings, text, tables, matplotlib figures and plotly figures into one page."""

    def __init__(self, title: str) -> None:
        self.title = title
        self._body: list[str] = []
        self._toc: list[tuple[str, str]] = []
        self._files: dict[str, bytes] = {}
        self._plotly = False

    # ------------------------------------------------------------ content
    def add_heading(self, text: str, level: int = 2) -> None:
        """A section heading; level-2 headings appear in the page's table of contents."""
        anchor = _slug(text)
        if level == 2:
            self._toc.append((anchor, text))
        self._body.append(f'<h{level} id="{anchor}">{html.escape(text)}</h{level}>')

    def add_text(self, text: str) -> None:
        """A paragraph of plain text (escaped)."""
        self._body.append(f'<p class="note">{html.escape(text)}</p>')

    def add_table(self, header: Sequence[str], rows: Sequence[Sequence[Any]], caption: str | None = None) -> None:
        """A table; every cell is escaped, numbers are right-aligned."""
        head = "".join(f"<th>{html.escape(str(h))}</th>" for h in header)
        body = []
        for row in rows:
            cells = []
            for cell in row:
                cls = ' class="num"' if isinstance(cell, (int, float)) and not isinstance(cell, bool) else ""
                text = f"{cell:.4g}" if isinstance(cell, float) else str(cell)
                cells.append(f"<td{cls}>{html.escape(text)}</td>")
            body.append("<tr>" + "".join(cells) + "</tr>")
        cap = f"<caption>{html.escape(caption)}</caption>" if caption else ""
        self._body.append(f"<table>{cap}<thead><tr>{head}</tr></thead><tbody>{''.join(body)}</tbody></table>")

    def add_figure(self, fig: Any, filename: str, caption: str, dpi: int = 90) -> None:
        """Embed a matplotlib figure as PNG (also written as ``filename``) and close it."""
        import matplotlib.pyplot as plt

        if not re.fullmatch(r"[A-Za-z0-9_.-]+\.png", filename):
            raise ValueError(f"filename must be a plain '*.png' name; got {filename!r}.")
        buf = io.BytesIO()
        fig.savefig(buf, format="png", dpi=dpi)
        plt.close(fig)
        data = buf.getvalue()
        self._files[filename] = data
        b64 = base64.b64encode(data).decode("ascii")
        self._body.append(
            f'<figure><img src="data:image/png;base64,{b64}" alt="{html.escape(caption, quote=True)}" '
            f'data-file="{html.escape(filename, quote=True)}"><figcaption>{html.escape(caption)}</figcaption></figure>'
        )

    def add_html(self, fragment: str) -> None:
        """A block of HTML built by this package (e.g. :func:`~visualization.core.structure.structure_html`),
        inserted as it is: its builder escapes every string that comes from a user or a model."""
        self._body.append(fragment)

    def add_plotly(self, fig: Any, div_id: str, caption: str | None = None) -> None:
        """Embed an interactive plotly figure (plotly.js itself is embedded once, in the head)."""
        self._plotly = True
        div = fig.to_html(full_html=False, include_plotlyjs=False, div_id=_slug(div_id), config={"responsive": True})
        cap = f"<figcaption>{html.escape(caption)}</figcaption>" if caption else ""
        self._body.append(f"<figure>{div}{cap}</figure>")

    # ------------------------------------------------------------ output
    def render(self) -> str:
        """The whole page as a string."""
        head_js = ""
        if self._plotly:
            from plotly.offline import get_plotlyjs

            head_js = f'<script type="text/javascript">{get_plotlyjs()}</script>'
        toc = "".join(f'<a href="#{a}">{html.escape(t)}</a>' for a, t in self._toc)
        return (
            '<!DOCTYPE html>\n<html lang="en"><head><meta charset="utf-8">'
            f"<title>{html.escape(self.title)}</title><style>{_CSS}</style>{head_js}</head><body>"
            f"<h1>{html.escape(self.title)}</h1><nav>{toc}</nav>{''.join(self._body)}</body></html>\n"
        )

    def write(self, out_dir: str | os.PathLike[str], force: bool = False) -> Path:
        """Write ``report.html`` and the PNG files into ``out_dir`` atomically; returns ``out_dir``.

        An existing non-empty ``out_dir`` is replaced only with ``force=True``.
        """
        out = Path(out_dir)
        check_output_folder(out, force)
        out.parent.mkdir(parents=True, exist_ok=True)
        tmp = Path(tempfile.mkdtemp(prefix=f".{out.name}.", dir=out.parent))
        try:
            for name, data in self._files.items():
                (tmp / name).write_bytes(data)
            (tmp / "report.html").write_text(self.render(), encoding="utf-8")
            if out.exists():
                old = out.with_name(f".{out.name}.old")
                shutil.rmtree(old, ignore_errors=True)
                out.rename(old)
                tmp.rename(out)
                shutil.rmtree(old, ignore_errors=True)
            else:
                tmp.rename(out)
        except BaseException:
            shutil.rmtree(tmp, ignore_errors=True)
            raise
        return out
