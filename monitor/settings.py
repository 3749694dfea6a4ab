"""The training-health detectors' parameters: defaults, config files and `--set` overrides.

Precedence, lowest first: the defaults below; `[tool.monitor]` in
./pyproject.toml; ./monitor.toml; the file given with `--config`; each
`--set NAME=VALUE` on the command line. A config file holds the same names,
at its top level or under a `[health]` table. An unknown name or a value of
the wrong type is refused with a message naming it.
"""

from __future__ import annotations

import dataclasses
import datetime as dt
import sys
import zoneinfo
from collections.abc import Iterable, Iterator, Mapping
from pathlib import Path
from typing import Any

if sys.version_info >= (3, 11):
    import tomllib
else:  # pragma: no cover - exercised on Python 3.10 only
    import tomli as tomllib


_LEAST: dict[str, tuple[float, str]] = {
    "_window": (1, "at least 1 (a window of records)"),
    "_records": (1, "at least 1 (a count of records)"),
    "_ratio": (1e-9, "above 0 (a ratio)"),
    "_per_file": (1, "at least 1"),
    "_max_ranks": (1, "at least 1"),
    "_files": (1, "at least 1"),
    "webhook_resend_seconds": (0.1, "at least 0.1 (seconds between posts)"),
    "webhook_firing_seconds": (0.1, "at least 0.1 (seconds)"),
}
"""The least value by the setting name's ending: zero records or a zero ratio make no detector."""
_MOST: dict[str, tuple[float, str]] = {
    "webhook_resend_seconds": (299.0, "below 300: Alertmanager's default resolve_timeout is 5m"),
}
"""The greatest value of a setting, by name."""


class SettingsError(ValueError):
    """A config file or override is invalid; the message names the file and setting."""


