"""Training-run reliability monitor: reads training logs and reports what went wrong.

In a notebook: `monitor.load(paths)` returns the step records and the events
as pandas DataFrames (see `monitor.api`).
"""

from typing import Any

__version__ = "0.1.0"


def __getattr__(name: str) -> Any:
    if name == "load":  # imported on first use: pandas is not needed by `monitor scan`
        from monitor.api import load

        return load
    raise AttributeError(f"module 'monitor' has no attribute {name!r}")
