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
# # 2. Messaging load: what does the messaging tier burn at N apps?
#
# Every app on the platform sends state messages through the messaging tier. How much CPU that costs
# depends on the **fan-out strategy**: how many components each message is delivered to. Under
# *broadcast* every message reaches every component, and the number of components grows with the
# number of apps, so CPU grows with roughly the square of the app count. Under *targeted* routing each
# message reaches only the few components that need it; under *sharded* messaging it reaches the
# components of one shard.
#
# `capacity.fit_messaging` fits one cost model to the CPU readings,
#
# > busy cores = u0 + a N + b N F(N)
#
# with N the live apps and F(N) the deliveries per message under the strategy in force. Because
# u0, a and b are shared by all strategies, a model fitted under broadcast predicts the others: the
# counterfactual "what if we targeted messages now?". This notebook shows:
#
# 1. the CPU readings over time and against the app count under broadcast;
# 2. the fitted cost model;
# 3. the counterfactual under targeted and sharded fan-out, checked against what happened after the
#    switch to targeted routing;
# 4. the apps each strategy can carry before the limit, and the servers needed;
# 5. why the limit sits below 100%: latency against utilisation from the queueing model.
#
# The data are the **simulated** sample platform's (`capacity/sample/`, see its README).

# %%
import importlib
import sys

import altair as alt
import numpy as np
import pandas as pd
from IPython.display import Markdown, display

import capacity
from capacity import queueing
from capacity.charts import use_static_charts
from capacity.load.strategies import strategies_from_config
from capacity.pipeline import run_inputs

# %% tags=["parameters"]
config: str = "../capacity/sample/plan.toml"  # planning config: data files, strategies, limit
data_until: str = "2010-12-31"  # read the data up to this day (the sample ends on 2010-12-31)
fit_until: str = "2010-10-26"  # fit on readings up to the end of this day (the last day of broadcast)
limit: float = 0.0  # utilisation limit of the average server; 0 takes the config's
n_draws: int = 1000  # parameter draws behind the intervals
seed: int = 0
service_ms: float = 5.0  # broker CPU time per message, for the latency section
latency_target_ms: float = 50.0  # allowed response time of one message
renderer: str = "svg"  # svg keeps the HTML copies offline; default gives interactive charts

# %%
use_static_charts(renderer)  # static SVG in the house font: HTML copies work offline

WIDTH = 640


def md(text: str) -> None:
    display(Markdown(text))


def day(value) -> str:
    return "n/a" if value is None or pd.isna(value) else pd.Timestamp(value).strftime("%Y-%m-%d")


# %% [markdown]
# ## The readings
#
# Hourly CPU of each messaging server, with the fan-out strategy and the number of servers in force.
# The chart shows the daily median, 95th percentile and maximum across servers and hours.

# %%
inputs = run_inputs(config, as_of=pd.Timestamp(data_until).date())
cfg = inputs.config
limit = limit or float(cfg.limit["cpu"])
samples = inputs.samples
print(inputs.describe())

daily = capacity.daily_percentiles(samples).drop(columns="count").reset_index()
daily = daily.melt("date", var_name="statistic", value_name="cpu_percent").dropna()
changes = samples[["timestamp", "strategy", "servers"]].drop_duplicates(["strategy", "servers"]).iloc[1:]
changes["what"] = changes["strategy"] + ", " + changes["servers"].astype(str) + " servers"
switch = samples.loc[samples["strategy"] != samples["strategy"].iloc[0], "timestamp"].min()
display(alt.layer(
    alt.Chart(daily).mark_line().encode(
        x=alt.X("date:T", title=None), y=alt.Y("cpu_percent:Q", title="CPU per server (%)"),
        color=alt.Color("statistic:N", title="daily", sort=["p50", "p95", "p100"])),
    alt.Chart(pd.DataFrame({"limit": [100 * limit]})).mark_rule(color="black", strokeDash=[4, 4]).encode(
        y="limit:Q"),
    alt.Chart(changes).mark_rule(color="gray").encode(x="timestamp:T", tooltip=["timestamp:T", "what:N"]),
    alt.Chart(changes).mark_text(align="left", dx=3, dy=-130, fontSize=10).encode(
        x="timestamp:T", text="what:N"),
).properties(width=WIDTH, height=260, title="Messaging CPU per server, daily"))
n_pinned = int((samples["cpu_percent"] >= 100).sum())
marks = ", ".join(f"{day(t)}: {w}" for t, w in changes[["timestamp", "what"]].itertuples(index=False))
md(f"Grey lines mark the changes in the data: {marks}. "
   f"{n_pinned} hourly readings are pinned at 100%: the monitor cannot report more, so these are treated "
   "as *censored* (the demand was at least 100%), not as data points at 100.")

