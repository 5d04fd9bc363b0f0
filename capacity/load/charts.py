"""The chart of a fitted messaging model (:meth:`capacity.load.messaging.MessagingModel.chart`).

Drawing only: the model computes the curves and the observed points and passes them here, so this
module needs nothing of the model (:mod:`capacity.load.messaging` imports it, never the reverse).
"""

from __future__ import annotations

from typing import TYPE_CHECKING

import pandas as pd

from capacity.charts import label_text
from capacity.validation import InstanceOf, Interval, Text, check_args

if TYPE_CHECKING:
    import altair as alt

__all__ = ["messaging_chart"]




def messaging_chart(
    curves: pd.DataFrame,
    observed: pd.DataFrame,
    *,
    limit: float | None,
    servers: int,
    level: float,
    limit_label: str | None = None,
) -> alt.LayerChart:
    """CPU per server vs apps per strategy, the limit, and the observed daily means.

    Parameters
    ----------
    curves : DataFrame
        One row per strategy and app count: ``apps`` [apps], ``mean``, ``mean_lower``,
        ``mean_upper`` [% CPU per server] and ``strategy`` (the output of
        :meth:`MessagingModel.predict` with a ``strategy`` label).
    observed : DataFrame
        Daily means: ``date``, ``strategy``, ``apps``, ``cpu_percent`` [%], ``censored`` (bool:
        drawn hollow) and ``censored_share``.
    limit : float or None
        Utilisation limit as a fraction in (0, 1]; None draws no limit line.
    servers : int
        Servers the CPU is stated for (axis title), >= 1.
    level : float
        Level of the mean interval band, in (0, 1) (chart title).
    limit_label : str, optional
        The limit line's label (default "limit 70%").

    Returns
    -------
    altair.LayerChart
    """
    import altair as alt  # here, not at the top: altair is slow to import and fails under python -OO

    check_args(
        "messaging_chart",
        curves=(curves, [InstanceOf(pd.DataFrame)]),
        observed=(observed, [InstanceOf(pd.DataFrame)]),
        limit=(limit, [Interval(float, 0, 1, closed="right"), None]),
        servers=(servers, [Interval(int, 1, None)]),
        level=(level, [Interval(float, 0, 1, closed="neither")]),
        limit_label=(limit_label, [Text(), None]),
    )
    # strategy labels are drawn (legend): never hand the renderer a control character
    curves = curves.assign(strategy=curves["strategy"].map(label_text))
    obs = observed.assign(strategy=observed["strategy"].map(label_text))
    obs["date"] = obs["date"].dt.strftime("%Y-%m-%d")
    x = alt.X("apps:Q", title="live apps")
    y_title = f"CPU per server, {servers} server{'' if servers == 1 else 's'} [%]"
    # the legend shows the lines as drawn (solid strokes), not the pale band the first layer paints
    legend = alt.Legend(symbolType="stroke", symbolOpacity=1, symbolStrokeWidth=2.5, symbolSize=300)
    color = alt.Color("strategy:N", title="strategy", legend=legend)
    band = alt.Chart(curves).mark_area(opacity=0.2).encode(
        x=x, y=alt.Y("mean_lower:Q", title=y_title), y2="mean_upper:Q", color=color
    )
    line = alt.Chart(curves).mark_line().encode(
        x=x, y="mean:Q", color=color,
        tooltip=["strategy:N", alt.Tooltip("apps:Q", format=",.0f"),
                 alt.Tooltip("mean:Q", format=".1f")],
    )
    points = alt.Chart(obs).mark_point(size=12).encode(
        x=x, y="cpu_percent:Q", color=color,
        fill=alt.condition(
            "datum.censored", alt.value("transparent"), alt.Color("strategy:N", legend=None)
        ),
        tooltip=["date:N", "strategy:N", alt.Tooltip("apps:Q", format=",.0f"),
                 alt.Tooltip("cpu_percent:Q", format=".1f"), "censored_share:Q"],
    )
    layers = [band, line, points]
    if limit is not None:
        rule = alt.Chart(pd.DataFrame({"limit": [100.0 * limit]})).mark_rule(
            strokeDash=[4, 4], color="black"
        ).encode(y="limit:Q")
        text = limit_label or f"limit {limit:.0%}"
        label = alt.Chart(pd.DataFrame({"limit": [100.0 * limit], "text": [text]})
                          ).mark_text(align="left", dx=4, dy=-6).encode(
            x=alt.datum(0), y="limit:Q", text="text:N"
        )
        layers += [rule, label]
    return alt.layer(*layers).properties(
        title=f"Messaging CPU vs apps (mean and {level:.0%} interval per strategy)"
    )
