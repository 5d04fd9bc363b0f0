"""The scheduled report's charts, by file stem, in reading order.

The report draws nothing itself: it composes the charts of the layers below it, the growth chart
(:meth:`capacity.growth.fit.GrowthFit.chart`), the messaging chart
(:meth:`capacity.load.messaging.MessagingModel.chart`, drawn by :mod:`capacity.load.charts`) and the
plan's charts (:mod:`capacity.planning.charts`); :mod:`capacity.report.html` renders them to SVG.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

from capacity.data import daily_tier_cpu
from capacity.errors import CapacityError
from capacity.pipeline import Forecast
from capacity.validation import InstanceOf, check_args

if TYPE_CHECKING:
    import altair as alt
    import pandas as pd

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
    # the watched limit as the daily mean of the average server that reaches it (the models' unit)
    limit = plan.watch.daily_mean_limit(plan.limit, load=load, servers=plan.servers)
    try:  # the app count at which the limit is reached, drawn on the growth chart
        threshold = float(load.apps_at(min(limit, 1.0), strategy=plan.strategy, servers=plan.servers))
    except CapacityError:
        threshold = None
    charts = {
        "growth": growth.chart(plan.horizon_days, threshold=threshold).properties(
            width=640, height=260, title="Live apps: history, forecast (80% band) and regime changes"),
        "messaging": load.chart(limit=min(limit, 1.0), servers=plan.servers,
                                limit_label=_limit_label(plan, limit)).properties(
            width=640, height=260,
            title=f"Messaging CPU vs apps per fan-out strategy ({plan.servers} "
                  f"server{'' if plan.servers == 1 else 's'})"),
        "utilisation": utilisation_fan(plan, history=_history(forecast.inputs.samples, plan)),
        "crossing": crossing_histogram(plan),
    }
    if len(plan.deadlines):
        charts["projects"] = project_windows(plan)
    return charts


def _limit_label(plan: Any, daily_mean: float) -> str:
    """'limit 90%', or what a watched limit is as this chart's daily mean of the average server."""
    if daily_mean == plan.limit:
        return f"limit {plan.limit:.0%}"
    return f"limit {plan.limit:.0%} for {plan.watch.describe()} = {daily_mean:.0%} daily mean"


def _history(samples: pd.DataFrame, plan: Any) -> pd.Series:
    """The observed days in the watched metric, on the servers the plan counts."""
    w = plan.watch
    return daily_tier_cpu(samples, servers=plan.servers - w.spare_servers, metric=w.metric,
                          quantile=w.quantile, server=w.server)