# %% [markdown]
# ## CPU against apps under broadcast
#
# The model is fitted on the readings up to `fit_until`, all taken under broadcast. Each dot is a day's
# mean busy CPU, rescaled to the servers in service now so that days with three and four servers line
# up; hollow dots are days with censored readings (their mean understates the demand).

# %%
train = samples[samples["timestamp"] < pd.Timestamp(fit_until) + pd.Timedelta(days=1)]
strategies = strategies_from_config(cfg.strategies)
model = capacity.fit_messaging(train, strategies=strategies, cores_per_server=cfg.cores_per_server,
                               seed=seed)
servers = model.last_servers
print(model)
display(model.chart(limit=limit, strategies=["broadcast"]).properties(width=WIDTH, height=300))

# %% [markdown]
# ## The fitted cost model
#
# Estimates with block-bootstrap standard errors and 90% intervals (whole weeks are resampled, so the
# day-to-day correlation of the load is respected).

# %%
display(model.summary().style.format({"estimate": "{:.4g}", "std_err": "{:.2g}", "lower": "{:.4g}",
                                      "upper": "{:.4g}"}).hide(axis="index"))
n_now = float(train["apps"].iloc[-1])
b = strategies["broadcast"]
p = model.params
parts = pd.Series({"background (u0)": p["u0"], "per message (a N)": p["a"] * n_now,
                   "per delivery (b N F(N))": p["b"] * n_now * float(b.deliveries(n_now))})
md(f"At **{n_now:,.0f} apps** ({day(train['timestamp'].iloc[-1])}) broadcast delivers each message to "
   f"{float(b.deliveries(n_now)):,.0f} components. Of the {parts.sum():.1f} busy cores, "
   + ", ".join(f"{k} {v:.1f} ({v / parts.sum():.0%})" for k, v in parts.items())
   + ": the deliveries dominate, and they grow with the square of the app count.")

# %% [markdown]
# ## What the daily mean hides: the busy hour and the hottest server
#
# The cost model describes the day's mean over all servers. What fails is the busy part of the day on
# the server that carries the most. The fit also learns the intraday profile of the load above
# background and each server's share (`capacity.load.profile`, from the last 91 whole days without a
# pinned reading); a plan watches them with `limit.metric`, `limit.server` and `limit.spare_servers`.

# %%
from capacity.planning.limits import Watch  # noqa: E402

profile = model.profile
if isinstance(profile, str):
    md(f"No intraday profile: {profile}.")
else:
    display(profile.chart().properties(width=WIDTH, height=220))
    watches = {"daily mean, average server": Watch(),
               "busiest hour, average server": Watch("busiest_hour"),
               "busiest hour, hottest server": Watch("busiest_hour", server="hottest"),
               "busiest hour, hottest server, 1 spare": Watch("busiest_hour", server="hottest",
                                                              spare_servers=1)}
    equivalent = pd.DataFrame({"daily mean that reaches the limit": {
        k: w.daily_mean_limit(limit, load=model, servers=servers) for k, w in watches.items()}})
    display(equivalent.style.format("{:.1%}").set_caption(
        f"{limit:.0%} of what is watched, as the daily mean of the average of {servers} servers"))
    md(f"The busiest hour ({profile.peak_hour:02d}:00 UTC) carries {profile.factor('busiest_hour') - 1:.0%} "
       f"more load above background than the day's mean, and {profile.hottest} carries "
       f"{profile.share('hottest') - 1:.0%} more than the average server.")

