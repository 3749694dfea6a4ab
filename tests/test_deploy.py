"""The cluster deployment material in deploy/ is valid and agrees with the exporter.

Recording rules: promtool checks them and runs their unit tests. Grafana dashboard: well formed,
and every query valid PromQL (promtool) over metrics the exporter serves or the recording rules
record. Kubernetes manifests, systemd unit and Slurm scripts: they parse and run `monitor tail`
the way the deployment guide says.
"""

from __future__ import annotations

import json
import os
import re
import shutil
import socket
import subprocess
import sys
import time
import urllib.request
from pathlib import Path
from typing import Any

import pytest
import yaml

from monitor.sinks.metrics_server import DEFAULT_PORT
from monitor.sinks.prometheus import LiveMetrics, MonitorCollector
from tests.sinks.test_alert_rules import run_promtool

ROOT = Path(__file__).resolve().parent.parent
DEPLOY = ROOT / "deploy"
RECORDING_RULES = DEPLOY / "prometheus" / "recording_rules.yml"
RECORDING_TESTS = DEPLOY / "prometheus" / "recording_rules_test.yml"
DASHBOARD = DEPLOY / "grafana" / "monitor-dashboard.json"
DAEMONSET = DEPLOY / "kubernetes" / "daemonset.yaml"
PODMONITOR = DEPLOY / "kubernetes" / "podmonitor.yaml"
NETWORKPOLICY = DEPLOY / "kubernetes" / "networkpolicy.yaml"
UNIT = DEPLOY / "systemd" / "monitor-tail.service"
PROLOG = DEPLOY / "slurm" / "prolog.sh"
EPILOG = DEPLOY / "slurm" / "epilog.sh"

PANEL_TYPES = {
    "timeseries", "stat", "state-timeline", "status-history", "bargauge", "gauge", "table", "barchart",
    "piechart", "heatmap", "histogram", "text", "row",
}
GRAFANA_VARIABLES = {"__interval", "__rate_interval", "__range", "__interval_ms", "__range_s"}
PROMQL_WORDS = {
    "by", "without", "on", "ignoring", "group_left", "group_right", "offset", "bool", "and", "or", "unless",
    "atan2", "inf", "nan", "Inf", "NaN",
}


# --- the names a query may use ---------------------------------------------------------------


def exported_metrics() -> set[str]:
    """Every metric name the exporter serves (a counter family's samples end in _total)."""
    names = set()
    for family in MonitorCollector(LiveMetrics()).describe():
        names.add(family.name + "_total" if family.type == "counter" else family.name)
    assert "monitor_events_total" in names and "monitor_hang" in names
    return names


def rules(path: Path) -> list[dict[str, Any]]:
    return [rule for group in yaml.safe_load(path.read_text(encoding="utf-8"))["groups"] for rule in group["rules"]]


def recorded_names() -> list[str]:
    return [rule["record"] for rule in rules(RECORDING_RULES)]


def metric_names(expr: str) -> set[str]:
    """The metric names a PromQL expression selects: identifiers that are not functions, keywords,
    label names or values, durations or Grafana variables."""
    text = re.sub(r'"(?:[^"\\]|\\.)*"|\'(?:[^\'\\]|\\.)*\'', '""', expr)  # strings
    text = re.sub(r"\{[^}]*\}", " ", text)  # label matchers
    text = re.sub(r"\[[^\]]*\]", " ", text)  # ranges and subqueries
    text = re.sub(r"\b(?:by|without|on|ignoring|group_left|group_right)\s*\([^)]*\)", " ", text)  # label lists
    names = set()
    for match in re.finditer(r"(?<![\w:.$])[A-Za-z_:][\w:]*", text):
        rest = text[match.end():].lstrip()
        if rest.startswith("(") or match.group() in PROMQL_WORDS:
            continue
        names.add(match.group())
    return names


def test_metric_names_are_read_from_expressions() -> None:
    assert metric_names('sum by (kind) (increase(monitor_events_total{run=~"$run",kind="x"}[$__interval]))') == {
        "monitor_events_total"
    }
    assert metric_names("(a unless a offset 5m) or on(run) rate(b:c:d[1h]) / 300 > bool 0") == {"a", "b:c:d"}
    assert metric_names('topk by (run) (1, monitor_step_time_seconds{rank!="1e3"})') == {"monitor_step_time_seconds"}


# --- recording rules -------------------------------------------------------------------------


def test_recording_rules_are_valid() -> None:
    done = run_promtool("check", "rules", RECORDING_RULES)
    assert done.returncode == 0, done.stdout + done.stderr
    assert "SUCCESS" in done.stdout


