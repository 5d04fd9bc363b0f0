"""Measured fan-out: formulas fitted from the broker's delivery counts, and the cost model using them."""

from __future__ import annotations

import json
import math
import warnings
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import pandas as pd
import pytest

from capacity.data import attach_apps, load_apps, load_messaging
from capacity.errors import ArgumentError, InputDataError
from capacity.load.fanout import FANOUT_TOLERANCE, FanoutWarning, fit_fanout
from capacity.load.messaging import fit_messaging
from capacity.load.strategies import Broadcast, PatternSubscription, Sharded, Strategy, Targeted

# the misconfigured platform's warning is the subject of one test; elsewhere it is expected
pytestmark = pytest.mark.filterwarnings(
    "ignore:fit_messaging. broadcast. configured:capacity.load.fanout.FanoutWarning")

SAMPLE = Path(__file__).resolve().parents[2] / "capacity" / "sample"
CONFIGURED = {"broadcast": Broadcast(40, 100), "targeted": Targeted(3)}
TRUE = {"u0": 2.0, "a": 4.0e-5, "b": 2.6e-7}


def hourly(n_days: int = 200, seed: int = 0) -> tuple[np.ndarray, np.ndarray]:
    """Apps growing 10k -> 70k and the day of each hour."""
    hours = np.arange(n_days * 24)
    return 10_000 + 300 * hours / 24 + np.random.default_rng(seed).normal(0, 5, hours.size), hours // 24


# ------------------------------------------------------------------------------------------------
# fit_fanout


def test_broadcast_formula_is_recovered_with_intervals():
    apps, days = hourly()
    rng = np.random.default_rng(1)
    deliveries = 55 + apps / 80 + rng.normal(0, 2, apps.size)  # components come and go
    with pytest.warns(FanoutWarning, match=r"^broadcast: configured base_components, apps_per_component "
                                           r"outside the measured interval; .* differ from the measured ones "
                                           r"by up to 2\d\.\d% over the observed apps \(the measured formula "
                                           r"is used\)$"):
        fit = fit_fanout(apps, deliveries, strategy=Broadcast(40, 100), days=days)
    table = fit.table.set_index("param")
    for param, value in (("base_components", 55), ("apps_per_component", 80)):
        assert table.loc[param, "lower"] <= value <= table.loc[param, "upper"], param
    assert table.loc["base_components", "estimate"] == pytest.approx(55, abs=0.5)
    assert table.loc["apps_per_component", "estimate"] == pytest.approx(80, rel=0.002)
    assert list(table["configured"]) == [40, 100] and list(table["unit"]) == ["components", "apps/component"]
    assert fit.strategy == Broadcast(table.loc["base_components", "estimate"],
                                     table.loc["apps_per_component", "estimate"])
    assert fit.configured == Broadcast(40, 100) and fit.disagrees == ("base_components", "apps_per_component")
    assert fit.material and fit.resid_sd == pytest.approx(2, rel=0.05)
    assert fit.notes[0].startswith("broadcast fan-out measured from 4,800 readings at 10,")
    assert "(configured 40)" in fit.notes[0] and "90% intervals" in fit.notes[0]


def test_intervals_cover_the_truth_at_the_nominal_rate():
    apps, days = hourly(120)
    hits = []
    for seed in range(40):
        rng = np.random.default_rng(seed)
        daily = np.repeat(rng.normal(0, 3, days.max() + 1), 24)  # churn that lasts the day
        fit = fit_fanout(apps, 50 + apps / 90 + daily, strategy=Broadcast(50, 90), days=days, n_boot=200,
                         seed=seed, warn=False)
        hits.append(not fit.disagrees)
    assert 0.8 <= np.mean(hits) <= 0.98  # nominal 0.9 for each of two fields


def test_a_small_difference_is_a_note_but_no_warning():
    # the sample's hosts come whole: F = 40 + ceil(N/100), whose line is 40.5 + N/100
    apps, days = hourly()
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        fit = fit_fanout(apps, 40 + np.ceil(apps / 100), strategy=Broadcast(40, 100), days=days)
    assert fit.disagrees == ("base_components",) and not fit.material
    assert fit.max_rel_diff < FANOUT_TOLERANCE
    assert fit.notes[-1].endswith("differ from the measured ones by up to 0.4% over the observed apps, "
                                  "within the tolerance")
    table = fit.table.set_index("param")
    assert table.loc["base_components", "lower"] <= 40.5 <= table.loc["base_components", "upper"]


