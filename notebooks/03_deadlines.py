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
# # 3. Deadlines: when is the limit crossed, and by when must each project land?
#
# The growth forecast (notebook 1) says how many apps to expect; the messaging model (notebook 2) says
# what CPU they cost. `capacity.pipeline.run` combines them in a Monte Carlo: thousands of futures,
# each pairing one simulated growth path with one draw of the cost model's parameters. On each future
# the *crossing* is the first day the mean CPU of the average messaging server reaches the limit. From
# those futures come:
#
# - the **crossing-date distribution** (P10, P50, P90);
# - per project, the date it **must land by** (before the crossing, with the chosen confidence) and
#   **must start by** (given its lead time, a three-point estimate), and the probability that its
#   planned date is **late**;
# - the **runway** a project buys: when the limit is crossed again once it has landed;
# - **what-ifs**: the same futures with a project two weeks later, or a different limit.
#
# The data are the **simulated** sample platform's (`capacity/sample/`, see its README); the projects
# are those of its planning config.

# %%
import dataclasses

import pandas as pd
from IPython.display import Markdown, display

from capacity.charts import use_static_charts
from capacity.data import daily_tier_cpu
from capacity.pipeline import projects_from_config, run
from capacity.planning.charts import crossing_histogram, project_windows, utilisation_fan
from capacity.planning.montecarlo import plan
from capacity.planning.result import drift

# %% tags=["parameters"]
config: str = "../capacity/sample/plan.toml"  # planning config: data, limit, confidence, projects
as_of: str = "2010-09-07"  # plan with the data known on this day; empty: the config's as_of
n_paths: int = 2000  # Monte Carlo futures
delayed_project: str = "Targeted message routing"  # the what-if: this project two weeks later
delay_days: int = 14
other_limit: float = 0.8  # the what-if: a different utilisation limit
renderer: str = "svg"  # svg keeps the HTML copies offline; default gives interactive charts

# %%
use_static_charts(renderer)  # static SVG in the house font: HTML copies work offline

WIDTH = 640


def md(text: str) -> None:
    display(Markdown(text))


def day(value) -> str:
    return "-" if value is None or pd.isna(value) else pd.Timestamp(value).strftime("%Y-%m-%d")


DATES = ("planned_landing", "must_land_by", "must_start_by", "runway_p10", "runway_p50", "runway_p90")

# %% [markdown]
# ## Where we stand
#
# The default date, 7 September 2010, is the day after the sample platform's growth rate jumped: the
# new rate is barely in the data yet, so the plan still mostly reflects the old one. The replay in
# notebook 4 shows how the plan changed from week to week around it.

# %%
forecast = run(config, as_of=pd.Timestamp(as_of).date() if as_of else None, n_paths=n_paths)
result = forecast.plan
print(forecast.inputs.describe())
md(f"**{result.headline}**")

# %% [markdown]
# ## When is the limit crossed?
#
# Above: the daily utilisation of the average messaging server across the futures (P10-P90 band and
# median) with the limit, after the last four months of observed daily means. Below: in what share of
# the futures the crossing falls in each week (or day).

# %%
observed = daily_tier_cpu(forecast.inputs.samples, servers=result.servers)
display(utilisation_fan(result, history=observed))
display(crossing_histogram(result))
c = result.crossing
md(f"With {result.servers} servers under {result.strategy}, the mean CPU reaches {result.limit:.0%} "
   f"{c.describe()}; {c.p_none:.0%} of the {result.n_paths:,} futures stay below it for "
   f"{result.horizon_days} days.")

# %% [markdown]
# ## Must land by, must start by
#
# Projects form a roadmap, in the order of their planned landing. Each one must land before the system
# *without* it (but with the projects ahead of it) crosses the limit; *must land by* is that date with
# the chosen confidence, and *must start by* subtracts the project's lead time, drawn from its
# three-point estimate. *P(late)* is the share of futures in which the planned landing comes after the
# crossing; a project is **at risk** when that exceeds one minus the confidence.

