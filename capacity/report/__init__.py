"""The scheduled report: HTML page, summary.json, CSV tables and SVG charts, published atomically.

- :mod:`~capacity.report.html`: building and publishing the report folder;
- :mod:`~capacity.report.charts`: the report's charts, in reading order.
"""

from capacity.report.html import SCHEMA_VERSION, render_html, summary_dict, write_replay, write_report

__all__ = ["write_report", "write_replay", "summary_dict", "render_html", "SCHEMA_VERSION"]
