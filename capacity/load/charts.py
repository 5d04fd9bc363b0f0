"""The chart of a fitted :class:`~capacity.messaging.MessagingModel` (kept apart from the fit)."""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

import altair as alt
import numpy as np
import pandas as pd

from capacity.load.messaging import _resolve

if TYPE_CHECKING:
    from capacity.load.messaging import MessagingModel


def messaging_chart(
    model: MessagingModel,
    *,
    limit: float | None = 0.7,
    servers: int | None = None,
    apps_max: float | None = None,
    strategies: Any = None,
    level: float | None = None,
) -> alt.LayerChart:
    """CPU per server vs apps per strategy, the limit, and the observed daily means.

    See :meth:`MessagingModel.chart` for the parameters.
    """
    servers = model.last_servers if servers is None else servers
    level = model._level(level)
    apps_max = 1.25 * float(model.observed["apps"].max()) if apps_max is None else apps_max
    grid = np.linspace(0.0, apps_max, 120)
    # label curves by the names the samples use, so curve and points share a colour
    chosen = list(model.strategies.items()) if strategies is None else [
        (s if isinstance(s, str) else s.name, _resolve(s, model.strategies))
        for s in strategies
    ]
    curves = pd.concat(
        [
            model.predict(grid, strategy=s, servers=servers, level=level).assign(strategy=label)
            for label, s in chosen
        ],
        ignore_index=True,
    )
    obs = model.observed.assign(
        cpu_percent=model.observed["busy_cores"] / (servers * model.cores_per_server) * 100,
        censored=model.observed["censored_share"] > 0,
    ).drop(columns=["busy_cores"])
    obs["date"] = obs["date"].dt.strftime("%Y-%m-%d")
    x = alt.X("apps:Q", title="live apps")
    y_title = f"CPU per server, {servers} servers [%]"
    color = alt.Color("strategy:N", title="strategy")
    band = alt.Chart(curves).mark_area(opacity=0.2).encode(
        x=x, y=alt.Y("mean_lower:Q", title=y_title), y2="mean_upper:Q", color=color
    )
    line = alt.Chart(curves).mark_line().encode(
        x=x, y="mean:Q", color=color,
        tooltip=["strategy:N", alt.Tooltip("apps:Q", format=",.0f"),
                 alt.Tooltip("mean:Q", format=".1f")],
    )
    points = alt.Chart(obs).mark_point(size=12).encode(
        x=x, y="cpu_percent:Q", color=color,
        fill=alt.condition(
            "datum.censored", alt.value("transparent"), alt.Color("strategy:N", legend=None)
        ),
        tooltip=["date:N", "strategy:N", alt.Tooltip("apps:Q", format=",.0f"),
                 alt.Tooltip("cpu_percent:Q", format=".1f"), "censored_share:Q"],
    )
    layers = [band, line, points]
    if limit is not None:
        rule = alt.Chart(pd.DataFrame({"limit": [100.0 * limit]})).mark_rule(
            strokeDash=[4, 4], color="black"
        ).encode(y="limit:Q")
        label = alt.Chart(pd.DataFrame({"limit": [100.0 * limit], "text": [f"limit {limit:.0%}"]})
                          ).mark_text(align="left", dx=4, dy=-6).encode(
            x=alt.datum(0), y="limit:Q", text="text:N"
        )
        layers += [rule, label]
    return alt.layer(*layers).properties(
        title=f"Messaging CPU vs apps (mean and {level:.0%} interval per strategy)"
    )
