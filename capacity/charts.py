"""The house chart style, and rendering any Altair chart to a static SVG (offline, via vl-convert).

The report (:mod:`capacity.report.html`) renders its charts with :func:`to_svg`; the notebooks call
:func:`use_static_charts`. It imports nothing of ours at runtime, so any layer's charts
(:mod:`capacity.load.charts`, :mod:`capacity.planning.charts`, ...) may use it without a cycle.
"""

from __future__ import annotations

import re
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    import altair as alt


__all__ = ["FONT", "to_svg", "use_static_charts", "label_text"]

# C0 and C1 control characters, lone surrogates and the non-characters U+FDD0..U+FDEF, U+FFFE, U+FFFF:
# the SVG renderer panics (and aborts the process) on several of them
_UNDRAWABLE = re.compile("[\x00-\x1f\x7f-\x9f\ud800-\udfff\ufdd0-\ufdef\ufffe\uffff]")

#: Chart text font. Static renderers measure label widths with the font they are given; a browser
#: that draws a wider substitute clips long labels, so name a font that pages will also have.
FONT = "DejaVu Sans, Verdana, sans-serif"


def use_static_charts(renderer: str = "svg") -> None:
    """Notebook set-up: draw Altair charts as static SVG (offline HTML copies) in the house font.

    Parameters
    ----------
    renderer : str, default "svg"
        An Altair renderer; "default" gives interactive charts that need JavaScript.
    """
    import altair as alt

    alt.renderers.enable(renderer)
    if "capacity" not in alt.theme.names():
        alt.theme.register("capacity", enable=False)(lambda: alt.theme.ThemeConfig(config={"font": FONT}))
    alt.theme.enable("capacity")


def label_text(value: Any) -> str:
    """``value`` as text a chart can draw: control characters and the like become U+FFFD."""
    return _UNDRAWABLE.sub("\ufffd", str(value))


def _drawable(spec: Any) -> Any:
    """The spec with every string made drawable (names from data reach titles, legends and tooltips)."""
    if isinstance(spec, str):
        return label_text(spec) if _UNDRAWABLE.search(spec) else spec
    if isinstance(spec, dict):
        return {k: _drawable(v) for k, v in spec.items()}
    if isinstance(spec, list):
        return [_drawable(v) for v in spec]
    return spec


def to_svg(chart: alt.TopLevelMixin) -> str:
    """Render a chart to a standalone SVG document (no network, no browser).

    Parameters
    ----------
    chart : altair chart

    Returns
    -------
    str
        ``<svg ...>...</svg>``; text drawn from the data is XML-escaped by the renderer.
    """
    import vl_convert as vlc

    spec = _drawable(chart.to_dict())  # the renderer aborts the process on some characters
    spec.setdefault("config", {}).setdefault("font", FONT)
    return vlc.vegalite_to_svg(spec, vl_version=_vl_version())


def _vl_version() -> str:
    import altair as alt

    # render with the Vega-Lite version whose schema altair writes ("v6.4.1" -> "6.4")
    major, minor = alt.SCHEMA_VERSION.lstrip("v").split(".")[:2]
    return f"{major}.{minor}"
