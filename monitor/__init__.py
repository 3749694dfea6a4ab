"""Training-run reliability monitor: reads training logs and reports what went wrong.

In a notebook: `monitor.load(paths)` returns the step records and the events
as pandas DataFrames (see `monitor.api`); `monitor.load_events(paths)` the
same from the event files of `monitor scan --format parquet`.
"""

from typing import Any

__version__ = "0.1.0"


def __getattr__(name: str) -> Any:
    if name in ("load", "load_events"):  # imported on first use: pandas is not needed by `monitor scan`
        from monitor import api

        return getattr(api, name)
    raise AttributeError(f"module 'monitor' has no attribute {name!r}")
