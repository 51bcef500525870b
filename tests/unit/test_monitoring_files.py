"""deploy/: the Grafana dashboard asks only for series ccbridge exports.

Docker, Prometheus and Grafana are not run here; the files are checked
against ccbridge.metrics and against each other.
"""

from __future__ import annotations

import json
import re
from pathlib import Path
from typing import Any

import pytest
import yaml
from prometheus_client.metrics import MetricWrapperBase

from ccbridge import metrics

REPO = Path(__file__).resolve().parents[2]
DEPLOY = REPO / "deploy"
DASHBOARD = DEPLOY / "grafana" / "dashboards" / "ccbridge.json"
_SERIES = re.compile(r"\bccbridge_[a-z0-9_]+")
_SUFFIXES = {"counter": ("_total",), "histogram": ("_bucket", "_sum", "_count"), "gauge": ("",)}


def exported() -> dict[str, str]:
    """Return every sample name ccbridge's /metrics can carry -> its family."""
    names: dict[str, str] = {}
    for value in vars(metrics).values():
        if not isinstance(value, MetricWrapperBase):
            continue
        for family in value.describe():
            for suffix in _SUFFIXES[family.type]:
                names[family.name + suffix] = family.name
    return names


def targets() -> list[dict[str, Any]]:
    dashboard = json.loads(DASHBOARD.read_text())
    return [t for p in dashboard["panels"] for t in p.get("targets", [])]


def test_every_query_names_only_exported_series() -> None:
    names = exported()
    assert "ccbridge_requests_total" in names and "ccbridge_open_streams" in names
    used = set()
    for target in targets():
        expr = target["expr"]
        series = set(_SERIES.findall(expr))
        assert series, f"{target['refId']}: {expr} names no ccbridge series"
        unknown = series - set(names)
        assert not unknown, f"{expr}: not exported by ccbridge: {sorted(unknown)}"
        assert expr.count("(") == expr.count(")") and expr.count("[") == expr.count("]"), expr
        used |= {names[s] for s in series}
    families = set(names.values())
    assert used == families, f"no panel shows {sorted(families - used)}"


def test_queries_use_the_provisioned_datasource() -> None:
    provisioned = yaml.safe_load(
        (DEPLOY / "grafana/provisioning/datasources/prometheus.yml").read_text()
    )
    (source,) = provisioned["datasources"]
    assert source["url"] == "http://prometheus:9090"
    dashboard = json.loads(DASHBOARD.read_text())
    for panel in dashboard["panels"]:
        if panel["type"] == "row":
            continue
        assert panel["datasource"]["uid"] == source["uid"], panel["title"]
        for target in panel["targets"]:
            assert target["datasource"]["uid"] == source["uid"]


def test_prometheus_scrapes_the_metrics_route() -> None:
    config = yaml.safe_load((DEPLOY / "prometheus/prometheus.yml").read_text())
    (job,) = config["scrape_configs"]
    assert job["metrics_path"] == "/metrics"
    assert job["static_configs"][0]["targets"] == ["ccbridge:3000"]


@pytest.mark.parametrize("name", ["docker-compose.yml", "docker-compose.postgres.yml"])
def test_monitoring_profile_mounts_the_files_here(name: str) -> None:
    services = yaml.safe_load((REPO / name).read_text())["services"]
    monitoring = {n: s for n, s in services.items() if "monitoring" in s.get("profiles", [])}
    assert set(monitoring) == {"prometheus", "grafana"}
    for service in monitoring.values():
        for mount in service["volumes"]:
            source = mount.split(":")[0]
            if source.startswith("./"):
                assert (REPO / source).is_dir(), mount
    dashboards = yaml.safe_load(
        (DEPLOY / "grafana/provisioning/dashboards/ccbridge.yml").read_text()
    )
    path = dashboards["providers"][0]["options"]["path"]
    assert f"./deploy/grafana/dashboards:{path}:ro" in monitoring["grafana"]["volumes"]
    for service in services.values():
        if "monitoring" not in service.get("profiles", []):
            assert "prometheus" not in str(service.get("depends_on", ""))
