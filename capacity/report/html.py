"""The scheduled report: ``reports/<as-of date>/`` with HTML, JSON, CSV and SVG, written atomically.

Layout of the reports folder (published by :func:`capacity.report.publish.publish`, which also says
how runs lock the folder, what they delete and what SIGINT/SIGTERM do)::

    reports/
      .lock                                        (held by the run that is writing)
      2010-10-20 -> .builds/2010-10-20.<stamp>     (a symlink: replaced atomically on a rerun)
      latest -> 2010-10-20                         (the newest as-of date; see below)
      .builds/2010-10-20.<stamp>/
        index.html  summary.json  deadlines.csv  forecast.csv  growth.svg  messaging.svg ...
      .builds/2010-10-20.<stamp>.capacity          (the marker: this build is capacity's own)

Every file is written into a fresh build folder first; only when all of them are complete does one
``rename`` of a symlink publish it. An interrupted or failed run leaves the previous report intact and
removes its own build; a run removes the builds no link points at, those of killed runs included. It
deletes nothing it did not make: a link to elsewhere, a folder or a file named like the report or
``latest`` stops the run with a one-line :class:`~capacity.errors.CapacityError`, nothing written.

``latest`` points at the newest **as-of date** among the date reports in the folder, not at the last
run: after ``--as-of 2010-09-01`` it still points at ``2010-10-20`` if that report exists. It links to
the date link (``latest -> 2010-10-20``), so a rerun of that date is what ``latest`` shows; replays
(``replay-<date>``) never move it.

The charts come from :mod:`capacity.report.charts`, rendered by :func:`capacity.charts.to_svg`; the
forecast from :func:`capacity.pipeline.run`. ``reports`` (the default ``out``) is relative to the
working directory. The page reads on a phone: tables and charts scroll sideways inside their own box
and charts keep their drawn size (their text stays legible) instead of shrinking to the screen.

``summary.json`` schema (version 2; within a version keys are only ever added; version 2 made
``limit`` an object, it was the utilisation fraction in version 1):

- ``schema`` (int), ``version`` (capacity's), ``as_of`` (ISO date), ``headline`` (str),
  ``limit``: ``cpu`` (utilisation fraction), ``metric`` (``daily_mean``, ``busiest_hour`` or
  ``quantile``), ``metric_quantile`` (or null), ``server`` (``average`` or ``hottest``),
  ``spare_servers`` (int) and ``watched`` (the same in words); ``confidence``, ``horizon_days``,
  ``strategy``, ``servers``;
- ``crossing``: ``p10``, ``p50``, ``p90`` (ISO dates, or null when beyond the horizon), ``p_none``
  (probability of no crossing within the horizon), ``p_now`` (probability that the limit is already
  reached on ``as_of``), ``horizon_end``;
- ``deadlines``: a list of objects ``project``, ``effect``, ``status`` (planned, in progress,
  overdue, unscheduled, landed, in effect), ``planned_landing``, ``must_land_by``, ``must_start_by``
  (ISO dates or null), ``p_late`` (or null), ``at_risk`` (bool), ``runway`` (``p10``, ``p50``,
  ``p90``, ``p_none``: the crossing with this project and the earlier ones of the roadmap landed);
- ``regimes``: a list of objects ``date``, ``rate_before``, ``rate_after`` (apps/day), ``ratio``,
  ``prob``;
- ``models``: ``growth`` (``weights``, ``rate_now`` apps/day, ``last_value``, ``last_date``,
  ``notes``: what the fit had to decide, e.g. a break too recent to backtest) and
  ``messaging`` (``params`` u0, a, b with ``lower``/``upper``, ``cores_per_server``);
- ``backtest``: ``horizon_days``, ``level``, ``coverage``, and per growth model ``mase``;
- ``inputs``: ``config``, ``apps``, ``messaging``: each ``file`` (name) and ``sha256``; an input read
  from a server also ``source``, ``server`` (without credentials), ``query``, ``step``, ``start``, ``end``;
- ``data``: ``newest`` (``apps``, ``messaging``: the last day with data), ``age_days`` (how much older
  the newest data is than ``as_of``), ``excluded`` (app counts left out of the fit as implausible:
  ``date``, ``value``, ``reason``).
"""

