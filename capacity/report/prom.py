"""The report's answer as Prometheus gauges: ``capacity.prom`` for the node_exporter textfile collector.

:func:`prometheus_textfile` turns a report's summary (the dict of ``summary.json``) into the Prometheus
text exposition format (version 0.0.4) that node_exporter's ``--collector.textfile.directory`` reads;
:func:`write_textfile` writes it atomically (the collector must never see half a file). Every family
has HELP and TYPE lines and is a gauge; there are no sample timestamps (the collector refuses them).

Gauges (``percentile`` is ``"10"``, ``"50"`` or ``"90"``; a ``quantile`` label is reserved for summaries)::

    capacity_last_success_timestamp_seconds                  when the report was made
    capacity_as_of_timestamp_seconds                         the as-of date (00:00 UTC)
    capacity_info{version, strategy}                         1
    capacity_cpu_limit_ratio                                 the safe utilisation (0..1)
    capacity_confidence_ratio                                must-land dates hold with this probability
    capacity_messaging_servers                               servers in service on the as-of date
    capacity_horizon_end_timestamp_seconds                   the last day simulated
    capacity_crossing_timestamp_seconds{percentile}          when the limit is crossed
    capacity_crossing_none_probability                       no crossing within the horizon
    capacity_crossing_now_probability                        the limit already reached on the as-of date
    capacity_projects_at_risk                                how many projects are at risk
    capacity_project_info{project, effect, status}           1 per project
    capacity_project_must_start_by_timestamp_seconds{project}
    capacity_project_must_land_by_timestamp_seconds{project}
    capacity_project_planned_landing_timestamp_seconds{project}
    capacity_project_late_probability{project}               P(late)
    capacity_project_at_risk{project}                        1 when at risk, else 0
    capacity_project_runway_timestamp_seconds{project, percentile}

A date is the Unix time of 00:00 UTC on that day. A value the summary does not have (a crossing
beyond the horizon, the deadlines of a landed project, the P(late) of an unscheduled one) is left out
rather than written as NaN, so alert expressions see no series instead of a NaN that never compares.
"""

from __future__ import annotations

import datetime as dt
import math
import os
import re
import time
from collections.abc import Iterable, Mapping
from pathlib import Path
from typing import Any

from capacity.errors import ArgumentError
from capacity.validation import HasMethods, InstanceOf, Interval, Text, check_args

__all__ = ["prometheus_textfile", "write_textfile", "TEXTFILE_NAME"]

#: the file name a report writes the gauges to
TEXTFILE_NAME = "capacity.prom"

_LABEL_NAME = re.compile(r"^[a-zA-Z_][a-zA-Z0-9_]*$")
_RESERVED = {"project", "effect", "status", "percentile", "version", "strategy", "quantile", "le", "metric",
             "metric_quantile", "server", "spare_servers"}
_PERCENTILES = (("10", "p10"), ("50", "p50"), ("90", "p90"))

# name -> help
_HELP = {
    "capacity_last_success_timestamp_seconds": "Unix time at which the capacity report was last made.",
    "capacity_as_of_timestamp_seconds": "The report's as-of date (00:00 UTC): the last day of data used.",
    "capacity_info": "The capacity version and the fan-out strategy in force on the as-of date.",
    "capacity_cpu_limit_ratio": "Safe CPU utilisation (0..1) of what the labels say: the metric of the day "
                                "(daily_mean, busiest_hour, quantile), the server (average, hottest) and the "
                                "servers held spare.",
    "capacity_confidence_ratio": "Must-land dates hold with this probability (0..1).",
    "capacity_messaging_servers": "Messaging servers in service on the as-of date.",
    "capacity_horizon_end_timestamp_seconds": "The last day the forecast simulates (00:00 UTC).",
    "capacity_crossing_timestamp_seconds": "Percentiles of the day the limit is first crossed (00:00 UTC); "
                                           "absent when beyond the horizon.",
    "capacity_crossing_none_probability": "Probability of no crossing within the horizon.",
    "capacity_crossing_now_probability": "Probability that the limit is already reached on the as-of date.",
    "capacity_projects_at_risk": "Number of projects at risk.",
    "capacity_project_info": "One series per project, with its effect and status.",
    "capacity_project_must_start_by_timestamp_seconds": "Day a project must start by (00:00 UTC) to land "
                                                        "in time at the confidence.",
    "capacity_project_must_land_by_timestamp_seconds": "Day a project must land by (00:00 UTC) at the "
                                                       "confidence.",
    "capacity_project_planned_landing_timestamp_seconds": "A project's planned landing day (00:00 UTC).",
    "capacity_project_late_probability": "Probability that the project, as planned, lands after the "
                                         "crossing.",
    "capacity_project_at_risk": "1 when the project is at risk, else 0.",
    "capacity_project_runway_timestamp_seconds": "Percentiles of the crossing once this project and the "
                                                 "earlier ones have landed (00:00 UTC).",
}