def test_recording_rule_unit_tests_pass() -> None:
    done = run_promtool("test", "rules", RECORDING_TESTS)
    assert done.returncode == 0, done.stdout + done.stderr
    assert "SUCCESS" in done.stdout


def test_every_recording_rule_has_a_unit_test() -> None:
    tests = yaml.safe_load(RECORDING_TESTS.read_text(encoding="utf-8"))["tests"]
    checks = [check for test in tests for check in test.get("promql_expr_test", [])]
    tested = {name for check in checks for name in metric_names(check["expr"])}
    names = recorded_names()
    assert names and set(names) <= tested, set(names) - tested


def test_recording_rules_are_named_level_metric_operations_and_read_exported_metrics() -> None:
    exported = exported_metrics()
    names = recorded_names()
    assert len(names) == len(set(names))
    for rule in rules(RECORDING_RULES):
        level, metric, operations = rule["record"].split(":")
        assert level and operations and metric.startswith("monitor_"), rule["record"]
        assert metric_names(rule["expr"]) <= exported, rule["record"]


def test_the_example_prometheus_config_loads_the_recording_rules() -> None:
    config = yaml.safe_load((DEPLOY / "prometheus" / "prometheus.yml").read_text(encoding="utf-8"))
    assert config["rule_files"] == ["alerts.yml", "recording_rules.yml"]


# --- Grafana dashboard -----------------------------------------------------------------------


def dashboard() -> dict[str, Any]:
    return json.loads(DASHBOARD.read_text(encoding="utf-8"))


def panels() -> list[dict[str, Any]]:
    return [p for p in dashboard()["panels"] if p["type"] != "row"]


def exprs() -> list[str]:
    return [t["expr"] for p in panels() for t in p.get("targets", []) if t.get("expr")]


def test_dashboard_is_an_importable_dashboard() -> None:
    board = dashboard()
    assert board["title"] and board["uid"] and board["panels"]
    assert re.fullmatch(r"[A-Za-z0-9_-]{1,40}", board["uid"])
    assert board["schemaVersion"] == 39
    assert board["refresh"] == "30s"
    assert board["time"] == {"from": "now-6h", "to": "now"}
    assert board["tags"]


def test_every_panel_has_a_unique_id_a_place_a_known_type_and_a_query() -> None:
    ids = [p["id"] for p in dashboard()["panels"]]
    assert len(ids) == len(set(ids)) and all(isinstance(i, int) for i in ids)
    cells: dict[tuple[int, int], str] = {}
    for panel in dashboard()["panels"]:
        assert panel["type"] in PANEL_TYPES, panel["type"]
        grid = panel["gridPos"]
        assert all(isinstance(grid[k], int) for k in ("x", "y", "w", "h")), panel["title"]
        assert grid["w"] > 0 and grid["h"] > 0 and grid["x"] >= 0 and grid["x"] + grid["w"] <= 24, panel["title"]
        for x in range(grid["x"], grid["x"] + grid["w"]):
            for y in range(grid["y"], grid["y"] + grid["h"]):
                assert (x, y) not in cells, f"{panel['title']} overlaps {cells[(x, y)]}"
                cells[(x, y)] = panel["title"]
        if panel["type"] == "row":
            continue
        assert panel["title"]
        assert panel["datasource"] == {"type": "prometheus", "uid": "${datasource}"}, panel["title"]
        targets = [t for t in panel["targets"] if t.get("expr")]
        assert targets, panel["title"]
        assert len({t["refId"] for t in panel["targets"]}) == len(panel["targets"]), panel["title"]


def test_queries_use_only_exported_metrics_and_recording_rules() -> None:
    allowed = exported_metrics() | set(recorded_names())
    used: set[str] = set()
    for expr in exprs():
        names = metric_names(expr)
        assert names, expr
        assert names <= allowed, (expr, names - allowed)
        used |= names
    # the panels the deployment guide promises
    assert {
        "monitor_loss", "monitor_step_time_seconds", "monitor_tokens_per_second", "monitor_events_total",
        "monitor_hang", "monitor_last_progress_timestamp_seconds", "node_kind_code:monitor_fault_events:increase1h",
        "run:monitor_step_time_seconds:topk1",
    } <= used


