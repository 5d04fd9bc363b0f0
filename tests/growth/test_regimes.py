"""Tests of capacity.growth.regimes: regime changes found in the rate of new apps."""

from __future__ import annotations

import pandas as pd
import pytest

from capacity.growth.fit import fit_growth


def test_sample_acceleration_found_near_the_true_date_with_true_rates(sample_fit, truth):
    reg = sample_fit.regimes
    assert len(reg) >= 1
    jump = reg.loc[reg["ratio"].idxmax()]
    assert abs((jump["date"] - pd.Timestamp(truth["break_date"])).days) <= 14
    assert jump["rate_before"] == pytest.approx(truth["rate_before"], rel=0.05)
    assert jump["rate_after"] == pytest.approx(truth["rate_after"], rel=0.10)
    assert jump["ratio"] == pytest.approx(truth["rate_after"] / truth["rate_before"], rel=0.12)
    assert jump["prob"] > 0.99
    assert jump["date_low"] <= jump["date"] <= jump["date_high"]


def test_krew_2026_reacceleration_detected(krew_fit):
    reg = krew_fit.regimes
    recent = reg[(reg["date"] >= "2025-10-01") & (reg["date"] <= "2026-06-30")]
    assert len(recent) == 1
    row = recent.iloc[0]
    assert row["ratio"] > 2.0
    assert row["prob"] > 0.99
    # rates in apps/day: ~3 plugins a month before, ~11 after
    assert 0.05 < row["rate_before"] < 0.2
    assert 0.25 < row["rate_after"] < 0.6
    assert krew_fit.weights["piecewise"] == 1.0
    assert krew_fit.rate == pytest.approx(row["rate_after"], rel=0.05)


def test_monthly_input(cran_fit):
    assert cran_fit.history.index[1] == pd.Timestamp("1997-11-08")
    assert len(cran_fit.regimes) >= 5
    # the 2012-13 and 2015-17 accelerations of CRAN show as rate rises
    ups = cran_fit.regimes[cran_fit.regimes["ratio"] > 1.4]
    assert (ups["date"].dt.year == 2015).any()
    p = cran_fit.paths(60, n=50)
    assert p.columns.freq == "D"


def test_weekly_input_finds_the_sample_break(sample_apps, truth):
    weekly = sample_apps["apps"][:"2010-10-20"].resample("W").last()
    fit = fit_growth(weekly)
    jump = fit.regimes.loc[fit.regimes["ratio"].idxmax()]
    assert abs((jump["date"] - pd.Timestamp(truth["break_date"])).days) <= 14
    assert jump["rate_before"] == pytest.approx(truth["rate_before"], rel=0.05)