@dataclasses.dataclass(frozen=True)
class Settings:
    """Windows are counted in logged records (one per progress line), thresholds as ratios."""

    # loss spikes and divergence
    spike_window: int = 20
    """Records in the rolling baseline of the loss (its median) and of its noise."""
    spike_z: float = 6.0
    """A spike starts when log-loss exceeds the baseline by this many robust standard deviations..."""
    spike_min_ratio: float = 1.3
    """...and by at least this ratio (loss / baseline)."""
    spike_short_ratio: float = 1.5
    """The ratio required while fewer than `noise_records` records give a noise estimate."""
    noise_records: int = 5
    """Records needed before the run's own loss noise is used (fewer give too rough an estimate
    of a noisy loss)."""
    eval_noise_records: int = 3
    """The same for evaluation losses: an average over a whole validation set is smooth, and
    evaluations are few."""
    recover_ratio: float = 1.1
    """A spike has recovered when the loss is back within this ratio of the baseline."""
    divergence_records: int = 60
    """A spike not recovered after this many records is a divergence (at the end of a log, one
    still at twice its baseline after three records is one too)."""
    climb_ratio: float = 1.3
    """A loss that rose record after record to this far above its best recent baseline has
    climbed away: a divergence."""
    collapse_records: int = 3
    """Consecutive records with a loss of exactly 0.0 that make a collapse."""
    nan_divergence_records: int = 3
    """Consecutive records with a non-finite loss that make a NaN divergence."""
    warmup_steps: int = 0
    """Steps at the start of a run never checked for spikes (the learning-rate warm-up, while
    the printed learning rate still rises, is skipped as well)."""
    warmup_spike_ratio: float = 3.0
    """...except a loss that jumps to this many times its baseline: no warm-up explains that."""
    grad_spike_z: float = 8.0
    grad_spike_min_ratio: float = 5.0
    """A grad-norm spike needs both: this many robust deviations and this ratio to its baseline."""
    blowup_records: int = 3
    """A log that ends with at least this many records whose grad norm all stand `grad_spike_min_ratio`
    times above its floor, while the loss rose `climb_ratio` above its own floor and is still
    `spike_min_ratio` above it, ends in a divergence (a grad-norm blow-up)."""
    # slowdowns
    slow_window: int = 20
    """Records in the rolling baseline of step time (or inverse throughput)."""
    slow_z: float = 4.0
    slow_min_ratio: float = 1.04
    """A record is slow when step time exceeds the baseline by this many robust deviations and ratio..."""
    slow_short_ratio: float = 1.2
    """...or by this ratio while there is no noise estimate yet."""
    slow_noise_records: int = 3
    """Records needed before the run's own step-time noise is used (step times are steadier)."""
    slow_records: int = 3
    """Consecutive slow records that make a slowdown (one slow record after an eval or a
    checkpoint is not one)."""
    erratic_ratio: float = 5.0
    erratic_records: int = 3
    """Step times are erratic when this many of the last ten steps took `erratic_ratio` times as long as
    the fast ones (the lower quartile) or more."""
    straggler_ratio: float = 1.1
    """A rank whose median step time is this much above its peers' is a straggler."""
    # stalls
    stall_factor: float = 20.0
    stall_min_s: float = 60.0
    """A gap between progress lines longer than both this factor times the usual interval and
    this many seconds is a stall."""

    # live hang detection (monitor tail)
    hang_factor: float = 10.0
    hang_min_s: float = 120.0
    """While following live, a rank is hung when no progress line came for this factor times its
    usual interval between progress lines, and at least this many seconds (`--hang-after` fixes it)."""
    hang_init_s: float = 1800.0
    """The allowance before a rank's first progress line (start-up, loading, compilation)."""
    hang_pause_s: float = 1800.0
    """The allowance after a checkpoint save or an evaluation is announced."""

    # live following limits (monitor tail), sized so one agent per node stays well inside the
    # DaemonSet's 256 MiB (deploy/kubernetes/daemonset.yaml): about 10 KB of detector state per rank
    tail_max_ranks_per_file: int = 1024
    """Ranks watched per followed file (a launcher's combined log holds a node's or a job's ranks);
    the progress of further ranks is not watched, and counted as dropped."""
    tail_max_ranks: int = 8192
    """Ranks watched over all followed files together (about 80 MB of detector state at most)."""
    tail_max_files: int = 1024
    """Files whose parser and detector state is kept; beyond it the least recently active file's state
    is forgotten (if it writes again, its detectors start afresh)."""
    tail_max_open_files: int = 512
    """Followed files held open at once; the longest idle are closed and reopened when they grow (lowered
    to fit `ulimit -n`)."""
    tail_forget_idle_seconds: float = 21600.0
    """A followed file silent this long is forgotten: its parser, detector and no-progress state (a hang
    was raised long before)."""
    tail_rotated_quiet_seconds: float = 30.0
    """A file renamed away (rotated) is still read until it has been quiet this long: a writer that has
    not reopened yet still writes to it (fluent-bit's `rotate_wait` is 5 s; block-buffered writers
    flush less often)."""

    # alerts posted to Alertmanager (monitor tail --webhook)
    webhook_resend_seconds: float = 60.0
    """A firing alert is posted again this often (Prometheus' resend delay), each post valid for four of
    these, until it is over; then once more with `endsAt`."""
    webhook_firing_seconds: float = 600.0
    """An alert for a one-off event (a crash, an Xid) fires this long after its latest occurrence, as the
    Prometheus alert rules do; a hang fires until progress resumes."""

    # output
    timezone: str = "UTC"
    """The IANA time zone (`Europe/Berlin`) of logs that print times without an offset: their times are
    written (JSON, JSONL, Parquet, reports) with this zone's offset. A time with its own offset keeps it."""

    @property
    def zone(self) -> dt.tzinfo:
        """The `timezone` as a tzinfo (raises SettingsError for an unknown name)."""
        return zone_named(self.timezone)

    def replace(self, values: Mapping[str, Any], where: str) -> Settings:
        """These settings with `values` applied (`where` names their origin in error messages)."""
        fields = {f.name: f for f in dataclasses.fields(self)}
        changes: dict[str, Any] = {}
        for name, value in values.items():
            key = name.replace("-", "_")
            if key not in fields:
                raise SettingsError(f"{where}: unknown setting {name!r} (known: {', '.join(sorted(fields))})")
            default = getattr(self, key)
            if key == "timezone":  # the one text setting: a zone name, checked here so a bad one fails early
                zone_named(str(value), f"{where}: setting {name!r}")
                changes[key] = str(value)
                continue
            try:
                if isinstance(default, bool) or isinstance(value, bool):
                    raise TypeError
                converted = type(default)(value)
                if isinstance(default, int) and converted != float(value):
                    raise TypeError
            except (TypeError, ValueError):
                raise SettingsError(
                    f"{where}: setting {name!r} must be a {type(default).__name__}, got {value!r}"
                ) from None
            if converted < 0:
                raise SettingsError(f"{where}: setting {name!r} must not be negative, got {value!r}")
            least = next((bound for suffix, bound in _LEAST.items() if key.endswith(suffix)), None)
            if least is not None and not converted >= least[0]:
                raise SettingsError(f"{where}: setting {name!r} must be {least[1]}, got {value!r}")
            if key in _MOST and not converted <= _MOST[key][0]:
                raise SettingsError(f"{where}: setting {name!r} must be {_MOST[key][1]}, got {value!r}")
            changes[key] = converted
        return dataclasses.replace(self, **changes)