def test_queries_are_valid_promql_and_use_defined_variables(tmp_path: Path) -> None:
    board = dashboard()
    variables = {v["name"] for v in board["templating"]["list"]} | GRAFANA_VARIABLES
    checked = []
    for i, expr in enumerate(exprs()):
        for name in re.findall(r"\$\{?(\w+)", expr):
            assert name in variables, (name, expr)
        concrete = re.sub(r"\$\{?__\w+\}?", "1m", expr)
        concrete = re.sub(r"\$\{?\w+\}?", ".*", concrete)
        checked.append({"record": f"dashboard:query_{i}:check", "expr": concrete})
    file = tmp_path / "dashboard_queries.yml"
    file.write_text(yaml.safe_dump({"groups": [{"name": "dashboard", "rules": checked}]}), encoding="utf-8")
    done = run_promtool("check", "rules", file)
    assert done.returncode == 0, done.stdout + done.stderr


def test_template_variables() -> None:
    variables = {v["name"]: v for v in dashboard()["templating"]["list"]}
    assert variables["datasource"]["type"] == "datasource"
    assert variables["datasource"]["query"] == "prometheus"
    exported = exported_metrics()
    for variable in variables.values():
        if variable["type"] != "query":
            continue
        query = variable["query"]["query"] if isinstance(variable["query"], dict) else variable["query"]
        match = re.fullmatch(r"label_values\(\s*([A-Za-z_:][\w:]*)\s*,\s*([A-Za-z_]\w*)\s*\)", query)
        assert match, query
        assert match.group(1) in exported, query
        assert variable["datasource"] == {"type": "prometheus", "uid": "${datasource}"}
    assert re.sub(r"\s", "", variables["run"]["query"]) == "label_values(monitor_step,run)"


# --- Kubernetes ------------------------------------------------------------------------------


def manifests(path: Path) -> list[dict[str, Any]]:
    return [doc for doc in yaml.safe_load_all(path.read_text(encoding="utf-8")) if doc]


def daemonset() -> dict[str, Any]:
    (found,) = [doc for doc in manifests(DAEMONSET) if doc["kind"] == "DaemonSet"]
    return found


def monitor_container() -> dict[str, Any]:
    (container,) = daemonset()["spec"]["template"]["spec"]["containers"]
    return container


def option(argv: list[str], name: str) -> str:
    assert name in argv, name
    return argv[argv.index(name) + 1]


def test_manifests_parse() -> None:
    docs = manifests(DAEMONSET) + manifests(PODMONITOR) + manifests(NETWORKPOLICY)
    kinds = [doc["kind"] for doc in docs]
    assert "DaemonSet" in kinds and "PodMonitor" in kinds and "NetworkPolicy" in kinds
    for doc in docs:
        assert doc["apiVersion"] and doc["metadata"]["name"]


def test_daemonset_runs_monitor_tail_with_metrics_and_state() -> None:
    container = monitor_container()
    argv = [str(a) for a in container.get("command", [])] + [str(a) for a in container["args"]]
    assert argv[:2] == ["monitor", "tail"]
    port = int(option(argv, "--metrics-port"))
    assert port == DEFAULT_PORT
    # bound to the pod's IP from the downward API, not 0.0.0.0
    assert option(argv, "--metrics-addr") == "$(POD_IP)"
    env = {e["name"]: e for e in container["env"]}
    assert env["POD_IP"]["valueFrom"]["fieldRef"]["fieldPath"] == "status.podIP"
    assert option(argv, "--format") == "jsonl"
    assert option(argv, "--run")
    state = option(argv, "--state")
    mounts = {m["mountPath"]: m for m in container["volumeMounts"]}
    # the state file lies on the state volume, which is writable; the logs are mounted read-only
    assert any(state.startswith(path + "/") and not m.get("readOnly") for path, m in mounts.items())
    assert any(m.get("readOnly") and argv[-1].startswith(path) for path, m in mounts.items())
    volumes = {v["name"]: v for v in daemonset()["spec"]["template"]["spec"]["volumes"]}
    assert all("hostPath" in volumes[m["name"]] for m in container["volumeMounts"])
    # the port is named, probed and announced
    (named,) = [p for p in container["ports"] if p["containerPort"] == port]
    assert named["name"]
    probe = container["readinessProbe"]["httpGet"]
    assert probe["path"] == "/metrics" and probe["port"] in (named["name"], port)
    alive = container["livenessProbe"]["httpGet"]
    assert alive["path"] == "/healthz" and alive["port"] in (named["name"], port)
    annotations = daemonset()["spec"]["template"]["metadata"]["annotations"]
    assert annotations["prometheus.io/scrape"] == "true" and annotations["prometheus.io/port"] == str(port)
    resources = container["resources"]
    assert resources["requests"]["cpu"] and resources["requests"]["memory"]
    assert resources["limits"]["cpu"] and resources["limits"]["memory"]
    assert daemonset()["spec"]["template"]["spec"]["tolerations"]


