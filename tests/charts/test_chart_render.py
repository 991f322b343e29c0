"""Charts rendered by the real helm: every ci values file validates; each mode renders what it says."""

from __future__ import annotations

import re
import subprocess

import pytest
import yaml
from chart_support import CHARTS, CI_CASES, ROOT

from wharf.charts.render import helm_template
from wharf.charts.validate import EXTRA_API_VERSIONS, validate_chart

pytestmark = pytest.mark.helm


@pytest.mark.parametrize("chart,values", CI_CASES)
def test_every_chart_renders_and_validates_with_every_ci_values_file(helm_major, chart, values):
    report = validate_chart(CHARTS / chart, [CHARTS / chart / "ci" / values])
    assert report.lines() == []
    assert report.rendered > 0


def render(chart, *sets, values=None, kube_version="1.32.0", extra=()):
    """Documents of ``chart`` with its ci file ``values``, then the files ``extra``, then ``--set``s."""
    files = ([CHARTS / chart / "ci" / values] if values else []) + list(extra)
    docs = helm_template(
        CHARTS / chart,
        files,
        release="rel",
        namespace="ns1",
        kube_version=kube_version,
        set_values=dict(s.split("=", 1) for s in sets),
        api_versions=EXTRA_API_VERSIONS,
    )
    return [r.doc for r in docs]


def by_kind(docs, kind, hooks=False):
    """Documents of ``kind``; helm test hooks only when asked."""
    return [
        d
        for d in docs
        if d["kind"] == kind and hooks == ("helm.sh/hook" in ((d.get("metadata") or {}).get("annotations") or {}))
    ]


def operator_env(docs):
    container = by_kind(docs, "Deployment")[0]["spec"]["template"]["spec"]["containers"][0]
    return container, {e["name"]: e.get("value") for e in container["env"]}


def test_helm_refuses_values_that_break_the_schema_naming_the_path(helm_major, tmp_path):
    _, helm = helm_major
    bad = tmp_path / "bad.yaml"
    bad.write_text("replicas: two\nmodel: {image: x:1}\n")
    done = subprocess.run(
        [str(helm), "template", "r", str(CHARTS / "wharf-model"), "-f", str(bad)], capture_output=True, text=True
    )
    assert done.returncode != 0 and "/replicas" in done.stderr


def test_built_helm_honours_kube_version_of_the_charts(helm_major):
    # Helm 3's Makefile stamps its default Kubernetes version; our go install does the same (1.34).
    # Helm 4 derives it from its client-go module (1.37) at run time.
    _, helm = helm_major
    done = subprocess.run(
        [str(helm), "template", "r", str(CHARTS / "wharf-model"), "--set", "model.image=m:1"],
        capture_output=True,
        text=True,
    )
    assert done.returncode == 0, done.stderr
    old = subprocess.run(
        [
            str(helm),
            "template",
            "r",
            str(CHARTS / "wharf-model"),
            "--set",
            "model.image=m:1",
            "--kube-version",
            "1.24.0",
        ],
        capture_output=True,
        text=True,
    )
    assert old.returncode != 0 and "kubeVersion" in old.stderr


def test_model_chart_keeps_upstream_value_names(helm, tmp_path):
    """A user's file for seldon-single-model, stacked on upstream's own values.yaml as helm would."""
    mine = tmp_path / "mine.yaml"
    mine.write_text("""
replicas: 2
model:
  image: seldonio/mock_classifier:1.19.0
  env: {LOG_LEVEL: DEBUG}
  logger: {enabled: true, url: "http://logger.seldon-logs.svc/"}
  mlflow: {xtype: DataFrame}
annotations: {seldon.io/rest-timeout: "5000"}
""")
    sdep = render("wharf-model", values="upstream-values.yaml", extra=[mine])[0]
    predictor = sdep["spec"]["predictors"][0]
    assert sdep["metadata"]["annotations"] == {"seldon.io/rest-timeout": "5000"}
    assert predictor["replicas"] == 2 and predictor["graph"]["logger"] == {
        "mode": "all",
        "url": "http://logger.seldon-logs.svc/",
    }
    assert predictor["graph"]["parameters"] == [{"name": "xtype", "value": "DataFrame", "type": "STRING"}]
    container = predictor["componentSpecs"][0]["spec"]["containers"][0]
    assert container["image"] == "seldonio/mock_classifier:1.19.0"
    assert container["env"] == [{"name": "LOG_LEVEL", "value": "DEBUG"}]