from __future__ import annotations

import datetime as dt
import html
import json
import math
import os
import re
from collections.abc import Mapping
from pathlib import Path
from typing import Any

import pandas as pd

from capacity import __version__
from capacity.data import PATH
from capacity.pipeline import Forecast, Replay
from capacity.report.prom import TEXTFILE_NAME, prometheus_textfile
from capacity.report.publish import check_destination, publish
from capacity.sources.store import report_inputs
from capacity.validation import InstanceOf, check_args, check_mapping

__all__ = ["write_report", "write_replay", "summary_dict", "render_html", "SCHEMA_VERSION"]

SCHEMA_VERSION = 2


# ----------------------------------------------------------------------------- JSON


def _iso(value: Any) -> str | None:
    if value is None or (not isinstance(value, str) and pd.isna(value)):
        return None
    return pd.Timestamp(value).date().isoformat()


def _num(value: Any, digits: int = 6) -> float | None:
    if value is None or pd.isna(value):
        return None
    value = float(value)
    return round(value, digits) if math.isfinite(value) else None



def summary_dict(forecast: Forecast) -> dict[str, Any]:
    """The report's machine-readable summary (the schema is in this module's docstring).

    Parameters
    ----------
    forecast : Forecast
        What :func:`capacity.run` returned.

    Returns
    -------
    dict
        JSON-ready: dates as ISO strings, numbers rounded, NaN as None.
    """
    check_args("summary_dict", forecast=(forecast, [InstanceOf(Forecast)]))
    plan, growth, load = forecast.plan, forecast.growth, forecast.load
    c = plan.crossing
    deadlines = []
    for r in plan.deadlines.itertuples():
        deadlines.append({
            "project": r.project, "effect": r.effect, "status": r.status,
            "planned_landing": _iso(r.planned_landing), "must_land_by": _iso(r.must_land_by),
            "must_start_by": _iso(r.must_start_by), "p_late": _num(r.p_late, 4), "at_risk": bool(r.at_risk),
            "runway": {"p10": _iso(r.runway_p10), "p50": _iso(r.runway_p50), "p90": _iso(r.runway_p90),
                       "p_none": _num(r.runway_p_none, 4)},
        })
    regimes = [{"date": _iso(r["date"]), "rate_before": _num(r["rate_before"], 3),
                "rate_after": _num(r["rate_after"], 3), "ratio": _num(r["ratio"], 4),
                "prob": _num(r["prob"], 4)}
               for r in growth.regimes.to_dict("records")]
    mase = growth.backtest["mase"] if "mase" in growth.backtest else pd.Series(dtype=float)
    params = load.summary().set_index("param")
    return {
        "schema": SCHEMA_VERSION,
        "version": __version__,
        "as_of": _iso(plan.as_of),
        "headline": plan.headline,
        "limit": {"cpu": _num(plan.limit, 6), **plan.watch.as_dict(), "watched": plan.watch.describe()},
        "confidence": plan.confidence,
        "horizon_days": plan.horizon_days,
        "strategy": plan.strategy,
        "servers": plan.servers,
        "crossing": {"p10": _iso(c.p10), "p50": _iso(c.p50), "p90": _iso(c.p90), "p_none": _num(c.p_none, 4),
                     "p_now": _num(c.p_now, 4), "horizon_end": _iso(c.horizon_end)},
        "deadlines": deadlines,
        "regimes": regimes,
        "models": {
            "growth": {"weights": {k: _num(v, 4) for k, v in growth.weights.items()},
                       "rate_now": _num(growth.rate, 3), "last_value": _num(growth.last_value, 1),
                       "last_date": _iso(growth.last_date), "notes": list(growth.notes)},
            "messaging": {"params": {p: {"estimate": _num(params.loc[p, "estimate"], 12),
                                         "lower": _num(params.loc[p, "lower"], 12),
                                         "upper": _num(params.loc[p, "upper"], 12),
                                         "unit": params.loc[p, "unit"]} for p in params.index},
                          "cores_per_server": load.cores_per_server, **_load_dict(load)},
        },
        "backtest": {"horizon_days": growth.horizon_days, "level": growth.level,
                     "coverage": _num(growth.coverage, 4),
                     "mase": {str(k): _num(v, 4) for k, v in mase.items()}},
        "inputs": report_inputs(forecast.inputs)[0],
        "data": _data_dict(forecast.inputs),
    }