def _escape_label(value: Any) -> str:
    return str(value).replace("\\", "\\\\").replace('"', '\\"').replace("\n", "\\n")


def _escape_help(text: str) -> str:
    return text.replace("\\", "\\\\").replace("\n", "\\n")


def _format(value: Any) -> str | None:
    """A sample value as the format writes it; None when there is none (None, NaN)."""
    if value is None:
        return None
    if isinstance(value, bool):
        return "1" if value else "0"
    if isinstance(value, int):
        return str(value)
    number = float(value)
    if math.isnan(number):
        return None
    if math.isinf(number):
        return "+Inf" if number > 0 else "-Inf"
    if number.is_integer() and abs(number) < 2**53:
        return str(int(number))  # a timestamp reads better without ".0"
    return repr(number)


def _timestamp(value: Any) -> float | None:
    """An ISO date (or datetime) from the summary as Unix seconds; None stays None."""
    if value is None:
        return None
    if isinstance(value, dt.datetime):
        moment = value
    elif isinstance(value, dt.date):
        moment = dt.datetime(value.year, value.month, value.day)
    else:
        text = str(value)
        moment = dt.datetime.fromisoformat(text) if len(text) > 10 else dt.datetime.fromisoformat(text[:10])
    if moment.tzinfo is None:
        moment = moment.replace(tzinfo=dt.UTC)
    return moment.timestamp()


def _labels(extra: Mapping[str, str], own: Mapping[str, Any]) -> str:
    pairs = {**extra, **own}
    if not pairs:
        return ""
    return "{" + ",".join(f'{k}="{_escape_label(v)}"' for k, v in pairs.items()) + "}"


def _family(name: str, samples: Iterable[tuple[Mapping[str, Any], Any]],
            extra: Mapping[str, str]) -> list[str]:
    lines = []
    for own, value in samples:
        text = _format(value)
        if text is not None:
            lines.append(f"{name}{_labels(extra, own)} {text}")
    if not lines:
        return []
    return [f"# HELP {name} {_escape_help(_HELP[name])}", f"# TYPE {name} gauge", *lines]


def _check_labels(labels: Any) -> dict[str, str]:
    check_args("prometheus_textfile", labels=(labels, [InstanceOf(Mapping), None]))
    out = {}
    for key, value in (labels or {}).items():
        if not isinstance(key, str) or not _LABEL_NAME.match(key) or key.startswith("__") or key in _RESERVED:
            raise ArgumentError(f"prometheus_textfile: labels has the key {key!r}: a label name must match "
                                f"[a-zA-Z_][a-zA-Z0-9_]*, not start with '__' and not be one of "
                                f"{', '.join(sorted(_RESERVED))}")
        check_args("prometheus_textfile", **{f"labels[{key!r}]": (value, [Text()])})
        out[key] = value
    return out


def _limit(summary: Mapping[str, Any]) -> tuple[dict[str, str], Any]:
    """The limit's labels (what is watched) and value; a schema-1 summary's limit is a bare number."""
    limit = summary.get("limit")
    if not isinstance(limit, Mapping):
        return {}, limit
    labels = {"metric": str(limit.get("metric", "daily_mean")), "server": str(limit.get("server", "average")),
              "spare_servers": str(limit.get("spare_servers", 0))}
    if limit.get("metric_quantile") is not None:
        labels["metric_quantile"] = f"{limit['metric_quantile']:g}"
    return labels, limit.get("cpu")


def _global_families(summary: Mapping[str, Any], now: float, extra: Mapping[str, str]) -> list[str]:
    crossing = summary.get("crossing") or {}
    families = [
        ("capacity_last_success_timestamp_seconds", [({}, now)]),
        ("capacity_as_of_timestamp_seconds", [({}, _timestamp(summary.get("as_of")))]),
        ("capacity_info", [({"version": summary.get("version", ""), "strategy": summary.get("strategy", "")},
                            1)]),
        ("capacity_cpu_limit_ratio", [_limit(summary)]),
        ("capacity_confidence_ratio", [({}, summary.get("confidence"))]),
        ("capacity_messaging_servers", [({}, summary.get("servers"))]),
        ("capacity_horizon_end_timestamp_seconds", [({}, _timestamp(crossing.get("horizon_end")))]),
        ("capacity_crossing_timestamp_seconds",
         [({"percentile": p}, _timestamp(crossing.get(key))) for p, key in _PERCENTILES]),
        ("capacity_crossing_none_probability", [({}, crossing.get("p_none"))]),
        ("capacity_crossing_now_probability", [({}, crossing.get("p_now"))]),
        ("capacity_projects_at_risk",
         [({}, sum(bool(d.get("at_risk")) for d in summary.get("deadlines") or []))]),
    ]
    return [line for name, samples in families for line in _family(name, samples, extra)]


