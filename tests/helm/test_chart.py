"""Render the Helm chart and check what Kubernetes would receive.

Each scenario is `values/required.yaml` (the chart's only required inputs) plus one scenario file.
"""

import base64
import json
import re
import subprocess

import pytest
import yaml

from tests.support.helm import CHART, NAMESPACE, RELEASE, REQUIRED_VALUES, VALUES_DIR

SCENARIOS = {
    "defaults": [],
    "hpa": [VALUES_DIR / "hpa.yaml"],
    "pdb": [VALUES_DIR / "pdb.yaml"],
    "existing-secret": [VALUES_DIR / "existing-secret.yaml"],
    "custom-domains": [VALUES_DIR / "custom-domains.yaml"],
    "ingress-off": [VALUES_DIR / "ingress-off.yaml"],
    "service-monitor": [VALUES_DIR / "service-monitor.yaml"],
    "network-policy": [VALUES_DIR / "network-policy.yaml"],
}
FULLNAME = f"{RELEASE}-gatehouse"
SECRET_KEYS = {"DATABASE_URL", "REDIS_URL", "SECRET_KEY", "GATEHOUSE_KEY_ENCRYPTION_KEY"}
SECRET_VALUES = yaml.safe_load(REQUIRED_VALUES.read_text())["gatehouse"]["secret"]
HOOK_EVENTS = "pre-install,pre-upgrade"


@pytest.fixture(scope="session")
def render(helm):
    """Objects rendered for a scenario name, rendered once per session."""
    cache: dict[str, list[dict]] = {}

    def objects(scenario: str) -> list[dict]:
        if scenario not in cache:
            cache[scenario] = helm.objects(SCENARIOS[scenario])
        return cache[scenario]

    return objects


def find(objects, kind, name=None):
    matches = [o for o in objects if o["kind"] == kind and name in (None, o["metadata"]["name"])]
    assert matches, f"no {kind} {name or ''} rendered"
    return matches


def get(objects, kind, name):
    (match,) = find(objects, kind, name)
    return match


def kinds(objects):
    return {o["kind"] for o in objects}


def pod_specs(objects):
    """(name, pod spec) of every Deployment and Job."""
    return [
        (o["metadata"]["name"], o["spec"]["template"]["spec"])
        for o in objects
        if o["kind"] in ("Deployment", "Job")
    ]


def annotations(obj):
    return obj["metadata"].get("annotations") or {}


def hook_weight(obj):
    return int(annotations(obj)["helm.sh/hook-weight"])


# --- lint and Kubernetes schemas -------------------------------------------------------------


@pytest.mark.parametrize("scenario", SCENARIOS)
def test_lint_strict(helm, scenario):
    args = ["lint", "--strict", str(CHART), "--values", str(REQUIRED_VALUES)]
    for path in SCENARIOS[scenario]:
        args += ["--values", str(path)]
    result = helm.run(*args)
    assert "0 chart(s) failed" in result.stdout


@pytest.mark.parametrize("scenario", SCENARIOS)
def test_objects_validate_against_kubernetes_schemas(render, kubernetes_validate, scenario):
    # ServiceMonitor is a CRD kubernetes-validate has no schema for: its shape is tested below.
    objects = [o for o in render(scenario) if o["kind"] != "ServiceMonitor"]
    result = subprocess.run(
        kubernetes_validate,
        input=yaml.safe_dump_all(objects),
        capture_output=True,
        text=True,
        timeout=60,
    )
    assert result.returncode == 0, result.stdout + result.stderr


def test_default_values_alone_fail_with_what_to_set(helm):
    error = helm.template_error(required=False)
    assert "gatehouse.baseDomain is required" in error


def test_missing_secret_value_names_the_value_and_existing_secret(helm):
    error = helm.template_error(sets=["gatehouse.secret.secretKey="])
    assert "gatehouse.secret.secretKey is required" in error
    assert "gatehouse.existingSecret" in error


