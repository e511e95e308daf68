"""Helm chart: lint, render with default values and with every option on,
and check the rendered manifests."""

from __future__ import annotations

import re
import subprocess
from functools import cache

import pytest
import yaml

from tests.ops.promql import ALERTS, CHART, tool

ALL_ON = CHART / "ci" / "all-on-values.yaml"
VALUE_SETS = {"default": [], "all-on": ["-f", str(ALL_ON)]}
SECRETISH = re.compile(r"PASSWORD|API_KEY|SECRET|TOKEN|PRIVATE|KEY")
FILE_REFERENCE = re.compile(r"_(FILE|CAFILE|CERTS|DIR)$")


def _helm(*args: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [tool("helm"), *args], capture_output=True, text=True, timeout=120, check=False
    )


@cache
def _render(values: str) -> tuple[dict, ...]:
    result = _helm("template", "audit", str(CHART), "--namespace", "security", *VALUE_SETS[values])
    assert result.returncode == 0, result.stderr
    return tuple(d for d in yaml.safe_load_all(result.stdout) if d)


def _kinds(docs, kind):
    return [d for d in docs if d["kind"] == kind]


def _pod_specs(docs):
    for doc in docs:
        if doc["kind"] in {"Deployment", "StatefulSet", "DaemonSet", "Job"}:
            yield doc["metadata"]["name"], doc["spec"]["template"]["spec"]


def _containers(docs):
    for name, spec in _pod_specs(docs):
        for container in spec.get("initContainers", []) + spec["containers"]:
            yield f"{name}/{container['name']}", container


@pytest.mark.parametrize("values", VALUE_SETS)
def test_helm_lint_strict(values):
    result = _helm("lint", "--strict", str(CHART), *VALUE_SETS[values])
    assert result.returncode == 0, result.stdout + result.stderr


@pytest.mark.parametrize("values", VALUE_SETS)
def test_renders_the_four_processes(values):
    names = {d["metadata"]["name"] for d in _kinds(_render(values), "Deployment")}
    components = ("consumer", "detector", "scheduler", "api")
    assert names == {f"audit-elastra-audit-{c}" for c in components}
    args = {c["args"][0] for _, c in _containers(_render(values))}
    assert args == {"consume", "detect", "scheduler", "serve"}


def test_all_on_renders_every_optional_object():
    kinds = {d["kind"] for d in _render("all-on")}
    assert {
        "Ingress",
        "HorizontalPodAutoscaler",
        "ServiceMonitor",
        "PrometheusRule",
        "ScaledObject",
        "TriggerAuthentication",
        "NetworkPolicy",
        "PodDisruptionBudget",
        "ServiceAccount",
        "ConfigMap",
    } <= kinds


@pytest.mark.parametrize("values", VALUE_SETS)
def test_pods_are_locked_down(values):
    for name, spec in _pod_specs(_render(values)):
        pod = spec["securityContext"]
        assert pod["runAsNonRoot"] is True, name
        assert pod["seccompProfile"]["type"] == "RuntimeDefault", name
        assert spec["automountServiceAccountToken"] is False, name
    for name, container in _containers(_render(values)):
        sc = container["securityContext"]
        assert sc["runAsNonRoot"] is True, name
        assert sc["readOnlyRootFilesystem"] is True, name
        assert sc["allowPrivilegeEscalation"] is False, name
        assert sc["capabilities"]["drop"] == ["ALL"], name
        assert not sc.get("capabilities", {}).get("add"), name
        assert sc["seccompProfile"]["type"] == "RuntimeDefault", name


@pytest.mark.parametrize("values", VALUE_SETS)
def test_containers_have_limits_and_probes(values):
    for name, container in _containers(_render(values)):
        resources = container["resources"]
        for part in ("requests", "limits"):
            assert {"cpu", "memory"} <= set(resources[part]), f"{name} {part}"
        assert container["livenessProbe"]["httpGet"]["path"], name
        assert container["readinessProbe"]["httpGet"]["path"], name


@pytest.mark.parametrize("values", VALUE_SETS)
def test_every_process_is_probed_on_its_health_endpoints(values):
    # /metrics answers even when the run loop is stuck: not a liveness signal.
    for name, container in _containers(_render(values)):
        assert container["livenessProbe"]["httpGet"]["path"] == "/healthz", name
        assert container["readinessProbe"]["httpGet"]["path"] == "/readyz", name


