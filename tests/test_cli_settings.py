"""`monitor settings`: every setting in force, its value, its default and where the value came from."""

from __future__ import annotations

import json

import pytest

from monitor.settings import Settings


@pytest.fixture
def project(tmp_path, monkeypatch):
    """A working directory with a pyproject.toml, a monitor.toml and a site config, each setting something."""
    (tmp_path / "pyproject.toml").write_text("[tool.monitor]\nspike_z = 7.0\nslow_records = 3\n")
    (tmp_path / "monitor.toml").write_text("[health]\nslow_records = 4\n")
    (tmp_path / "site.toml").write_text("stall_min_s = 900\n")
    monkeypatch.chdir(tmp_path)
    return tmp_path


def test_json_names_each_value_and_its_source_by_precedence(run_cli, project) -> None:
    result = run_cli("settings", "--config", "site.toml", "--set", "warmup_steps=200", "--format", "json")
    assert result.code == 0 and result.err == ""
    document = json.loads(result.out)
    assert set(document) == {name for name in Settings.__dataclass_fields__}
    pyproject = f"{project / 'pyproject.toml'} [tool.monitor]"
    assert document["spike_z"] == {"value": 7.0, "default": 6.0, "source": pyproject}
    assert document["slow_records"] == {"value": 4, "default": 3, "source": str(project / "monitor.toml")}
    assert document["stall_min_s"] == {"value": 900.0, "default": 60.0, "source": "--config site.toml"}
    assert document["warmup_steps"] == {"value": 200, "default": 0, "source": "--set"}
    assert document["spike_window"] == {"value": 20, "default": 20, "source": "default"}


def test_table_has_a_row_per_setting(run_cli, project) -> None:
    result = run_cli("settings", "--set", "spike_z=9")
    rows = {line.split()[0]: line.split() for line in result.out.splitlines()[1:] if line.strip()}
    assert result.code == 0 and set(rows) == set(Settings.__dataclass_fields__)
    assert rows["spike_z"][1:] == ["9.0", "6.0", "--set"]
    assert rows["spike_window"][1:] == ["20", "20", "default"]


@pytest.mark.parametrize(
    ("args", "complaint"),
    [(["--set", "nope=1"], "unknown setting 'nope'"), (["--config", "missing.toml"], "no such config file")],
)
def test_a_bad_setting_is_one_line_and_exit_2(run_cli, project, args, complaint) -> None:
    result = run_cli("settings", *args)
    assert result.code == 2 and result.out == "" and len(result.err.splitlines()) == 1 and complaint in result.err