def zone_named(name: str, where: str = "timezone") -> dt.tzinfo:
    """The time zone an IANA name gives (`UTC` always, without a time-zone database).

    Raises:
        SettingsError: no such zone; the message names it and `where` it was set.
    """
    if name.strip().upper() == "UTC":
        return dt.timezone.utc
    try:
        return zoneinfo.ZoneInfo(name.strip())
    except (LookupError, ValueError, OSError):
        raise SettingsError(
            f"{where}: unknown time zone {name!r}; expected an IANA name such as UTC or Europe/Berlin "
            "(a system without a time-zone database needs: pip install tzdata)"
        ) from None


def _table(path: Path, section: list[str]) -> dict[str, Any]:
    try:
        document = tomllib.loads(path.read_text(encoding="utf-8"))
    except (OSError, UnicodeDecodeError) as err:
        raise SettingsError(f"{path}: cannot read the config file: {err}") from None
    except tomllib.TOMLDecodeError as err:
        raise SettingsError(f"{path}: not valid TOML: {err}") from None
    for key in section:
        document = document.get(key, {})
        if not isinstance(document, dict):
            raise SettingsError(f"{path}: [{'.'.join(section)}] must be a table")
    health = document.get("health", {})
    if not isinstance(health, dict):
        raise SettingsError(f"{path}: [health] must be a table")
    top = {k: v for k, v in document.items() if not isinstance(v, dict)}
    return {**top, **health}


def load_settings(
    config: str | None = None, overrides: Iterable[str] = (), directory: Path | None = None
) -> Settings:
    """The settings in force: defaults, then the project's files, `config`, and `NAME=VALUE` overrides."""
    return load_settings_with_sources(config, overrides, directory)[0]


def load_settings_with_sources(
    config: str | None = None, overrides: Iterable[str] = (), directory: Path | None = None
) -> tuple[Settings, dict[str, str]]:
    """The settings in force and, per setting, where its value came from: `default`, the file that set
    it last (`PATH [tool.monitor]` for a pyproject.toml), or `--set`."""
    settings = Settings()
    sources = {field.name: "default" for field in dataclasses.fields(settings)}
    for values, where, source in _layers(config, overrides, directory or Path.cwd()):
        settings = settings.replace(values, where)
        sources.update((name.replace("-", "_"), source) for name in values)
    return settings, sources


def _layers(
    config: str | None, overrides: Iterable[str], here: Path
) -> Iterator[tuple[dict[str, Any], str, str]]:
    """(values, where for error messages, source label) of each layer, lowest precedence first."""
    pyproject = here / "pyproject.toml"
    if pyproject.is_file():
        yield _table(pyproject, ["tool", "monitor"]), str(pyproject), f"{pyproject} [tool.monitor]"
    local = here / "monitor.toml"
    if local.is_file():
        yield _table(local, []), str(local), str(local)
    if config is not None:
        path = Path(config)
        if not path.is_file():
            raise SettingsError(f"{config}: no such config file")
        yield _table(path, []), config, f"--config {config}"
    for override in overrides:
        name, sep, value = override.partition("=")
        if not sep or not name.strip():
            raise SettingsError(f"--set {override!r}: expected NAME=VALUE")
        yield {name.strip(): value.strip()}, f"--set {name.strip()}", "--set"