def test_prepackaged_model_has_no_image_and_an_hpa(helm):
    predictor = render("wharf-model", values="prepackaged-values.yaml")[0]["spec"]["predictors"][0]
    assert predictor["graph"]["implementation"] == "SKLEARN_SERVER"
    assert predictor["graph"]["modelUri"] == "gs://seldon-models/v1.19.0/sklearn/iris"
    assert "image" not in predictor["componentSpecs"][0]["spec"]["containers"][0]
    assert predictor["componentSpecs"][0]["hpaSpec"]["maxReplicas"] == 3


def test_abtest_splits_traffic_and_pods(helm):
    two = render("wharf-abtest", values="default-values.yaml")[0]["spec"]["predictors"][0]
    assert two["graph"]["implementation"] == "RANDOM_ABTEST"
    assert two["graph"]["parameters"] == [{"name": "ratioA", "value": "0.5", "type": "FLOAT"}]
    assert len(two["componentSpecs"]) == 2 and two["componentSpecs"][1]["metadata"]["labels"] == {"version": "v2"}
    one = render("wharf-abtest", values="one-pod-values.yaml")[0]["spec"]["predictors"][0]
    assert one["graph"]["parameters"][0]["value"] == "0.8"
    assert [c["name"] for c in one["componentSpecs"][0]["spec"]["containers"]] == ["classifier-1", "iris-b"]


def test_mab_router_parameters_and_engine(helm):
    predictor = render("wharf-mab", values="upstream-values.yaml")[0]["spec"]["predictors"][0]
    assert predictor["graph"]["type"] == "ROUTER"
    assert {p["name"]: (p["value"], p["type"]) for p in predictor["graph"]["parameters"]} == {
        "n_branches": ("2", "INT"),
        "epsilon": ("0.2", "FLOAT"),
        "verbose": ("true", "BOOL"),
    }
    assert [c["name"] for c in predictor["graph"]["children"]] == ["classifier-1", "classifier-2"]
    assert predictor["labels"] == {"version": "1.17.1", "fluentd": "true"}
    assert {"name": "SELDON_LOG_REQUESTS", "value": "false"} in predictor["svcOrchSpec"]["env"]
    assert predictor["svcOrchSpec"]["resources"] == {"requests": {"cpu": "0.1"}}


def test_graph_chart_passes_the_tree_through_and_secures_containers(helm):
    sdep = render("wharf-graph", values="combiner-values.yaml")[0]
    assert sdep["spec"]["transport"] == "grpc"
    predictor = sdep["spec"]["predictors"][0]
    assert predictor["graph"]["children"][1]["implementation"] == "SKLEARN_SERVER"
    container = predictor["componentSpecs"][0]["spec"]["containers"][0]
    assert container["securityContext"]["readOnlyRootFilesystem"] is True
    # The user's own securityContext wins over the default.
    custom = render(
        "wharf-graph",
        "componentSpecs[0].spec.containers[0].name=m",
        "componentSpecs[0].spec.containers[0].image=m:1",
        "componentSpecs[0].spec.containers[0].securityContext.runAsUser=5",
        "graph.name=m",
    )[0]
    assert custom["spec"]["predictors"][0]["componentSpecs"][0]["spec"]["containers"][0]["securityContext"] == {
        "runAsUser": 5
    }