def _load_dict(load: Any) -> dict[str, Any]:
    """The messaging fit's cost form, notes, measured fan-out and intraday profile, JSON-ready."""
    fanout = [{"strategy": r["strategy"], "param": r["param"], "configured": _num(r["configured"], 6),
               "estimate": _num(r["estimate"], 6), "lower": _num(r["lower"], 6),
               "upper": _num(r["upper"], 6), "agrees": None if pd.isna(r["agrees"]) else bool(r["agrees"])}
              for r in load.fanout_summary().to_dict("records")]
    profile = load.profile
    if profile is None or isinstance(profile, str):
        shape: dict[str, Any] = {"none": profile or "no profile"}
    else:
        shape = {"busiest_hour_factor": _num(profile.factor("busiest_hour"), 4),
                 "peak_hour_utc": profile.peak_hour, "hottest": profile.hottest,
                 "hottest_share": _num(profile.share("hottest"), 4), "days": profile.days,
                 "last": _iso(profile.last)}
    return {"cost_form": load.cost.describe(), "notes": list(load.notes), "fanout": fanout, "profile": shape}


def _data_dict(inputs: Any) -> dict[str, Any]:
    """How old the newest data is on the as-of date, and the app counts left out of the fit."""
    return {"newest": {k: _iso(v) for k, v in inputs.data_ends.items()}, "age_days": inputs.data_age_days,
            "excluded": [{"date": _iso(r["date"]), "value": _num(r["value"], 1), "reason": str(r["reason"])}
                         for r in inputs.excluded.to_dict("records")]}


# ----------------------------------------------------------------------------- tables


def forecast_table(forecast: Forecast) -> pd.DataFrame:
    """Daily quantiles over the plan's own futures: live apps [apps] and the current set-up's mean
    CPU of the average messaging server [%] (columns ``apps_p10`` ... ``cpu_percent_p90``)."""
    check_args("forecast_table", forecast=(forecast, [InstanceOf(Forecast)]))
    plan = forecast.plan
    table = plan.apps.add_prefix("apps_").join((plan.utilisation * 100).add_prefix("cpu_percent_"))
    table.index.name = "date"
    return table


# ----------------------------------------------------------------------------- HTML

_CSS = """
body{font-family:-apple-system,Segoe UI,Helvetica,Arial,sans-serif;max-width:980px;margin:24px auto;
padding:0 16px;color:#222;line-height:1.45}
h1{font-size:22px;margin-bottom:4px}h2{font-size:17px;margin-top:32px;border-bottom:1px solid #ddd}
.headline{font-size:18px;padding:12px 14px;border-left:6px solid #4c78a8;background:#f4f7fb}
.headline.risk{border-color:#e45756;background:#fdf1f1}
.scroll{overflow-x:auto;max-width:100%;margin:8px 0}
table{border-collapse:collapse;font-size:13px}td,th{padding:4px 8px;border-bottom:1px solid #eee;
text-align:left;vertical-align:top}th{background:#fafafa}td.num{text-align:right}
td.num,td.nowrap,time{white-space:nowrap}td.prose{min-width:20em}table.wide{min-width:760px}
.risk{color:#b00020;font-weight:bold}.ok{color:#2e7d32}.muted{color:#777;font-size:12px}
figure{margin:12px 0}figure svg{display:block;max-width:none;height:auto}
"""


def _now() -> str:
    return dt.datetime.now(dt.UTC).strftime("%Y-%m-%d %H:%M UTC")


def _e(value: Any) -> str:
    return html.escape(str(value), quote=True)


def _d(value: Any) -> str:
    """A date as ``<time>`` (never broken across lines), or a dash."""
    iso = _iso(value)
    return f'<time datetime="{iso}">{iso}</time>' if iso else "&mdash;"


