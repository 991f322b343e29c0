"""Developer tasks (``invoke --list``). Each task is a few lines calling code in ``src/wharf``."""

from __future__ import annotations

import os
import sys
from pathlib import Path

from invoke import Collection, Context, Exit, task

ROOT = Path(__file__).resolve().parent
STUBS = ROOT / "src" / "wharf" / "protocol" / "pb"


@task(
    help={
        "reference": "also run the parity tests against the real seldon-core 1.19.0 (default: on)",
        "java": "also run the Java wrapper's own unit tests, `mvn verify` (default: on)",
        "k": "only tests matching this pytest -k expression",
    }
)
def test(c: Context, reference: bool = True, java: bool = True, k: str = "") -> None:
    """Run every test suite: Java wrapper (mvn verify), then unit, integration, infrastructure and reference."""
    if java and not k:
        with c.cd(str(ROOT / "wrappers" / "java")):
            c.run("mvn -B -q verify", pty=False)
    env = {}
    if reference:
        from wharf.testing.reference import ensure_reference_venv

        env["WHARF_REFERENCE_PYTHON"] = str(ensure_reference_venv() / "python")
        env["WHARF_REQUIRE_REFERENCE"] = "1"
    selection = f" -k {k!r}" if k else ""
    # the slowest tests are listed at the end: where a CI run's time went, without a second run
    c.run(f"{sys.executable} -m pytest -q --durations=25{selection}", env=env, pty=False)


@task(help={"logs": "also print every node's log lines"})
def demo(c: Context, logs: bool = False) -> None:
    """Run the example graph locally (transformer, bandit router, two models) and print its answers."""
    from wharf.local.demo import run

    run(ROOT / "examples" / "graphs" / "ab-router.yaml", node_logs=logs)


@task(help={"check": "fail if the committed stubs differ from freshly generated ones"})
def proto(c: Context, check: bool = False) -> None:
    """Generate the protobuf/gRPC stubs in src/wharf/protocol/pb (needs grpcio-tools==1.71.0)."""
    import tempfile

    from wharf.protocol.codegen import generate

    if not check:
        for path in generate(STUBS):
            print(f"wrote {path.relative_to(ROOT)}")
        return
    with tempfile.TemporaryDirectory() as tmp:
        stale = [p.name for p in generate(Path(tmp)) if p.read_bytes() != (STUBS / p.name).read_bytes()]
    if stale:
        raise Exit(f"stubs out of date: {', '.join(stale)}; run `invoke proto`", code=1)
    print("stubs up to date")


@task(
    help={
        "duration": "seconds per measurement",
        "runs": "measurements per case (median reported)",
        "quick": "a short smoke run",
        "only": "wharf or seldon",
        "json": "also write the figures to this file",
    }
)
def bench(c: Context, duration: int = 10, runs: int = 3, quick: bool = False, only: str = "", json: str = "") -> None:
    """Benchmark the component server against seldon-core 1.19.0 side by side (needs wrk; go for ghz)."""
    args = ["--quick"] if quick else ["--duration", str(duration), "--runs", str(runs)]
    args += ["--only", only] if only else []
    args += ["--json", json] if json else []
    c.run(" ".join([sys.executable, "benchmarks/bench_component.py", *args]), pty=False)


# --- build: s2i builder images and model images (issues 5, 6) --------------------------