# %% [markdown]
# ## The counterfactual: targeted and sharded fan-out
#
# The same coefficients with each strategy's deliveries per message. The curves for targeted and
# sharded are predictions for fan-outs the training data never saw.

# %%
display(model.chart(limit=limit, apps_max=2.5 * n_now).properties(width=WIDTH, height=300))
grid = [50_000, 100_000, n_now, 150_000, 200_000]
cpu = pd.DataFrame({s: model.cpu_percent(np.array(grid), strategy=s, servers=servers)
                    for s in model.strategies}, index=pd.Index(grid, name="apps"))
display(cpu.sort_index().style.format("{:.1f}").format_index("{:,.0f}")
        .set_caption(f"Mean CPU per server (%), {servers} servers"))
ratio = cpu.loc[n_now, "broadcast"] / cpu.loc[n_now, "targeted"]
md(f"At {n_now:,.0f} apps targeted routing would cut the messaging CPU **{ratio:.1f}-fold** "
   f"({cpu.loc[n_now, 'broadcast']:.0f}% to {cpu.loc[n_now, 'targeted']:.0f}% of each server).")

# %% [markdown]
# ### Checked against what happened
#
# If the data continue past `fit_until` (the sample's do: targeted routing went live afterwards), the
# readings under the new strategy test the counterfactual: the model never saw them.

# %%
after = samples[samples["timestamp"] >= pd.Timestamp(fit_until) + pd.Timedelta(days=1)]
if len(after):
    seen = (after.assign(date=after["timestamp"].dt.floor("D"))
            .groupby(["date", "strategy"], as_index=False)
            .agg(apps=("apps", "mean"), servers=("servers", "last"), observed=("cpu_percent", "mean")))
    predicted = model.predict(seen["apps"], strategy=seen["strategy"], servers=seen["servers"])
    seen = pd.concat([seen, predicted[["mean", "mean_lower", "mean_upper"]]], axis=1)
    # the first day of a switch mixes two strategies: leave it out of the comparison
    seen = seen[seen.groupby("date")["strategy"].transform("size") == 1]
    error = (seen["observed"] - seen["mean"]).abs().mean()
    md(f"After {fit_until} the data hold {len(seen)} whole days under "
       f"{', '.join(seen['strategy'].unique())}. The daily mean CPU predicted from the broadcast-only fit "
       f"was off by **{error:.2f} percentage points** on average "
       f"(observed {seen['observed'].mean():.1f}%, predicted {seen['mean'].mean():.1f}%).")
    long = seen.melt(["date", "strategy"], ["observed", "mean"], var_name="series", value_name="cpu")
    display(alt.layer(
        alt.Chart(seen).mark_area(opacity=0.25, color="#f58518").encode(
            x=alt.X("date:T", title=None), y=alt.Y("mean_lower:Q", title="CPU per server (%)"),
            y2="mean_upper:Q"),
        alt.Chart(long).mark_line(point=True).encode(
            x="date:T", y="cpu:Q",
            color=alt.Color("series:N", title=None, scale=alt.Scale(domain=["observed", "mean"],
                                                                    range=["#333333", "#f58518"]))),
    ).properties(width=WIDTH, height=200,
                 title="After the fit: observed daily mean vs the model's prediction"))
else:
    md(f"The data end on {fit_until}: nothing to check the counterfactual against yet.")

# %% [markdown]
# ## Apps at the limit, per strategy
#
# The app count at which the mean CPU of the average server reaches the limit, with the spread from
# the parameter draws; and the servers each strategy needs as the platform grows.

