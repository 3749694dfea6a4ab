"""Detectors: turn records into events.

`new_detectors` builds the detectors for one source, in a fixed order (the
order of events they raise for the same record).
"""

from __future__ import annotations

from monitor.detectors.base import Detector
from monitor.detectors.nan import NanDetector
from monitor.detectors.overflow import OverflowDetector
from monitor.detectors.restart import RestartDetector


def new_detectors() -> list[Detector]:
    """Fresh instances of every detector."""
    return [NanDetector(), OverflowDetector(), RestartDetector()]


__all__ = ["Detector", "new_detectors"]