@task(
    iterable=["smoke_env"],
    help={
        "source": "the model folder (with .s2i/environment, or pom.xml for Java), or a git repository URL",
        "context_dir": "folder inside --source that holds the model (as s2i's --context-dir)",
        "ref": "git branch, tag or commit of a git --source (as s2i's --ref)",
        "image": "tag for the result, e.g. my-model:0.1 (set only after the smoke test passes)",
        "lang": "python or java (default: java if the folder has pom.xml)",
        "python": "Python builder version: 3.11 or 3.12",
        "builder": "builder image (default: wharf's, built if absent)",
        "ca_bundle": "CA bundle for pip during the build (default: $WHARF_CA_BUNDLE or the host's)",
        "index_url": "pip index URL (build-time only)",
        "trusted_host": "pip trusted host(s) (build-time only)",
        "no_smoke": "skip the smoke test before tagging",
        "quiet": "print nothing but the result",
        "verbose": "also print every line of the engine's build output (shown on failure anyway)",
        "dockerfile": "build with this Dockerfile in the folder instead (OpenShift's Docker strategy)",
        "base_image": "with --dockerfile: the final stage's base image (fills ARG BASE_IMAGE, else replaces the last FROM)",
        "smoke_env": "with --dockerfile: KEY=VALUE (or KEY, taken from this shell) for the smoke test's container "
        "only, e.g. MODEL_URI and credentials; repeatable",
    },
)
def build(
    c: Context,
    source: str = "",
    image: str = "",
    lang: str = "",
    python: str = "3.12",
    builder: str = "",
    ca_bundle: str = "",
    index_url: str = "",
    trusted_host: str = "",
    no_smoke: bool = False,
    quiet: bool = False,
    context_dir: str = "",
    ref: str = "",
    dockerfile: str = "",
    base_image: str = "",
    smoke_env: list[str] | None = None,
    verbose: bool = False,
) -> None:
    """Build a model image from a model folder (s2i protocol, no s2i binary needed), or with its Dockerfile."""
    from wharf.build.run import build as run_build

    # Required, but declared with defaults: invoke would read `invoke build --help` as a value for
    # a missing positional argument instead of showing this task's help.
    missing = [flag for flag, value in (("--source", source), ("--image", image)) if not value]
    if missing:
        raise Exit(f"invoke build needs {' and '.join(missing)} (see `invoke build --help`)", code=2)

    from wharf.build.progress import BuildProgress

    progress = None if quiet else BuildProgress(verbose=verbose)
    options = {"progress": progress, "smoke": not no_smoke, "context_dir": context_dir, "ref": ref}
    if dockerfile:
        if ca_bundle or index_url or trusted_host or builder:
            raise Exit(
                "--ca-bundle, --index-url, --trusted-host and --builder are for s2i builds; a --dockerfile "
                "build installs what its Dockerfile says (use --base-image for the base)",
                code=2,
            )
        from wharf.build.dockerstrategy import parse_smoke_env

        try:
            options.update(
                dockerfile=dockerfile,
                base_image=base_image or None,
                smoke_env=parse_smoke_env(smoke_env or [], os.environ),
            )
        except ValueError as exc:
            raise Exit(str(exc), code=2) from None
    elif base_image or smoke_env:
        raise Exit("--base-image and --smoke-env go with --dockerfile; s2i builds take --builder", code=2)
    elif (lang or "python") == "python" and not (Path(source) / context_dir / "pom.xml").exists():
        from wharf.build.config import Network

        options.update(
            python=python,
            builder=builder or None,
            network=Network.from_env(ca_bundle=ca_bundle, index_url=index_url, trusted_hosts=trusted_host),
        )
    try:
        result = run_build(source, image, lang=lang or None, **options)
    except Exception as exc:  # every builder error carries the file/field at fault in its message
        problems = getattr(exc, "problems", None) or [str(exc)]
        log = getattr(exc, "log", None) or []
        if log and progress is not None and not verbose:  # the raw lines the condensed view left out
            print("last lines of the build output:\n  " + "\n  ".join(log[-30:]))
        raise Exit("build failed:\n  " + "\n  ".join(problems) + f"\n(no tag {image} was created)", code=1) from None
    print(_build_summary(image, result))


def _build_summary(image: str, result: object) -> str:
    """One line: what was tagged, how long each stage took, how big it is."""
    seconds = getattr(result, "seconds", None) or {}
    stages = ", ".join(f"{name} {value:.1f} s" for name, value in seconds.items())
    size = getattr(result, "size_bytes", 0)
    return (
        (
            f"built {image} in {sum(seconds.values()):.1f} s ({stages}), {size / 1e6:.0f} MB, "
            f"id {str(getattr(result, 'image_id', result))[:19]}"
        )
        if seconds
        else f"built {image}: {result}"
    )


@task(
    help={
        "python": "only this Python version (default: 3.11 and 3.12)",
        "base_image": "base image with that Python (default: a local Debian image, built if absent)",
    }
)
def build_builders(c: Context, python: str = "", base_image: str = "") -> None:
    """Build the Python s2i builder images wharf/python-builder:<ver>-py3.1x."""
    from wharf.build.builder import PYTHON_VERSIONS, build_builder

    for version in [python] if python else PYTHON_VERSIONS:
        print("tagged", ", ".join(build_builder(version, base_image=base_image or None)))


