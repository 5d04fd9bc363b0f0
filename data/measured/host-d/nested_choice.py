"""Each committed run's cost form chosen on its own data (nested) against the fixed r0 = 10/s.

For every run with N up to 2000: every candidate form of ``bench/broker_fanout.py`` fitted on
N <= 1000 and judged at N = 2000 (the bench's check), and fitted on N <= 500 and judged at N = 1000
(the nested choice: the form with the smallest rms of its broadcast, targeted and ratio errors there).
Prints each run's row and a summary of the broadcast errors at N = 2000 per form.

Run from the repository root: ``.venv/bin/python data/measured/host-d/nested_choice.py CSV ...``
(about 30 s for the 41 runs of data/measured/README.md, "Host D").
"""

import sys
import warnings
from pathlib import Path

ROOT = Path(__file__).resolve().parents[3]
sys.path.insert(0, str(ROOT / "bench"))
sys.path.insert(0, str(ROOT))

import broker_fanout as bf  # noqa: E402
import numpy as np  # noqa: E402
import pandas as pd  # noqa: E402

FIXED = "rate, r0 = 10/s"


def judged(measured: pd.DataFrame, design: bf.Design, forms: dict) -> tuple[pd.DataFrame, pd.DataFrame]:
    """Every form at the run's held-out N, and at its next N when fitted on the N below that."""
    apps = sorted(measured["apps"].unique())
    full = bf.forms_table(measured, design, forms, n_boot=100).set_index("form")
    inner = measured[measured["apps"] < apps[-1]].assign(in_fit=lambda d: d["apps"] < apps[-2])
    nested = bf.forms_table(inner, design, forms, n_boot=100).set_index("form")
    nested["ratio_error"] = nested["ratio_predicted"] / nested["ratio_measured"] - 1
    return full, nested


def main(paths: list[str]) -> None:
    warnings.simplefilter("ignore")
    forms = bf.candidate_forms()
    rows = []
    for path in paths:
        measured, meta = bf.load_measured(path)
        if sorted(measured["apps"].unique())[-1] != 2000:
            continue
        full, nested = judged(measured, bf.design_of(meta), forms)
        score = np.sqrt((nested[["broadcast_error", "targeted_error", "ratio_error"]] ** 2).mean(axis=1))
        pick = score.idxmin()
        rows.append({"run": str(path), "nested_pick": pick, "nested": full.loc[pick, "broadcast_error"],
                     **{f: full.loc[f, "broadcast_error"] for f in forms}})
        print(rows[-1]["run"], pick, round(rows[-1]["nested"], 3), round(rows[-1][FIXED], 3), flush=True)
    table = pd.DataFrame(rows)
    print(table["nested_pick"].value_counts().to_string())
    for column in ["nested", *forms]:
        e = table[column].astype(float)
        within, rms = int((e.abs() < 0.1).sum()), np.sqrt((e ** 2).mean())
        print(f"{column:>18}: within 10 % {within}/{len(e)}, rms {rms:.3f}, mean {e.mean():+.3f}")


if __name__ == "__main__":
    main(sys.argv[1:])