def test_graph_chart_gives_read_only_containers_a_writable_tmp(helm):
    """The model server writes its metrics files to /tmp: a read-only root needs an emptyDir there
    (found on the real node: without it the transformer values' pods crash-looped)."""
    pod = render("wharf-graph", values="transformer-values.yaml")[0]["spec"]["predictors"][0]["componentSpecs"][0][
        "spec"
    ]
    assert [c["volumeMounts"] for c in pod["containers"]] == [[{"name": "wharf-tmp", "mountPath": "/tmp"}]] * 2
    assert pod["volumes"] == [{"name": "wharf-tmp", "emptyDir": {}}]
    # a container that mounts its own /tmp keeps it, and gets no second one
    own = render(
        "wharf-graph",
        "graph.name=m",
        "componentSpecs[0].spec.containers[0].name=m",
        "componentSpecs[0].spec.containers[0].image=m:1",
        "componentSpecs[0].spec.containers[0].volumeMounts[0].name=scratch",
        "componentSpecs[0].spec.containers[0].volumeMounts[0].mountPath=/tmp",
        "componentSpecs[0].spec.volumes[0].name=scratch",
    )[0]
    own_pod = own["spec"]["predictors"][0]["componentSpecs"][0]["spec"]
    assert own_pod["containers"][0]["volumeMounts"] == [{"name": "scratch", "mountPath": "/tmp"}]
    assert [v["name"] for v in own_pod["volumes"]] == ["scratch"]
    # a writable root needs nothing
    writable = render(
        "wharf-graph", "defaultSecurityContext.readOnlyRootFilesystem=false", values="transformer-values.yaml"
    )[0]
    writable_pod = writable["spec"]["predictors"][0]["componentSpecs"][0]["spec"]
    assert "volumes" not in writable_pod and all("volumeMounts" not in c for c in writable_pod["containers"])


def test_core_cluster_wide_rbac_is_the_operators_rule_list(helm):
    from wharf.operator.rbac import leader_election_rules, rules

    docs = render("wharf-core", values="default-values.yaml")
    # the only Role: the Lease replicas elect a leader with, in the release namespace
    (lease_role,) = by_kind(docs, "Role")
    assert lease_role["rules"] == leader_election_rules() and lease_role["metadata"]["namespace"] == "ns1"
    (cluster_role,) = by_kind(docs, "ClusterRole")
    assert cluster_role["rules"] == rules()
    assert cluster_role["metadata"]["name"] == "rel-wharf-operator-ns1"
    container, env = operator_env(docs)
    assert "WATCH_NAMESPACE" not in env
    assert container["command"] == ["wharf", "operator"] and container["image"] == "docker.io/wharf/operator:0.1.0"
    assert env["EXECUTOR_CONTAINER_IMAGE_AND_VERSION"] == "docker.io/wharf/orchestrator:0.1.0"
    assert container["securityContext"]["runAsUser"] == 1001 and container["securityContext"]["readOnlyRootFilesystem"]


def test_core_single_namespace_uses_roles_and_watches_its_namespaces(helm):
    docs = render("wharf-core", "singleNamespace=true", "watchNamespaces={models,ns1}")
    roles = [r for r in by_kind(docs, "Role") if not r["metadata"]["name"].endswith("-leader-election")]
    assert sorted(r["metadata"]["namespace"] for r in roles) == ["models", "ns1"]
    (cluster_role,) = by_kind(docs, "ClusterRole")
    assert {r for rule in cluster_role["rules"] for r in rule["resources"]} == {
        "namespaces",
        "customresourcedefinitions",
    }
    assert roles[0]["rules"][0]["resources"] == ["seldondeployments"]
    assert operator_env(docs)[1]["WATCH_NAMESPACE"] == "ns1,models"


def test_core_openshift_mode_sets_no_uid(helm):
    docs = render("wharf-core", values="openshift-values.yaml")
    container, env = operator_env(docs)
    pod = by_kind(docs, "Deployment")[0]["spec"]["template"]["spec"]
    assert "runAsUser" not in container["securityContext"] and "fsGroup" not in pod["securityContext"]
    assert env["DEFAULT_USER_ID"] == "" and env["EXECUTOR_CONTAINER_USER"] == ""
    assert container["image"] == "wharf/operator:0.1.0"


def test_core_image_parts_digest_and_global_registry(helm):
    digest = "sha256:" + "b" * 64
    container, env = operator_env(
        render(
            "wharf-core",
            f"image.digest={digest}",
            "image.tag=9.9.9",
            "global.imageRegistry=mirror.local:5000",
            "executor.image.tag=1.2.3",
        )
    )
    assert container["image"] == f"mirror.local:5000/wharf/operator@{digest}"
    assert env["EXECUTOR_CONTAINER_IMAGE_AND_VERSION"] == "mirror.local:5000/wharf/orchestrator:1.2.3"