@task
def build_s2i_cli(c: Context) -> None:
    """Build the real s2i CLI from its Go module into ~/.cache/wharf/bin/s2i-<ver>/ (cached)."""
    from wharf.build.s2icli import ensure_s2i

    print(ensure_s2i())


@task(
    help={
        "cluster": "also build the Kubernetes binaries (kubectl, the control plane, the node; long when cold)",
        "export": 'print only the `export PATH=...` line, for `eval "$(.venv/bin/invoke tools --export)"`',
    }
)
def tools(c: Context, cluster: bool = False, export: bool = False) -> None:
    """Build (once, cached) the tools the README's commands use, and say how to put them on PATH:
    .venv/bin (invoke, wharf, seldon-core-microservice), helm, s2i; with --cluster, kubectl and the cluster."""
    from wharf.build.s2icli import ensure_s2i
    from wharf.charts.helm import HelmUnavailable, ensure_helm
    from wharf.testing import kube_binaries as kb

    say = (lambda line: print(line, file=sys.stderr)) if export else print
    folders = [Path(sys.executable).parent]
    try:
        for name, ensure in (("helm", ensure_helm), ("s2i", ensure_s2i)):
            path = ensure()
            say(f"{name}: {path}")
            folders.append(path.parent)
    except (HelmUnavailable, RuntimeError) as exc:
        raise Exit(f"invoke tools: {exc}", code=1) from None
    if cluster:
        try:
            kb.build_binaries(kb.ALL)
        except kb.BuildError as exc:
            raise Exit(f"invoke tools: building the Kubernetes binaries failed: {exc}", code=1) from None
    if not kb.missing_binaries(("kubectl",)):
        say(f"kubectl: {kb.binary_path('kubectl')}")
        folders.append(kb.binary_path("kubectl").parent)
    else:
        say("kubectl: not built (`invoke tools --cluster` builds it with the cluster's binaries)")
    line = 'export PATH="' + ":".join(str(f) for f in dict.fromkeys(folders)) + ':$PATH"'
    if export:
        print(line)
    else:
        print(f'put them on PATH in this shell:\n  {line}\nor: eval "$(.venv/bin/invoke tools --export)"')


@task(help={"suite": "Debian suite (default bookworm)", "python": "also the Python bases (default: yes)"})
def build_base_images(c: Context, suite: str = "bookworm", python: bool = True) -> None:
    """Make the local base images (debootstrap + docker import) used instead of registry images."""
    from wharf.build.base import ensure_base_image, ensure_python_base

    print(ensure_base_image(suite))
    if python:
        for version in ("3.11", "3.12"):
            print(ensure_python_base(version, suite))


@task(help={"base_image": "base image with apt (default: the local Debian image, built if absent)"})
def build_java_images(c: Context, base_image: str = "") -> None:
    """Build the Java s2i builder (JDK + Maven + wrapper) and runtime (JRE) images."""
    from wharf.build.java import build_java_images as build_images

    print("tagged", ", ".join(build_images(base_image=base_image or None)))


# --- cluster: the etcd + kube-apiserver harness (issue 7) -------------------------------


@task(
    name="build-binaries",
    help={
        "force": "rebuild even if cached",
        "core": "only etcd, kube-apiserver, kube-controller-manager",
        "oldest": "only the kube-apiserver of the oldest Kubernetes the charts admit "
        "(kube_binaries.OLDEST_KUBERNETES_VERSION), for the kubeVersion tests",
    },
)
def cluster_build_binaries(c: Context, force: bool = False, core: bool = False, oldest: bool = False) -> None:
    """Build the control plane (etcd, kube-apiserver, kube-controller-manager), KWOK and the node (kubelet, kube-proxy, kubectl, CoreDNS, crictl, metrics-server) from Go modules, cached."""
    from wharf.testing import kube_binaries as kb

    names = ("kube-apiserver",) if oldest else kb.CONTROL_PLANE if core else kb.ALL
    version = kb.OLDEST_KUBERNETES_VERSION if oldest else kb.KUBERNETES_VERSION
    try:
        paths = kb.build_binaries(names, version=version, force=force)
    except kb.BuildError as exc:
        raise Exit(f"build failed: {exc}", code=1) from None
    for name, version in kb.version_report(paths).items():
        print(f"  {name}: {version}")