# --- values schema ---------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("assignment", "message"),
    [
        ("web.replicas=0", "/web/replicas"),
        ("worker.replicas=0", "/worker/replicas"),
        ("web.autoscaling.minReplicas=0", "/web/autoscaling/minReplicas"),
        ("worker.autoscaling.targetCPUUtilizationPercentage=0", "targetCPUUtilizationPercentage"),
        ("web.replica=3", "additional properties 'replica' not allowed"),
        ("unknownTopLevel=1", "additional properties 'unknownTopLevel' not allowed"),
        ("web.autoscaling.enabled=yes", "/web/autoscaling/enabled"),
        ("migrations.processes=four", "/migrations/processes"),
        ("gatehouse.customDomains[0]=Not_A_Host", "/gatehouse/customDomains/0"),
        ("global.image.pullPolicy=Sometimes", "/global/image/pullPolicy"),
        ("gatehouse.database.poolMode=statement", "/gatehouse/database/poolMode"),
    ],
)
def test_schema_rejects_bad_values(helm, assignment, message):
    error = helm.template_error(sets=[assignment])
    assert "don't meet the specifications of the schema" in error
    assert message in error


def test_hpa_min_above_max_is_rejected(helm):
    error = helm.template_error(
        sets=[
            "web.autoscaling.enabled=true",
            "web.autoscaling.minReplicas=5",
            "web.autoscaling.maxReplicas=2",
        ]
    )
    assert "web.autoscaling.minReplicas (5) is greater than maxReplicas (2)" in error


def test_schema_forbids_unknown_keys_in_every_object():
    schema = json.loads((CHART / "values.schema.json").read_text())
    loose = []

    def walk(node, path):
        if isinstance(node, dict):
            if "properties" in node and node.get("additionalProperties") is not False:
                loose.append(path or "/")
            for key, child in node.items():
                walk(child, f"{path}/{key}")
        elif isinstance(node, list):
            for index, child in enumerate(node):
                walk(child, f"{path}/{index}")

    walk(schema, "")
    assert loose == []


def test_every_value_has_a_helm_docs_comment():
    """Every leaf in values.yaml carries a `# --` comment, on itself or on an ancestor."""
    undocumented = []
    stack: list[tuple[int, str, bool]] = []  # (indent, key, documented)
    previous = ""
    lines = (CHART / "values.yaml").read_text().splitlines()
    for index, line in enumerate(lines):
        match = re.match(r"^( *)([A-Za-z][\w.-]*):(.*)$", line)
        if match:
            indent, key, rest = len(match[1]), match[2], match[3].strip()
            while stack and stack[-1][0] >= indent:
                stack.pop()
            documented = previous.strip().startswith("# --") or any(d for _, _, d in stack)
            following = next((n for n in lines[index + 1 :] if n.strip()), "")
            is_parent = not rest and len(following) - len(following.lstrip()) > indent
            if not is_parent and not documented:
                undocumented.append(".".join([k for _, k, _ in stack] + [key]))
            stack.append((indent, key, documented))
        if line.strip():
            previous = line
    assert undocumented == []


def test_chart_readme_lists_every_documented_value():
    documented = []
    stack: list[tuple[int, str]] = []
    previous = ""
    for line in (CHART / "values.yaml").read_text().splitlines():
        match = re.match(r"^( *)([A-Za-z][\w.-]*):", line)
        if match:
            while stack and stack[-1][0] >= len(match[1]):
                stack.pop()
            stack.append((len(match[1]), match[2]))
            if previous.strip().startswith("# --"):
                documented.append(".".join(key for _, key in stack))
        if line.strip():
            previous = line
    table = (CHART / "README.md").read_text().split("\n## Values\n", 1)[1]
    listed = re.findall(r"^\| `([^`]+)` \|", table, re.MULTILINE)
    assert listed == documented


# --- migrations hook -------------------------------------------------------------------------


def test_migration_job_is_a_pre_install_pre_upgrade_hook(render):
    job = get(render("defaults"), "Job", f"{FULLNAME}-migrations")
    assert annotations(job)["helm.sh/hook"] == HOOK_EVENTS
    assert annotations(job)["helm.sh/hook-delete-policy"] == "before-hook-creation"
    assert hook_weight(job) == 0
    spec = job["spec"]
    assert spec["activeDeadlineSeconds"] == 3600
    assert spec["backoffLimit"] == 1
    assert spec["ttlSecondsAfterFinished"] == 86400
    assert spec["template"]["spec"]["restartPolicy"] == "Never"


def test_migration_job_runs_shared_then_parallel_then_catch_up_tenant_pass(render):
    job = get(render("defaults"), "Job", f"{FULLNAME}-migrations")
    (container,) = job["spec"]["template"]["spec"]["containers"]
    script = container["command"][-1]
    steps = [line.strip() for line in script.splitlines() if "manage.py" in line]
    assert steps == [
        "python manage.py migrate_schemas --shared",
        "python manage.py migrate_schemas --tenant",
        "python manage.py migrate_schemas --tenant",
    ]
    assert "set -eu" in script