# %%
deadlines = result.deadlines
columns = ["project", "effect", "status", "planned_landing", "must_start_by", "must_land_by", "p_late",
           "at_risk"]
display(deadlines[columns].style.format({k: day for k in DATES} | {"p_late": "{:.0%}"}, na_rep="-")
        .hide(axis="index").set_caption(f"Deadlines at {result.confidence:.0%} confidence, as of "
                                        f"{day(result.as_of)}"))
display(project_windows(result))
for r in deadlines.itertuples():
    if r.status == "landed":
        continue
    planned = f"planned {day(r.planned_landing)}" if pd.notna(r.planned_landing) else "not scheduled"
    verdict = "**at risk**" if r.at_risk else "on track"
    late = f", P(late) {r.p_late:.0%}" if pd.notna(r.p_late) else ""
    needed = (f"not needed within the horizon (to {day(c.horizon_end)})" if pd.isna(r.must_land_by) else
              f"must start by {day(r.must_start_by)} and land by {day(r.must_land_by)}")
    md(f"- *{r.project}* ({r.effect}): {needed}; {planned}{late}: {verdict}.")

# %% [markdown]
# ## Runway
#
# Once a project has landed (with the ones before it), when is the limit crossed again? A dash means
# beyond the horizon; *P(none)* is the share of futures that stay below the limit to the horizon.

# %%
display(deadlines[["project", "runway_p10", "runway_p50", "runway_p90", "runway_p_none"]].style.format(
    {k: day for k in DATES} | {"runway_p_none": "{:.0%}"}, na_rep="-").hide(axis="index")
    .set_caption(f"Crossing after each project lands (horizon {day(c.horizon_end)})"))

# %% [markdown]
# ## What if...
#
# The same futures (same growth paths, same parameter draws, same seed) with one thing changed, so
# the differences come from the change and not from the noise. `capacity.drift` lists how far
# each date moved (negative: earlier).

# %%
cfg = forecast.inputs.config
projects = projects_from_config(cfg, forecast.load.strategies)
settings = dict(strategy=result.strategy, servers=result.servers, confidence=result.confidence,
                horizon_days=result.horizon_days, n_paths=n_paths, seed=cfg.seed, as_of=result.as_of)


def later(project, days):
    """The project with its planned start (or landing) moved ``days`` later."""
    shift = pd.Timedelta(days=days)
    if project.start is not None:
        return dataclasses.replace(project, start=project.start + shift)
    if project.land is not None:
        return dataclasses.replace(project, land=project.land + shift)
    return project


def p_late(p, name):
    row = p.deadlines.set_index("project").loc[name]
    return row["p_late"], row["at_risk"]


# %% [markdown]
# ### A project two weeks later

# %%
delayed = [later(p, delay_days) if p.name == delayed_project else p for p in projects]
slipped = plan(forecast.growth, forecast.load, limit=result.limit, projects=delayed, **settings)
before, after = p_late(result, delayed_project), p_late(slipped, delayed_project)
md(f"*{delayed_project}* {delay_days} days later: P(late) goes from **{before[0]:.0%}** to "
   f"**{after[0]:.0%}** ({'at risk' if after[1] else 'on track'}). The crossing without projects cannot "
   "move; the projects later in the roadmap now see this one land later:")
moved = drift(result, slipped)
display(moved.style.format({"before": day, "after": day}, na_rep="-").hide(axis="index"))

# %% [markdown]
# ### A different limit

# %%
stricter = plan(forecast.growth, forecast.load, limit=other_limit, projects=projects, **settings)
md(f"With a limit of **{other_limit:.0%}** instead of {result.limit:.0%}: {stricter.headline}")
display(drift(result, stricter).style.format({"before": day, "after": day}, na_rep="-").hide(axis="index")
        .set_caption(f"Dates moved by the {other_limit:.0%} limit"))
display(pd.DataFrame({
    f"P(late), limit {result.limit:.0%}": result.deadlines.set_index("project")["p_late"],
    f"P(late), limit {other_limit:.0%}": stricter.deadlines.set_index("project")["p_late"],
}).style.format("{:.0%}", na_rep="-"))