def _dated(text: str) -> str:
    """Escaped text whose ISO dates are ``<time>`` elements (never broken across lines)."""
    return re.sub(r"\b(\d{4}-\d{2}-\d{2})\b", r'<time datetime="\1">\1</time>', _e(text))


def _servers(n: int) -> str:
    return f"{n} server" if n == 1 else f"{n} servers"


def _table(header: list[str], rows: list[list[str]], kinds: Mapping[int, str] | None = None,
           wide: bool = False) -> str:
    """An HTML table in its own sideways-scrolling box.

    ``kinds`` gives a column's cell class: ``num`` (right-aligned, never broken), ``nowrap`` (never
    broken) or ``prose`` (kept at least a few words wide). A ``wide`` table keeps a minimum width: on a
    phone it scrolls rather than squeezing its text into columns a word wide.
    """
    kinds = kinds or {}

    def cell(i: int, c: str) -> str:
        return f'<td class="{kinds[i]}">{c}</td>' if i in kinds else f"<td>{c}</td>"

    head = "".join(f"<th>{_e(h)}</th>" for h in header)
    body = "".join("<tr>" + "".join(cell(i, c) for i, c in enumerate(row)) + "</tr>" for row in rows)
    table = '<table class="wide">' if wide else "<table>"
    return f'<div class="scroll">{table}<thead><tr>{head}</tr></thead><tbody>{body}</tbody></table></div>'


def _pct(share: float) -> str:
    """A share of futures as a whole percentage that never rounds a few futures to 0% or 100%."""
    if 0 < share < 0.005:
        return "under 1%"
    if 0.995 <= share < 1:
        return "over 99%"
    return f"{round(share * 100)}%"


def _runway(r: Any, horizon_end: Any) -> str:
    """The runway in words: when the limit is reached again once this project and the earlier ones
    have landed, and in what share of futures it is not reached within the horizon."""
    if r.status in ("landed", "in effect") or pd.isna(r.runway_p_none):
        return "&mdash;"
    none, end = float(r.runway_p_none), _d(horizon_end)
    if none >= 1:
        return f"the limit is not reached again through {end} in any future"
    stay = f"{_pct(none)} of futures stay under it through {end}"
    if pd.isna(r.runway_p10):  # fewer than 10% of futures reach it
        return f"the limit is reached again in {_pct(1 - none)} of futures; {stay}"
    if pd.isna(r.runway_p90):  # between 10% and 90% reach it
        return (f"the limit is reached again in {_pct(1 - none)} of futures, in 10% by "
                f"{_d(r.runway_p10)}; {stay}")
    text = f"the limit is reached again between {_d(r.runway_p10)} and {_d(r.runway_p90)} (P10&ndash;P90)"
    return text + (f"; {stay}" if none > 0 else "")


def render_html(forecast: Forecast, svgs: Mapping[str, str], summary: Mapping[str, Any]) -> str:
    """The self-contained report page: inline SVG charts, inline CSS, no script, nothing fetched.

    Parameters
    ----------
    forecast : Forecast
        What :func:`capacity.run` returned.
    svgs : mapping of str to str
        SVG documents by chart name (see :func:`capacity.report.charts.report_charts`); a chart that is
        absent is left out of the page.
    summary : mapping
        What :func:`summary_dict` returned for ``forecast``.

    Returns
    -------
    str
        The HTML document.
    """
    check_args("render_html", forecast=(forecast, [InstanceOf(Forecast)]))
    check_mapping("render_html", "svgs", svgs, values=[InstanceOf(str)])
    check_mapping("render_html", "summary", summary)
    parts = [
        *_head(forecast, summary),
        *_data_notes(summary["data"]),
        *_deadlines_section(forecast.plan, svgs),
        *_utilisation_section(svgs),
        *_growth_section(forecast.growth, svgs),
        *_load_section(forecast.load, svgs),
        *_backtest_section(forecast.growth, summary),
        *_inputs_section(summary),
        "</body></html>",
    ]
    return "\n".join(parts)


def _number(value: Any, fmt: str) -> str:
    return format(value, fmt) if pd.notna(value) and math.isfinite(value) else "&mdash;"