def test_networkpolicy_admits_only_prometheus_to_the_metrics_port() -> None:
    """The agents' pods accept ingress only on the metrics port, only from Prometheus' namespace and pods
    (NetworkPolicy: kubernetes.io/docs/concepts/services-networking/network-policies)."""
    (policy,) = manifests(NETWORKPOLICY)
    assert policy["kind"] == "NetworkPolicy" and policy["apiVersion"] == "networking.k8s.io/v1"
    labels = daemonset()["spec"]["template"]["metadata"]["labels"]
    assert policy["metadata"]["namespace"] == daemonset()["metadata"]["namespace"]
    assert policy["spec"]["podSelector"]["matchLabels"].items() <= labels.items()
    assert policy["spec"]["policyTypes"] == ["Ingress"]
    (rule,) = policy["spec"]["ingress"]
    (peer,) = rule["from"]
    assert peer["namespaceSelector"]["matchLabels"] and peer["podSelector"]["matchLabels"]
    names = {p["name"] for p in monitor_container()["ports"]}
    assert [p["port"] for p in rule["ports"]] == ["metrics"] and "metrics" in names


def test_podmonitor_selects_the_daemonset_pods_and_port() -> None:
    (podmonitor,) = manifests(PODMONITOR)
    labels = daemonset()["spec"]["template"]["metadata"]["labels"]
    assert podmonitor["spec"]["selector"]["matchLabels"].items() <= labels.items()
    names = {p["name"] for p in monitor_container()["ports"]}
    assert {e["port"] for e in podmonitor["spec"]["podMetricsEndpoints"]} <= names
    # job="monitor", which alerts.yml's MonitorExporterDown expects
    assert labels[podmonitor["spec"]["jobLabel"]] == "monitor"


# --- systemd ---------------------------------------------------------------------------------


def unit_settings() -> dict[str, list[str]]:
    """KEY -> values of the unit file (continuation lines joined)."""
    settings: dict[str, list[str]] = {}
    text = UNIT.read_text(encoding="utf-8").replace("\\\n", " ")
    for line in text.splitlines():
        line = line.strip()
        if not line or line.startswith(("#", ";", "[")):
            continue
        key, _, value = line.partition("=")
        settings.setdefault(key.strip(), []).append(value.strip())
    return settings


def test_systemd_unit_runs_monitor_tail_hardened() -> None:
    unit = unit_settings()
    (exec_start,) = unit["ExecStart"]
    argv = exec_start.split()
    assert argv[0].endswith("/monitor") and argv[1] == "tail"
    assert option(argv, "--metrics-port") == str(DEFAULT_PORT)
    assert option(argv, "--state").startswith("/var/lib/monitor/")
    assert unit["Restart"] == ["always"]
    assert unit["User"] and unit["User"] != ["root"]
    assert unit["StateDirectory"] == ["monitor"]
    assert unit["ReadOnlyPaths"]
    for key, value in {"NoNewPrivileges": "yes", "ProtectSystem": "strict", "PrivateTmp": "yes"}.items():
        assert unit[key] == [value], key
    assert unit["WantedBy"] == ["multi-user.target"]


# --- Slurm -----------------------------------------------------------------------------------


@pytest.mark.parametrize("script", [PROLOG, EPILOG], ids=["prolog", "epilog"])
def test_slurm_scripts_are_valid_bash(script: Path) -> None:
    bash = shutil.which("bash")
    assert bash, "bash not found"
    done = subprocess.run([bash, "-n", str(script)], capture_output=True, text=True, timeout=30)
    assert done.returncode == 0, done.stderr
    text = script.read_text(encoding="utf-8")
    assert text.startswith("#!/bin/bash\n")
    assert "\nset -eu\n" in text
    assert os.access(script, os.X_OK)


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


def slurm_env(tmp_path: Path, job: str, **settings: str) -> dict[str, str]:
    conf = tmp_path / "monitor-slurm"
    conf.write_text("".join(f"{k}={v}\n" for k, v in settings.items()), encoding="utf-8")
    return {
        "PATH": os.environ.get("PATH", "/usr/bin:/bin"),
        "MONITOR_SLURM_CONF": str(conf),
        "SLURM_JOB_ID": job,
        "SLURM_JOB_UID": str(os.getuid()),
        "SLURM_JOB_GID": str(os.getgid()),
        "SLURM_JOB_USER": "root",
        "SLURM_JOB_WORK_DIR": str(tmp_path / "work"),
        "SLURMD_NODENAME": "node07",
    }