def test_migration_processes_come_from_values(helm):
    objects = helm.objects(sets=["migrations.processes=7"])
    config = get(objects, "ConfigMap", f"{FULLNAME}-migrations")
    assert config["data"]["TENANT_MULTIPROCESSING_MAX_PROCESSES"] == "7"


@pytest.mark.parametrize("scenario", ["defaults", "existing-secret"])
def test_everything_the_migration_job_uses_is_a_hook_created_before_it(render, scenario):
    objects = render(scenario)
    job = get(objects, "Job", f"{FULLNAME}-migrations")
    pod = job["spec"]["template"]["spec"]
    (container,) = pod["containers"]
    needed = [("ServiceAccount", pod["serviceAccountName"])]
    for source in container["envFrom"]:
        if "configMapRef" in source:
            needed.append(("ConfigMap", source["configMapRef"]["name"]))
        else:
            needed.append(("Secret", source["secretRef"]["name"]))

    for kind, name in needed:
        if kind == "Secret" and scenario == "existing-secret":
            assert name == "gatehouse-credentials"
            assert not [o for o in objects if o["kind"] == "Secret"]
            continue
        dependency = get(objects, kind, name)
        assert annotations(dependency)["helm.sh/hook"] == HOOK_EVENTS, (kind, name)
        assert hook_weight(dependency) < hook_weight(job), (kind, name)
        policy = annotations(dependency)["helm.sh/hook-delete-policy"].split(",")
        assert "before-hook-creation" in policy


def test_migration_hook_copies_match_the_release_objects(render):
    objects = render("defaults")
    for kind in ("ConfigMap", "Secret"):
        release_copy = get(objects, kind, FULLNAME)
        hook_copy = get(objects, kind, f"{FULLNAME}-migrations")
        assert "helm.sh/hook" not in annotations(release_copy)
        assert hook_copy["data"] == release_copy["data"]


def test_migrations_can_be_disabled(helm):
    objects = helm.objects(sets=["migrations.enabled=false"])
    assert not [o for o in objects if "helm.sh/hook" in annotations(o)]


# --- workloads ---------------------------------------------------------------------------------


def test_processes_run_the_contract_commands(render):
    objects = render("defaults")
    commands = {
        name.removeprefix(f"{FULLNAME}-"): spec["containers"][0]["command"]
        for name, spec in pod_specs(objects)
    }
    assert commands["web"] == [
        "gunicorn",
        "--config",
        "python:gatehouse.gunicorn_conf",
        "gatehouse.wsgi",
        "--bind",
        "0.0.0.0:8000",
        "--workers",
        "4",
        "--threads",
        "1",
        "--worker-tmp-dir",
        "/tmp",
    ]
    assert commands["worker"] == [
        "celery",
        "-A",
        "workers",
        "worker",
        "--loglevel",
        "INFO",
        "--concurrency",
        "2",
    ]
    assert commands["beat"] == [
        "celery",
        "-A",
        "workers",
        "beat",
        "--loglevel",
        "INFO",
        "--schedule",
        "/tmp/celerybeat-schedule",
    ]


def test_beat_is_a_singleton_replaced_with_recreate(render):
    for scenario in ("defaults", "hpa"):
        beat = get(render(scenario), "Deployment", f"{FULLNAME}-beat")
        assert beat["spec"]["replicas"] == 1
        assert beat["spec"]["strategy"] == {"type": "Recreate"}


def test_replicas_come_from_values_without_hpa(render):
    objects = render("defaults")
    assert get(objects, "Deployment", f"{FULLNAME}-web")["spec"]["replicas"] == 2
    assert get(objects, "Deployment", f"{FULLNAME}-worker")["spec"]["replicas"] == 1
    assert "HorizontalPodAutoscaler" not in kinds(objects)


