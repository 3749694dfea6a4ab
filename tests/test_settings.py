"""Detector settings: defaults, config files, --set overrides, and clear errors (monitor.settings)."""

from __future__ import annotations

import pytest

from monitor.settings import Settings, SettingsError, load_settings


def test_files_and_overrides_apply_in_order(tmp_path) -> None:
    (tmp_path / "pyproject.toml").write_text('[tool.monitor]\nspike_z = 7.0\nslow_records = 3\n')
    (tmp_path / "monitor.toml").write_text('[health]\nslow_records = 4\n')
    other = tmp_path / "site.toml"
    other.write_text('stall_min_s = 900\n')
    settings = load_settings(str(other), ["spike-z=9", "warmup_steps=200"], directory=tmp_path)
    got = (settings.spike_z, settings.slow_records, settings.stall_min_s, settings.warmup_steps)
    assert got == (9.0, 4, 900.0, 200)
    assert load_settings(directory=tmp_path / "nowhere") == Settings()


@pytest.mark.parametrize(
    ("overrides", "complaint"),
    [
        (["nope=1"], "unknown setting 'nope'"),
        (["spike_z=abc"], "must be a float"),
        (["slow_records=2.5"], "must be a int"),
        (["spike_z"], "expected NAME=VALUE"),
        (["stall_min_s=-1"], "must not be negative"),
    ],
)
def test_bad_overrides_are_refused_with_a_message_naming_them(tmp_path, overrides, complaint) -> None:
    with pytest.raises(SettingsError, match=complaint):
        load_settings(None, overrides, directory=tmp_path)


def test_a_broken_config_file_is_refused(tmp_path) -> None:
    bad = tmp_path / "bad.toml"
    bad.write_text("spike_z = [1, 2\n")
    with pytest.raises(SettingsError, match="not valid TOML"):
        load_settings(str(bad), directory=tmp_path)
    with pytest.raises(SettingsError, match="no such config file"):
        load_settings(str(tmp_path / "missing.toml"), directory=tmp_path)


def test_the_cli_reports_bad_settings_with_exit_2(run_cli, tmp_path) -> None:
    log = tmp_path / "a.log"
    log.write_text("hello\n")
    result = run_cli("scan", "--set", "spike_z=abc", log)
    assert result.code == 2 and "invalid settings" in result.err and "Traceback" not in result.err
