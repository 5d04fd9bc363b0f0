"""Tests of the report page's wording, on hand-made rows (no pipeline run)."""

from __future__ import annotations

import re
from types import SimpleNamespace

import pandas as pd
import pytest

from capacity.planning.limits import Watch
from capacity.report.html import _agreement, _head, _runway

END = pd.Timestamp("2011-10-20")
NaT = pd.NaT


def row(p10, p90, p_none, status="planned"):
    return SimpleNamespace(status=status, runway_p10=pd.Timestamp(p10) if p10 else NaT,
                           runway_p90=pd.Timestamp(p90) if p90 else NaT, runway_p_none=p_none)


def text(html: str) -> str:
    return re.sub(r"<[^>]+>", "", html).replace("&ndash;", "-")


@pytest.mark.parametrize(
    ("r", "expected"),
    [
        (row("2011-09-29", None, 0.87),
         "the limit is reached again in 13% of futures, in 10% by 2011-09-29; "
         "87% of futures stay under it through 2011-10-20"),
        (row(None, None, 0.94),
         "the limit is reached again in 6% of futures; 94% of futures stay under it through 2011-10-20"),
        (row(None, None, 0.999),
         "the limit is reached again in under 1% of futures; over 99% of futures stay under it through "
         "2011-10-20"),
        (row(None, None, 1.0), "the limit is not reached again through 2011-10-20 in any future"),
        (row("2011-01-05", "2011-03-01", 0.0),
         "the limit is reached again between 2011-01-05 and 2011-03-01 (P10-P90)"),
        (row("2011-01-05", "2011-03-01", 0.05),
         "the limit is reached again between 2011-01-05 and 2011-03-01 (P10-P90); "
         "5% of futures stay under it through 2011-10-20"),
        (row(None, None, float("nan")), "&mdash;"),
        (row("2011-01-05", None, 0.5, status="landed"), "&mdash;"),
    ],
    ids=["p10-only", "few-reach", "very-few-reach", "none-reach", "all-reach", "most-reach", "unknown",
         "landed"],
)
def test_runway_in_words(r, expected):
    assert text(_runway(r, END)) == expected


def test_runway_dates_are_time_elements():
    assert '<time datetime="2011-09-29">2011-09-29</time>' in _runway(row("2011-09-29", None, 0.87), END)


def fake_forecast(servers: int) -> SimpleNamespace:
    crossing = SimpleNamespace(horizon_end=END, p10=NaT, p50=NaT, p90=NaT, p_none=1.0)
    plan = SimpleNamespace(deadlines=pd.DataFrame({"at_risk": [False]}), crossing=crossing, limit=0.7,
                           servers=servers, strategy="broadcast", n_paths=100, horizon_days=365,
                           headline="Messaging stays under 70% until at least 2011-10-20.", watch=Watch())
    return SimpleNamespace(plan=plan)


@pytest.mark.parametrize(("servers", "said"), [(1, "1 server under"), (2, "2 servers under")])
def test_server_count_is_singular_for_one(servers, said):
    head = "\n".join(_head(fake_forecast(servers), {"as_of": "2010-10-20"}))
    assert said in head
    assert "1 servers" not in head
    assert '<time datetime="2011-10-20">2011-10-20</time>' in head  # the headline's date never wraps


@pytest.mark.parametrize(
    ("agrees", "diff", "said"),
    [(1.0, 0.002, "yes"), (0.0, 0.0021, "no (deliveries differ by up to 0.2%)"), (0.0, float("nan"), "no"),
     (float("nan"), float("nan"), "&mdash;")],
    ids=["inside", "outside-small", "outside-no-diff", "not-configured"],
)
def test_fanout_agreement_says_how_far_the_deliveries_are(agrees, diff, said):
    # a configured parameter just outside a tight interval must not read as a wrong formula
    assert _agreement(agrees, diff) == said