@pytest.mark.parametrize("values", VALUE_SETS)
def test_images_are_pinned(values):
    for name, container in _containers(_render(values)):
        image = container["image"]
        assert "@sha256:" in image or re.search(r":[\w.-]+$", image.rsplit("/", 1)[-1]), name
        assert not image.endswith(":latest"), name


@pytest.mark.parametrize("values", VALUE_SETS)
def test_secrets_are_referenced_never_inlined(values):
    docs = _render(values)
    assert not _kinds(docs, "Secret"), "the chart must not create Secrets"
    for name, container in _containers(docs):
        for env in container["env"]:
            if SECRETISH.search(env["name"]) and not FILE_REFERENCE.search(env["name"]):
                assert "value" not in env, f"{name}: {env['name']} inlined"
                assert "secretKeyRef" in env["valueFrom"], f"{name}: {env['name']}"
    for name, spec in _pod_specs(docs):
        for volume in spec.get("volumes", []):
            if "secret" in volume:
                assert set(volume["secret"]) <= {"secretName", "items", "defaultMode"}, name


def test_app_environment_is_complete():
    wanted = {
        "AUDIT_KAFKA_BOOTSTRAP",
        "AUDIT_KAFKA_SECURITY_PROTOCOL",
        "AUDIT_KAFKA_SASL_MECHANISM",
        "AUDIT_KAFKA_SASL_USERNAME",
        "AUDIT_KAFKA_SASL_PASSWORD",
        "AUDIT_KAFKA_SSL_CAFILE",
        "AUDIT_ES_URL",
        "AUDIT_ES_API_KEY",
        "AUDIT_ES_CA_CERTS",
        "AUDIT_TOPIC_AUTH",
        "AUDIT_TOPIC_SECURITY",
        "AUDIT_TOPIC_DLQ",
        "AUDIT_CONSUMER_GROUP",
        "AUDIT_METRICS_PORT",
    }
    (consumer,) = [c for n, c in _containers(_render("default")) if n.endswith("consumer/consumer")]
    assert wanted <= {e["name"] for e in consumer["env"]}


@pytest.mark.parametrize("values", VALUE_SETS)
def test_scheduler_is_a_single_replica_recreated(values):
    (scheduler,) = [
        d
        for d in _kinds(_render(values), "Deployment")
        if d["metadata"]["name"].endswith("-scheduler")
    ]
    assert scheduler["spec"]["replicas"] == 1
    assert scheduler["spec"]["strategy"]["type"] == "Recreate"


def test_keda_owns_consumer_replicas_within_partitions():
    docs = _render("all-on")
    (scaled,) = _kinds(docs, "ScaledObject")
    partitions = yaml.safe_load((CHART / "values.yaml").read_text())["kafka"]["partitions"]
    assert scaled["spec"]["maxReplicaCount"] <= partitions
    assert {t["metadata"]["lagThreshold"] for t in scaled["spec"]["triggers"]} == {"2000"}
    (consumer,) = [
        d for d in _kinds(docs, "Deployment") if d["metadata"]["name"].endswith("-consumer")
    ]
    assert "replicas" not in consumer["spec"]


def test_network_policy_egress_is_limited():
    (policy,) = _kinds(_render("all-on"), "NetworkPolicy")
    assert set(policy["spec"]["policyTypes"]) == {"Ingress", "Egress"}
    ports = {p["port"] for rule in policy["spec"]["egress"] for p in rule["ports"]}
    assert ports == {53, 9092, 9093, 9200, 443}
    cidrs = {
        peer["ipBlock"]["cidr"]
        for rule in policy["spec"]["egress"]
        for peer in rule["to"]
        if "ipBlock" in peer
    }
    assert cidrs == {"10.20.0.0/16", "10.30.0.0/16", "203.0.113.0/24"}


def test_prometheus_rule_equals_the_alert_rules_file():
    (rule,) = _kinds(_render("all-on"), "PrometheusRule")
    assert rule["spec"]["groups"] == yaml.safe_load(ALERTS.read_text())["groups"]


def test_config_maps_carry_the_data_files():
    maps = {d["metadata"]["name"]: d for d in _kinds(_render("default"), "ConfigMap")}
    for kind in ("rules", "retention", "checklists"):
        files = (
            sorted(p.name for p in (CHART / "files" / kind).glob("*"))
            if (CHART / "files" / kind).is_dir()
            else []
        )
        assert sorted(maps[f"audit-elastra-audit-{kind}"].get("data") or {}) == files


