"""The deployment files parse, reference real commands, settings and metrics, and pass systemd's checks."""

from __future__ import annotations

import json
import re
import shlex
import shutil
import subprocess
from pathlib import Path
from typing import Any

import pytest
import yaml
from prometheus_client import CollectorRegistry

from anju.cli import build_parser
from central.ingest import LinkOptions
from central.settings import load_settings
from edge.metrics import EdgeMetrics
from gateway.config import BrokerConfig, CentralLinkConfig
from gateway.metrics import GatewayMetrics

ROOT = Path(__file__).resolve().parents[2]
DEPLOY = ROOT / "deploy"
COMPOSE = DEPLOY / "compose"


def _compose() -> dict[str, Any]:
    data = yaml.safe_load((COMPOSE / "docker-compose.yml").read_text(encoding="utf-8"))
    assert isinstance(data, dict)
    return data


def _parses(argv: list[str]) -> None:
    assert argv[0].endswith("anju"), argv
    build_parser().parse_args(argv[1:])  # SystemExit on an unknown command or option


def test_compose_services_and_commands() -> None:
    data = _compose()
    services = data["services"]
    assert {"mosquitto", "postgres", "migrate", "central-1", "central-2", "console"} <= set(services)
    for name in ("migrate", "central-1", "central-2"):
        _parses(services[name]["command"])
    assert services["central-1"]["command"][1:3] == ["central", "serve"]
    ids = {services[n]["environment"]["ANJU_MQTT__CLIENT_ID"] for n in ("central-1", "central-2")}
    assert len(ids) == 2, "each central instance needs its own MQTT client id"
    assert services["central-1"]["environment"]["ANJU_ENVIRONMENT"] == "production"
    assert services["central-1"]["depends_on"]["migrate"]["condition"] == "service_completed_successfully"
    # named volumes are declared, relative mounts exist
    declared = set(data["volumes"])
    for svc in services.values():
        for vol in svc.get("volumes", []):
            src = vol.split(":")[0]
            if src.startswith("."):
                assert (COMPOSE / src).exists(), f"{src} missing"
            elif not src.startswith(("$", "/")):
                assert src in declared, f"volume {src} not declared"
    assert "${ANJU_BROKER_DIR}/mosquitto.conf" in services["mosquitto"]["command"]
    assert (COMPOSE / "Dockerfile").is_file()
    nginx = (COMPOSE / "nginx.conf").read_text(encoding="utf-8")
    assert "central-1:8000" in nginx and "central-2:8000" in nginx
    prom = yaml.safe_load((COMPOSE / "prometheus.yml").read_text(encoding="utf-8"))
    assert prom["scrape_configs"][0]["static_configs"][0]["targets"] == ["central-1:8000", "central-2:8000"]


def test_central_yml_is_valid_central_settings(monkeypatch: pytest.MonkeyPatch) -> None:
    for key in [k for k in list(__import__("os").environ) if k.startswith("ANJU_")]:
        monkeypatch.delenv(key)
    monkeypatch.setenv("ANJU_SECRET_KEY", "x" * 48)
    monkeypatch.setenv("ANJU_DATABASE_URL", "postgresql+psycopg://anju:pw@postgres:5432/anju")
    settings = load_settings(COMPOSE / "central.yml")
    assert settings.environment == "production" and settings.mqtt.enabled and settings.mqtt.port == 8883
    extra = dict(settings.mqtt.extra)
    options = LinkOptions.model_validate(
        {k: extra.pop(k) for k in list(extra) if k in LinkOptions.model_fields}
    )
    assert options.node_keys
    # as central/ingest.py builds it: host/port from settings, further broker fields from extra
    broker = BrokerConfig(host=settings.mqtt.host, port=settings.mqtt.port, **extra.pop("broker", {}))
    link = CentralLinkConfig(
        broker=broker, signing_key=Path("/etc/anju/broker/keys/central.sign.pem"), **extra
    )
    assert link.share_group == "anju-central"
    assert link.broker.tls is not None and link.broker.tls.cert_file.name == "central.crt"


def _exposed_names() -> set[str]:
    names: set[str] = set()
    registries = [EdgeMetrics().registry, CollectorRegistry()]
    GatewayMetrics(registries[1])
    for reg in registries:
        for family in reg.collect():
            # labelled metrics have no samples until used: derive the exposed names from the type
            if family.type == "counter":
                names.add(f"{family.name}_total")
            elif family.type == "histogram":
                names.update(f"{family.name}_{s}" for s in ("bucket", "sum", "count"))
            else:
                names.add(family.name)
    # central's HTTP metrics are created inside the app factory: read their names from the source
    src = (ROOT / "central" / "app.py").read_text(encoding="utf-8")
    for kind, name in re.findall(r'(Counter|Histogram)\(\s*"(anju_[a-z0-9_]+)"', src):
        if kind == "Counter":
            names.add(f"{name}_total")
        else:
            names.update(f"{name}_{s}" for s in ("bucket", "sum", "count"))
    return names


