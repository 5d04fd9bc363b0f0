"""Shared fixtures of the growth tests: the sample platform and real registry series, fitted once."""

from __future__ import annotations

import json
from pathlib import Path

import pandas as pd
import pytest

from capacity.data import load_apps
from capacity.growth.fit import GrowthFit, fit_growth

ROOT = Path(__file__).resolve().parents[2]
SAMPLE = ROOT / "capacity" / "sample"
GROWTH = ROOT / "data" / "real" / "growth"


def real(name: str) -> pd.Series:
    return load_apps(GROWTH / f"{name}.csv", apps_col="value")["apps"]


@pytest.fixture(scope="session")
def truth() -> dict:
    return json.loads((SAMPLE / "truth.json").read_text())["growth"]


@pytest.fixture(scope="session")
def sample_apps() -> pd.DataFrame:
    return load_apps(SAMPLE / "apps.csv", new_apps_col="new_apps")


@pytest.fixture(scope="session")
def sample_fit(sample_apps) -> GrowthFit:
    # the frame from load_apps goes in as it is (its "apps" column is used)
    return fit_growth(sample_apps[:"2010-10-20"])


@pytest.fixture(scope="session")
def spdx_apps() -> pd.Series:
    return real("spdx_licenses")


@pytest.fixture(scope="session")
def krew_fit() -> GrowthFit:
    return fit_growth(real("krew_kubectl_plugins"))


@pytest.fixture(scope="session")
def helm_fit() -> GrowthFit:
    return fit_growth(real("helm_stable_charts")[:"2019-06-30"])


@pytest.fixture(scope="session")
def vcpkg_fit() -> GrowthFit:
    return fit_growth(real("vcpkg_ports"))


@pytest.fixture(scope="session")
def cran_fit() -> GrowthFit:
    return fit_growth(real("cran_monthly_packages"))
