"""The Helm chart, rendered offline and checked against the Kubernetes schemas.

helm-python-sdk carries Helm's own rendering library, so these tests need no
helm binary and no cluster. Every rendered manifest is validated with
kubernetes-validate, strictly (unknown fields fail), against the newest
Kubernetes version it ships schemas for.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

import helm_python as helm
import kubernetes_validate
import pytest
import yaml

REPO = Path(__file__).resolve().parents[2]
CHART = REPO / "deploy" / "helm" / "dstack"
KUBERNETES_VERSION = kubernetes_validate.utils.latest_version()

EXTERNAL = yaml.safe_load((CHART / "values-external.yaml").read_text())


def render(values: dict[str, Any] | None = None) -> dict[str, str]:
    with helm.Chart.load(CHART) as chart:
        return chart.render(
            values or {}, name="dstack", namespace="data", is_install=True
        )


def manifests(values: dict[str, Any] | None = None) -> list[dict[str, Any]]:
    documents: list[dict[str, Any]] = []
    for name, text in render(values).items():
        if name.endswith("NOTES.txt"):
            continue
        documents.extend(doc for doc in yaml.safe_load_all(text) if doc)
    return documents


def by_kind(documents: list[dict[str, Any]], kind: str) -> dict[str, dict[str, Any]]:
    return {doc["metadata"]["name"]: doc for doc in documents if doc["kind"] == kind}


def containers(deployment: dict[str, Any]) -> dict[str, dict[str, Any]]:
    spec = deployment["spec"]["template"]["spec"]
    found = {c["name"]: c for c in spec["containers"]}
    found.update({c["name"]: c for c in spec.get("initContainers", [])})
    return found


@pytest.mark.parametrize(
    "values",
    [{}, EXTERNAL, {**EXTERNAL, "existingSecret": "", "secrets": {"redisUrl": "redis://r:6379/0"}}],
    ids=["defaults", "external-services", "external-chart-secret"],
)
def test_every_manifest_matches_the_kubernetes_schemas(values):
    documents = manifests(values)

    assert documents
    for document in documents:
        kubernetes_validate.validate(document, KUBERNETES_VERSION, strict=True)


def test_defaults_bundle_postgresql_redis_and_minio():
    documents = manifests()

    statefulsets = by_kind(documents, "StatefulSet")
    assert set(statefulsets) == {"dstack-postgresql", "dstack-redis", "dstack-minio"}
    config = by_kind(documents, "ConfigMap")["dstack-config"]["data"]
    assert config["DSTACK_DATABASE_URL"] == (
        "postgres://dstack@dstack-postgresql:5432/dstack"
    )
    assert config["DSTACK_REDIS_URL"] == "redis://dstack-redis:6379/0"
    assert config["DSTACK_S3_ENDPOINT_URL"] == "http://dstack-minio:9000"
    assert config["DSTACK_TRANSFER_MODE"] == "stream"


def test_defaults_generate_the_secrets():
    secret = by_kind(manifests(), "Secret")["dstack-secrets"]

    assert set(secret["data"]) == {
        "DSTACK_SECRET_KEY",
        "DSTACK_METRICS_TOKEN",
        "DSTACK_DATABASE_PASSWORD",
        "DSTACK_S3_SECRET_ACCESS_KEY",
    }


def test_external_services_render_no_bundled_ones():
    documents = manifests(EXTERNAL)

    assert by_kind(documents, "StatefulSet") == {}
    assert by_kind(documents, "Secret") == {}
    config = by_kind(documents, "ConfigMap")["dstack-config"]["data"]
    assert config["DSTACK_DATABASE_URL"] == "postgres://dstack@postgres.internal:5432/dstack"
    assert config["DSTACK_S3_BUCKET"] == "dstack-artifacts"
    assert config["DSTACK_S3_ENDPOINT_URL"] == "https://s3.internal.example.com"
    assert config["DSTACK_TRANSFER_MODE"] == "direct"
    assert "DSTACK_REDIS_URL" not in config
    assert config["DSTACK_ALLOWED_HOSTS"] == "dstack.example.com,localhost"


def test_external_services_read_the_existing_secret():
    for deployment in by_kind(manifests(EXTERNAL), "Deployment").values():
        for container in containers(deployment).values():
            sources = [source for source in container["envFrom"] if "secretRef" in source]
            assert sources == [{"secretRef": {"name": "dstack-secrets"}}]


def test_web_migrates_in_an_init_container_before_it_serves():
    web = by_kind(manifests(), "Deployment")["dstack-web"]

    spec = web["spec"]["template"]["spec"]
    assert [c["name"] for c in spec["initContainers"]] == ["migrate"]
    assert spec["initContainers"][0]["args"][0] == "migrate"
    assert "--create-bucket" in spec["initContainers"][0]["args"]


def test_worker_and_beat_wait_for_the_migrations():
    deployments = by_kind(manifests(), "Deployment")

    for name in ("dstack-worker", "dstack-beat"):
        init = deployments[name]["spec"]["template"]["spec"]["initContainers"]
        assert [c["args"] for c in init] == [["wait-for-migrations"]]


def test_web_probes_healthz_for_readiness_and_livez_for_liveness():
    web = containers(by_kind(manifests(), "Deployment")["dstack-web"])["web"]

    assert web["readinessProbe"]["httpGet"]["path"] == "/healthz"
    assert web["livenessProbe"]["httpGet"]["path"] == "/livez"


def test_every_dstack_container_has_resources_and_runs_unprivileged():
    for deployment in by_kind(manifests(EXTERNAL), "Deployment").values():
        pod = deployment["spec"]["template"]["spec"]
        assert pod["securityContext"]["runAsNonRoot"] is True
        for container in containers(deployment).values():
            assert container["resources"]["requests"], container["name"]
            assert container["resources"]["limits"], container["name"]
            assert container["securityContext"]["readOnlyRootFilesystem"] is True
            assert container["securityContext"]["allowPrivilegeEscalation"] is False


def test_beat_runs_exactly_one_pod_and_recreates_it():
    beat = by_kind(manifests(), "Deployment")["dstack-beat"]

    assert beat["spec"]["replicas"] == 1
    assert beat["spec"]["strategy"] == {"type": "Recreate"}


def test_ingress_is_optional():
    assert by_kind(manifests(), "Ingress") == {}

    ingress = by_kind(manifests(EXTERNAL), "Ingress")["dstack"]
    assert ingress["spec"]["rules"][0]["host"] == "dstack.example.com"
    backend = ingress["spec"]["rules"][0]["http"]["paths"][0]["backend"]
    assert backend["service"]["name"] == "dstack"


def test_it_fails_without_a_database():
    values = {**EXTERNAL, "externalDatabase": {"url": ""}}

    with pytest.raises(helm.HelmError, match="externalDatabase.url"):
        render(values)


def test_notes_tell_how_to_create_the_first_admin():
    notes = render()["dstack/templates/NOTES.txt"]

    assert "python manage.py createadmin" in notes
    assert "deploy/dstack-web" in notes


def test_helm_lint_finds_no_errors():
    report = helm.lint(CHART)

    assert report["errors"] == []
    warnings = [m for m in report["messages"] if m["severity"] > 1]
    assert warnings == []


def test_worker_runs_jobs_on_a_writable_volume_and_pushes_inside_the_cluster():
    documents = manifests()
    worker = by_kind(documents, "Deployment")["dstack-worker"]

    mounts = containers(worker)["worker"]["volumeMounts"]
    assert {"name": "jobs", "mountPath": "/var/lib/dstack/jobs"} in mounts
    config = by_kind(documents, "ConfigMap")["dstack-config"]["data"]
    assert config["DSTACK_JOB_API_URL"] == "http://dstack:80/api"


def test_the_generated_secret_survives_an_uninstall():
    """The bundled PostgreSQL's volume is kept, so its password must be too."""
    secret = by_kind(manifests(), "Secret")["dstack-secrets"]

    assert secret["metadata"]["annotations"]["helm.sh/resource-policy"] == "keep"


def test_the_default_ingress_accepts_a_whole_upload_part():
    ingress = by_kind(manifests({"ingress": {"enabled": True}}), "Ingress")["dstack"]

    annotations = ingress["metadata"]["annotations"]
    assert annotations["nginx.ingress.kubernetes.io/proxy-body-size"] == "64m"


def test_web_reads_forwarded_addresses_from_the_trusted_proxies():
    values = {"web": {"trustedProxies": "10.244.0.0/16"}}
    web = containers(by_kind(manifests(values), "Deployment")["dstack-web"])["web"]

    assert web["args"] == ["web"]
    assert {"name": "DSTACK_TRUSTED_PROXIES", "value": "10.244.0.0/16"} in web["env"]
