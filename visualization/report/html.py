"""A small builder for one self-contained HTML page.

Every figure is embedded as a base64 WebP (lossless for charts, lossy for photographs; also written
next to the page), and every user-provided string goes through :func:`html.escape`. plotly.js
(4.8 MB of text) and the specs of the interactive figures are embedded once, gzip-compressed, and
unpacked by the browser's own ``DecompressionStream`` when the page opens: that keeps a report with a
dozen photographs and interactive views at a few megabytes instead of twenty, with nothing fetched.
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
import gzip
import html
import io
import json
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


def _webp(png: bytes, photo: bool) -> bytes:
    """Re-encode a rendered figure as WebP: lossy (quality 90) for photographs, lossless otherwise."""
    from PIL import Image

    with Image.open(io.BytesIO(png)) as im:
        rgb = im.convert("RGB")  # matplotlib's canvas is opaque; dropping alpha saves a quarter
    buf = io.BytesIO()
    if photo:
        rgb.save(buf, format="WEBP", quality=90, method=4)
    else:
        rgb.save(buf, format="WEBP", lossless=True, quality=100, method=4)
    return buf.getvalue()


def _payload(element_id: str, text: str) -> str:
    """A non-executed data block holding ``text`` gzip-compressed and base64-encoded.

    ``mtime=0`` keeps the bytes, and so the page, the same from one run to the next.
    """
    b64 = base64.b64encode(gzip.compress(text.encode("utf-8"), compresslevel=9, mtime=0)).decode("ascii")
    return f'<script id="{element_id}" type="application/gzip+base64">{b64}</script>'


# Unpacks plotly.js and the figure specs with the browser's DecompressionStream (Chromium 80+,
# Firefox 113+, Safari 16.4+), runs plotly.js, then draws each figure into its div. An older
# browser gets a visible note instead of blank space.
_LOADER = """
(async () => {
  const unpack = async (id) => {
    const bin = atob(document.getElementById(id).textContent);
    const bytes = new Uint8Array(bin.length);
    for (let i = 0; i < bin.length; i++) bytes[i] = bin.charCodeAt(i);
    const stream = new Blob([bytes]).stream().pipeThrough(new DecompressionStream("gzip"));
    return await new Response(stream).text();
  };
  try {
    const lib = document.createElement("script");
    lib.textContent = await unpack("cnnvis-plotlyjs");
    document.head.appendChild(lib);
    for (const f of JSON.parse(await unpack("cnnvis-figures"))) {
      await Plotly.newPlot(f.id, f.data, f.layout, {responsive: true});
    }
    document.body.dataset.plotsReady = "true";
  } catch (err) {
    for (const div of document.querySelectorAll(".plotly-graph-div")) {
      div.textContent = "This interactive view needs a browser with DecompressionStream (any current one): " + err;
    }
    throw err;
  }
})();
"""


class HtmlReport:
    """Collects headings, text, tables, matplotlib figures and plotly figures into one page."""

    def __init__(self, title: str) -> None:
        self.title = title
        self._body: list[str] = []
        self._toc: list[tuple[str, str]] = []
        self._files: dict[str, bytes] = {}
        self._plots: list[dict[str, Any]] = []

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

    def add_figure(
        self, fig: Any, filename: str, caption: str, dpi: int = 90, *, photo: bool = False, max_width: int = 1600
    ) -> None:
        """Embed a matplotlib figure as WebP (also written as ``filename``) and close it.

        Args:
            fig: the figure; it is closed afterwards.
            filename: a plain ``*.webp`` name for the file written next to the page.
            caption: shown under the figure and used as its ``alt`` text.
            dpi: resolution; lowered where the figure would be wider than ``max_width`` pixels (the
                page is at most 1232 CSS pixels wide, so 1600 still looks sharp on a high-DPI screen).
            photo: the figure is mostly photographs (CAM overlays): lossy WebP at quality 90, which
                is a tenth of the lossless size with no difference visible at the shown size; charts,
                filters and feature-map grids stay lossless.
        """
        import matplotlib.pyplot as plt

        if not re.fullmatch(r"[A-Za-z0-9_.-]+\.webp", filename):
            raise ValueError(f"filename must be a plain '*.webp' name; got {filename!r}.")
        dpi = min(dpi, max_width / fig.get_figwidth())
        buf = io.BytesIO()
        fig.savefig(buf, format="png", dpi=dpi)
        plt.close(fig)
        data = _webp(buf.getvalue(), photo)
        self._files[filename] = data
        b64 = base64.b64encode(data).decode("ascii")
        self._body.append(
            f'<figure><img src="data:image/webp;base64,{b64}" alt="{html.escape(caption, quote=True)}" '
            f'data-file="{html.escape(filename, quote=True)}"><figcaption>{html.escape(caption)}</figcaption></figure>'
        )

    def add_html(self, fragment: str) -> None:
        """A block of HTML built by this package (e.g. :func:`~visualization.core.structure.structure_html`),
        inserted as it is: its builder escapes every string that comes from a user or a model."""
        self._body.append(fragment)

    def add_plotly(self, fig: Any, div_id: str, caption: str | None = None) -> None:
        """Embed an interactive plotly figure.

        Only the figure's empty ``<div>`` goes into the page body; its spec joins the compressed
        payload that :meth:`render` writes, and the page's loader draws it once plotly.js is unpacked.
        """
        import plotly.io as pio

        div_id = _slug(div_id)
        if any(f["id"] == div_id for f in self._plots):
            raise ValueError(f"two plotly figures share the id {div_id!r}; give each a distinct div_id.")
        markup = fig.to_html(full_html=False, include_plotlyjs=False, div_id=div_id)
        div = markup[: markup.index("<script")].strip() + "</div>"  # the sized outer div and the plot's div
        spec = json.loads(pio.to_json(fig, validate=False))
        self._plots.append({"id": div_id, "data": spec.get("data", []), "layout": spec.get("layout", {})})
        cap = f"<figcaption>{html.escape(caption)}</figcaption>" if caption else ""
        self._body.append(f"<figure>{div}{cap}</figure>")

    # ------------------------------------------------------------ output
    def render(self) -> str:
        """The whole page as a string."""
        scripts = ""
        if self._plots:
            from plotly.offline import get_plotlyjs

            scripts = (
                _payload("cnnvis-plotlyjs", get_plotlyjs())
                + _payload("cnnvis-figures", json.dumps(self._plots, separators=(",", ":")))
                + f"<script>{_LOADER}</script>"
            )
        toc = "".join(f'<a href="#{a}">{html.escape(t)}</a>' for a, t in self._toc)
        return (
            '<!DOCTYPE html>\n<html lang="en"><head><meta charset="utf-8">'
            f"<title>{html.escape(self.title)}</title><style>{_CSS}</style></head><body>"
            f"<h1>{html.escape(self.title)}</h1><nav>{toc}</nav>{''.join(self._body)}{scripts}</body></html>\n"
        )

    def write(self, out_dir: str | os.PathLike[str], force: bool = False) -> Path:
        """Write ``report.html`` and the PNG files into ``out_dir`` atomically; returns ``out_dir``.

        An existing non-empty ``out_dir`` is replaced only with ``force=True``.
        """
        out = Path(out_dir)
        check_output_folder(out, force)
        out.parent.mkdir(parents=True, exist_ok=True)
        tmp = Path(tempfile.mkdtemp(prefix=f".{out.name}.", dir=out.parent))
        old = out.with_name(f".{out.name}.old")
        try:
            for name, data in self._files.items():
                (tmp / name).write_bytes(data)
            (tmp / "report.html").write_text(self.render(), encoding="utf-8")
            if out.exists():
                shutil.rmtree(old, ignore_errors=True)
                out.rename(old)
                tmp.rename(out)
                shutil.rmtree(old, ignore_errors=True)
            else:
                tmp.rename(out)
        except BaseException:  # also Ctrl-C: the previous report (if any) stays, no temporary folder is left
            shutil.rmtree(tmp, ignore_errors=True)
            if old.exists():
                if out.exists():
                    shutil.rmtree(old, ignore_errors=True)
                else:
                    old.rename(out)
            raise
        return out