def test_hpa_owns_web_and_worker_replicas(render):
    objects = render("hpa")
    for component, low, high in (("web", 3, 12), ("worker", 2, 6)):
        deployment = get(objects, "Deployment", f"{FULLNAME}-{component}")
        assert "replicas" not in deployment["spec"]
        hpa = get(objects, "HorizontalPodAutoscaler", f"{FULLNAME}-{component}")
        assert hpa["spec"]["scaleTargetRef"] == {
            "apiVersion": "apps/v1",
            "kind": "Deployment",
            "name": deployment["metadata"]["name"],
        }
        assert (hpa["spec"]["minReplicas"], hpa["spec"]["maxReplicas"]) == (low, high)
    web_metrics = get(objects, "HorizontalPodAutoscaler", f"{FULLNAME}-web")["spec"]["metrics"]
    assert {m["resource"]["name"] for m in web_metrics} == {"cpu", "memory"}


def test_pdbs_select_their_component_pods(render):
    objects = render("pdb")
    for component, budget in (("web", {"minAvailable": "50%"}), ("worker", {"maxUnavailable": 1})):
        pdb = get(objects, "PodDisruptionBudget", f"{FULLNAME}-{component}")
        assert {k: v for k, v in pdb["spec"].items() if k != "selector"} == budget
        pod_labels = get(objects, "Deployment", f"{FULLNAME}-{component}")["spec"]["template"][
            "metadata"
        ]["labels"]
        assert pdb["spec"]["selector"]["matchLabels"].items() <= pod_labels.items()
    assert "PodDisruptionBudget" not in kinds(render("defaults"))


def test_web_probes(render):
    web = get(render("defaults"), "Deployment", f"{FULLNAME}-web")
    (container,) = web["spec"]["template"]["spec"]["containers"]
    assert container["ports"] == [{"name": "http", "containerPort": 8000, "protocol": "TCP"}]
    assert container["livenessProbe"]["httpGet"] == {"path": "/healthz", "port": "http"}
    assert container["readinessProbe"]["httpGet"] == {"path": "/readyz", "port": "http"}
    assert container["startupProbe"]["httpGet"] == {"path": "/healthz", "port": "http"}


def test_worker_liveness_pings_its_own_celery_node(helm, render):
    worker = get(render("defaults"), "Deployment", f"{FULLNAME}-worker")
    probe = worker["spec"]["template"]["spec"]["containers"][0]["livenessProbe"]
    command = " ".join(probe["exec"]["command"])
    assert "celery -A workers inspect ping" in command
    assert "celery@${HOSTNAME}" in command

    objects = helm.objects(sets=["worker.livenessProbe.enabled=false"])
    worker = get(objects, "Deployment", f"{FULLNAME}-worker")
    assert "livenessProbe" not in worker["spec"]["template"]["spec"]["containers"][0]


@pytest.mark.parametrize("scenario", SCENARIOS)
def test_every_pod_is_hardened(render, scenario):
    for name, spec in pod_specs(render(scenario)):
        pod_context = spec["securityContext"]
        assert pod_context["runAsNonRoot"] is True, name
        assert pod_context["runAsUser"] == 10001, name
        assert pod_context["seccompProfile"] == {"type": "RuntimeDefault"}, name
        assert spec["automountServiceAccountToken"] is False, name
        tmp_volumes = [v["name"] for v in spec["volumes"] if "emptyDir" in v]
        for container in spec["containers"]:
            context = container["securityContext"]
            assert context["runAsNonRoot"] is True, name
            assert context["readOnlyRootFilesystem"] is True, name
            assert context["allowPrivilegeEscalation"] is False, name
            assert context["capabilities"] == {"drop": ["ALL"]}, name
            mounts = {m["mountPath"]: m["name"] for m in container["volumeMounts"]}
            assert mounts.get("/tmp") in tmp_volumes, name


# --- configuration and secrets -----------------------------------------------------------------


def test_configmap_holds_the_non_secret_settings(render):
    config = get(render("custom-domains"), "ConfigMap", FULLNAME)
    assert config["data"] == {
        "DATABASE_POOL_MODE": "session",
        "DJANGO_SETTINGS_MODULE": "gatehouse.settings.production",
        "GATEHOUSE_BASE_DOMAIN": "auth.example.com",
        "GATEHOUSE_EXTRA_HOSTS": "login.acme.com,sso.globex.example",
        "GATEHOUSE_TRUSTED_PROXY_COUNT": "1",
        "PROMETHEUS_MULTIPROC_DIR": "/tmp/prometheus",
        "TENANT_MULTIPROCESSING_MAX_PROCESSES": "4",
        "WEB_CONCURRENCY": "4",
    }


