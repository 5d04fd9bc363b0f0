"""The report's charts, and rendering any Altair chart to a static SVG (offline, via vl-convert)."""

from __future__ import annotations

from typing import TYPE_CHECKING

import pandas as pd

if TYPE_CHECKING:
    import altair as alt

    from capacity.pipeline import Forecast

__all__ = ["to_svg", "report_charts"]


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

    return vlc.vegalite_to_svg(chart.to_dict(), vl_version=_vl_version())


def _vl_version() -> str:
    import altair as alt

    # render with the Vega-Lite version whose schema altair writes ("v6.4.1" -> "6.4")
    major, minor = alt.SCHEMA_VERSION.lstrip("v").split(".")[:2]
    return f"{major}.{minor}"


def _observed_cpu(forecast: Forecast) -> pd.Series:
    """Daily mean CPU of the average server [%], rescaled to the servers in service now."""
    samples = forecast.inputs.samples
    busy = samples["cpu_percent"] * samples["servers"]  # server-percent of the whole tier
    daily = busy.groupby(samples["timestamp"].dt.floor("D")).mean() / forecast.plan.servers
    return daily


def report_charts(forecast: Forecast) -> dict[str, alt.TopLevelMixin]:
    """The charts of the scheduled report, by file stem, in reading order."""
    from capacity.plan_charts import crossing_histogram, project_windows, utilisation_fan

    plan, growth, load = forecast.plan, forecast.growth, forecast.load
    from capacity.errors import CapacityError

    try:  # the app count at which the limit is reached, drawn on the growth chart
        threshold = float(load.apps_at(plan.limit, strategy=plan.strategy, servers=plan.servers))
    except CapacityError:
        threshold = None
    charts = {
        "growth": growth.chart(plan.horizon_days, threshold=threshold).properties(
            width=640, height=260, title="Live apps: history, forecast (80% band) and regime changes"),
        "messaging": load.chart(limit=plan.limit, servers=plan.servers).properties(
            width=640, height=260,
            title=f"Messaging CPU vs apps per fan-out strategy ({plan.servers} servers)"),
        "utilisation": utilisation_fan(plan, history=_observed_cpu(forecast)),
        "crossing": crossing_histogram(plan),
    }
    if len(plan.deadlines):
        charts["projects"] = project_windows(plan)
    return charts