def _figure(svgs: Mapping[str, str], name: str, caption: str) -> str:
    """A chart at its drawn size in a sideways-scrolling box (on a phone), with its caption."""
    if name not in svgs:
        return ""
    return (f'<figure><div class="scroll">{svgs[name]}</div>'
            f'<figcaption class="muted">{_e(caption)}</figcaption></figure>')


def _head(forecast: Forecast, summary: Mapping[str, Any]) -> list[str]:
    """The page head, the title and the headline with the plan's set-up and crossing dates."""
    plan = forecast.plan
    risky = bool(plan.deadlines["at_risk"].any()) if len(plan.deadlines) else False
    c = plan.crossing
    return [
        "<!DOCTYPE html>",
        '<html lang="en"><head><meta charset="utf-8">',
        '<meta name="viewport" content="width=device-width, initial-scale=1">',
        f"<title>Capacity report {_e(summary['as_of'])}</title><style>{_CSS}</style></head><body>",
        f"<h1>Messaging capacity as of {_d(summary['as_of'])}</h1>",
        f'<p class="headline{" risk" if risky else ""}">{_dated(plan.headline)}</p>',
        f'<p class="muted">Limit: {plan.limit:.0%} CPU, for {_e(plan.watch.describe())}; '
        f"{_servers(plan.servers)} under {_e(plan.strategy)}; {plan.n_paths:,} simulated futures; "
        f"horizon {plan.horizon_days} days (to {_d(c.horizon_end)}). "
        f"Crossing P10/P50/P90: {_d(c.p10)} / {_d(c.p50)} / {_d(c.p90)}; "
        f"P(no crossing within the horizon) {c.p_none:.0%}.</p>",
    ]


def _data_notes(data: Mapping[str, Any]) -> list[str]:
    """Beside the headline: how fresh the data is, and what was left out of the fit (never silently)."""
    newest = ", ".join(f"{_e(k)} {_d(v)}" for k, v in data["newest"].items())
    age = data["age_days"]
    plural = "s" if age != 1 else ""
    fresh = "up to the as-of date" if age == 0 else f"<strong>{age} day{plural} old</strong>"
    notes = [f'<p class="muted">Newest data: {newest} ({fresh}).</p>']
    if data["excluded"]:
        listed = "; ".join(f"{_d(x['date'])}: {x['value']:,.0f} ({_e(x['reason'])})"
                           for x in data["excluded"])
        notes.append(f"<p><strong>Left out of the growth fit as implausible</strong> "
                     f"(data.keep_implausible = true keeps them): {listed}.</p>")
    return notes


def _deadlines_section(plan: Any, svgs: Mapping[str, str]) -> list[str]:
    """The deadlines table (one row per project) and the project windows chart."""
    rows = []
    for r in plan.deadlines.itertuples():
        if r.at_risk:
            state = '<span class="risk">AT RISK</span>'
        elif r.status in ("landed", "in effect"):
            state = f'<span class="muted">{_e(r.status)}</span>'
        else:
            state = '<span class="ok">on track</span>'
        rows.append([
            _e(r.project), _e(r.effect), _e(r.status), _d(r.planned_landing), _d(r.must_land_by),
            _d(r.must_start_by), "&mdash;" if pd.isna(r.p_late) else f"{r.p_late:.0%}", state,
            _runway(r, plan.crossing.horizon_end),
        ])
    header = ["project", "effect", "status", "planned landing", f"must land by ({plan.confidence:.0%})",
              "must start by", "P(late)", "", "runway: once this and the earlier projects have landed"]
    return [
        "<h2>Deadlines</h2>",
        (_table(header, rows, {3: "nowrap", 4: "nowrap", 5: "nowrap", 6: "num", 7: "nowrap", 8: "prose"},
                wide=True) if rows
         else "<p>No projects in the plan.</p>"),
        _figure(svgs, "projects",
                "Each project's must-start-by and must-land-by window against its planned landing."),
    ]


