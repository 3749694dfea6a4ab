"""Settings that would make no detector (a window of zero records, a zero ratio) or no live limit are
refused with a message naming them, not discovered later as an internal error on every file."""

from __future__ import annotations

import pytest

from monitor.settings import Settings, SettingsError, load_settings


@pytest.mark.parametrize("name", ["spike_window", "slow_window", "noise_records", "slow_records",
                                  "tail_max_ranks_per_file", "tail_max_ranks", "tail_max_files",
                                  "tail_max_open_files"])
def test_a_count_of_zero_is_refused(name: str) -> None:
    with pytest.raises(SettingsError, match=f"setting '{name}' must be at least 1"):
        load_settings(overrides=[f"{name}=0"], directory=None)


@pytest.mark.parametrize("name", ["spike_min_ratio", "slow_min_ratio", "grad_spike_min_ratio", "warmup_spike_ratio"])
def test_a_ratio_of_zero_is_refused(name: str) -> None:
    with pytest.raises(SettingsError, match=f"setting '{name}' must be above 0"):
        Settings().replace({name: "0"}, "--set")


def test_zero_stays_allowed_where_it_means_something() -> None:
    assert Settings().replace({"warmup_steps": "0", "tail_rotated_quiet_seconds": "0"}, "--set").warmup_steps == 0


def test_scan_with_a_zero_window_is_a_usage_error_not_an_unreadable_file(run_cli, tmp_path) -> None:
    log = tmp_path / "train.log"
    log.write_text(" iteration        1/      10 | lm loss: 2.000000E+00 |\n")
    result = run_cli("scan", "--set", "spike_window=0", log)
    assert result.code == 2 and result.out == ""
    assert "spike_window" in result.err and "at least 1" in result.err
    assert "cannot read" not in result.err and "internal error" not in result.err
