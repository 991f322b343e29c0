"""The generated CRD on a real kube-apiserver: it is accepted (CEL cost within the server's limits),
valid SeldonDeployments are stored, and invalid ones are rejected by the server with the rule's
message, with no webhook running. Also short name, older versions and the scale subresource."""

from __future__ import annotations

import pytest
import yaml
from sdep_support import ROOT, apply, install_crd, sdep

FIXTURES = sorted((ROOT / "tests" / "fixtures" / "render").glob("*/sdep.yaml"))


@pytest.fixture
def crd_ns(kube_api, kube_namespace):
    install_crd(kube_api)
    return kube_namespace


@pytest.mark.parametrize("path", FIXTURES, ids=[p.parent.name for p in FIXTURES])
def test_every_render_fixture_is_accepted(kube_api, crd_ns, path) -> None:
    body = yaml.safe_load(path.read_text())
    body["metadata"]["namespace"] = crd_ns
    apply(kube_api, body)
    got = kube_api.kubectl("get", "sdep", body["metadata"]["name"], "-n", crd_ns, "-o", "yaml").stdout
    assert yaml.safe_load(got)["spec"]["predictors"][0]["name"] == body["spec"]["predictors"][0]["name"]


def _two_predictors(ns: str, **p2) -> dict:
    body = sdep("two", ns)
    second = dict(body["spec"]["predictors"][0], name="canary", **p2)
    body["spec"]["predictors"][0]["traffic"] = 50
    body["spec"]["predictors"].append(second)
    return body


def _bad_cases(ns: str) -> list[tuple[str, dict, str]]:
    dup = sdep("dup", ns)
    dup["spec"]["predictors"].append(dict(dup["spec"]["predictors"][0]))
    traffic = _two_predictors(ns, traffic=40)
    shadow_only = sdep("shadow", ns)
    shadow_only["spec"]["predictors"][0]["shadow"] = True
    single_traffic = sdep("single", ns)
    single_traffic["spec"]["predictors"][0]["traffic"] = 30
    kafka = sdep("kafka", ns, serverType="kafka")
    no_engine = sdep("noengine", ns, graph={"name": "a", "children": [{"name": "b"}]}, containers=["a", "b"])
    no_engine["spec"]["predictors"][0]["annotations"] = {"seldon.io/no-engine": "true"}
    pdb = sdep("pdb", ns)
    pdb["spec"]["predictors"][0]["componentSpecs"][0]["pdbSpec"] = {"minAvailable": 1, "maxUnavailable": 1}
    return [
        ("duplicate predictor names", dup, "predictor names must be unique"),
        ("traffic not summing to 100", traffic, "traffic of the non-shadow predictors must sum to 100"),
        ("single predictor partial traffic", single_traffic, "a single predictor's traffic, when set, must be 100"),
        ("shadow only", shadow_only, "a shadow predictor cannot be the only predictor"),
        (
            "graph node without container",
            sdep("nocontainer", ns, graph={"name": "missing"}),
            "every graph node without an implementation needs a container of the same name",
        ),
        (
            "child without container",
            sdep(
                "nochild",
                ns,
                graph={"name": "model", "children": [{"name": "model2", "children": [{"name": "ghost"}]}]},
                containers=["model", "model2"],
            ),
            "every graph node without an implementation needs a container of the same name",
        ),
        (
            "UNKNOWN_TYPE without methods",
            sdep("unknown", ns, graph={"name": "model", "type": "UNKNOWN_TYPE"}),
            "a node with type UNKNOWN_TYPE needs a non-empty methods list",
        ),
        (
            "prepackaged without modelUri",
            sdep("prepack", ns, graph={"name": "m", "implementation": "SKLEARN_SERVER"}, containers=["x"]),
            "a prepackaged server implementation needs modelUri",
        ),
        ("bad protocol enum", sdep("proto", ns, protocol="soap"), 'Unsupported value: "soap"'),
        (
            "logger without mode",
            sdep("logger", ns, graph={"name": "model", "logger": {"url": "http://x"}}),
            "mode: Required value",
        ),
        ("kafka without env", kafka, "serverType kafka needs KAFKA_BROKER"),
        ("no-engine with children", no_engine, "only allowed for a single-node graph"),
        ("pdb both fields", pdb, "minAvailable and maxUnavailable are mutually exclusive"),
    ]


def test_invalid_sdeps_are_rejected_by_the_server_with_the_rules_message(kube_api, crd_ns) -> None:
    failures = []
    for label, body, message in _bad_cases(crd_ns):
        proc = apply(kube_api, body, check=False)
        if proc.returncode == 0 or message not in proc.stderr:
            failures.append(f"{label}: rc={proc.returncode} stderr={proc.stderr.strip()[:400]}")
    assert not failures, "\n".join(failures)


def test_server_side_dry_run_rejects_without_any_webhook(kube_api, crd_ns) -> None:
    proc = kube_api.kubectl(
        "apply",
        "--dry-run=server",
        "-f",
        "-",
        check=False,
        input=yaml.safe_dump(sdep("dry", crd_ns, graph={"name": "nobody"})),
    )
    assert proc.returncode != 0 and "needs a container of the same name" in proc.stderr
    ok = kube_api.kubectl("apply", "--dry-run=server", "-f", "-", input=yaml.safe_dump(sdep("dry", crd_ns)))
    assert "created (server dry run)" in ok.stdout


def test_short_name_older_versions_and_scale(kube_api, crd_ns) -> None:
    old = sdep("old", crd_ns)
    old["apiVersion"] = "machinelearning.seldon.io/v1alpha2"
    apply(kube_api, old)
    for version in ("v1alpha3", "v1"):
        body = sdep(f"ver-{version}", crd_ns)
        body["apiVersion"] = f"machinelearning.seldon.io/{version}"
        apply(kube_api, body)
    names = kube_api.kubectl("get", "sdep", "-n", crd_ns, "-o", "name").stdout.split()
    assert sorted(names) == sorted(
        f"seldondeployment.machinelearning.seldon.io/{n}" for n in ("old", "ver-v1alpha3", "ver-v1")
    )
    kube_api.kubectl("scale", "sdep/old", "-n", crd_ns, "--replicas=3")
    got = yaml.safe_load(kube_api.kubectl("get", "sdep", "old", "-n", crd_ns, "-o", "yaml").stdout)
    assert got["spec"]["replicas"] == 3
    columns = kube_api.kubectl("get", "sdep", "-n", crd_ns).stdout.splitlines()[0].split()
    assert columns[:3] == ["NAME", "STATE", "AGE"]


@pytest.mark.parametrize("path", FIXTURES, ids=[p.parent.name for p in FIXTURES])
def test_rendered_objects_pass_server_side_validation(kube_api, crd_ns, path) -> None:
    """What `wharf render` prints is valid for the API server (dry run; Istio kinds need Istio's CRDs)."""
    from wharf.operator.render import render

    body = yaml.safe_load(path.read_text())
    body["metadata"]["namespace"] = crd_ns
    objects = [o for o in render(body) if o["apiVersion"].split("/")[0] != "networking.istio.io"]
    proc = kube_api.kubectl(
        "apply",
        "--server-side",
        "--dry-run=server",
        "--field-manager=wharf-operator",
        "-f",
        "-",
        input=yaml.safe_dump_all(objects),
        check=False,
    )
    assert proc.returncode == 0, proc.stderr
    assert proc.stdout.count("serverside-applied (server dry run)") == len(objects)
