"""Altair charts of a :class:`~capacity.planning.Plan` and of a :class:`~capacity.pipeline.Replay`.

The utilisation fan, the crossing-date histogram, the project windows, :func:`plan_chart` (all three,
what :meth:`Plan.chart` shows) and :func:`replay_chart`. Nothing from :mod:`capacity.planning` is
imported at run time (the results only come in as arguments), and altair only when a chart is built:
it does not import under ``python -OO``.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

import numpy as np
import pandas as pd

if TYPE_CHECKING:
    import altair as alt

    from capacity.pipeline import Replay
    from capacity.planning.result import Plan

WIDTH = 640


def utilisation_fan(plan: Plan, *, history: pd.Series | None = None) -> alt.LayerChart:
    """Daily utilisation quantiles of the current set-up, with the limit and the crossing dates.

    Parameters
    ----------
    plan : Plan
    history : Series, optional
        Observed daily mean CPU of the average server [%] on a DatetimeIndex, drawn as dots.
    """
    import altair as alt

    c = plan.crossing
    end = c.horizon_end
    if c.p90 is not None:  # show the approach to the limit, not a year of saturated demand
        end = min(end, max(c.p90 + pd.Timedelta(days=60), plan.as_of + pd.Timedelta(days=120)))
    frame = (plan.utilisation.loc[:end] * 100).reset_index()
    # demand beyond twice the limit says nothing more: clamp the axis so the limit stays readable
    top = min(float(frame["p90"].max()), plan.limit * 200)
    y_scale = alt.Scale(domain=[0, max(top, plan.limit * 110)], clamp=True, nice=False)
    start = plan.as_of - pd.Timedelta(days=120) if history is not None else plan.as_of
    x = alt.X("date:T", title=None, scale=alt.Scale(domain=[start.isoformat(), end.isoformat()]))
    base = alt.Chart(frame).encode(x=x)
    band = base.mark_area(opacity=0.25, color="#4c78a8", clip=True).encode(
        y=alt.Y("p10:Q", title="mean CPU, average server (%)", scale=y_scale), y2="p90:Q",
        tooltip=[alt.Tooltip("date:T"), alt.Tooltip("p10:Q", format=".0f"),
                 alt.Tooltip("p50:Q", format=".0f"), alt.Tooltip("p90:Q", format=".0f")])
    median = base.mark_line(color="#4c78a8", clip=True).encode(y=alt.Y("p50:Q", scale=y_scale))
    limit = alt.Chart(pd.DataFrame({"limit": [plan.limit * 100]})).mark_rule(
        color="#e45756", strokeDash=[6, 3]).encode(y="limit:Q")
    layers = [band, median, limit]
    if history is not None:
        seen = history.loc[start:plan.as_of].rename("cpu").rename_axis("date").reset_index()
        layers.append(alt.Chart(seen).mark_circle(size=14, color="#333", opacity=0.6).encode(
            x=x, y=alt.Y("cpu:Q", scale=y_scale), tooltip=["date:T", alt.Tooltip("cpu:Q", format=".1f")]))
    marks = [{"date": d, "what": f"crossing {k.upper()}"}
             for k, d in (("p10", c.p10), ("p50", c.p50), ("p90", c.p90)) if d is not None]
    if marks:
        layers.append(alt.Chart(pd.DataFrame(marks)).mark_rule(color="#e45756", opacity=0.6).encode(
            x="date:T", tooltip=["what:N", "date:T"]))
    return alt.layer(*layers).properties(
        width=WIDTH, height=220,
        title=f"Utilisation with {plan.servers} servers under {plan.strategy} (P10-P90 band, median)")


def crossing_histogram(plan: Plan) -> alt.Chart:
    """How the crossing date is distributed over the Monte Carlo paths (weekly bins)."""
    import altair as alt

    days = plan.crossing_days[np.isfinite(plan.crossing_days)]
    dates = pd.Series(plan.as_of + pd.to_timedelta(days, unit="D"))
    spread = (dates.max() - dates.min()).days if len(dates) else 0
    # daily bins while the crossing is weeks away and sharp, weekly bins when it is spread out
    unit, label = ("D", "day") if spread <= 42 else ("W", "week")
    bins = dates.dt.to_period(unit).dt.start_time if len(dates) else dates
    table = (bins.value_counts() / len(plan.crossing_days)).rename("share").rename_axis("bin").reset_index()
    end = plan.as_of + pd.Timedelta(days=plan.horizon_days)
    if len(dates):
        end = min(end, dates.max() + pd.Timedelta(days=max(14, spread // 4)))
    domain = [plan.as_of.isoformat(), end.isoformat()]
    title = (f"When {plan.limit:.0%} is crossed: share of futures per {label} "
             f"({plan.crossing.p_none:.0%} never within {plan.horizon_days} days)")
    return alt.Chart(table).mark_bar(color="#e45756", width={"band": 0.9} if unit == "W" else 6).encode(
        x=alt.X("bin:T", title=None, scale=alt.Scale(domain=domain),
                axis=alt.Axis(format="%d %b" if unit == "D" else "%b %Y", labelOverlap=True, tickCount=8)),
        y=alt.Y("share:Q", axis=alt.Axis(format="%"), title="futures"),
        tooltip=[alt.Tooltip("bin:T", title=label), alt.Tooltip("share:Q", format=".1%")],
    ).properties(width=WIDTH, height=140, title=title)


def project_windows(plan: Plan) -> alt.LayerChart:
    """Each project's must-start-by, must-land-by and planned landing, red when at risk."""
    import altair as alt

    rows = []
    for r in plan.deadlines.itertuples():
        state = "landed" if r.status == "landed" else ("AT RISK" if r.at_risk else "on track")
        for what, date in (("must start by", r.must_start_by), ("must land by", r.must_land_by),
                           ("planned landing", r.planned_landing)):
            if pd.notna(date):
                rows.append({"project": r.project, "what": what, "date": date, "state": state})
    table = pd.DataFrame(rows, columns=["project", "what", "date", "state"])
    colour = alt.Color("state:N", scale=alt.Scale(domain=["on track", "AT RISK", "landed"],
                                                   range=["#54a24b", "#e45756", "#9d9d9d"]), title=None)
    y = alt.Y("project:N", title=None, sort=list(plan.deadlines["project"]), axis=alt.Axis(labelLimit=260))
    deadlines = table[table["what"] != "planned landing"]
    window = alt.Chart(deadlines).mark_line(strokeWidth=6, opacity=0.5).encode(
        x=alt.X("date:T", title=None), y=y, detail="project:N", color=colour)
    points = alt.Chart(table).mark_point(filled=True, size=90).encode(
        x="date:T", y=y, color=colour,
        shape=alt.Shape("what:N", scale=alt.Scale(domain=["must start by", "must land by", "planned landing"],
                                                  range=["triangle-right", "square", "diamond"]), title=None),
        tooltip=["project:N", "what:N", "date:T", "state:N"])
    today = alt.Chart(pd.DataFrame({"date": [plan.as_of]})).mark_rule(
        color="black", strokeDash=[2, 2]).encode(x="date:T")
    return alt.layer(window, points, today).properties(
        width=WIDTH, height=max(40 * len(plan.deadlines), 60),
        title=f"Projects: must start / must land ({plan.confidence:.0%}) vs planned landing")


