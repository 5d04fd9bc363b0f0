# ---
# jupyter:
#   jupytext:
#     formats: py:percent
#   kernelspec:
#     display_name: Python 3 (ipykernel)
#     language: python
#     name: python3
# ---

# %% [markdown]
# # 1. App growth: how many apps, and when?
#
# Everything downstream (messaging load, the date the limit is crossed, the project deadlines) starts
# from one forecast: the number of live apps in the weeks and months ahead. This notebook shows how
# `capacity.fit_growth` arrives at it:
#
# 1. the app count itself;
# 2. the candidate growth shapes it fits (straight line, exponential, S-curves, two local trends and a
#    piecewise trend);
# 3. the changes in the rate of new apps it detects, and how soon a change becomes visible;
# 4. the forecast it chooses, with a fan calibrated so that its 80% band really held 80% of the time
#    in the past;
# 5. the backtest that judged the candidates;
# 6. the same machinery on a real public series, a plugin registry whose growth re-accelerated.
#
# The first part runs on the **simulated** sample platform (`capacity/sample/`, see its README).

# %%
import altair as alt
import pandas as pd
from IPython.display import Markdown, display

import capacity
from capacity.charts import use_static_charts

# %% tags=["parameters"]
apps_csv: str = "../capacity/sample/apps.csv"  # date, apps: live apps at the end of each day
as_of: str = "2010-10-20"  # use only the counts known on this day; empty: all of them
horizon_days: int = 180  # forecast horizon; also the horizon the backtest judges the candidates at
level: float = 0.8  # the fan's central interval
n_paths: int = 2000  # simulated paths behind the fan
seed: int = 0
detect_every_days: int = 7  # spacing of the "how soon was the change visible?" refits
real_csv: str = "../data/real/growth/krew_kubectl_plugins.csv"  # date, value: a real registry
real_column: str = "value"
real_cut: str = "2026-01-31"  # refit the real series as known on this day, before its last change
renderer: str = "svg"  # "svg" keeps the HTML copies offline; "default" gives interactive charts

# %%
use_static_charts(renderer)  # static SVG in the house font: HTML copies work offline

pd.set_option("display.max_colwidth", 120)
WIDTH = 640


def md(text: str) -> None:
    display(Markdown(text))


def day(value) -> str:
    return "n/a" if value is None or pd.isna(value) else pd.Timestamp(value).strftime("%Y-%m-%d")


# %% [markdown]
# ## The app count
#
# Live apps at the end of each UTC day, net of deletions. Below it, the apps added each week: the
# rate of growth, which is what changes when the platform's fortunes change.

# %%
apps = capacity.load_apps(apps_csv)
if as_of:
    apps = apps.loc[:as_of]
count = apps["apps"]
weekly = count.resample("W").last().diff().dropna().rename("added").rename_axis("week").reset_index()
last = count.index[-1]
four_weeks = count.iloc[-1] - count.loc[:last - pd.Timedelta(days=28)].iloc[-1]
year_before = count.loc[:last - pd.Timedelta(days=365)]
md(f"On **{day(last)}** the platform had **{count.iloc[-1]:,} live apps**, "
   f"{four_weeks / 4:,.0f} more each week over the last four weeks"
   + (f" (a year earlier: {year_before.iloc[-1]:,} apps)." if len(year_before) else "."))

level_chart = alt.Chart(count.rename("apps").reset_index()).mark_line().encode(
    x=alt.X("date:T", title=None), y=alt.Y("apps:Q", title="live apps")
).properties(width=WIDTH, height=200, title="Live apps")
rate_chart = alt.Chart(weekly).mark_bar(color="#4c78a8").encode(
    x=alt.X("week:T", title=None), y=alt.Y("added:Q", title="apps added per week")
).properties(width=WIDTH, height=120, title="Net new apps per week")
display(alt.vconcat(level_chart, rate_chart))

# %% [markdown]
# ## Candidate growth shapes
#
# `fit_growth` fits every candidate to the same history: a straight line, an exponential, two
# S-curves that level off at a cap (logistic and Gompertz), a local linear trend on the log scale, and a
# piecewise trend that follows the current regime of the growth rate (its changes may sit anywhere,
# the last few weeks included). The table gives each candidate's weight in the forecast, its backtest
# error (MASE, below), the rate of new apps it expects tomorrow and, for the S-curves, the cap.

# %%
fit = capacity.fit_growth(apps, horizon_days=horizon_days, level=level, seed=seed)
print(fit)
summary = fit.summary()
# a cap at the search bound is inf in the summary: the data show no ceiling
cap_text = lambda v: "unbounded" if v == float("inf") else f"{v:,.0f}"  # noqa: E731
display(summary.style.format({"weight": "{:.2f}", "mase": "{:.3f}", "rate_now": "{:,.1f}", "cap": cap_text,
                              "cap_se": cap_text}, na_rep="-"))

# %%
# each candidate's mean path from the last day: the shapes disagree most where it matters, far ahead
future = pd.date_range(fit.last_date + pd.Timedelta(days=1), periods=horizon_days, freq="D", name="date")
shapes = pd.concat([pd.DataFrame({"date": future, "apps": c.mean_path(horizon_days), "model": c.name})
                    for c in fit.candidates], ignore_index=True)
