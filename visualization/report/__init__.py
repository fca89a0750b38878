"""Self-contained HTML reports (``report.html`` plus the PNG files it shows)."""

from .html import HtmlReport, OutputExistsError

__all__ = ["HtmlReport", "OutputExistsError"]