@task(name="up", help={"kubelet": "also run one real node (containerd, kubelet, kube-proxy, CoreDNS; needs root)"})
def cluster_up(c: Context, kubelet: bool = False) -> None:
    """Start etcd + kube-apiserver + controller-manager (+ a real node) until `invoke cluster.down`."""
    from wharf.testing.apiserver import HarnessError
    from wharf.testing.apiserver import cluster_up as up
    from wharf.testing.node import cluster_up as up_with_node

    try:
        if kubelet:
            cluster = up_with_node()
            plane, names = cluster.plane, [p.name for p in cluster.plane.processes + cluster.node.processes]
        else:
            plane = up()
            names = [p.name for p in plane.processes]
    except HarnessError as exc:
        raise Exit(str(exc), code=1) from None
    print(f"API server {plane.server} ({', '.join(names)}); logs in {plane.work}")
    print(f"export KUBECONFIG={plane.kubeconfig}")


@task(name="down")
def cluster_down(c: Context) -> None:
    """Stop the cluster started by `invoke cluster.up` (by its recorded pids) and undo the node's host changes."""
    from wharf.testing.node import cluster_down as down

    stopped = down()
    print(f"stopped: {', '.join(stopped)}" if stopped else "no cluster was running")


@task(
    name="load",
    iterable=["image"],
    help={
        "image": "image of the local Docker engine (repeatable, or comma-separated: -i iris:0.1,scaler:0.1)",
        "wharf": "build (when needed) and load Wharf's runtime: the operator and orchestrator images",
        "servers": "build (when needed) and load the prepackaged servers' and storage initializer's images",
    },
)
def cluster_load(c: Context, image: list[str] | None = None, wharf: bool = False, servers: bool = False) -> None:
    """Copy Docker images into the node of `invoke cluster.up --kubelet` (like `kind load docker-image`).

    Images are options (`-i IMAGE`), not positional words: invoke cannot have a task take an
    optional list of positional arguments next to `--wharf` alone."""
    from wharf.testing.apiserver import HarnessError
    from wharf.testing.node import running_node

    images = [name for item in image or [] for name in item.replace(",", " ").split()]
    # Split because copying is most of the time: a model with its own image needs only the runtime
    # (two images); the servers are seven more, 5 GB, wanted only by SKLEARN_SERVER and the like.
    if wharf:
        from wharf.build.service_images import build_operator_image, build_orchestrator_image

        images += [build_operator_image(progress=None), build_orchestrator_image(progress=None)]
    if servers:
        from wharf.build.service_images import SERVER_IMAGES, build_service_image

        images += [build_service_image(image, progress=None) for image in SERVER_IMAGES]
    if not images:
        raise Exit("name at least one image, or --wharf / --servers", code=2)
    try:
        running_node().load_images(images)
    except HarnessError as exc:
        raise Exit(str(exc), code=1) from None
    print("loaded:", ", ".join(images))


@task(name="kind-up", help={"name": "kind cluster name"})
def cluster_kind_up(c: Context, name: str = "wharf") -> None:
    """Create a kind cluster (needs kind, Docker and internet); tests use it via WHARF_KUBECONFIG."""
    import shutil

    if shutil.which("kind") is None:
        raise Exit(
            "kind is not installed: `go install sigs.k8s.io/kind@v0.30.0` (needs internet for its node image)", code=1
        )
    kubeconfig = Path.home() / ".kube" / f"kind-{name}.yaml"
    c.run(f"kind create cluster --name {name} --kubeconfig {kubeconfig} --wait 120s")
    print(f"export KUBECONFIG={kubeconfig} WHARF_KUBECONFIG={kubeconfig}")


# --- operator: CRD/RBAC generation, render (issue 8) -----------------------------------