def test_targeted_sharded_and_pattern_formulas():
    apps, days = hourly(60)
    rng = np.random.default_rng(2)
    fit = fit_fanout(apps, 2 + rng.poisson(0.4, apps.size), strategy=Targeted(3), days=days, warn=False)
    assert fit.strategy.k == pytest.approx(2.4, abs=0.05)
    assert fit.table["param"].tolist() == ["k"] and fit.disagrees == ("k",) and fit.material
    # a sharded broadcast: the shard count is known, the components' law is measured
    fit = fit_fanout(apps, (30 + apps / 50) / 4, strategy=Sharded(shards=4, base_components=40), days=days,
                     warn=False)
    assert fit.strategy.shards == 4
    assert fit.strategy.base_components == pytest.approx(30)
    assert fit.strategy.apps_per_component == pytest.approx(50)
    # a pattern subscription: the broker counts the k deliveries; the scan stays as configured
    pattern = PatternSubscription(k=3, scan_cost=0.002)
    fit = fit_fanout(apps, np.full(apps.size, 3.0), strategy=pattern, days=days)
    assert fit.strategy.k == pytest.approx(3) and fit.strategy.scan_cost == 0.002 and not fit.disagrees
    np.testing.assert_allclose(fit.strategy.deliveries(apps), pattern.deliveries(apps))


def test_unconfigured_fields_take_the_measurement():
    apps, days = hourly(60)
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        fit = fit_fanout(apps, 20 + apps / 10, strategy=Broadcast(), days=days, configured=())
    assert fit.table["configured"].isna().all() and not fit.disagrees and math.isnan(fit.max_rel_diff)
    assert "(not configured)" in fit.notes[0]
    assert fit.strategy.base_components == pytest.approx(20)
    assert fit.strategy.apps_per_component == pytest.approx(10)


def test_one_app_count_measures_only_the_intercept():
    apps = np.full(48, 500.0)
    fit = fit_fanout(apps, np.full(48, 25.0), strategy=Broadcast(20, 100), days=np.arange(48) // 24,
                     warn=False)
    table = fit.table.set_index("param")
    assert table.loc["apps_per_component", "estimate"] == pytest.approx(100)
    assert not table.loc["apps_per_component", "measured"]
    assert math.isnan(table.loc["apps_per_component", "lower"])
    assert table.loc["base_components", "estimate"] == pytest.approx(20)
    assert fit.notes[1] == ("broadcast: the readings span too few app counts to measure apps_per_component, "
                            "which keeps its configured value")


def test_a_planners_strategy_without_measured_fields_is_kept():
    @dataclass(frozen=True)
    class Tree(Strategy):
        name: str = "tree"

        def fanout(self, apps):
            return 3 * np.log2(2 + apps)

    apps, days = hourly(10)
    fit = fit_fanout(apps, np.full(apps.size, 40.0), strategy=Tree(), days=days)
    assert fit.strategy == Tree() and fit.table.empty
    assert fit.notes[0].startswith("tree: its formula has no measured fields, so it is kept")


def test_fit_fanout_rejects_bad_input():
    apps, _ = hourly(5)
    with pytest.raises(ArgumentError, match=r"^fit_fanout: deliveries\[3\] must be a finite number >= 0, "
                                            r"not -1$"):
        fit_fanout(apps[:5], [1, 2, 3, -1, 5], strategy=Targeted())
    with pytest.raises(ArgumentError, match=r"^fit_fanout: apps and deliveries must be non-empty and "
                                            r"aligned, not 120 and 3 values$"):
        fit_fanout(apps, [1, 2, 3], strategy=Targeted())
    with pytest.raises(ArgumentError, match=r"^fit_fanout: days must hold one label per reading \(3\), "
                                            r"not 2$"):
        fit_fanout(apps[:3], [1, 2, 3], strategy=Targeted(), days=[0, 1])
    with pytest.raises(ArgumentError, match=r"^fit_fanout: strategy must be a Strategy, not 'targeted'$"):
        fit_fanout(apps[:3], [1, 2, 3], strategy="targeted")  # type: ignore[arg-type]
    with pytest.raises(InputDataError, match=r"^samples, column 'deliveries': the deliveries measured under "
                                             r"'targeted' give an impossible formula \(Targeted: k must be a "
                                             r"finite number > 0, not 0\.0\)$"):
        fit_fanout(apps[:3], [0, 0, 0], strategy=Targeted())