recent = fit.history.loc[fit.last_date - pd.Timedelta(days=2 * horizon_days):].rename("apps").reset_index()
display(alt.layer(
    alt.Chart(recent).mark_line(color="black").encode(x=alt.X("date:T", title=None),
                                                     y=alt.Y("apps:Q", title="live apps")),
    alt.Chart(shapes).mark_line(strokeDash=[5, 3]).encode(
        x="date:T", y="apps:Q", color=alt.Color("model:N", title="candidate")),
).properties(width=WIDTH, height=280, title=f"What each candidate expects over {horizon_days} days"))

# %% [markdown]
# ## Regime changes in the rate of new apps
#
# The rate of new apps is modelled as constant between change points, placed where the data support
# them (a penalised segmentation of the weekly additions). Each change comes with the rates before and
# after, the probability that it is real and a 90% interval for its date.

# %%
regimes = fit.regimes
if len(regimes):
    display(regimes.style.format({"date": day, "date_low": day, "date_high": day, "rate_before": "{:,.1f}",
                                  "rate_after": "{:,.1f}", "ratio": "{:.2f}", "lr": "{:.1f}",
                                  "prob": "{:.3f}"}).hide(axis="index"))
    newest = regimes.iloc[-1]
    md(f"The latest change: from **{day(newest['date'])}** new apps arrive at "
       f"**{newest['rate_after']:,.0f} a day** instead of {newest['rate_before']:,.0f} "
       f"({newest['ratio']:.1f}x; {newest['prob']:.0%} probability that the change is real; date between "
       f"{day(newest['date_low'])} and {day(newest['date_high'])}).")
else:
    md("No change in the rate of new apps was detected.")

# the regime rates as steps over the weekly additions (apps/day x 7)
edges = [fit.history.index[0], *regimes["date"], fit.last_date]
rates = [*regimes["rate_before"].head(1), *regimes["rate_after"]] if len(regimes) else [fit.rate]
steps = pd.DataFrame({"start": edges[:-1], "end": edges[1:], "per_week": [7 * r for r in rates]})
display(alt.layer(
    alt.Chart(weekly).mark_bar(color="#9ecae9").encode(x=alt.X("week:T", title=None),
                                                       y=alt.Y("added:Q", title="apps added per week")),
    alt.Chart(steps).mark_rule(color="firebrick", strokeWidth=3).encode(x="start:T", x2="end:T",
                                                                        y="per_week:Q"),
).properties(width=WIDTH, height=200, title="Weekly additions and the detected regimes"))

# %% [markdown]
# ### How soon was the change visible?
#
# The same fit, made again on earlier days with only the counts known then. A change needs a few
# weeks of the new rate before it is detected with confidence; the table shows the first days on which
# each refit saw it.

# %%
if len(regimes):
    since = regimes.iloc[-1]["date"]
    rows = []
    for when in pd.date_range(since, fit.last_date, freq=f"{detect_every_days}D"):
        seen = capacity.fit_growth(apps.loc[:when], horizon_days=horizon_days, level=level, seed=seed)
        hit = seen.regimes[seen.regimes["date"] >= since - pd.Timedelta(days=28)]
        rows.append({"as_of": when, "change_seen": day(hit["date"].iloc[-1]) if len(hit) else "not yet",
                     "rate_after": hit["rate_after"].iloc[-1] if len(hit) else None,
                     "prob": hit["prob"].iloc[-1] if len(hit) else None,
                     "rate_forecast": seen.rate})
    detection = pd.DataFrame(rows)
    display(detection.style.format({"as_of": day, "rate_after": "{:,.0f}", "prob": "{:.3f}",
                                    "rate_forecast": "{:,.0f}"}, na_rep="-").hide(axis="index"))
    seen = detection[detection["change_seen"] != "not yet"]
    if len(seen):
        first, last = seen.iloc[0], seen.iloc[-1]
        md(f"The refit of **{day(first['as_of'])}**, {(first['as_of'] - since).days} days after the change "
           f"began, was the first to see it (refits every {detect_every_days} days): it dated the change "
           f"{first['change_seen']} and put the new rate at {first['rate_after']:,.0f} apps/day, and its "
           f"forecast followed {first['rate_forecast']:,.0f} apps/day. With more weeks of data the refit of "
           f"{day(last['as_of'])} dates it {last['change_seen']}, at {last['rate_after']:,.0f} apps/day.")

# %% [markdown]
# ## The chosen forecast and its calibrated fan
#
# The forecast is a mixture of the candidates, weighted by their backtest errors; after a recent regime
# change that the backtest cannot judge yet, it follows the new regime. The simulated paths carry the
# uncertainty of the current rate, the risk of further changes and day-to-day noise; their spread is
# scaled so that, in the backtest, the band held the nominal share of outcomes.

