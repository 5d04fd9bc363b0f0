"""capacity.load._checks: array arguments checked item by item, with one-line messages."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from hypothesis.extra import numpy as hnp

from capacity.errors import ArgumentError
from capacity.validation import InstanceOf, Interval, check_args
from capacity.validation.arrays import Includes, Numbers, check_numbers

INTERVALS = [
    Interval(float, 0, None),
    Interval(float, 0, None, closed="neither"),
    Interval(float, 0, 1, closed="left"),
    Interval(float, -1, 1, closed="right"),
    Interval(int, 1, None),
]


@settings(max_examples=200, deadline=None)
@given(
    each=st.sampled_from(INTERVALS),
    values=hnp.arrays(np.float64, hnp.array_shapes(min_dims=0, max_dims=2, max_side=5),
                      elements=st.sampled_from([0.0, 1.0, 2.0, 0.5, -1.0, 1e300, np.inf, -np.inf, np.nan])),
)
def test_the_fast_check_agrees_with_the_item_by_item_one(each, values):
    numbers = Numbers(each)
    assert numbers.all_good(values) == (not numbers.bad(values).any())
    # and with capacity.validation's own Interval, item by item
    assert numbers.all_good(values) == all(each.holds(int(v) if each.kind is int and float(v).is_integer()
                                                      else float(v)) for v in values.ravel())


def test_numbers_take_scalars_lists_arrays_and_series_but_not_text_or_bools():
    numbers = Numbers(Interval(float, 0, None))
    for good in (0, 2.5, np.float32(1.0), [1, 2], (1.0,), np.zeros((2, 3)), pd.Series([1.0]), np.array(3.0)):
        assert numbers.holds(good), good
    for bad in ("1", b"1", True, np.bool_(True), None, [1, "a"], ["1"], [[1, 2], [3]], {1, 2}, {"a": 1},
                np.array([True]), pd.Series(["x"]), [1, None], -1, [0, -1]):
        assert not numbers.holds(bad), bad
    assert not Numbers(Interval(float, 0, None), scalar=False).holds(3.0)
    assert not Numbers(Interval(float, 0, None), max_ndim=1).holds(np.zeros((2, 2)))


def test_check_numbers_returns_floats_and_names_the_first_bad_item():
    out = check_numbers("f", "x", [1, 2], Interval(int, 1, None))
    assert out.dtype == float and out.tolist() == [1.0, 2.0]
    with pytest.raises(ArgumentError, match=r"^f: x\[1\] must be an integer >= 1, not 0$"):
        check_numbers("f", "x", np.array([1.0, 0.0, -1.0]), Interval(int, 1, None))
    with pytest.raises(ArgumentError, match=r"^f: x\[2010-01-02 00:00:00\] must be a finite number >= 0, "
                                            r"not -1$"):
        check_numbers("f", "x", pd.Series([1.0, -1.0], index=pd.date_range("2010-01-01", periods=2)),
                      Interval(float, 0, None))
    with pytest.raises(ArgumentError, match=r"^f: x\['b'\] must be a finite number >= 0, not inf$"):
        check_numbers("f", "x", [1.0, np.inf], Interval(float, 0, None), labels=["a", "b"])


def test_messages_stay_on_one_line_for_arrays_and_frames():
    with pytest.raises(ArgumentError) as info:
        check_numbers("f", "x", np.full((3, 3), "a"), Interval(float, 0, None))
    assert "\n" not in str(info.value) and str(info.value).startswith("f: x must be a finite number >= 0 or")
    with pytest.raises(ArgumentError) as info:
        check_args("f", frame=(pd.DataFrame({"a": [1, 2]}), [InstanceOf(list)]))
    assert "\n" not in str(info.value) and "(DataFrame)" in str(info.value)


def test_includes():
    assert Includes(("u0", "a")).holds(["a", "u0", "b"])
    assert Includes(("u0",)).holds({"u0": 1})
    assert not Includes(("u0", "a")).holds(["u0"])
    assert not Includes(("u",)).holds("u0")  # a string is not a collection of names
    assert str(Includes(("u0", "a"))) == "a collection including 'u0', 'a'"