def test_pool_mode_reaches_every_process_and_the_migrations(helm):
    objects = helm.objects(sets=["gatehouse.database.poolMode=transaction"])
    configs = {c["metadata"]["name"]: c["data"] for c in find(objects, "ConfigMap")}
    for name, spec in pod_specs(objects):
        env_from = spec["containers"][0]["envFrom"]
        refs = [s["configMapRef"]["name"] for s in env_from if "configMapRef" in s]
        assert refs, name
        assert all(configs[ref]["DATABASE_POOL_MODE"] == "transaction" for ref in refs), name


def test_secret_holds_the_four_secret_settings(render):
    secret = get(render("defaults"), "Secret", FULLNAME)
    decoded = {k: base64.b64decode(v).decode() for k, v in secret["data"].items()}
    assert decoded == {
        "DATABASE_URL": SECRET_VALUES["databaseUrl"],
        "REDIS_URL": SECRET_VALUES["redisUrl"],
        "SECRET_KEY": SECRET_VALUES["secretKey"],
        "GATEHOUSE_KEY_ENCRYPTION_KEY": SECRET_VALUES["keyEncryptionKeys"],
    }


def test_email_url_goes_in_the_secret_and_the_sender_in_the_configmap(helm):
    url = "smtp://mailer:s3cret%40x@smtp.example.com:587?tls=1"
    objects = helm.objects(
        sets=[f"gatehouse.secret.emailUrl={url}", "gatehouse.mailFrom=id@example.com"]
    )
    secret = get(objects, "Secret", FULLNAME)
    assert base64.b64decode(secret["data"]["EMAIL_URL"]).decode() == url
    config = get(objects, "ConfigMap", FULLNAME)
    assert config["data"]["DEFAULT_FROM_EMAIL"] == "id@example.com"
    assert "EMAIL_URL" not in config["data"]
    for name, spec in pod_specs(objects):
        env_from = spec["containers"][0]["envFrom"]
        refs = [s["secretRef"]["name"] for s in env_from if "secretRef" in s]
        assert refs, name  # EMAIL_URL reaches every process through the Secret


@pytest.mark.parametrize("scenario", SCENARIOS)
def test_no_secret_reaches_a_configmap_or_shows_in_plain_text(helm, render, scenario):
    for config in find(render(scenario), "ConfigMap"):
        assert not SECRET_KEYS & set(config["data"]), config["metadata"]["name"]
    manifest = helm.template(SCENARIOS[scenario])
    for value in SECRET_VALUES.values():
        assert value not in manifest


def test_existing_secret_replaces_the_rendered_secret(render):
    objects = render("existing-secret")
    assert "Secret" not in kinds(objects)
    for name, spec in pod_specs(objects):
        secret_refs = [
            s["secretRef"]["name"] for s in spec["containers"][0]["envFrom"] if "secretRef" in s
        ]
        assert secret_refs == ["gatehouse-credentials"], name


def test_checksums_roll_pods_when_a_secret_or_setting_changes(helm, render):
    def checksums(objects):
        return {
            d["metadata"]["name"]: (
                annotations(d["spec"]["template"])["checksum/config"],
                annotations(d["spec"]["template"])["checksum/secret"],
            )
            for d in find(objects, "Deployment")
        }

    before = checksums(render("defaults"))
    assert set(before) == {f"{FULLNAME}-{c}" for c in ("web", "worker", "beat")}
    rotated_secret = checksums(helm.objects(sets=["gatehouse.secret.secretKey=rotated"]))
    changed_setting = checksums(helm.objects(sets=["gatehouse.customDomains[0]=login.acme.com"]))
    changed_pool_mode = checksums(helm.objects(sets=["gatehouse.database.poolMode=transaction"]))
    for name, (config, secret) in before.items():
        assert rotated_secret[name] == (config, rotated_secret[name][1])
        assert rotated_secret[name][1] != secret
        for changed in (changed_setting, changed_pool_mode):
            assert changed[name] == (changed[name][0], secret)
            assert changed[name][0] != config


# --- networking --------------------------------------------------------------------------------


