"""Altair charts of a :class:`~capacity.planning.Plan` and of a :class:`~capacity.pipeline.Replay`.

The utilisation fan, the crossing-date histogram, the project windows, :func:`plan_chart` (all three,
what :meth:`Plan.chart` shows) and :func:`replay_chart`. Nothing from :mod:`capacity.planning` is
imported at run time (the results only come in as arguments), and altair only when a chart is built:
it does not import under ``python -OO``.

Text drawn from the data (project and strategy names) goes through :func:`capacity.charts.label_text`
first: the SVG renderer aborts the process on control characters. Date axes take their ticks from
:func:`time_axis`, one tick per calendar unit with a format fitted to the span, so labels neither
repeat nor collide.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

import numpy as np
import pandas as pd

from capacity.charts import label_text

if TYPE_CHECKING:
    import altair as alt

    from capacity.pipeline import Replay
    from capacity.planning.result import Plan

WIDTH = 640
#: the fewest pixels between two date-axis ticks (a "22 Oct 2010" label is about 65 px wide)
TICK_SPACING = 90
#: colours of the replay's project lines: the house palette less its red, which marks the crossing
PROJECT_COLOURS = ("#4c78a8", "#f58518", "#54a24b", "#b279a2", "#72b7b2", "#9d755d", "#eeca3b", "#ff9da6")
#: dash patterns of the replay's project lines (two projects with equal dates stay told apart)
PROJECT_DASHES = ((8, 3), (4, 3), (1, 2), (8, 3, 1, 3), (12, 2), (2, 5), (6, 2, 2, 2), (3, 1))
RED = "#e45756"

# (interval, step, days per step) from fine to coarse; the first whose ticks fit is used
_TICK_STEPS = (("day", 1, 1.0), ("day", 2, 2.0), ("week", 1, 7.0), ("week", 2, 14.0), ("month", 1, 30.44),
               ("month", 2, 60.9), ("month", 3, 91.3), ("month", 6, 182.6), ("year", 1, 365.25),
               ("year", 2, 730.5), ("year", 5, 1826.0), ("year", 10, 3652.5), ("year", 100, 36525.0))



def _labels(values: pd.Series) -> pd.Series:
    return values.map(label_text)


def _count(n: int, noun: str) -> str:
    """'1 server', '2 servers'."""
    return f"{n} {noun}" if n == 1 else f"{n} {noun}s"


def _day(date: pd.Timestamp) -> str:
    """'23 Oct 2010' (no zero padding, the same on every platform)."""
    return f"{date.day} {date:%b %Y}"


def time_axis(start: pd.Timestamp, end: pd.Timestamp, *, length: int = WIDTH, **kwargs: Any) -> alt.Axis:
    """A date axis over ``start``..``end`` whose labels cannot overlap.

    Ticks every day, week (Sundays), month or year, or a multiple, the finest that leaves at least
    :data:`TICK_SPACING` pixels between ticks over ``length`` pixels, and a format that names that
    unit once ("22 Oct", "Nov 2010", "2011"): no repeated month labels, no labels run together.
    """
    import altair as alt

    start, end = pd.Timestamp(start), pd.Timestamp(end)
    span = max((end - start) / pd.Timedelta(days=1), 1.0)
    most = max(length // TICK_SPACING, 2)
    unit, step, days = next((s for s in _TICK_STEPS if span / s[2] <= most), _TICK_STEPS[-1])
    first, last = start.ceil("D"), end.floor("D")
    if unit == "day":
        ticks = pd.date_range(first, last, freq=f"{step}D")
    elif unit == "week":
        ticks = pd.date_range(first, last, freq="W-SUN")[::step]
    elif unit == "month":
        ticks = pd.date_range(first, last, freq="MS")
        ticks = ticks[(ticks.month - 1) % step == 0]
    else:
        ticks = pd.date_range(first, last, freq="YS")
        ticks = ticks[ticks.year % step == 0]
    if unit in ("day", "week"):
        fmt = "%-d %b" if start.year == end.year else "%-d %b %Y"
    else:
        fmt = "%b %Y" if unit == "month" else "%Y"
    values = [alt.DateTime(year=t.year, month=t.month, date=t.day) for t in ticks]
    return alt.Axis(values=values, format=fmt, labelOverlap=True, **kwargs)


def _watched_title(plan: Plan) -> str:
    """The y axis of the utilisation fan: 'busiest hour CPU, hottest server (%)'."""
    w = plan.watch
    metric = {"daily_mean": "mean CPU", "busiest_hour": "busiest-hour CPU",
              "quantile": f"CPU, hours' P{100 * (w.quantile or 0):g}"}[w.metric]
    spare = f", {w.spare_servers} spare" if w.spare_servers else ""
    return f"{metric}, {w.server} server{spare} (%)"


def utilisation_fan(plan: Plan, *, history: pd.Series | None = None) -> alt.LayerChart:
    """Daily utilisation quantiles of the current set-up over the whole horizon, with the limit, the
    crossing dates (labelled rules) and the region above 100% shaded (demand beyond saturation).

    Parameters
    ----------
    plan : Plan
    history : Series, optional
        Observed daily CPU [%] in the plan's watched metric (:attr:`Plan.watch`) on a
        DatetimeIndex, drawn as dots.
    """
    import altair as alt

    c = plan.crossing
    end = c.horizon_end
    frame = (plan.utilisation.loc[:end] * 100).reset_index()
    peak = float(frame["p90"].max()) if len(frame) else 0.0
    # demand beyond twice the limit says nothing more: cut the axis there so the limit stays readable
    top = max(min(peak, max(plan.limit * 200, 125.0)), plan.limit * 110)
    if top > 100:
        top = max(top, 115.0)  # room for the label of the band above 100%
    y_scale = alt.Scale(domain=[0, top], nice=False)
    start = plan.as_of - pd.Timedelta(days=120) if history is not None else plan.as_of
    x = alt.X("date:T", title=None, scale=alt.Scale(domain=[start.isoformat(), end.isoformat()]),
              axis=time_axis(start, end))
    rules = [d for d in (c.p10, c.p50, c.p90) if d is not None]
    seen = history.loc[start:plan.as_of] if history is not None else None
    free = _Free(start, end, top, frame, seen, rules)
    layers: list[alt.Chart | alt.LayerChart] = []

    def label(text: str, candidates: list[tuple[str, float, str]], colour: str) -> alt.Chart:
        """``text`` where it covers the least of what is drawn (the fan, the dots, the rules)."""
        side, value, baseline = free.place(text, candidates)
        at = pd.DataFrame({"date": [start if side == "left" else end], "y": [value], "label": [text]})
        return alt.Chart(at).mark_text(
            align=side, baseline=baseline, dx=4 if side == "left" else -4,
            dy=-3 if baseline == "bottom" else 3, color=colour, fontSize=10).encode(
            x=x, y=alt.Y("y:Q", scale=y_scale), text="label:N")

    if top > 100:  # readings cannot go past 100%: what the fan shows there is demand, not a reading
        layers.append(alt.Chart(pd.DataFrame({"lo": [100.0], "hi": [top]})).mark_rect(
            color="#9d9d9d", opacity=0.18).encode(y=alt.Y("lo:Q", scale=y_scale), y2="hi:Q"))
        layers.append(label("demand beyond saturation: readings pin at 100%",
                            [("left", top, "top"), ("right", top, "top"), ("left", 100.0, "bottom"),
                             ("right", 100.0, "bottom")], "#555"))
    base = alt.Chart(frame).encode(x=x)
    layers.append(base.mark_area(opacity=0.25, color="#4c78a8", clip=True).encode(
        y=alt.Y("p10:Q", title=_watched_title(plan), scale=y_scale), y2="p90:Q",
        tooltip=[alt.Tooltip("date:T"), alt.Tooltip("p10:Q", format=".0f"),
                 alt.Tooltip("p50:Q", format=".0f"), alt.Tooltip("p90:Q", format=".0f")]))
    layers.append(base.mark_line(color="#4c78a8", clip=True).encode(y=alt.Y("p50:Q", scale=y_scale)))
    limit = plan.limit * 100
    layers.append(alt.Chart(pd.DataFrame({"limit": [limit]})).mark_rule(color=RED, strokeDash=[6, 3]).encode(
        y=alt.Y("limit:Q", scale=y_scale)))
    layers.append(label(f"limit {plan.limit:.0%}", [("left", limit, "bottom"), ("right", limit, "bottom"),
                                                    ("left", limit, "top"), ("right", limit, "top")], RED))
    if seen is not None:
        dots = seen.rename("cpu").rename_axis("date").reset_index()
        layers.append(alt.Chart(dots).mark_circle(size=14, color="#333", opacity=0.6).encode(
            x=x, y=alt.Y("cpu:Q", scale=y_scale), tooltip=["date:T", alt.Tooltip("cpu:Q", format=".1f")]))
    layers += _crossing_rules(c, start, end)
    return alt.layer(*layers).properties(
        width=WIDTH, height=220,
        title=f"Utilisation with {_count(plan.servers, 'server')} under {label_text(plan.strategy)} "
              "(P10-P90 band, median)")


class _Free:
    """Free room in the fan's plot, for its labels: each candidate place is scored by how much of the
    drawn marks (band columns, history dots, rules, labels already placed) its box would cover."""

    HEIGHT = 220
    CHAR = 6.2  # px per character, DejaVu Sans 10 px

    def __init__(self, start: pd.Timestamp, end: pd.Timestamp, top: float, frame: pd.DataFrame,
                 history: pd.Series | None, rules: list[pd.Timestamp]) -> None:
        self.start, self.top = start, top
        self.days = max((end - start) / pd.Timedelta(days=1), 1.0)
        self.band = (self._x(frame["date"]), self._y(frame["p90"]), self._y(frame["p10"]))
        if history is None or not len(history):
            self.dots = (np.empty(0), np.empty(0))
        else:
            self.dots = (self._x(history.index), self._y(history.to_numpy()))
        self.rules = self._x(pd.Series(rules, dtype="datetime64[ns]"))
        self.boxes: list[tuple[float, float, float, float]] = []

    def _x(self, dates: Any) -> np.ndarray:
        offsets = (pd.DatetimeIndex(dates) - self.start) / pd.Timedelta(days=1)
        return np.asarray(offsets, dtype=float) / self.days * WIDTH

    def _y(self, values: Any) -> np.ndarray:
        return (self.top - np.asarray(values, dtype=float)) / self.top * self.HEIGHT

    def place(self, text: str, candidates: list[tuple[str, float, str]]) -> tuple[str, float, str]:
        """The (side, value, baseline) of ``candidates`` whose box covers least; its box is then taken."""
        width, height = self.CHAR * len(text) + 4, 13.0
        scored = []
        for side, value, baseline in candidates:
            x0 = 0.0 if side == "left" else WIDTH - width
            at = float(self._y(value))
            y0 = at - 3 - height if baseline == "bottom" else at + 3
            box = (x0, x0 + width, y0, y0 + height)
            scored.append((self._cost(box), len(scored), box, (side, value, baseline)))
        _, _, box, best = min(scored)
        self.boxes.append(box)
        return best

    def _cost(self, box: tuple[float, float, float, float]) -> float:
        x0, x1, y0, y1 = box
        bx, band_top, band_bottom = self.band
        cost = float(np.sum((bx >= x0) & (bx <= x1) & (band_top < y1) & (band_bottom > y0)))
        dx, dy = self.dots
        cost += float(np.sum((dx >= x0) & (dx <= x1) & (dy >= y0) & (dy <= y1)))
        cost += 30.0 * float(np.sum((self.rules >= x0) & (self.rules <= x1)))
        cost += 1e4 * sum(x0 < b[1] and b[0] < x1 and y0 < b[3] and b[2] < y1 for b in self.boxes)
        return cost + (1e4 if y0 < 0 or y1 > self.HEIGHT else 0.0)


def _crossing_rules(c: Any, start: pd.Timestamp, end: pd.Timestamp) -> list[alt.Chart]:
    """A red rule per crossing date, labelled with the quantiles that fall on it ("P10/P50 crossing")."""
    import altair as alt

    dates: dict[pd.Timestamp, list[str]] = {}
    for name, date in (("P10", c.p10), ("P50", c.p50), ("P90", c.p90)):
        if date is not None:
            dates.setdefault(date, []).append(name)
    if not dates:
        return []
    marks = pd.DataFrame([{"date": d, "what": f"{'/'.join(q)} crossing", "label": f"{'/'.join(q)} crossing: "
                           f"{_day(d)}"} for d, q in dates.items()])
    layers = [alt.Chart(marks).mark_rule(color=RED, opacity=0.6).encode(
        x="date:T", tooltip=["what:N", "date:T"])]
    span = max((end - start) / pd.Timedelta(days=1), 1.0)
    rows = len(marks)
    for row, mark in enumerate(marks.itertuples()):  # above the plot, one row each: clear of the data
        at = (mark.date - start) / pd.Timedelta(days=1) / span * WIDTH
        right = at + 4 + _Free.CHAR * len(mark.label) > WIDTH and at > WIDTH / 2  # no room right: text left
        layers.append(alt.Chart(marks.iloc[[row]]).mark_text(
            align="right" if right else "left", baseline="bottom", dx=-4 if right else 4, color=RED,
            fontSize=10).encode(x="date:T", y=alt.value(-3 - 13 * (rows - 1 - row)), text="label:N"))
        layers.append(alt.Chart(marks.iloc[[row]]).mark_rule(color=RED, opacity=0.6).encode(
            x="date:T", y=alt.value(-3 - 13 * (rows - 1 - row) - 11), y2=alt.value(0)))
    return layers


def crossing_histogram(plan: Plan) -> alt.Chart:
    """How the crossing date is distributed over the Monte Carlo paths (daily, weekly or monthly bins),
    over the dates where the crossings fall (with a margin), not the whole horizon."""
    import altair as alt

    days = plan.crossing_days[np.isfinite(plan.crossing_days)]
    dates = pd.Series(plan.as_of + pd.to_timedelta(days, unit="D"))
    spread = (dates.max() - dates.min()).days if len(dates) else 0
    # daily bins while the crossing is sharp, weekly (Sunday to Saturday, as the ticks) or monthly
    # bins when it is spread out
    unit, label = ("D", "day") if spread <= 42 else ("W-SAT", "week") if spread <= 366 else ("M", "month")
    if len(dates):
        periods = dates.dt.to_period(unit)
        table = pd.DataFrame({"start": periods.dt.start_time, "end": (periods + 1).dt.start_time})
        table = table.groupby(["start", "end"]).size().rename("share").reset_index()
        table["share"] /= len(plan.crossing_days)
        lo, hi = table["start"].min(), table["end"].max()
        pad = max(table["end"].iloc[0] - table["start"].iloc[0], (hi - lo) * 0.05)
        lo, hi = lo - pad, hi + pad
    else:
        table = pd.DataFrame({"start": pd.Series(dtype="datetime64[ns]"),
                              "end": pd.Series(dtype="datetime64[ns]"), "share": pd.Series(dtype=float)})
        lo, hi = plan.as_of, plan.as_of + pd.Timedelta(days=plan.horizon_days)
    title = (f"When {plan.limit:.0%} is crossed: share of futures per {label} "
             f"({plan.crossing.p_none:.0%} never within {_count(plan.horizon_days, 'day')})")
    return alt.Chart(table).mark_bar(color=RED, stroke="white", strokeWidth=0.5).encode(
        x=alt.X("start:T", title=None, scale=alt.Scale(domain=[lo.isoformat(), hi.isoformat()]),
                axis=time_axis(lo, hi)),
        x2="end:T",
        y=alt.Y("share:Q", axis=alt.Axis(format="%"), title="futures"), y2=alt.datum(0),
        tooltip=[alt.Tooltip("start:T", title=label), alt.Tooltip("share:Q", format=".1%")],
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
                rows.append({"project": label_text(r.project), "what": what, "date": date, "state": state})
    table = pd.DataFrame(rows, columns=["project", "what", "date", "state"])
    dates = [*table["date"], plan.as_of]
    lo, hi = min(dates), max(dates)
    pad = max((hi - lo) * 0.03, pd.Timedelta(days=2))  # markers at the ends are not cut in half
    lo, hi = lo - pad, hi + pad
    x = alt.X("date:T", title=None, scale=alt.Scale(domain=[lo.isoformat(), hi.isoformat()]),
              axis=time_axis(lo, hi))
    colour = alt.Color("state:N", scale=alt.Scale(domain=["on track", "AT RISK", "landed"],
                                                   range=["#54a24b", RED, "#9d9d9d"]), title=None,
                       legend=alt.Legend(symbolOpacity=1))  # the swatch as the markers, not the pale bar
    y = alt.Y("project:N", title=None, sort=list(_labels(plan.deadlines["project"])),
              axis=alt.Axis(labelLimit=260))
    deadlines = table[table["what"] != "planned landing"]
    window = alt.Chart(deadlines).mark_line(strokeWidth=6, opacity=0.5).encode(
        x=x, y=y, detail="project:N", color=colour)
    points = alt.Chart(table).mark_point(filled=True, size=90).encode(
        x=x, y=y, color=colour,
        shape=alt.Shape("what:N", scale=alt.Scale(domain=["must start by", "must land by", "planned landing"],
                                                  range=["triangle-right", "square", "diamond"]), title=None),
        tooltip=["project:N", "what:N", "date:T", "state:N"])
    today = alt.Chart(pd.DataFrame({"date": [plan.as_of]})).mark_rule(
        color="black", strokeDash=[2, 2]).encode(x=x)
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
    """What the plan said on each replay date: crossing P10-P90 band and each must-land-by.

    Each project's line has its own colour and dash and is drawn narrower than the one before, so a
    project whose dates equal another's shows as a line inside a line, not as no line at all. The red rules
    mark the day each project was first at risk, labelled with the projects.
    """
    import altair as alt

    table = replay.table.assign(item=_labels(replay.table["item"]))
    crossing = table[table["item"] == "crossing"]
    first, last = table["as_of"].min(), table["as_of"].max()
    single = first == last  # one replay date: no line to draw, mark the median with a point
    if single:
        first, last = first - pd.Timedelta(days=1), last + pd.Timedelta(days=1)
    scale = alt.Scale(domain=[first.isoformat(), last.isoformat()])
    x = alt.X("as_of:T", title="plan made on", scale=scale, axis=time_axis(first, last))
    band = alt.Chart(crossing).mark_area(opacity=0.25, color=RED).encode(
        x=x, y=alt.Y("p10:T", title="date"), y2="p90:T")
    median = alt.Chart(crossing).mark_line(color=RED, point=single).encode(
        x=x, y="p50:T", tooltip=["as_of:T", "p10:T", "p50:T", "p90:T"])
    diagonal = alt.Chart(crossing).mark_line(color="black", strokeDash=[2, 2], opacity=0.5).encode(
        x=x, y="as_of:T")
    layers = [band, median, diagonal, *_project_lines(table, x)]
    fired = replay.first_warning.dropna(subset=["first_at_risk"])
    if len(fired):
        layers += _warning_rules(fired, first, last, scale)
    return alt.layer(*layers).properties(
        width=WIDTH, height=280,
        title=f"Replay: crossing {replay.limit:.0%} (P10-P90 band, median) and must-land-by dates")


def _project_lines(table: pd.DataFrame, x: alt.X) -> list[alt.Chart]:
    """One line and point layer per project, widest first, each with its own colour and dash."""
    import altair as alt

    projects = table[(table["item"] != "crossing") & table["must_land_by"].notna()]
    items = list(dict.fromkeys(projects["item"]))
    n = len(items)
    colours = [PROJECT_COLOURS[i % len(PROJECT_COLOURS)] for i in range(n)]
    dashes = [list(PROJECT_DASHES[i % len(PROJECT_DASHES)]) for i in range(n)]
    legend = alt.Legend(symbolType="stroke", symbolStrokeWidth=2.5, symbolOpacity=1, symbolSize=300,
                        labelLimit=260)
    color = alt.Color("item:N", title="must land by", scale=alt.Scale(domain=items, range=colours),
                      legend=legend)
    dash = alt.StrokeDash("item:N", title="must land by", scale=alt.Scale(domain=items, range=dashes),
                          legend=legend)
    tooltip = ["item:N", "as_of:T", "must_land_by:T", alt.Tooltip("p_late:Q", format=".0%"), "at_risk:N"]
    layers = []
    for i, item in enumerate(items):
        share = 1 - i / (n - 1) if n > 1 else 1.0  # 1 for the first project, 0 for the last
        rows = projects[projects["item"] == item]
        layers.append(alt.Chart(rows).mark_line(strokeWidth=1.5 + 4.5 * share).encode(
            x=x, y=alt.Y("must_land_by:T"), color=color, strokeDash=dash, tooltip=tooltip))
        layers.append(alt.Chart(rows).mark_point(filled=True, opacity=1, size=20 + 100 * share).encode(
            x=x, y="must_land_by:T", color=alt.Color("item:N", scale=alt.Scale(domain=items, range=colours),
                                                     legend=None), tooltip=tooltip))
    return layers


def _warning_rules(fired: pd.DataFrame, first: pd.Timestamp, last: pd.Timestamp,
                   scale: alt.Scale) -> list[alt.Chart]:
    """A red rule on each day a project was first at risk, labelled with those projects."""
    import altair as alt

    groups = (fired.assign(project=_labels(fired["project"])).sort_values("first_at_risk")
              .groupby("first_at_risk", sort=True)["project"].agg(", ".join).reset_index())
    groups["label"] = "first at risk: " + groups["project"]
    x = alt.X("first_at_risk:T", scale=scale)
    layers = [alt.Chart(groups).mark_rule(color=RED).encode(x=x, tooltip=["project:N", "first_at_risk:T"])]
    span = max((last - first) / pd.Timedelta(days=1), 1.0)
    rows = len(groups)
    for row, g in enumerate(groups.itertuples()):
        at = (g.first_at_risk - first) / pd.Timedelta(days=1) / span * WIDTH
        right = at + 4 + _Free.CHAR * len(g.label) > WIDTH and at > WIDTH / 2  # no room right: text left
        room = at - 8 if right else WIDTH - at - 8
        # from the bottom up (the corner under the diagonal holds no line), the earliest rule highest
        layers.append(alt.Chart(groups.iloc[[row]]).mark_text(
            align="right" if right else "left", baseline="bottom", dx=-4 if right else 4, color=RED,
            fontSize=10, limit=max(room, 40)).encode(
            x=x, y=alt.value(280 - 3 - 13 * (rows - 1 - row)),
            text="label:N"))
    return layers
