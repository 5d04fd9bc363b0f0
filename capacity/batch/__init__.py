"""Many series at once: growth fits and threshold crossings over a pool of processes or a Dask cluster.

- :mod:`~capacity.batch.fitting`: :func:`fit_growth_many`, :func:`plan_many`, reading grouped series;
- :mod:`~capacity.batch.cli`: the ``capacity forecast-many`` command.
"""

from capacity.batch.fitting import (
    BATCH_FIT_OPTIONS,
    fit_growth_many,
    plan_many,
    read_series_groups,
    series_seeds,
)

__all__ = ["fit_growth_many", "plan_many", "read_series_groups", "series_seeds", "BATCH_FIT_OPTIONS"]