# %%
draws = model.draws(n_draws, seed=seed)
rows = []
for name in model.strategies:
    at = model.apps_at(limit, strategy=name, servers=servers, params=draws)
    q10, q50, q90 = np.nanquantile(at, [0.1, 0.5, 0.9])
    rows.append({"strategy": name, "apps_p10": q10, "apps_p50": q50, "apps_p90": q90,
                 "headroom_x": q50 / n_now})
at_limit = pd.DataFrame(rows).set_index("strategy")
display(at_limit.style.format({"apps_p10": "{:,.0f}", "apps_p50": "{:,.0f}", "apps_p90": "{:,.0f}",
                               "headroom_x": "{:.1f}x"})
        .set_caption(f"Apps at {limit:.0%} CPU with {servers} servers "
                     f"(headroom: over {n_now:,.0f} apps now)"))
needed = pd.DataFrame({s: model.servers_needed(np.array(grid), strategy=s, limit=limit)
                       for s in model.strategies}, index=pd.Index(grid, name="apps")).sort_index()
display(needed.style.format_index("{:,.0f}").set_caption(f"Servers needed to stay under {limit:.0%}"))

# %% [markdown]
# ## Latency against utilisation
#
# Why not run the servers at 100%? Messages queue. In the M/M/c model (`capacity.queueing`) the mean
# response time, in units of the bare service time, stays near 1 at low utilisation and grows without
# bound as utilisation approaches 1; a broker that handles messages on one thread (c = 1) suffers
# first. The dots mark each curve's *knee* (Kleinrock's power optimum), past which latency grows faster
# than throughput.

# %%
rho = np.linspace(0.02, 0.97, 96)
curves = pd.concat([pd.DataFrame({"utilisation": rho, "parallelism": f"c = {c}",
                                  "stretch": queueing.mmc_response_time(rho * c, 1.0, c)})
                    for c in (1, 2, 4, 8, 16)], ignore_index=True)
knees = pd.DataFrame({"c": [1, 2, 4, 8, 16]})
knees["utilisation"] = queueing.utilisation_knee(knees["c"])
knees["stretch"] = queueing.mmc_response_time(knees["utilisation"] * knees["c"], 1.0, knees["c"])
knees["parallelism"] = [f"c = {c}" for c in knees["c"]]
colour = alt.Color("parallelism:N", sort=[f"c = {c}" for c in (1, 2, 4, 8, 16)], title="parallelism")
display(alt.layer(
    alt.Chart(curves).mark_line().encode(
        x=alt.X("utilisation:Q", axis=alt.Axis(format="%"), title="utilisation (dashed: the plan's limit)"),
        y=alt.Y("stretch:Q", title="mean response time / service time", scale=alt.Scale(type="log")),
        color=colour),
    alt.Chart(knees).mark_point(filled=True, size=60).encode(x="utilisation:Q", y="stretch:Q", color=colour),
    alt.Chart(pd.DataFrame({"limit": [limit]})).mark_rule(strokeDash=[4, 4], color="black").encode(
        x="limit:Q"),
).properties(width=WIDTH, height=260, title="M/M/c: response time against utilisation"))

target_s, service_s = latency_target_ms / 1000, service_ms / 1000
c = pd.Series([1, 2, 4, 8], name="parallelism")
latency = pd.DataFrame({
    "knee": queueing.utilisation_knee(c),
    "limit_mean": [queueing.utilisation_limit(target_s, service_time=service_s, servers=k) for k in c],
    "limit_p99": [queueing.utilisation_limit(target_s, service_time=service_s, servers=k, quantile=0.99)
                  for k in c],
    # arrivals at the plan's limit: utilisation x parallelism x messages per second per thread
    "response_at_limit_ms": 1000 * queueing.mmc_response_time(limit * c / service_s, 1 / service_s, c),
}).set_index(c)
display(latency.style.format({"knee": "{:.0%}", "limit_mean": "{:.0%}", "limit_p99": "{:.0%}",
                              "response_at_limit_ms": "{:.0f}"})
        .set_caption(f"Utilisation limits for a {latency_target_ms:g} ms target, "
                     f"{service_ms:g} ms per message"))
