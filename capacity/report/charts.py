"""The scheduled report's charts, by file stem, in reading order."""

from __future__ import annotations

from typing import TYPE_CHECKING

if TYPE_CHECKING:
    import altair as alt

    from capacity.pipeline import Forecast

__all__ = ["report_charts"]


def report_charts(forecast: Forecast) -> dict[str, alt.TopLevelMixin]:
    """The charts of the scheduled report, by file stem, in reading order."""
    from capacity.data import daily_tier_cpu
    from capacity.planning.charts import crossing_histogram, project_windows, utilisation_fan

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
        "utilisation": utilisation_fan(plan, history=daily_tier_cpu(forecast.inputs.samples,
                                                                    servers=plan.servers)),
        "crossing": crossing_histogram(plan),
    }
    if len(plan.deadlines):
        charts["projects"] = project_windows(plan)
    return charts