@task(help={"check": "fail if a generated file is stale instead of writing it"})
def generate(c: Context, check: bool = False) -> None:
    """Write what is generated from one source: the chart's CRD and RBAC rules (from the Python
    model), then kustomize/ (from the chart) and the Argo CD health-check patch (from its Lua)."""
    from wharf.gitops import argocd, kustomize
    from wharf.operator.generate import stale, write

    if check:
        drift = [*stale(ROOT), *(f"kustomize/{p}" for p in kustomize.stale_files())]
        if argocd.CM_PATCH.read_text() != argocd.cm_patch():
            drift.append(str(argocd.CM_PATCH.relative_to(ROOT)))
        if drift:
            raise Exit(f"generated files out of date: {', '.join(drift)}; run `invoke generate`", code=1)
        print("generated files up to date")
        return
    for path in [*write(ROOT), *kustomize.write_all()]:
        print(f"wrote {path.relative_to(ROOT)}")
    argocd.CM_PATCH.write_text(argocd.cm_patch())
    print(f"wrote {argocd.CM_PATCH.relative_to(ROOT)}")


@task(help={"base_image": "base image (default: the local Debian-based Python 3.12 image)"})
def operator_image(c: Context, base_image: str = "") -> None:
    """Build the operator image wharf/operator:<version> (non-root, read-only root filesystem)."""
    from wharf.build.service_images import build_operator_image

    print(build_operator_image(base_image or None))


@task(help={"base_image": "base image (default: the local Debian-based Python 3.12 image)"})
def orchestrator_image(c: Context, base_image: str = "") -> None:
    """Build the orchestrator image wharf/orchestrator:<version> the operator injects (non-root, read-only root)."""
    from wharf.build.service_images import build_orchestrator_image

    print(build_orchestrator_image(base_image or None))


@task(help={"base_image": "base image (default: the local Debian-based Python 3.12 image)"})
def server_images(c: Context, base_image: str = "") -> None:
    """Build the prepackaged server images and the storage initializer the operator's defaults name
    (wharf/sklearnserver, wharf/xgboostserver, wharf/mlflowserver, ..., wharf/storage-initializer;
    wharf/mlserver for protocol: v2) and the custom-server example wharf/lightgbmserver: non-root,
    read-only root."""
    from wharf.build.service_images import SERVER_IMAGES, build_service_image

    for image in SERVER_IMAGES:
        print(build_service_image(image, base_image or None))


# --- charts: validate, lint, ct (issue 9) ----------------------------------------------

_CT_HELP = {
    "all": "every chart, not only the changed ones (no version check)",
    "charts": "comma list of chart dirs",
    "config": "ct config file (default: ./ct.yaml)",
    "target_branch": "branch to compare with (default: main)",
    "remote": "git remote of the target branch",
    "kube_version": "Kubernetes version to template/validate for",
}


def _ct_flags(all: bool, charts: str, target_branch: str, remote: str, kube_version: str, **more: object) -> dict:
    flags = {
        "all": all or None,
        "charts": charts or None,
        "target-branch": target_branch or None,
        "remote": remote or None,
        "kube-version": kube_version or None,
    }
    return {**flags, **{k: v for k, v in more.items() if v}}


_HELM_HELP = "Helm major to run: 3 or 4 (default: $WHARF_HELM_MAJOR, else 3)"


def _use_helm(major: str) -> None:
    """Make ``--helm N`` the major every helm call of this task runs (through WHARF_HELM_MAJOR)."""
    from wharf.charts.helm import MAJOR_ENV, HelmUnavailable, selected_major

    if major:
        try:
            os.environ[MAJOR_ENV] = selected_major(major)
        except HelmUnavailable as exc:
            raise Exit(str(exc), code=2) from None


@task(name="helm", help={"helm": "only this Helm major, 3 or 4 (default: both)"})
def charts_helm(c: Context, helm: str = "") -> None:
    """Build (once each, cached by version) and print the pinned helm binaries: Helm 3 and Helm 4."""
    from wharf.charts.helm import BUILDS, HelmUnavailable, ensure_helm, selected_major

    try:
        majors = [selected_major(helm)] if helm else list(BUILDS)
    except HelmUnavailable as exc:
        raise Exit(str(exc), code=2) from None
    try:
        for major in majors:
            print(ensure_helm(major=major))
    except HelmUnavailable as exc:
        raise Exit(str(exc), code=1) from None