# %%
display(fit.chart(horizon_days, level=level, n=n_paths, seed=seed).properties(width=WIDTH, height=280))
fan = fit.forecast(horizon_days, level=level, n=n_paths, seed=seed)
table = fan.iloc[29::30].rename_axis("date").reset_index()
display(table.style.format({"date": day, "mean": "{:,.0f}", "lower": "{:,.0f}", "upper": "{:,.0f}"})
        .hide(axis="index"))
end = fan.iloc[-1]
weights = ", ".join(f"{m} {w:.0%}" for m, w in fit.weights.items() if w > 0)
md(f"Forecast weights: {weights}. By **{day(fan.index[-1])}** the platform has "
   f"**{end['mean']:,.0f} apps** on average ({level:.0%} band {end['lower']:,.0f} to {end['upper']:,.0f}).")
for note in fit.notes:
    md(f"*Note:* {note}")

# %% [markdown]
# ## Backtest skill
#
# Each candidate was refitted at several past origins with only the data known then, and its forecast
# compared with what happened, at checkpoints up to the horizon. MASE divides the mean absolute error by
# the typical change of the count over the horizon in the training data: 0.1 means the forecast missed
# by a tenth of what the count usually moves in that time. *Coverage* is the share of outcomes that fell
# inside the band; after calibration each origin is judged with the spread calibrated on the others.

# %%
bt = fit.backtest
display(bt.style.format({"mase": "{:.3f}", "mae": "{:,.0f}", "weight": "{:.2f}"}, na_rep="-"))
display(alt.Chart(bt["mase"].dropna().rename_axis("model").reset_index()).mark_bar().encode(
    x=alt.X("mase:Q", title="backtest MASE (lower is better)"), y=alt.Y("model:N", sort="x", title=None)
).properties(width=WIDTH - 140, height=150, title=f"Backtest error at {bt.attrs['horizon_days']} days"))
md(f"{bt.attrs['n_origins']} origins ({', '.join(bt.attrs['origins'])}), "
   f"horizon {bt.attrs['horizon_days']} days. "
   f"Coverage of the {fit.level:.0%} band: **{fit.coverage:.0%}** calibrated (spread x{fit.scale:.2f}), "
   f"{fit.coverage_raw:.0%} before calibration.")

# %% [markdown]
# ## A real series: kubectl plugins in the krew index
#
# The same machinery on real public data (`data/real/`, provenance in its `SOURCES.md`): the number of
# plugins in the krew index, counted from the registry's git history. Its growth flattened in 2022-23
# and then picked up again in 2026, a regime change near the very end of the series, which is where
# the usual forecasting libraries refuse to place one.

# %%
real = capacity.load_apps(real_csv, apps_col=real_column)
real_fit = capacity.fit_growth(real, horizon_days=horizon_days, level=level, seed=seed)
print(real_fit)
display(real_fit.summary()[["weight", "mase", "rate_now", "cap", "note"]].style.format(
    {"weight": "{:.2f}", "mase": "{:.3f}", "rate_now": "{:.2f}", "cap": "{:,.0f}"}, na_rep="-"))
if len(real_fit.regimes):
    display(real_fit.regimes.style.format({"date": day, "date_low": day, "date_high": day,
                                           "rate_before": "{:.3f}", "rate_after": "{:.3f}", "ratio": "{:.2f}",
                                           "lr": "{:.1f}", "prob": "{:.3f}"}).hide(axis="index"))
display(real_fit.chart(horizon_days, level=level, n=n_paths, seed=seed).properties(
    width=WIDTH, height=260, title=f"{real_csv.rsplit('/', 1)[-1]}: history and {level:.0%} forecast band"))

# %%
# the same series as known on real_cut, before its last change: what the forecast said then
before = capacity.fit_growth(real.loc[:real_cut], horizon_days=horizon_days, level=level, seed=seed)
then = before.forecast(horizon_days, level=level, n=n_paths, seed=seed)
actual = real["apps"].reindex(then.index).dropna()
md(f"As known on **{day(before.last_date)}** the forecast followed {before.rate:.2f} items a day and "
   f"expected **{then['mean'].iloc[-1]:,.0f}** by {day(then.index[-1])} "
   f"({level:.0%} band {then['lower'].iloc[-1]:,.0f} to {then['upper'].iloc[-1]:,.0f})."
   + (f" The count actually reached **{actual.iloc[-1]:,.0f}** by {day(actual.index[-1])}, where the band "
      f"was {then.loc[actual.index[-1], 'lower']:,.0f} to {then.loc[actual.index[-1], 'upper']:,.0f}."
      if len(actual) else "")
   + f" With the full series the forecast follows {real_fit.rate:.2f} a day. No forecast made before a "
   "change foresees it; what matters is how soon the fit notices it.")
happened = real["apps"].loc[before.last_date:].rename("apps").reset_index()
display(alt.layer(
    before.chart(horizon_days, level=level, n=n_paths, seed=seed),
    alt.Chart(happened).mark_line(color="black", strokeDash=[1, 2]).encode(x="date:T", y="apps:Q"),
).properties(width=WIDTH, height=260,
             title=f"Forecast as known on {day(before.last_date)} (dotted: what happened)"))