def test_ingress_serves_base_wildcard_and_custom_domains_over_tls(render):
    ingress = get(render("custom-domains"), "Ingress", FULLNAME)
    spec = ingress["spec"]
    assert spec["ingressClassName"] == "nginx"
    assert annotations(ingress) == {"cert-manager.io/cluster-issuer": "letsencrypt"}
    hosts = [rule["host"] for rule in spec["rules"]]
    assert hosts == [
        "auth.example.com",
        "*.auth.example.com",
        "login.acme.com",
        "sso.globex.example",
    ]
    for rule in spec["rules"]:
        (path,) = rule["http"]["paths"]
        assert path["backend"]["service"] == {"name": FULLNAME, "port": {"name": "http"}}
    assert spec["tls"] == [
        {"hosts": ["auth.example.com", "*.auth.example.com"], "secretName": f"{FULLNAME}-tls"},
        {"hosts": ["login.acme.com"], "secretName": f"{FULLNAME}-tls-login.acme.com"},
        {"hosts": ["sso.globex.example"], "secretName": f"{FULLNAME}-tls-sso.globex.example"},
    ]


def test_ingress_can_be_turned_off(render):
    assert "Ingress" not in kinds(render("ingress-off"))
    assert "Service" in kinds(render("ingress-off"))


def test_service_targets_web_pods_on_port_http(render):
    objects = render("defaults")
    service = get(objects, "Service", FULLNAME)
    assert service["spec"]["ports"] == [
        {"name": "http", "port": 80, "targetPort": "http", "protocol": "TCP"}
    ]
    web_labels = get(objects, "Deployment", f"{FULLNAME}-web")["spec"]["template"]["metadata"][
        "labels"
    ]
    assert service["spec"]["selector"].items() <= web_labels.items()
    assert service["spec"]["selector"]["app.kubernetes.io/component"] == "web"


def test_service_monitor_scrapes_web_metrics(render):
    assert "ServiceMonitor" not in kinds(render("defaults"))
    objects = render("service-monitor")
    monitor = get(objects, "ServiceMonitor", f"{FULLNAME}-web")
    assert monitor["apiVersion"] == "monitoring.coreos.com/v1"
    assert monitor["metadata"]["labels"]["release"] == "kube-prometheus-stack"
    spec = monitor["spec"]
    assert set(spec) == {"selector", "namespaceSelector", "endpoints"}
    assert spec["namespaceSelector"] == {"matchNames": [NAMESPACE]}
    assert spec["endpoints"] == [
        {
            "port": "http",
            "path": "/metrics",
            "scheme": "http",
            "interval": "15s",
            "scrapeTimeout": "10s",
        }
    ]
    service = get(objects, "Service", FULLNAME)
    assert spec["selector"]["matchLabels"].items() <= service["metadata"]["labels"].items()
    other_services = [o for o in objects if o["kind"] == "Service" and o is not service]
    assert other_services == []


def test_network_policies_open_only_the_web_port(render):
    objects = render("network-policy")
    web, background = find(objects, "NetworkPolicy")
    assert web["spec"]["podSelector"]["matchLabels"]["app.kubernetes.io/component"] == "web"
    (rule,) = web["spec"]["ingress"]
    assert rule["ports"] == [{"port": "http", "protocol": "TCP"}]
    assert len(rule["from"]) == 2

    selector = background["spec"]["podSelector"]
    assert selector["matchExpressions"] == [
        {
            "key": "app.kubernetes.io/component",
            "operator": "In",
            "values": ["worker", "beat", "migrations"],
        }
    ]
    assert "ingress" not in background["spec"]
    for policy in (web, background):
        assert policy["spec"]["policyTypes"] == ["Ingress", "Egress"]
        dns, database = policy["spec"]["egress"]
        assert {p["port"] for p in dns["ports"]} == {53}
        assert {p["port"] for p in database["ports"]} == {5432, 6379}
    assert "NetworkPolicy" not in kinds(render("defaults"))


# --- labels ------------------------------------------------------------------------------------


@pytest.mark.parametrize("scenario", SCENARIOS)
def test_standard_labels_and_matching_selectors(render, scenario):
    objects = render(scenario)
    for obj in objects:
        labels = obj["metadata"]["labels"]
        assert labels["app.kubernetes.io/name"] == "gatehouse"
        assert labels["app.kubernetes.io/instance"] == RELEASE
        assert labels["app.kubernetes.io/managed-by"] == "Helm"
        assert "app.kubernetes.io/version" in labels
        assert obj["metadata"]["namespace"] == NAMESPACE
    for deployment in find(objects, "Deployment"):
        component = deployment["metadata"]["name"].removeprefix(f"{FULLNAME}-")
        selector = deployment["spec"]["selector"]["matchLabels"]
        assert selector["app.kubernetes.io/component"] == component
        assert selector.items() <= deployment["spec"]["template"]["metadata"]["labels"].items()