@task(name="schema", help={"check": "fail if a values.schema.json differs from what its values.yaml generates"})
def charts_schema(c: Context, check: bool = False) -> None:
    """Generate each chart's values.schema.json from its annotated values.yaml."""
    from wharf.charts.commands import schema_command

    if code := schema_command(ROOT, check):
        raise Exit(code=code)


def _helm_docs() -> Path:
    from wharf.testing.go_tools import HELM_DOCS, BuildError, ensure_tool

    try:
        return ensure_tool(HELM_DOCS)
    except BuildError as exc:
        raise Exit(f"building helm-docs failed: {exc}", code=1) from None


@task(name="docs", help={"check": "fail if a chart's README.md differs from what helm-docs generates"})
def charts_docs(c: Context, check: bool = False) -> None:
    """Generate each chart's README.md from its values.yaml comments with helm-docs (built once, cached)."""
    from wharf.charts.docs import docs_command

    if code := docs_command(_helm_docs(), ROOT / "charts", check):
        raise Exit(code=code)


@task(
    help={
        "chart": "comma list of chart names (default: all)",
        "values": "only these values files (one chart)",
        "kube_version": "Kubernetes version of the JSON schemas (default 1.32.0)",
        "helm": _HELM_HELP,
    }
)
def validate(c: Context, chart: str = "", values: str = "", kube_version: str = "1.32.0", helm: str = "") -> None:
    """Values vs schema, rendered manifests vs Kubernetes/CRD schemas and security rules."""
    from wharf.charts.commands import validate_command

    _use_helm(helm)

    if code := validate_command(ROOT, chart, values, kube_version):
        raise Exit(code=code)


@task(help={**_CT_HELP, "helm": _HELM_HELP})
def lint(
    c: Context,
    all: bool = False,
    charts: str = "",
    config: str = "",
    target_branch: str = "",
    remote: str = "",
    kube_version: str = "",
    helm: str = "",
) -> None:
    """ct-style lint of changed charts (version bump, Chart.yaml, yamllint, helm lint, schema, validate), then
    every chart's README against helm-docs."""
    from wharf.charts.commands import lint_command

    _use_helm(helm)

    if code := lint_command(ROOT, _ct_flags(all, charts, target_branch, remote, kube_version), config or None):
        raise Exit(code=code)
    from wharf.charts.docs import docs_command

    # the READMEs are generated from every chart's values: drift anywhere fails the lint
    if code := docs_command(_helm_docs(), ROOT / "charts", check=True):
        raise Exit(code=code)


@task(
    help={
        **_CT_HELP,
        "install": "install/test/uninstall on the current cluster instead of lint",
        "upgrade": "also upgrade from the target branch's chart version",
        "no_wait": "no --wait (API server without nodes)",
        "tests": "run helm test after install (--no-tests: skip it, e.g. without a kubelet)",
        "kubeconfig": "cluster (default: $KUBECONFIG)",
        "helm": _HELM_HELP,
    }
)
def ct(
    c: Context,
    install: bool = False,
    all: bool = False,
    charts: str = "",
    config: str = "",
    target_branch: str = "",
    remote: str = "",
    kube_version: str = "",
    upgrade: bool = False,
    no_wait: bool = False,
    tests: bool = True,
    kubeconfig: str = "",
    helm: str = "",
) -> None:
    """chart-testing: `invoke ct` lints, `invoke ct --install` installs each chart with each ci values file."""
    from wharf.charts.commands import ct_command

    _use_helm(helm)

    flags = _ct_flags(all, charts, target_branch, remote, kube_version, upgrade=upgrade or None)
    if code := ct_command(
        ROOT, flags, config or None, install, wait=not no_wait, tests=tests, kubeconfig=kubeconfig or None
    ):
        raise Exit(code=code)