def _utilisation_section(svgs: Mapping[str, str]) -> list[str]:
    return [
        "<h2>Utilisation</h2>",
        _figure(svgs, "utilisation", "Mean CPU of the average messaging server if nothing changes: median "
                "and P10-P90 band over the simulated futures; the dashed line is the limit."),
        _figure(svgs, "crossing",
                "Share of simulated futures that first reach the limit on each day (or week)."),
    ]


def _growth_section(growth: Any, svgs: Mapping[str, str]) -> list[str]:
    regimes = [[_d(r["date"]), _number(r["rate_before"], ",.1f"), _number(r["rate_after"], ",.1f"),
                _number(r["ratio"], ".2f") + "x", _number(r["prob"], ".2f")]
               for r in growth.regimes.to_dict("records")]
    return [
        "<h2>App growth</h2>",
        _figure(svgs, "growth", "Live apps with the forecast's 80% band; red rules mark detected changes in "
                "the growth rate; the horizontal line is the app count at which the limit is reached."),
        (_table(["regime change", "apps/day before", "apps/day after", "ratio", "confidence"], regimes,
                {0: "nowrap", 1: "num", 2: "num", 3: "num", 4: "num"}) if regimes
         else "<p>No change in the growth rate was detected.</p>"),
    ]


def _load_section(load: Any, svgs: Mapping[str, str]) -> list[str]:
    rows = [[_e(r["param"]), f"{r['estimate']:.4g}", f"{r['lower']:.4g} &ndash; {r['upper']:.4g}",
             _e(r["unit"])] for r in load.summary().to_dict("records")]
    fanout = [[_e(r["strategy"]), _e(r["param"]), _maybe(r["configured"], "{:.4g}"), f"{r['estimate']:.4g}",
               f"{r['lower']:.4g} &ndash; {r['upper']:.4g}",
               _agreement(r["agrees"], load.fanout[r["strategy"]].max_rel_diff)]
              for r in load.fanout_summary().to_dict("records")]
    profile = load.profile
    shape = (f"<p>{_profile_words(profile)}</p>" if profile is not None and not isinstance(profile, str)
             else f'<p class="muted">No intraday profile: {_e(profile or "none")}.</p>')
    return [
        "<h2>Messaging load</h2>",
        _figure(svgs, "messaging", "CPU of the average messaging server against live apps, per fan-out "
                "strategy (band: 90% interval of the mean); dots are observed daily means."),
        _table(["parameter", "estimate", "90% interval", "unit"], rows, {1: "num", 2: "nowrap"}),
        *([_table(["strategy", "fan-out parameter", "configured", "measured", "90% interval",
                   "configured inside interval"],
                  fanout, {2: "num", 3: "num", 4: "nowrap"})] if fanout else []),
        shape,
        "".join(f'<p class="muted">{_e(note)}</p>' for note in load.notes),
    ]


def _agreement(agrees: Any, max_rel_diff: float) -> str:
    """Whether a configured fan-out parameter lies inside its measured interval; a "no" says how far the
    configured formula's deliveries are from the measured ones, which is what the forecast feels."""
    if pd.isna(agrees):
        return "&mdash;"
    if agrees:
        return "yes"
    return "no" if pd.isna(max_rel_diff) else f"no (deliveries differ by up to {max_rel_diff:.1%})"


def _maybe(value: Any, fmt: str) -> str:
    """A number formatted, or a dash where there is none."""
    return "&mdash;" if pd.isna(value) else fmt.format(value)


def _profile_words(profile: Any) -> str:
    """The intraday profile and the hottest server in a sentence (HTML: the date as a <time>)."""
    peak, share = profile.factor("busiest_hour"), profile.share("hottest")
    return (f"The busiest hour ({profile.peak_hour:02d}:00 UTC) carries {peak:.2f} times the day's mean load "
            f"above background; {_e(profile.hottest)} carries {share:.2f} times the average server's load "
            f"(learned from {profile.days} whole days to {_d(profile.last)}).")


