"""Detectors: turn records into events.

`new_detectors` builds the detectors for one source, in a fixed order (the
order of events they raise for the same record).
"""

from __future__ import annotations

from monitor.detectors.base import Detector
from monitor.detectors.loss import LossDetector
from monitor.detectors.nan import NanDetector
from monitor.detectors.overflow import OverflowDetector
from monitor.detectors.restart import RestartDetector
from monitor.detectors.slowdown import SlowdownDetector
from monitor.detectors.stall import StallDetector
from monitor.settings import Settings


def new_detectors(settings: Settings | None = None, live: bool = False) -> list[Detector]:
    """Fresh instances of every detector, with `settings` (the defaults when None); `live`: for
    `monitor tail`, which emits an episode at first detection and then updates it (see
    `monitor.detectors.base`), where a scan emits it once, when it is known."""
    settings = settings or Settings()
    detectors: list[Detector] = [
        NanDetector(settings),
        OverflowDetector(),
        RestartDetector(),
        LossDetector(settings),
        SlowdownDetector(settings),
        StallDetector(settings),
    ]
    for detector in detectors:
        detector.live = live
    return detectors


__all__ = ["Detector", "new_detectors"]
