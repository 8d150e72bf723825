"""The deploy configs are valid and say what production needs: Kubernetes manifests
against the API schemas, the compose topology, nginx's own syntax check, the image."""

from __future__ import annotations

import subprocess

import kubernetes_validate
import pytest
import yaml

from tests.production.servers import NGINX, ROOT, render_nginx

DEPLOY = ROOT / "deploy"
K8S_VERSION = "1.32.0"


def _manifests() -> list[dict]:
    return [doc for path in sorted((DEPLOY / "k8s").glob("*.yaml"))
            for doc in yaml.safe_load_all(path.read_text()) if doc]


def _by_kind(kind: str) -> dict[str, dict]:
    return {doc["metadata"]["name"]: doc for doc in _manifests() if doc["kind"] == kind}


def test_every_manifest_passes_the_kubernetes_schema_strictly():
    docs = _manifests()
    assert docs
    for doc in docs:
        kubernetes_validate.validate(doc, K8S_VERSION, strict=True)


def test_the_api_deployment_probes_ready_and_health_and_runs_unprivileged():
    api = _by_kind("Deployment")["homecare-api"]["spec"]
    container = api["template"]["spec"]["containers"][0]
    assert container["readinessProbe"]["httpGet"]["path"] == "/ready"
    assert container["livenessProbe"]["httpGet"]["path"] == "/health"
    assert "serve --production" in " ".join(container["command"])
    assert api["template"]["spec"]["securityContext"]["runAsNonRoot"] is True
    assert api["replicas"] >= 2


def test_the_jobs_run_twice_and_only_the_job_migrates():
    deployments = _by_kind("Deployment")
    assert deployments["homecare-jobs"]["spec"]["replicas"] == 2
    jobs_command = deployments["homecare-jobs"]["spec"]["template"]["spec"]["containers"][0]
    assert jobs_command["command"] == ["homecare", "jobs"]
    for deployment in deployments.values():
        command = " ".join(deployment["spec"]["template"]["spec"]["containers"][0]["command"])
        assert "db upgrade" not in command
    job = _by_kind("Job")["homecare-migrate"]["spec"]["template"]["spec"]["containers"][0]
    assert "homecare db upgrade" in " ".join(job["command"])
    assert "db grant --app-role" in " ".join(job["command"])


def test_each_disruption_budget_selects_its_deployment():
    deployments = _by_kind("Deployment")
    budgets = _by_kind("PodDisruptionBudget")
    assert set(budgets) == set(deployments)
    for name, budget in budgets.items():
        labels = deployments[name]["spec"]["template"]["metadata"]["labels"]
        assert budget["spec"]["selector"]["matchLabels"].items() <= labels.items()
        assert budget["spec"]["minAvailable"] >= 1


def test_config_and_secret_feed_every_container():
    assert "HOMECARE_TRUSTED_PROXIES" in _by_kind("ConfigMap")["homecare-config"]["data"]
    assert "HOMECARE_DATABASE_URL" in _by_kind("Secret")["homecare-secrets"]["stringData"]
    for kind in ("Deployment", "Job"):
        for doc in _by_kind(kind).values():
            sources = doc["spec"]["template"]["spec"]["containers"][0]["envFrom"]
            assert {"configMapRef", "secretRef"} <= {key for s in sources for key in s}


def test_compose_has_the_topology():
    compose = yaml.safe_load((DEPLOY / "compose.yaml").read_text())
    services = compose["services"]
    assert {"postgres", "migrate", "api-1", "api-2", "jobs-1", "jobs-2", "nginx"} <= set(services)
    assert services["migrate"]["restart"] == "no"
    assert "homecare db upgrade" in " ".join(services["migrate"]["command"])
    for name in ("api-1", "api-2", "jobs-1", "jobs-2"):
        service = services[name]
        assert service["depends_on"]["migrate"]["condition"] == \
            "service_completed_successfully"
        assert "homecare_app" in service["environment"]["HOMECARE_DATABASE_URL"]
        assert service["environment"]["HOMECARE_TRUSTED_PROXIES"] == "1"
    assert services["jobs-1"]["command"] == ["homecare", "jobs"]
    assert "./nginx.conf:/etc/nginx/nginx.conf:ro" in services["nginx"]["volumes"]


def test_compose_config_validates_with_docker_where_present():
    probe = subprocess.run(["docker", "compose", "version"], capture_output=True)
    if probe.returncode != 0:
        pytest.skip("no docker compose on this machine (the YAML test above holds)")
    subprocess.run(["docker", "compose", "-f", str(DEPLOY / "compose.yaml"), "config",
                    "--quiet"], check=True)


def test_the_image_builds_in_two_stages_and_runs_as_a_user():
    dockerfile = (DEPLOY / "Dockerfile").read_text()
    assert dockerfile.count("\nFROM ") + dockerfile.startswith("FROM ") >= 2
    users = [line.split()[1] for line in dockerfile.splitlines() if line.startswith("USER ")]
    assert users and not users[-1].startswith(("root", "0"))


@pytest.mark.skipif(NGINX is None, reason="nginx is not installed (.ci/run installs it)")
def test_nginx_accepts_the_config(tmp_path):
    conf = render_nginx(tmp_path, 18080, [18081, 18082])
    checked = subprocess.run([NGINX, "-t", "-p", str(tmp_path), "-c", str(conf), "-e",
                              str(tmp_path / "error.log")], capture_output=True, text=True)
    assert checked.returncode == 0, checked.stderr
    text = (DEPLOY / "nginx.conf").read_text()
    stream = text.split("location /api/v1/events/stream", 1)[1].split("}", 1)[0]
    assert "proxy_buffering off" in stream
    assert "client_max_body_size 1m" in text
    assert "X-Forwarded-For" in text