# ------------------------------------------------------------------------------------------------
# the cost model with measured deliveries


@pytest.fixture(scope="module")
def misconfigured(platform):
    """Broadcast only; the real fan-out (60 routers, 80 apps per host, hosts in batches of 20, 1 % of
    the components away each hour) is not the configured Broadcast(40, 100)."""
    samples, truth = platform(0, base=60, apps_per_host=80, batch=20, churn=0.01)
    return samples[samples["strategy"] == "broadcast"], truth


def test_measured_deliveries_correct_a_misconfigured_formula(misconfigured):
    samples, truth = misconfigured
    with pytest.warns(FanoutWarning, match=r"^fit_messaging: broadcast: configured base_components, "
                                           r"apps_per_component outside the measured interval"):
        measured = fit_messaging(samples, strategies=CONFIGURED)
    formula = fit_messaging(samples, strategies=CONFIGURED, use_deliveries=False)
    ours, theirs = measured.summary().set_index("param"), formula.summary().set_index("param")
    for p, value in TRUE.items():
        assert ours.loc[p, "lower"] <= value <= ours.loc[p, "upper"], p
    assert ours.loc["b", "estimate"] == pytest.approx(TRUE["b"], rel=0.03)
    assert theirs.loc["b", "estimate"] > 1.15 * TRUE["b"] and theirs.loc["b", "lower"] > TRUE["b"]
    # the model carries the measured formula; it follows the broker's counts (hosts come in batches of
    # 20, half a batch ahead on average) to 1.5 %
    fitted = measured.strategies["broadcast"]
    assert isinstance(fitted, Broadcast) and fitted.apps_per_component == pytest.approx(80.8, abs=0.5)
    pre = truth[~truth["targeted"]]
    assert np.abs(fitted.deliveries(pre["apps"]) / pre["deliveries"] - 1).mean() < 0.015
    assert measured.strategies["targeted"] == Targeted(3)  # not measured: as configured
    # the counterfactual the planner acts on
    post = truth[truth["targeted"]]
    true = (post["busy_targeted"] / 24 * 100).mean()
    errors = {name: model.predict(post["apps"], strategy="targeted", servers=3)["mean"].mean() / true - 1
              for name, model in (("measured", measured), ("formula", formula))}
    assert abs(errors["measured"]) < 0.05 and abs(errors["formula"]) > 1.5 * abs(errors["measured"]), errors


def test_fanout_summary_and_notes(misconfigured):
    samples, _ = misconfigured
    model = fit_messaging(samples, strategies=CONFIGURED, n_boot=100, seed=1)
    table = model.fanout_summary()
    assert list(table.columns) == ["strategy", "param", "configured", "estimate", "std_err", "lower", "upper",
                                   "unit", "measured", "agrees"]
    assert list(table["strategy"]) == ["broadcast", "broadcast"] and list(table["agrees"]) == [0.0, 0.0]
    assert model.notes[0].startswith("broadcast fan-out measured from 14,400 readings at 10,000-55,990 apps: "
                                     "base_components 69.")
    assert "(the measured formula is used)" in model.notes[1]
    assert set(model.fanout) == {"broadcast"} and model.fanout["broadcast"].n_obs == 14_400
    # without the column: nothing measured, the formula fit as before
    plain = fit_messaging(samples.drop(columns="deliveries"), strategies=CONFIGURED, n_boot=100, seed=1)
    assert plain.fanout == {} and plain.notes == () and plain.fanout_summary().empty
    off = fit_messaging(samples, strategies=CONFIGURED, n_boot=100, seed=1, use_deliveries=False)
    pd.testing.assert_series_equal(off.params, plain.params)