one, cores = latency.loc[1], cfg.cores_per_server
md(f"With {service_ms:g} ms of CPU per message, a single-threaded broker keeps the *mean* response time "
   f"under {latency_target_ms:g} ms up to {one['limit_mean']:.0%} utilisation of its one thread, but the "
   f"99th percentile only up to {one['limit_p99']:.0%}. On a {cores}-core messaging server that thread is "
   f"1/{cores} of the CPU, so the server's CPU limit is {one['limit_mean'] / cores:.0%}; "
   "`capacity.LatencyLimit` makes this conversion (utilisation limit x parallelism / cores). "
   f"A broker that keeps all {cores} cores busy (c = {cores}) at the plan's {limit:.0%} CPU limit answers in "
   f"{1000 * queueing.mmc_response_time(limit * cores / service_s, 1 / service_s, cores):.0f} ms on average. "
   "A plan can take its limit from a latency target instead of a CPU percentage (`limit.latency_ms` and "
   "`limit.parallelism` in the config).")

# %% [markdown]
# ## Measured on a real broker
#
# Does the cost model hold outside our own simulation? `bench/broker_fanout.py` (`make bench-broker`)
# starts a real Redis server on this machine and drives it with N simulated apps, each publishing the
# same fixed number of messages per second, under two strategies:
#
# - **broadcast**: every message goes to one channel that every component subscribes to: 20 platform
#   components plus one host per 20 apps, so F(N) = 20 + N/20 deliveries per message;
# - **targeted**: every message goes to its app's channel, subscribed by the app's host and one router:
#   F = 2.
#
# The broker's CPU comes from `/proc/<pid>/task/*/schedstat` over steady windows of a few seconds,
# expressed as busy cores of its single command thread (100% = one core, the most Redis can use). The
# fan-out is measured from PUBLISH's receiver counts, and the cost form lets a delivery get cheaper as its
# connection gets busier (TCP's acknowledgements; chosen by held-out error). The model is fitted on the
# smaller app counts of **both** strategies; the **largest** app count is held out and predicted. The
# machine, versions, settings and the validation runs are in `data/measured/README.md`. Over loopback a
# delivery's cost follows the TCP segments that carry it, and on one host's own network the kernel
# sometimes coalesced the largest broadcast's deliveries into shared segments, at half the CPU, which
# nothing at smaller N foreshadows: the held-out broadcast was then over-predicted by 19-60% (by 55-71%
# on another host, where segments were not counted). The bench now runs in a network namespace of its
# own where every delivery takes a segment; there, on that host, three runs in a row predicted it
# within -3.1 to +2.8%. Later runs, with eight passes and steal-time windows measured again, met the
# check in one run of three and missed by 11-16% in runs where the VM's hypervisor gave much of its
# CPUs to other guests (steal time), mostly at the largest N. On a fourth host, whose kernel kept CUBIC out
# of the bench's namespace, the model over-predicted the largest broadcast by 7-12% under the fallback,
# Reno, and by -2 to +14% once the bench allowed CUBIC for its namespace: a bias of that host's broker at
# twice the fitted load (its passes agreed within 1-5%); the cost form was not refitted to it.
# Extrapolating a broker's cost to twice the measured load is a hypothesis to check on the host and
# network that matter, not a guarantee.

# %%
broker_csv = "../data/measured/redis_fanout.csv"  # written by bench/broker_fanout.py
sys.path.insert(0, "../bench")  # the benchmark's analysis functions
broker_fanout = importlib.import_module("broker_fanout")