def test_core_crd_toggle_keep_and_equality_with_the_shared_source(helm):
    from wharf.deployment.crd import crd

    (chart_crd,) = by_kind(render("wharf-core"), "CustomResourceDefinition")
    assert chart_crd["metadata"]["annotations"] == {"helm.sh/resource-policy": "keep"}
    bare = dict(chart_crd, metadata={k: v for k, v in chart_crd["metadata"].items() if k != "annotations"})
    assert bare == crd()
    assert (
        "annotations" not in by_kind(render("wharf-core", "crds.keep=false"), "CustomResourceDefinition")[0]["metadata"]
    )
    assert by_kind(render("wharf-core", "crds.enabled=false"), "CustomResourceDefinition") == []


def test_core_podmonitor_needs_the_prometheus_operator_api(helm):
    docs = render("wharf-core", values="monitoring-values.yaml")
    (monitor,) = by_kind(docs, "PodMonitor")
    assert monitor["spec"]["podMetricsEndpoints"][0] == {"port": "metrics", "path": "/prometheus", "interval": "30s"}
    assert monitor["spec"]["podMetricsEndpoints"][1]["port"] == "http"
    assert monitor["metadata"]["labels"]["release"] == "prometheus"
    done = subprocess.run(
        [str(helm), "template", "r", str(CHARTS / "wharf-core"), "--set", "metrics.podMonitor.enabled=true"],
        capture_output=True,
        text=True,
    )
    assert done.returncode != 0 and "needs the Prometheus Operator CRDs" in done.stderr


def _scraped(monitor: dict, deployment: dict) -> set[tuple[str, int, str]]:
    """(container, port, path) a Prometheus Operator would scrape in ``deployment``'s pods for ``monitor``:
    podMetricsEndpoints pick container ports by name; a keep relabeling on the container name filters."""
    labels = deployment["spec"]["template"]["metadata"]["labels"]
    selector = monitor["spec"]["selector"]
    if not all(e["operator"] == "Exists" and e["key"] in labels for e in selector.get("matchExpressions", [])):
        return set()
    out = set()
    for endpoint in monitor["spec"]["podMetricsEndpoints"]:
        for container in deployment["spec"]["template"]["spec"]["containers"]:
            keep = all(
                re.fullmatch(r["regex"], container["name"])
                for r in endpoint.get("relabelings", [])
                if r["action"] == "keep" and r["sourceLabels"] == ["__meta_kubernetes_pod_container_name"]
            )
            for port in container.get("ports", []):
                if port.get("name") == endpoint["port"] and keep:
                    out.add((container["name"], port["containerPort"], endpoint["path"]))
    return out


def _serving_metrics(deployment: dict) -> set[tuple[str, int, str]]:
    """(container, port, path) where the rendered containers serve metrics, read from their own settings:
    the orchestrator's --http_port/--prometheus_path, a unit's PREDICTIVE_UNIT_METRICS_* variables."""
    out = set()
    for container in deployment["spec"]["template"]["spec"]["containers"]:
        args, env = container.get("args") or [], {e["name"]: e.get("value") for e in container.get("env") or []}
        if "--http_port" in args:
            out.add(
                (container["name"], int(args[args.index("--http_port") + 1]), args[args.index("--prometheus_path") + 1])
            )
        elif "PREDICTIVE_UNIT_METRICS_SERVICE_PORT" in env:
            out.add(
                (
                    container["name"],
                    int(env["PREDICTIVE_UNIT_METRICS_SERVICE_PORT"]),
                    env["PREDICTIVE_UNIT_METRICS_ENDPOINT"],
                )
            )
    return out