def test_a_formula_need_not_be_configured(misconfigured):
    samples, _ = misconfigured
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        model = fit_messaging(samples, strategies={"broadcast": {"kind": "broadcast"},
                                                   "targeted": {"kind": "targeted", "k": 3}}, n_boot=100)
    table = model.fanout_summary()
    assert table["configured"].isna().all() and table["agrees"].isna().all()
    assert model.strategies["broadcast"].apps_per_component == pytest.approx(80.8, abs=0.5)
    assert model.summary().set_index("param").loc["b", "estimate"] == pytest.approx(TRUE["b"], rel=0.03)


def test_readings_without_a_count_use_the_formula(misconfigured):
    samples, _ = misconfigured
    gaps = samples.copy()
    gaps.loc[gaps.index % 7 == 0, "deliveries"] = np.nan
    model = fit_messaging(gaps, strategies=CONFIGURED, n_boot=100)
    assert model.fanout["broadcast"].n_obs == len(gaps) - (gaps.index % 7 == 0).sum()
    # the unmeasured readings use the measured formula, so b stays put
    assert model.params["b"] == pytest.approx(TRUE["b"], rel=0.04)


def test_bad_delivery_counts_are_named(misconfigured):
    samples, _ = misconfigured
    bad = samples.head(50).copy()
    bad["deliveries"] = bad["deliveries"].astype(object)
    bad.iloc[5, bad.columns.get_loc("deliveries")] = -1.0
    with pytest.raises(InputDataError, match=r"^samples, column 'deliveries': row 6 holds -1\.0, not a "
                                             r"finite non-negative number \(or empty\)$"):
        fit_messaging(bad, strategies=CONFIGURED)
    bad.iloc[5, bad.columns.get_loc("deliveries")] = "many"
    with pytest.raises(InputDataError, match=r"^samples, column 'deliveries': row 6 holds 'many', not a "
                                             r"finite non-negative number \(or empty\)$"):
        fit_messaging(bad, strategies=CONFIGURED)
    with pytest.raises(ArgumentError, match=r"^fit_messaging: use_deliveries must be True or False, not 1$"):
        fit_messaging(samples, strategies=CONFIGURED, use_deliveries=1)  # type: ignore[arg-type]


# ------------------------------------------------------------------------------------------------
# the sample platform


@pytest.fixture(scope="module")
def sample() -> pd.DataFrame:
    """The sample's readings with the broker's delivery counts (load_messaging keeps the column)."""
    samples = attach_apps(load_messaging(SAMPLE / "messaging.csv"), load_apps(SAMPLE / "apps.csv"))
    assert samples["deliveries"].notna().all()
    return samples


def test_sample_fanout_is_measured_within_its_truth(sample):
    truth = json.loads((SAMPLE / "truth.json").read_text())["messaging"]
    pre = sample[sample["timestamp"] < "2010-10-20"]
    with warnings.catch_warnings():
        warnings.simplefilter("error", FanoutWarning)  # 40 vs 40.5 components: a note, no warning
        model = fit_messaging(pre, strategies=truth["strategies"], cores_per_server=truth["cores_per_server"])
    table = model.fanout_summary().set_index("param")
    for param, value in truth["fanout"]["broadcast"].items():
        if param != "law":
            assert table.loc[param, "lower"] <= value <= table.loc[param, "upper"], param
    assert list(table["configured"]) == [40, 100] and list(table["agrees"]) == [0.0, 1.0]
    assert "within the tolerance" in model.notes[1]
    # the counts say what the formula says, so the cost parameters stay where they were
    formula = fit_messaging(pre, strategies=truth["strategies"], cores_per_server=8, use_deliveries=False)
    for p in TRUE:
        assert model.params[p] == pytest.approx(formula.params[p], rel=0.005), p
        assert model.summary().set_index("param").loc[p, "lower"] <= truth[p], p
    # after the switch the counts measure the targeted k as well
    full = fit_messaging(sample, strategies=truth["strategies"], cores_per_server=8, n_boot=100)
    assert full.strategies["targeted"].k == pytest.approx(truth["fanout"]["targeted"]["k"])
