"""Dockerfile and compose files agree with each other (Docker itself is not run)."""

from __future__ import annotations

import re
from pathlib import Path
from typing import Any

import pytest
import yaml

REPO = Path(__file__).resolve().parents[2]
DOCKERFILE = (REPO / "Dockerfile").read_text()
COMPOSE_FILES = ("docker-compose.yml", "docker-compose.postgres.yml")
IMAGE = "ccbridge:latest"


def compose(name: str) -> dict[str, Any]:
    data: dict[str, Any] = yaml.safe_load((REPO / name).read_text())
    return data


def image_uid() -> str:
    match = re.search(r"useradd .*--uid (\d+)", DOCKERFILE)
    assert match, "the Dockerfile creates its user with a fixed uid"
    return match.group(1)


def image_volumes() -> set[str]:
    match = re.search(r"^VOLUME (\[.*\])$", DOCKERFILE, re.M)
    assert match
    return set(yaml.safe_load(match.group(1)))


def servers(services: dict[str, Any]) -> dict[str, Any]:
    """Return the services that run ccbridge serve (not one-shot steps)."""
    return {n: s for n, s in services.items() if s.get("image") == IMAGE and "entrypoint" not in s}


def test_dockerfile_healthcheck_follows_port() -> None:
    (check,) = [line for line in DOCKERFILE.splitlines() if "/health" in line]
    assert "PORT" in check and ":3000/" not in check
    assert "os.environ.get('HEALTH_CHECK_PATH') or '/health'" in check


def test_sqlite_compose_file_exists_beside_the_postgres_one() -> None:
    services = compose("docker-compose.yml")["services"]
    assert set(servers(services)) == {"ccbridge"}
    env = services["ccbridge"]["environment"]
    assert "DATABASE_TYPE" not in env and "DATABASE_URL" not in env  # SQLite, the default
    assert any(
        s.get("image", "").startswith("postgres")
        for s in compose(COMPOSE_FILES[1])["services"].values()
    )


@pytest.mark.parametrize("name", COMPOSE_FILES)
def test_every_volume_is_used_and_every_mount_is_the_images(name: str) -> None:
    data = compose(name)
    mounts = [m for s in data["services"].values() for m in s.get("volumes", [])]
    named = {m.split(":")[0] for m in mounts if not m.startswith(("./", "/"))}
    assert set(data.get("volumes") or {}) == named
    for service in servers(data["services"]).values():
        targets = {m.split(":")[1] for m in service.get("volumes", [])}
        assert targets <= image_volumes(), "a mount the image does not use"


@pytest.mark.parametrize("name", COMPOSE_FILES)
def test_healthcheck_and_ports_follow_port(name: str) -> None:
    for service in servers(compose(name)["services"]).values():
        assert service["environment"]["PORT"] == "${PORT:-3000}"
        assert all(p.endswith(":${PORT:-3000}") for p in service["ports"])
        probe = " ".join(service["healthcheck"]["test"])
        assert "os.environ['PORT']" in probe and ":3000/" not in probe
        assert service["environment"]["HEALTH_CHECK_PATH"] == "${HEALTH_CHECK_PATH:-/health}"
        assert "os.environ.get('HEALTH_CHECK_PATH') or '/health'" in probe


@pytest.mark.parametrize("name", COMPOSE_FILES)
def test_bind_mounts_are_chowned_before_start(name: str) -> None:
    services = compose(name)["services"]
    for server in servers(services).values():
        for mount in server.get("volumes", []):
            host, container = mount.split(":")[:2]
            owners = [
                services[dep]
                for dep, cond in server["depends_on"].items()
                if cond["condition"] == "service_completed_successfully"
                and f"{host}:{container}" in services[dep].get("volumes", [])
            ]
            assert len(owners) == 1, f"{mount}: no ownership step"
            (owner,) = owners
            assert owner["user"] == "0:0"
            assert owner["entrypoint"] == ["chown", "-R", f"{image_uid()}:{image_uid()}", container]
            assert owner.get("profiles") == server.get("profiles")