@pytest.mark.parametrize(
    "override",
    [
        "image.tag=latest",
        "consumer.replicas=-1",
        "kafka.securityProtocol=TLS",
        "kafka.partitions=0",
        "elasticsearch.url=elasticsearch:9200",
        "networkPolicy.webhooks.cidrs={not-a-cidr}",
        "unknownTopLevel=1",
    ],
)
def test_schema_rejects_bad_values(override):
    result = _helm("template", "audit", str(CHART), "--set", override)
    assert result.returncode != 0, f"{override} was accepted"
    assert (
        "schema" in result.stderr.lower()
        or "values don't meet" in result.stderr.lower()
        or "at '/" in result.stderr
    ), result.stderr


@pytest.mark.parametrize(
    "override",
    [
        ["--set", "consumer.replicas=7"],
        ["--set", "detector.replicas=9"],
        ["--set", "keda.enabled=true", "--set", "keda.maxReplicaCount=12"],
    ],
)
def test_replicas_above_partitions_are_refused(override):
    result = _helm("template", "audit", str(CHART), *override)
    assert result.returncode != 0
    assert "partitions" in result.stderr


def test_legal_webhook_secret_reaches_the_scheduler_only():
    def secret_env(values, process):
        (container,) = [
            c for n, c in _containers(_render(values)) if n.endswith(f"{process}/{process}")
        ]
        return {
            e["name"]: e["valueFrom"]["secretKeyRef"]
            for e in container["env"]
            if "valueFrom" in e and "secretKeyRef" in e["valueFrom"]
        }

    assert "AUDIT_LEGAL_WEBHOOK_SECRET" not in secret_env("default", "scheduler")
    legal = secret_env("all-on", "scheduler")["AUDIT_LEGAL_WEBHOOK_SECRET"]
    assert legal == {"name": "elastra-audit-legal-webhook", "key": "secret"}
    for process in ("consumer", "detector", "api"):
        assert "AUDIT_LEGAL_WEBHOOK_SECRET" not in secret_env("all-on", process)
    assert "AUDIT_WEBHOOK_SECRET" in secret_env("all-on", "scheduler")


def test_api_replicas_share_the_cursor_key():
    for values in VALUE_SETS:
        (api,) = [c for n, c in _containers(_render(values)) if n.endswith("api/api")]
        (cursor,) = [e for e in api["env"] if e["name"] == "AUDIT_API_CURSOR_SECRET"]
        assert cursor["valueFrom"]["secretKeyRef"]["name"] == "elastra-audit-api-cursor"
    result = _helm(
        "template",
        "audit",
        str(CHART),
        "--set",
        "secrets.apiCursor.name=",
        "--set",
        "api.replicas=2",
    )
    assert result.returncode != 0 and "secrets.apiCursor.name is empty" in result.stderr
    single = _helm(
        "template",
        "audit",
        str(CHART),
        *("--set", "secrets.apiCursor.name=", "--set", "api.replicas=1"),
        *("--set", "api.hpa.enabled=false"),
    )
    assert single.returncode == 0, single.stderr


@pytest.mark.parametrize("values", VALUE_SETS)
def test_the_api_writes_bundles_and_uploads_on_its_own_volume(values):
    # The root filesystem is read-only: the export directory and the
    # temporary files of uploads must be on a writable volume, big enough for
    # bundles (/tmp is a 64 MiB emptyDir).
    specs = dict(_pod_specs(_render(values)))
    api = specs["audit-elastra-audit-api"]
    (container,) = api["containers"]
    env = {e["name"]: e.get("value") for e in container["env"]}
    mounts = {m["name"]: m["mountPath"] for m in container["volumeMounts"]}
    volumes = {v["name"]: v for v in api["volumes"]}
    assert mounts["work"] == "/var/lib/elastra-audit"
    assert volumes["work"]["emptyDir"]["sizeLimit"] == "4Gi"
    assert env["AUDIT_API_EXPORT_DIR"].startswith("/var/lib/elastra-audit/")
    assert env["TMPDIR"] == "/var/lib/elastra-audit"
    for name, spec in specs.items():
        if name != "audit-elastra-audit-api":
            assert "work" not in {v["name"] for v in spec["volumes"]}, name
