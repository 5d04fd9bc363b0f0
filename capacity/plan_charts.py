"""Altair charts of a :class:`~capacity.plan.Plan` (kept apart so the planner stays small)."""

from __future__ import annotations

from typing import TYPE_CHECKING

import altair as alt
import numpy as np
import pandas as pd

if TYPE_CHECKING:
    from capacity.plan import Plan

WIDTH = 640


def utilisation_fan(plan: Plan) -> alt.LayerChart:
    """Daily utilisation quantiles of the current set-up, with the limit and the crossing dates."""
    frame = (plan.utilisation * 100).reset_index()
    base = alt.Chart(frame).encode(x=alt.X("date:T", title=None))
    band = base.mark_area(opacity=0.25, color="#4c78a8").encode(
        y=alt.Y("p10:Q", title="CPU of the average messaging server (%)"), y2="p90:Q",
        tooltip=[alt.Tooltip("date:T"), alt.Tooltip("p10:Q", format=".0f"),
                 alt.Tooltip("p50:Q", format=".0f"), alt.Tooltip("p90:Q", format=".0f")])
    median = base.mark_line(color="#4c78a8").encode(y="p50:Q")
    limit = alt.Chart(pd.DataFrame({"limit": [plan.limit * 100]})).mark_rule(
        color="#e45756", strokeDash=[6, 3]).encode(y="limit:Q")
    layers = [band, median, limit]
    c = plan.crossing
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
    days = plan.crossing_days[np.isfinite(plan.crossing_days)]
    dates = plan.as_of + pd.to_timedelta(days, unit="D")
    weeks = pd.Series(dates).dt.to_period("W").dt.start_time
    table = (weeks.value_counts() / len(plan.crossing_days)).rename("share").rename_axis("week").reset_index()
    title = f"When {plan.limit:.0%} is crossed (share of paths per week; {plan.crossing.p_none:.0%} never"
    title += f" within {plan.horizon_days} days)"
    return alt.Chart(table).mark_bar(color="#e45756").encode(
        x=alt.X("week:T", title=None), y=alt.Y("share:Q", axis=alt.Axis(format="%"), title="paths"),
        tooltip=[alt.Tooltip("week:T"), alt.Tooltip("share:Q", format=".1%")],
    ).properties(width=WIDTH, height=140, title=title)


def project_windows(plan: Plan) -> alt.LayerChart:
    """Each project's must-start-by, must-land-by and planned landing, red when at risk."""
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
    y = alt.Y("project:N", title=None, sort=list(plan.deadlines["project"]))
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
    parts = [utilisation_fan(plan), crossing_histogram(plan)]
    if len(plan.deadlines):
        parts.append(project_windows(plan))
    return alt.vconcat(*parts).resolve_scale(color="independent", shape="independent")
