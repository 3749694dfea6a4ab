"""Training-run reliability monitor: reads training logs and reports what went wrong."""

__version__ = "0.1.0"
