"""Live sources of the two inputs, returning exactly the frames the file loaders return.

- :mod:`~capacity.sources.prometheus`: the Prometheus HTTP API (Prometheus, Thanos, Mimir, Cortex,
  VictoriaMetrics): :func:`fetch_apps` and :func:`fetch_messaging` (the frames of
  :func:`capacity.data.load_apps` and :func:`capacity.data.load_messaging`), :func:`write_parquet`
  and :func:`fetched_inputs_record` to store what was fetched beside the report.
"""

from capacity.sources.prometheus import (
    MAX_POINTS,
    SourceDataError,
    SourceUnavailableError,
    default_range,
    fetch_apps,
    fetch_messaging,
    fetched_inputs_record,
    parse_duration,
    query_range,
    redact_url,
    sample_day,
    split_range,
    write_parquet,
)

__all__ = [
    "MAX_POINTS",
    "SourceDataError",
    "SourceUnavailableError",
    "default_range",
    "fetch_apps",
    "fetch_messaging",
    "fetched_inputs_record",
    "parse_duration",
    "query_range",
    "redact_url",
    "sample_day",
    "split_range",
    "write_parquet",
]
