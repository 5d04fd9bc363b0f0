"""The scheduled report's charts, by file stem, in reading order.

The report draws nothing itself: it composes the charts of the layers below it, the growth chart
(:meth:`capacity.growth.fit.GrowthFit.chart`), the messaging chart
(:meth:`capacity.load.messaging.MessagingModel.chart`, drawn by :mod:`capacity.load.charts`) and the
plan's charts (:mod:`capacity.planning.charts`); :mod:`capacity.report.html` renders them to SVG.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

from capacity.data import daily_tier_cpu
from capacity.errors import CapacityError
from capacity.pipeline import Forecast
from capacity.validation import InstanceOf, check_args

if TYPE_CHECKING:
    import altair as alt

__all__ = ["report_charts"]


def report_charts(forecast: Forecast) -> dict[str, alt.TopLevelMixin]:
    """The charts of the scheduled report, by file stem, in reading order.

    Parameters
    ----------
    forecast : Forecast
        What :func:`capacity.run` returned.

    Returns
    -------
    dict of str to altair chart
        ``growth``, ``messaging``, ``utilisation``, ``crossing`` and, when the plan has projects,
        ``projects``.
    """
    from capacity.planning.charts import crossing_histogram, project_windows, utilisation_fan

    check_args("report_charts", forecast=(forecast, [InstanceOf(Forecast)]))
    plan, growth, load = forecast.plan, forecast.growth, forecast.load
    try:  # the app count at which the limit is reached, drawn on the growth chart
        threshold = float(load.apps_at(plan.limit, strategy=plan.strategy, servers=plan.servers))
    except CapacityError:
        threshold = None
    charts = {
        "growth": growth.chart(plan.horizon_days, threshold=threshold).properties(
            width=640, height=260, title="Live apps: history, forecast (80% band) and regime changes"),
        "messaging": load.chart(limit=plan.limit, servers=plan.servers).properties(
            width=640, height=260,
            title=f"Messaging CPU vs apps per fan-out strategy ({plan.servers} "
                  f"server{'' if plan.servers == 1 else 's'})"),
        "utilisation": utilisation_fan(plan, history=daily_tier_cpu(forecast.inputs.samples,
                                                                    servers=plan.servers)),
        "crossing": crossing_histogram(plan),
    }
    if len(plan.deadlines):
        charts["projects"] = project_windows(plan)
    return charts
