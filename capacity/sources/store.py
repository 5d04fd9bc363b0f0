"""Fetched inputs kept for offline reruns: Parquet files and a record of where they came from.

A run that reads from a server stores what it read (``apps.parquet``, ``messaging.parquet``) with a
record per input (server without credentials, query, step, range, SHA-256 of the file) so that the
report can be rerun offline (``capacity forecast --inputs DIR``) and a notebook or a replay does not
query the server again. File inputs are recorded by name and hash only; nothing is copied.
"""

from __future__ import annotations

import hashlib
import json
import os
from pathlib import Path
from typing import TYPE_CHECKING, Any

import pandas as pd

from capacity.validation import PATH, InstanceOf, check_args

if TYPE_CHECKING:
    from capacity.config import Config, PrometheusSource

__all__ = ["INPUT_FILES", "source_range", "write_inputs", "input_records", "file_record"]

#: the stored file of each input
INPUT_FILES = {"apps": "apps.parquet", "messaging": "messaging.parquet"}


def source_range(source: PrometheusSource, as_of: Any = None) -> tuple[pd.Timestamp, pd.Timestamp]:
    """The range a Prometheus input is fetched over: its start and end, else lookback up to as_of."""
    from capacity.sources.prometheus import default_range

    options = source.options
    start, end = options.get("start"), options.get("end")
    default_start, default_end = default_range(as_of, lookback=options.get("lookback", "3y"))
    return pd.Timestamp(start or default_start), pd.Timestamp(end or default_end)


def file_record(path: Path) -> dict[str, str]:
    """A file input: its name and SHA-256 (so a report says exactly which data it used)."""
    digest = hashlib.sha256()
    with open(path, "rb") as handle:
        for block in iter(lambda: handle.read(1 << 20), b""):
            digest.update(block)
    return {"file": path.name, "sha256": digest.hexdigest()}


def _stored(frame: pd.DataFrame, name: str) -> pd.DataFrame:
    # the samples carry the app count attached by the pipeline; the stored file is the loader's output
    return frame.drop(columns=["apps"]) if name == "messaging" and "apps" in frame.columns else frame


def input_records(folder: str | os.PathLike[str], config: Config, apps: pd.DataFrame,
                  samples: pd.DataFrame) -> dict[str, dict[str, Any]]:
    """Store the inputs that came from a server under ``folder``; return every input's record.

    Parameters
    ----------
    folder : path
        Where ``apps.parquet`` / ``messaging.parquet`` go (only for inputs read from a server).
    config : Config
    apps, samples : DataFrame
        What the run used (``load_apps`` / ``load_messaging`` output, optionally cut at the as-of date).

    Returns
    -------
    dict
        ``{"apps": {...}, "messaging": {...}}``: for a file input ``file`` and ``sha256``; for a
        Prometheus input also ``source``, ``server``, ``query``, ``step``, ``start``, ``end``.
    """
    from capacity.config import PrometheusSource
    from capacity.sources.prometheus import fetched_inputs_record, write_parquet

    check_args("input_records", folder=(folder, list(PATH)), apps=(apps, [InstanceOf(pd.DataFrame)]),
               samples=(samples, [InstanceOf(pd.DataFrame)]))
    folder = Path(folder)
    records = {}
    for name, frame in (("apps", apps), ("messaging", samples)):
        source = getattr(config, name)
        if not isinstance(source, PrometheusSource):
            records[name] = file_record(Path(source))
            continue
        folder.mkdir(parents=True, exist_ok=True)
        path = write_parquet(_stored(frame, name), folder / INPUT_FILES[name])
        start, end = source_range(source, config.as_of)
        settings = {k: v for k, v in source.options.items()
                    if k not in ("start", "end", "lookback", "step")}
        step = source.options.get("step", "1d" if name == "apps" else "1h")
        records[name] = fetched_inputs_record(path, url=source.url, query=source.query, start=start, end=end,
                                              step=step, settings=settings)
    return records


def write_inputs(folder: str | os.PathLike[str], config: Config, apps: pd.DataFrame,
                 samples: pd.DataFrame) -> Path:
    """``capacity fetch``: both inputs as Parquet under ``folder`` (any source), and inputs.json."""
    from capacity.sources.prometheus import write_parquet

    check_args("write_inputs", folder=(folder, list(PATH)))
    folder = Path(folder)
    folder.mkdir(parents=True, exist_ok=True)
    records = input_records(folder, config, apps, samples)
    for name, frame in (("apps", apps), ("messaging", samples)):
        if not (folder / INPUT_FILES[name]).is_file() or records[name].get("source") is None:
            write_parquet(_stored(frame, name), folder / INPUT_FILES[name])
    partial = folder / f".inputs.json.{os.getpid()}.partial"
    partial.write_text(json.dumps(records, indent=2, default=str) + "\n")
    os.replace(partial, folder / "inputs.json")
    return folder


def report_inputs(inputs: Any) -> tuple[dict[str, dict[str, Any]], dict[str, bytes]]:
    """What a report says about its inputs, and the files it stores beside itself.

    Parameters
    ----------
    inputs : capacity.pipeline.Inputs
        The inputs of the run (already cut at its as-of date).

    Returns
    -------
    records : dict
        ``config``, ``apps`` and ``messaging``: each ``file`` and ``sha256``; an input read from a
        server also has ``source``, ``server`` (without credentials), ``query``, ``step``, ``start``
        and ``end``, and its ``file`` is the Parquet stored in the report.
    files : dict
        Report file name -> content: the Parquet of each input read from a server (none for files),
        so that ``capacity forecast --inputs <report folder>`` reruns the report offline.
    """
    import tempfile

    config = inputs.config
    with tempfile.TemporaryDirectory(prefix="capacity-inputs-") as scratch:
        records = input_records(scratch, config, inputs.apps, inputs.samples)
        files = {INPUT_FILES[name]: (Path(scratch) / INPUT_FILES[name]).read_bytes()
                 for name in INPUT_FILES if (Path(scratch) / INPUT_FILES[name]).is_file()}
    return {"config": file_record(Path(config.path)), **records}, files