def test_grafana_dashboard_uses_only_real_metrics() -> None:
    dash = json.loads((DEPLOY / "grafana" / "anju-dashboard.json").read_text(encoding="utf-8"))
    exposed = _exposed_names()
    documented = set(re.findall(r"`(anju_[a-z0-9_]+)`", (ROOT / "docs" / "observability.md").read_text()))
    used: set[str] = set()
    for panel in dash["panels"]:
        for target in panel.get("targets", []):
            used.update(re.findall(r"\banju_[a-z0-9_]+", target["expr"]))
    assert used, "the dashboard queries nothing"
    unknown = used - exposed
    assert not unknown, f"dashboard queries metrics no process exports: {sorted(unknown)}"
    base = {re.sub(r"_(bucket|sum|count)$", "", n) for n in exposed}
    assert base <= documented, f"docs/observability.md misses {sorted(base - documented)}"
    ids = [p["id"] for p in dash["panels"]]
    assert len(ids) == len(set(ids))


UNITS = sorted((DEPLOY / "systemd").glob("*.service")) + sorted((DEPLOY / "systemd").glob("*.timer"))


@pytest.mark.parametrize("unit", UNITS, ids=lambda p: p.name)
def test_systemd_units(unit: Path, tmp_path: Path) -> None:
    text = unit.read_text(encoding="utf-8")
    if unit.suffix == ".service":
        for key in (
            "NoNewPrivileges=yes",
            "ProtectSystem=strict",
            "ProtectHome=yes",
            "PrivateTmp=yes",
            "CapabilityBoundingSet=",
            "SystemCallFilter=@system-service",
            "RestrictNamespaces=yes",
        ):
            assert key in text, f"{unit.name} lacks {key}"
    for line in text.splitlines():
        if line.startswith(("ExecStart=", "ExecStartPre=")):
            argv = shlex.split(line.split("=", 1)[1])
            if argv[0].endswith("/anju"):
                _parses(argv)
            else:
                assert (ROOT / argv[0].removeprefix("/opt/anju/")).is_file(), argv[0]
    if shutil.which("systemd-analyze") is None:
        pytest.skip("systemd-analyze not installed")
    for other in UNITS:  # a timer is verified next to its service
        local_text = other.read_text(encoding="utf-8")
        local_text = local_text.replace("/opt/anju/venv/bin/anju", str(ROOT / ".venv" / "bin" / "anju"))
        (tmp_path / other.name).write_text(local_text.replace("/opt/anju/deploy/", f"{ROOT}/deploy/"))
    res = subprocess.run(
        ["systemd-analyze", "verify", str(tmp_path / unit.name)], capture_output=True, text=True, timeout=60
    )
    assert res.returncode == 0 and not res.stderr.strip(), res.stderr


SCRIPTS = sorted(DEPLOY.rglob("*.sh"))


@pytest.mark.parametrize("script", SCRIPTS, ids=lambda p: str(p.relative_to(DEPLOY)))
def test_scripts_are_valid_bash(script: Path) -> None:
    res = subprocess.run(["bash", "-n", str(script)], capture_output=True, text=True, timeout=30)
    assert res.returncode == 0, res.stderr


def test_edge_install_dry_run_with_a_real_site_bundle(tmp_path: Path) -> None:
    anju = ROOT / ".venv" / "bin" / "anju"
    bundle = tmp_path / "site"
    subprocess.run(
        [anju, "gateway", "broker-config", "--site", "demo", "--out", bundle, "--nodes", "gate-1"],
        check=True,
        capture_output=True,
        timeout=120,
    )
    install = DEPLOY / "edge" / "install.sh"
    res = subprocess.run(
        [install, "--dry-run", "--node", "gate-1", "--site-bundle", bundle, "--mirror", tmp_path],
        capture_output=True,
        text=True,
        timeout=60,
    )
    assert res.returncode == 0, res.stderr
    out = res.stdout
    assert f"{bundle}/clients/gate-1.key /etc/anju/site/node.key" in out
    assert "models fetch --model-dir /var/lib/anju-edge/models --mirror" in out
    assert "ca.key" not in out and "ca.key" in res.stderr  # the CA key is never copied to a node
    assert "systemctl enable --now anju-edge.service" in out
    missing = subprocess.run(
        [install, "--dry-run", "--node", "gate-2", "--site-bundle", bundle], capture_output=True, text=True
    )
    assert missing.returncode != 0 and "clients/gate-2.crt" in missing.stderr