def _backtest_section(growth: Any, summary: Mapping[str, Any]) -> list[str]:
    rows = [[_e(r["model"]), f"{r['weight']:.2f}",
             "&mdash;" if pd.isna(r.get("mase")) else f"{r['mase']:.2f}", _e(r.get("note") or "")]
            for r in growth.summary().reset_index().to_dict("records")]
    coverage = "n/a" if summary["backtest"]["coverage"] is None else f"{summary['backtest']['coverage']:.0%}"
    return [
        "<h2>How well the growth models did</h2>",
        f"<p>Rolling-origin backtest at {growth.horizon_days} days: the {growth.level:.0%} forecast "
        f"interval contained the truth {coverage} of the time (after calibration).</p>",
        "".join(f'<p class="muted">{_dated(note)}</p>' for note in growth.notes),
        _table(["model", "weight", "MASE", "note"], rows, {1: "num", 2: "num", 3: "prose"}),
    ]


def _inputs_section(summary: Mapping[str, Any]) -> list[str]:
    rows = [[_e(role), _e(v["file"]), f'<span class="muted">{_e(v["sha256"][:16])}&hellip;</span>']
            for role, v in summary["inputs"].items()]
    return [
        "<h2>Inputs</h2>",
        _table(["role", "file", "sha256"], rows),
        f'<p class="muted">capacity {_e(__version__)}; generated {_dated(_now())}. '
        "Machine-readable: summary.json, deadlines.csv, forecast.csv.</p>",
    ]


# ----------------------------------------------------------------------------- publishing


def write_replay(replay: Replay, out: str | os.PathLike[str] = "reports") -> Path:
    """Write a replay (table CSV, first warnings CSV, chart SVG) to ``out/replay-<last date>`` atomically.

    Parameters
    ----------
    replay : Replay
        What :func:`capacity.replay` returned.
    out : str or PathLike, default "reports"
        The reports folder (relative paths: to the working directory); created if needed.

    Returns
    -------
    Path
        ``out/replay-<last date>`` (a symlink to the build folder).
    """
    from capacity.charts import to_svg

    check_args("write_replay", out=(out, PATH), replay=(replay, [InstanceOf(Replay)]))
    last = replay.table["as_of"].max().date().isoformat()
    check_destination(out, f"replay-{last}")
    files = {
        "replay.csv": replay.table.to_csv(index=False, date_format="%Y-%m-%d", float_format="%.4g"),
        "first_warning.csv": replay.first_warning.to_csv(index=False, date_format="%Y-%m-%d",
                                                         float_format="%.4g"),
        "replay.svg": to_svg(replay.chart()),
    }
    return publish(out, f"replay-{last}", files)


def write_report(forecast: Forecast, out: str | os.PathLike[str] = "reports") -> Path:
    """Write the report for ``forecast`` under ``out/<as-of date>`` atomically.

    Parameters
    ----------
    forecast : Forecast
        What :func:`capacity.run` returned.
    out : str or PathLike, default "reports"
        The reports folder (relative paths: to the working directory); created if needed, and its
        ``latest`` link moved to the newest as-of date.

    Returns
    -------
    Path
        ``out/<as-of date>`` (a symlink to the build folder).
    """
    from capacity.charts import to_svg
    from capacity.report.charts import report_charts

    # out first: a bad folder is found before the (slow) charts are drawn
    check_args("write_report", out=(out, PATH), forecast=(forecast, [InstanceOf(Forecast)]))

    day = forecast.plan.as_of.date().isoformat()
    check_destination(out, day, latest=True)  # and anything not ours in the way, before the charts
    svgs = {name: to_svg(chart) for name, chart in report_charts(forecast).items()}
    summary = summary_dict(forecast)
    files = {f"{name}.svg": svg for name, svg in svgs.items()}
    files["summary.json"] = json.dumps(summary, indent=2, ensure_ascii=False) + "\n"
    files["deadlines.csv"] = forecast.plan.deadlines.to_csv(index=False, date_format="%Y-%m-%d")
    files["forecast.csv"] = forecast_table(forecast).to_csv(date_format="%Y-%m-%d", float_format="%.6g")
    files["index.html"] = render_html(forecast, svgs, summary)
    # the answer as gauges for node_exporter's textfile collector, and what a server gave (offline reruns)
    files[TEXTFILE_NAME] = prometheus_textfile(summary)
    files.update(report_inputs(forecast.inputs)[1])
    return publish(out, day, files, latest=True)