@pytest.mark.parametrize("fixture", ["abtest-two-pods", "separate-engine", "prepackaged-sklearn", "single-model"])
def test_the_podmonitor_scrapes_every_container_that_serves_metrics_once(helm, fixture):
    """The chart's PodMonitor against the pods the operator (configured by the same chart) renders."""
    from wharf.operator.config import OperatorConfig
    from wharf.operator.render import render as render_sdep

    docs = render("wharf-core", values="monitoring-values.yaml")
    (monitor,) = by_kind(docs, "PodMonitor")
    _, env = operator_env(docs)
    config = OperatorConfig.from_env({k: v for k, v in env.items() if v is not None})
    sdep = yaml.safe_load((ROOT / "tests" / "fixtures" / "render" / fixture / "sdep.yaml").read_text())
    deployments = [o for o in render_sdep(sdep, config) if o["kind"] == "Deployment"]
    assert deployments
    serving = set().union(*(_serving_metrics(d) for d in deployments))
    assert any(name == "seldon-container-engine" for name, _, _ in serving) or fixture == "no-engine"
    scraped = [s for d in deployments for s in sorted(_scraped(monitor, d))]
    assert len(scraped) == len(set(scraped))  # nothing twice
    assert set(scraped) == serving


def test_notes_tell_how_to_call_the_model(helm, tmp_path):
    import shutil

    # helm prints NOTES only on install; render the same template as a plain one instead.
    cases = (("wharf-model", "default", "model.image=m:1"), ("wharf-graph", "main", "graph.name=m,predictor.name=main"))
    for chart, predictor, sets in cases:
        copy = shutil.copytree(CHARTS / chart, tmp_path / chart)
        (copy / "templates" / "notes.yaml").write_text(
            "apiVersion: v1\nkind: ConfigMap\nmetadata: {name: notes}\n"
            f'data: {{notes: {{{{ include "{chart}/templates/NOTES.txt" . | quote }}}}}}\n'
        )
        done = subprocess.run(
            [
                str(helm),
                "template",
                "my",
                str(copy),
                "-n",
                "team",
                "--show-only",
                "templates/notes.yaml",
                "--set",
                sets,
            ],
            capture_output=True,
            text=True,
        )
        assert done.returncode == 0, done.stderr
        notes = yaml.safe_load(done.stdout)["data"]["notes"]
        assert f"kubectl -n team port-forward svc/my-{predictor} 8000:8000" in notes
        assert "/api/v1.0/predictions" in notes


def test_validate_command_exit_codes_and_output(helm, tmp_path):
    from wharf.charts.commands import schema_command, validate_command

    bad = tmp_path / "bad.yaml"
    bad.write_text("model: {image: wharf/iris:latest, securityContext: {runAsNonRoot: false}}\n")
    out: list[str] = []
    assert validate_command(ROOT, "wharf-model", str(bad), out=out.append) == 1
    assert out[0] == "✖︎ wharf-model:"
    assert any("[image-tag-pinned]" in line and "with bad.yaml" in line for line in out)
    assert any("[run-as-non-root]" in line for line in out)
    out.clear()
    assert validate_command(ROOT, "wharf-nope", out=out.append) == 2 and "unknown chart(s) wharf-nope" in out[0]
    assert validate_command(ROOT, "", str(bad), out=out.append) == 2
    assert schema_command(ROOT, check=True, out=out.append) == 0 and out[-1] == "values schemas up to date"


def test_core_predictor_servers_reach_the_operator_as_upstreams_table(helm, tmp_path):
    """The chart's default table is the operator's own default (two sources, kept equal); a custom
    server in a user's values joins the defaults (helm merges maps), as with upstream's chart."""
    from wharf.operator.config import PREDICTOR_SERVERS, OperatorConfig

    _, env = operator_env(render("wharf-core"))
    assert OperatorConfig.from_env(env).predictor_servers == PREDICTOR_SERVERS

    values = tmp_path / "custom.yaml"
    values.write_text(
        "predictor_servers:\n  LIGHTGBM_SERVER:\n    protocols:\n      seldon:\n"
        "        image: registry.example/lightgbmserver\n        defaultImageVersion: '4.7'\n"
    )
    docs = helm_template(
        CHARTS / "wharf-core",
        [values],
        release="rel",
        namespace="ns1",
        kube_version="1.32.0",
        set_values={},
        api_versions=EXTRA_API_VERSIONS,
    )
    _, env = operator_env([d.doc for d in docs])
    assert OperatorConfig.from_env(env).predictor_servers == {
        **PREDICTOR_SERVERS,
        "LIGHTGBM_SERVER": {"seldon": "registry.example/lightgbmserver:4.7"},
    }