def _project_families(deadlines: list[Mapping[str, Any]], extra: Mapping[str, str]) -> list[str]:
    names = [str(d.get("project", "")) for d in deadlines]
    repeated = sorted({n for n in names if names.count(n) > 1})
    if repeated:
        raise ArgumentError(f"prometheus_textfile: summary names the project {repeated[0]!r} twice; each "
                            "project must have its own name")

    def per_project(key: str, convert: Any = None) -> list[tuple[dict[str, str], Any]]:
        return [({"project": n}, convert(d.get(key)) if convert else d.get(key))
                for n, d in zip(names, deadlines, strict=True)]

    runway = [({"project": n, "percentile": p}, _timestamp((d.get("runway") or {}).get(key)))
              for n, d in zip(names, deadlines, strict=True) for p, key in _PERCENTILES]
    info = [({"project": n, "effect": d.get("effect", ""), "status": d.get("status", "")}, 1)
            for n, d in zip(names, deadlines, strict=True)]
    families = [
        ("capacity_project_info", info),
        ("capacity_project_must_start_by_timestamp_seconds", per_project("must_start_by", _timestamp)),
        ("capacity_project_must_land_by_timestamp_seconds", per_project("must_land_by", _timestamp)),
        ("capacity_project_planned_landing_timestamp_seconds", per_project("planned_landing", _timestamp)),
        ("capacity_project_late_probability", per_project("p_late")),
        ("capacity_project_at_risk", per_project("at_risk", bool)),
        ("capacity_project_runway_timestamp_seconds", runway),
    ]
    return [line for name, samples in families for line in _family(name, samples, extra)]


def prometheus_textfile(
    summary: Mapping[str, Any],
    *,
    now: float | dt.datetime | None = None,
    labels: Mapping[str, str] | None = None,
) -> str:
    """The summary's numbers as Prometheus gauges in the text exposition format.

    Parameters
    ----------
    summary : mapping
        The report's summary (``summary.json``, :func:`capacity.report.html.summary_dict`).
    now : float or datetime, optional
        When the report was made, for ``capacity_last_success_timestamp_seconds`` (Unix seconds or a
        datetime, naive meaning UTC; default the current time).
    labels : mapping of str to str, optional
        Labels put on every sample, e.g. ``{"plan": "messaging"}`` when one host exports several
        plans (not one of the labels the gauges use themselves).

    Returns
    -------
    str
        The file's text, ending with a newline.
    """
    check_args("prometheus_textfile", summary=(summary, [InstanceOf(Mapping)]),
               now=(now, [Interval(float, 0, None), InstanceOf(dt.datetime), None]))
    extra = _check_labels(labels)
    if isinstance(now, dt.datetime):
        moment = _timestamp(now)
    else:
        moment = float(now) if now is not None else time.time()
    deadlines = [d for d in summary.get("deadlines") or [] if isinstance(d, Mapping)]
    lines = _global_families(summary, moment, extra) + _project_families(deadlines, extra)
    return "\n".join(lines) + "\n"


def write_textfile(
    summary: Mapping[str, Any],
    path: str | os.PathLike[str],
    *,
    now: float | dt.datetime | None = None,
    labels: Mapping[str, str] | None = None,
) -> Path:
    """Write :func:`prometheus_textfile` to ``path`` atomically (a temporary file beside it, then a rename).

    ``path`` may be the report folder's ``capacity.prom`` or a file in node_exporter's textfile
    directory (its name must end in ``.prom``).
    """
    check_args("write_textfile", path=(path, [Text(), HasMethods("__fspath__", what="a path (os.PathLike)")]))
    path = Path(path)
    if path.suffix != ".prom":
        raise ArgumentError(f"write_textfile: path must end in '.prom' (the textfile collector reads only "
                            f"those), not {str(path)!r}")
    text = prometheus_textfile(summary, now=now, labels=labels)
    partial = path.with_name(f".{path.name}.{os.getpid()}.partial")  # not *.prom: the collector skips it
    try:
        partial.write_text(text, encoding="utf-8")
        os.chmod(partial, 0o644)
        os.replace(partial, path)
    finally:
        partial.unlink(missing_ok=True)
    return path