measured, broker_meta = broker_fanout.load_measured(broker_csv)
broker_model = broker_fanout.fit_measured(measured, broker_fanout.design_of(broker_meta),
                                          n_boot=n_draws, seed=seed)
env, sweep = broker_meta["environment"], broker_meta["sweep"]
held_out = int(measured["apps"].max())
md(f"Measured {broker_meta['created'][:10]} on {env['cores']} cores ({env['cpu_model']}, Linux "
   f"{env['kernel']}): redis-server {env['redis_server']}, redis-py {env['redis_py']}; "
   f"{sweep['rate_per_app']:g} messages/s per app, {len(measured)} windows of {sweep['window_s']:g} s "
   f"in {broker_meta['measure_seconds']:.0f} s. Fitted on N < {held_out:,}:")
print(broker_model)
display(broker_model.summary().style.format({"estimate": "{:.3g}", "std_err": "{:.2g}", "lower": "{:.3g}",
                                             "upper": "{:.3g}"}).hide(axis="index"))

# %% [markdown]
# Each dot is one measured window; the lines are the model fitted on the filled dots, with its 90%
# interval for one window. The hollow dots at the right were not used by the fit: they test the
# prediction. Both axes are logarithmic: broadcast CPU grows with the square of N, targeted linearly.

# %%
display(broker_fanout.chart(measured, broker_model).properties(width=WIDTH, height=340))
table = broker_fanout.compare(measured, broker_model)
display(table.drop(columns=["mean_lower", "mean_upper", "windows_inside"])
        .style.format({"deliveries": "{:.0f}", "rate": "{:.0f}", "measured": "{:.3f}",
                       "measured_sd": "{:.3f}", "predicted": "{:.3f}", "lower": "{:.3f}", "upper": "{:.3f}",
                       "latency_p50_ms": "{:.2f}", "latency_p99_ms": "{:.2f}"})
        .hide(axis="index")
        .set_caption("Broker CPU [% of one core]: mean of the windows vs the model (90% interval for "
                     "one window); latency of one blocking subscriber"))

# %%
ratio = broker_fanout.ratios(measured, broker_model)
display(ratio.style.format({"measured": "{:.1f}", "predicted": "{:.1f}", "lower": "{:.1f}",
                            "upper": "{:.1f}"}).hide(axis="index")
        .set_caption("Broadcast / targeted CPU at the same N: measured vs the model (90% interval)"))
held = table[~table["in_fit"]].set_index("strategy")
last = ratio.iloc[-1]
verdicts = [f"{s}: predicted {r['predicted']:.2f}% [{r['lower']:.2f}, {r['upper']:.2f}], measured "
            f"{r['measured']:.2f}% ({'inside' if r['inside'] else '**outside**'}; model "
            f"{r['predicted'] / r['measured'] - 1:+.0%})" for s, r in held.iterrows()]
md(f"At the held-out **N = {held_out:,}**: " + "; ".join(verdicts) + f". Targeted messaging costs "
   f"{last['measured']:.1f}x less CPU there (model: {last['predicted']:.1f}x, 90% interval "
   f"{last['lower']:.1f} to {last['upper']:.1f}); the gap widens with N because only broadcast's "
   "deliveries per message grow with the app count.")

# %% [markdown]
# The model's shape holds on the real broker: CPU grows with N under targeted and with N x F(N) under
# broadcast, and the ratio between them is predicted. Over loopback TCP the model tends to predict
# broadcast at the largest N somewhat **too high**: by 0-6% in the runs on a quiet machine, up to 16%
# (once just past the edge of the interval) with other work running. A delivery gets cheaper as each
# connection's message rate grows (TCP then coalesces its acknowledgements), and under broadcast every
# connection carries every message. Over a Unix socket (no TCP) the cost per delivery is constant and
# the bias is gone (`data/measured/README.md`). For planning the error is on the safe side: a model
# calibrated at lower load overstates broadcast's growth.