@task(
    auto_shortflags=False,
    help={
        "registry": "HOST[:PORT] of the OCI registry (loopback ones speak plain HTTP)",
        "version": "release version (default: Wharf's own, e.g. 0.1.0)",
        "force": "push again a version the registry already has",
        "build": "build every image first (--no-build: use the local ones)",
        "out": "folder for chart archives, index.yaml, release.json, sbom/ (default: dist/<version>)",
        "source": "repository URL for the org.opencontainers.image.source label (default: git remote origin)",
        "helm": _HELM_HELP,
    },
)
def release(
    c: Context,
    registry: str = "",
    version: str = "",
    force: bool = False,
    build: bool = True,
    out: str = "",
    source: str = "",
    helm: str = "",
) -> None:
    """Publish a release: images and charts pushed to --registry, pinned by digest, an SBOM per image
    (docs/releasing.md)."""
    from wharf.release.commands import release_command

    _use_helm(helm)
    if code := release_command(ROOT, registry, version, out, force, build, source, syft=_syft):
        raise Exit(code=code)


def _syft() -> Path:
    """syft, built from its Go module and cached by version (a cold build takes about 20 minutes here)."""
    from wharf.testing.go_tools import SYFT, ensure_tool, tool_dir

    if not (tool_dir(SYFT) / SYFT.binary).exists():
        print(f"building syft v{SYFT.version} for the SBOMs (once; log: {tool_dir(SYFT) / 'build.log'})")
    return ensure_tool(SYFT)


# --- deploy: helm / kustomize to the current context (issue 10) ------------------------


@task(
    iterable=["values", "set_"],
    auto_shortflags=False,
    help={
        "helm": "chart directory to install or upgrade (helm upgrade --install --atomic)",
        "kustomize": "kustomize directory to apply server-side, e.g. kustomize/overlays/default",
        "release": "Helm release name (default: the chart's directory name)",
        "namespace": "namespace of the release (default: wharf-system)",
        "values": "values file (repeatable)",
        "set_": "KEY=VALUE for helm --set (repeatable)",
        "dry_run": "print the server-side diff against the cluster instead of changing it",
    },
)
def deploy(
    c: Context,
    helm: str = "",
    kustomize: str = "",
    release: str = "",
    namespace: str = "wharf-system",
    values: list[str] | None = None,
    set_: list[str] | None = None,
    dry_run: bool = False,
) -> None:
    """Deploy a chart or a kustomize overlay to the current kube context (KUBECONFIG)."""
    from wharf.gitops import deploy as d

    if bool(helm) == bool(kustomize):
        raise Exit("give exactly one of --helm CHART_DIR or --kustomize DIR", code=2)
    kubeconfig = Path(os.environ["KUBECONFIG"]) if os.environ.get("KUBECONFIG") else None
    try:
        if kustomize:
            outcome = d.kustomize(Path(kustomize), kubeconfig, dry_run=dry_run)
        else:
            sets = dict(item.split("=", 1) for item in set_ or [])
            outcome = d.helm(
                Path(helm),
                release or Path(helm).name,
                namespace,
                [Path(v) for v in values or []],
                sets,
                kubeconfig,
                dry_run=dry_run,
            )
    except d.DeployError as exc:
        raise Exit(str(exc), code=1) from None
    print(outcome.output or ("no differences" if dry_run else "applied"))


@task(name="route-crd")
def route_crd(c: Context) -> None:
    """Fetch OpenShift's Route CRD (github.com/openshift/api, Go module proxy) into the cache; print its path."""
    from wharf.testing import openshift_api

    try:
        print(openshift_api.ensure_route_crd())
    except openshift_api.RouteCRDUnavailable as exc:
        raise Exit(str(exc), code=1) from None


ns = Collection(test, demo, proto, bench, tools)
ns.add_task(build)
ns.add_task(build_builders)
ns.add_task(build_base_images)
ns.add_task(build_s2i_cli)
ns.add_task(build_java_images)
ns.add_collection(
    Collection(cluster_build_binaries, cluster_up, cluster_down, cluster_load, cluster_kind_up), "cluster"
)
ns.add_task(generate)
ns.add_task(operator_image)
ns.add_task(orchestrator_image)
ns.add_task(server_images)
ns.add_collection(Collection(charts_helm, charts_schema, charts_docs), "charts")
ns.add_task(validate)
ns.add_task(lint)
ns.add_task(ct)
ns.add_task(release)
ns.add_task(deploy)
ns.add_task(route_crd)
ns.configure({"run": {"echo": True}})
os.environ.setdefault("PYTHONUNBUFFERED", "1")