def plan_chart(plan: Plan) -> alt.VConcatChart:
    """The fan, the crossing histogram and (with projects) the project windows, stacked."""
    import altair as alt

    parts = [utilisation_fan(plan), crossing_histogram(plan)]
    if len(plan.deadlines):
        parts.append(project_windows(plan))
    return alt.vconcat(*parts).resolve_scale(color="independent", shape="independent")


def replay_chart(replay: Replay) -> alt.LayerChart:
    """What the plan said on each replay date: crossing P10-P90 band and each must-land-by."""
    import altair as alt

    table = replay.table
    crossing = table[table["item"] == "crossing"]
    band = alt.Chart(crossing).mark_area(opacity=0.25, color="#e45756").encode(
        x=alt.X("as_of:T", title="plan made on"), y=alt.Y("p10:T", title="date"), y2="p90:T")
    median = alt.Chart(crossing).mark_line(color="#e45756").encode(
        x="as_of:T", y="p50:T", tooltip=["as_of:T", "p10:T", "p50:T", "p90:T"])
    projects = table[(table["item"] != "crossing") & table["must_land_by"].notna()]
    lines = alt.Chart(projects).mark_line(point=True, strokeDash=[4, 2]).encode(
        x="as_of:T", y="must_land_by:T", color=alt.Color("item:N", title="must land by"),
        tooltip=["item:N", "as_of:T", "must_land_by:T", alt.Tooltip("p_late:Q", format=".0%"), "at_risk:N"])
    diagonal = alt.Chart(crossing).mark_line(color="black", strokeDash=[2, 2], opacity=0.5).encode(
        x="as_of:T", y="as_of:T")
    layers = [band, median, lines, diagonal]
    fired = replay.first_warning.dropna(subset=["first_at_risk"])
    if len(fired):
        layers.append(alt.Chart(fired).mark_rule(color="#e45756").encode(
            x="first_at_risk:T", tooltip=["project:N", "first_at_risk:T"]))
    return alt.layer(*layers).properties(
        width=WIDTH, height=280,
        title=f"Replay: crossing {replay.limit:.0%} (P10-P90 band, median) and must-land-by dates")