def run_script(script: Path, env: dict[str, str]) -> subprocess.CompletedProcess[str]:
    return subprocess.run(["bash", str(script)], env=env, capture_output=True, text=True, timeout=60)


MEGATRON = (
    " iteration {step:8d}/   50000 | consumed samples:         2560 | elapsed time per iteration (ms): 1000.0 |"
    " learning rate: 3.000000E-04 | global batch size:   256 | lm loss: {loss} | loss scale: 65536.0 |\n"
)

needs_root = pytest.mark.skipif(
    os.name != "posix" or os.geteuid() != 0 or not (shutil.which("setpriv") and shutil.which("setsid")),
    reason="the prolog starts the monitor as the job's user: needs root, setpriv and setsid",
)


@needs_root
def test_prolog_starts_the_monitor_and_epilog_stops_it(tmp_path: Path) -> None:
    (tmp_path / "work" / "logs").mkdir(parents=True)
    log = tmp_path / "work" / "logs" / "train.log"
    log.write_text(MEGATRON.format(step=10, loss="4.0E+00"))
    port = free_port()
    env = slurm_env(
        tmp_path, "4242",
        MONITOR_BIN=str(Path(sys.executable).parent / "monitor"),
        MONITOR_LOGS='("%w/logs")',
        MONITOR_PORT_BASE=str(port),
        MONITOR_RUN_DIR=str(tmp_path / "run"),
        MONITOR_STATE_DIR=str(tmp_path / "state"),
        MONITOR_SD_DIR=str(tmp_path / "sd"),
    )
    (tmp_path / "sd").mkdir()
    pidfile = tmp_path / "run" / "4242.pid"
    done = run_script(PROLOG, env)
    pid = int(pidfile.read_text()) if pidfile.exists() else None
    try:
        assert done.returncode == 0, done.stderr
        assert pid is not None, done.stderr
        cmdline = Path(f"/proc/{pid}/cmdline").read_bytes().split(b"\0")
        assert b"tail" in cmdline and cmdline[cmdline.index(b"--run") + 1] == b"4242"
        target = json.loads((tmp_path / "sd" / "node07-4242.json").read_text())
        assert target[0]["targets"] == [f"node07:{port}"]
        def scrape_until(text: str) -> str:
            deadline = time.monotonic() + 30
            body = ""
            while time.monotonic() < deadline and text not in body:
                time.sleep(0.2)
                try:
                    body = urllib.request.urlopen(f"http://127.0.0.1:{port}/metrics", timeout=2).read().decode()
                except OSError:
                    continue
            return body

        # the agent starts at the end of existing files: append only once it follows the log
        scrape_until('monitor_lines_read_total{file="train.log"}')
        with log.open("a") as file:
            file.write(MEGATRON.format(step=20, loss="3.9E+00"))
        body = scrape_until("monitor_step{")
        assert re.search(r'^monitor_step\{[^}]*run="4242"[^}]*\} 20\.0$', body, re.MULTILINE), body

        done = run_script(EPILOG, env)
        assert done.returncode == 0, done.stderr
        assert not Path(f"/proc/{pid}").exists()
        assert not pidfile.exists()
        assert not (tmp_path / "sd" / "node07-4242.json").exists()
        assert (tmp_path / "state" / "4242" / "state.json").exists()  # saved on SIGTERM, kept for a requeue
    finally:
        if pid is not None and Path(f"/proc/{pid}").exists():
            os.kill(pid, 9)


def test_prolog_and_epilog_never_fail_the_job(tmp_path: Path) -> None:
    env = slurm_env(
        tmp_path, "4243",
        MONITOR_BIN=str(tmp_path / "not-installed"),
        MONITOR_RUN_DIR=str(tmp_path / "run"),
        MONITOR_STATE_DIR=str(tmp_path / "state"),
    )
    for script in (PROLOG, EPILOG):
        assert run_script(script, env).returncode == 0
        assert run_script(script, {k: v for k, v in env.items() if k != "SLURM_JOB_ID"}).returncode == 0
    assert not (tmp_path / "run" / "4243.pid").exists()


# --- the guide -------------------------------------------------------------------------------


def test_deployment_guide_names_every_file() -> None:
    guide = (DEPLOY / "README.md").read_text(encoding="utf-8")
    for path in sorted(DEPLOY.rglob("*")):
        if path.is_file() and path.name != "README.md":
            assert path.name in guide, path.relative_to(DEPLOY)
