"""`invoke release`'s steps (wharf.release.publish) against a real loopback registry, on a copy of the
charts and the kustomize overlay: images labelled and pushed, digests pinned into wharf-core's values and
the kustomize images transformer, charts pushed, index.yaml written; a second run is refused, --force
repeats it with the same digests. Small stand-in images (docker import) keep the pushes short. The SBOM test
releases one real image (the storage initializer, which its own tests build too) with syft, since an SBOM of a
stand-in would list nothing."""

from __future__ import annotations

import json
import os
import shutil
import subprocess
import urllib.request

import pytest
import yaml
from chart_support import CHARTS, ROOT

from wharf.release.publish import Image, ReleaseOptions, ReleaseRefused, release
from wharf.testing import infra

pytestmark = [pytest.mark.helm, pytest.mark.docker]

VERSION = "9.9.0"
MANIFEST = "application/vnd.docker.distribution.manifest.v2+json, application/vnd.oci.image.manifest.v1+json"


def _stub(tag: str, text: str) -> None:
    import io
    import tarfile

    buf = io.BytesIO()
    with tarfile.open(fileobj=buf, mode="w") as tar:
        info = tarfile.TarInfo("stand-in.txt")
        info.size = len(text)
        tar.addfile(info, io.BytesIO(text.encode()))
    done = subprocess.run(["docker", "import", "-", tag], input=buf.getvalue(), capture_output=True, timeout=120)
    assert done.returncode == 0, done.stderr.decode()


def _get(url: str, accept: str = "") -> tuple[dict, bytes]:
    with urllib.request.urlopen(
        urllib.request.Request(url, headers={"Accept": accept} if accept else {}), timeout=10
    ) as resp:
        return dict(resp.headers), resp.read()


@pytest.fixture
def stand_ins(oci_registry):
    if subprocess.run(["docker", "info"], capture_output=True, timeout=60).returncode != 0:
        infra.unavailable("a Docker engine", "start dockerd (.ci/run does)")
    images = [
        Image("wharf-test/rel-operator:stand-in", "wharf/operator"),
        Image("wharf-test/rel-orchestrator:stand-in", "wharf/orchestrator"),
        Image("wharf-test/rel-sklearnserver:stand-in", "wharf/sklearnserver"),
        Image("wharf-test/rel-storage-initializer:stand-in", "wharf/storage-initializer"),
    ]
    for image in images:
        _stub(image.local, f"{image.repository} stand-in\n")
    yield images
    made = [i.local for i in images] + [i.local.replace(":stand-in", ":release") for i in images]
    made += [f"{oci_registry.address}/{i.repository}:{VERSION}" for i in images]
    subprocess.run(["docker", "rmi", *made], capture_output=True, timeout=120)


@pytest.mark.apiserver
def test_release_pushes_pins_and_refuses_to_overwrite(
    helm, oci_registry, stand_ins, tmp_path, kube_api, kube_namespace
):
    repo = tmp_path / "repo"
    for chart in ("wharf-core", "wharf-model"):
        shutil.copytree(CHARTS / chart, repo / "charts" / chart)
    shutil.copytree(ROOT / "kustomize", repo / "kustomize")
    registry = oci_registry.address
    opts = ReleaseOptions(
        registry, VERSION, tmp_path / "dist", revision="0123abc", source="https://example.invalid/wharf"
    )
    charts = [repo / "charts" / "wharf-core", repo / "charts" / "wharf-model"]
    lines: list[str] = []
    record = release(repo, opts, stand_ins, charts, helm, lines.append)
    digests = {name: entry["digest"] for name, entry in record["images"].items()}
    assert set(digests) == {"wharf/operator", "wharf/orchestrator", "wharf/sklearnserver", "wharf/storage-initializer"}

    # Each image is in the registry under the version, with that digest and the OCI labels.
    for repository, digest in digests.items():
        headers, body = _get(f"http://{registry}/v2/{repository}/manifests/{VERSION}", MANIFEST)
        assert headers["Docker-Content-Digest"] == digest
        config_digest = json.loads(body)["config"]["digest"]
        labels = json.loads(_get(f"http://{registry}/v2/{repository}/blobs/{config_digest}")[1])["config"]["Labels"]
        assert labels == {
            "org.opencontainers.image.source": "https://example.invalid/wharf",
            "org.opencontainers.image.revision": "0123abc",
            "org.opencontainers.image.version": VERSION,
            "org.opencontainers.image.licenses": "Apache-2.0",
        }

    # wharf-core's default values name the registry, the tag and the digest; every comment is kept.
    values_text = (repo / "charts" / "wharf-core" / "values.yaml").read_text()
    values = yaml.safe_load(values_text)
    assert values["image"]["digest"] == digests["wharf/operator"] and values["image"]["registry"] == registry
    assert values["executor"]["image"]["digest"] == digests["wharf/orchestrator"]
    # the prepackaged server and the storage initializer by digest; images this release did not push, as they were
    original_values = yaml.safe_load((CHARTS / "wharf-core" / "values.yaml").read_text())
    servers = values["predictor_servers"]
    assert servers["SKLEARN_SERVER"]["protocols"]["seldon"] == {
        "image": f"{registry}/wharf/sklearnserver",
        "defaultImageVersion": f"{VERSION}@{digests['wharf/sklearnserver']}",
    }
    for key, protocol in (("SKLEARN_SERVER", "v2"), ("XGBOOST_SERVER", "seldon"), ("TRITON_SERVER", "v2")):
        assert servers[key]["protocols"][protocol] == original_values["predictor_servers"][key]["protocols"][protocol]
    assert (
        values["storageInitializer"]["image"]
        == f"{registry}/wharf/storage-initializer:{VERSION}@{digests['wharf/storage-initializer']}"
    )
    original = (CHARTS / "wharf-core" / "values.yaml").read_text()
    assert [line for line in values_text.splitlines() if line.lstrip().startswith("#")] == [
        line for line in original.splitlines() if line.lstrip().startswith("#")
    ]

    # The chart as published: rendered from the registry with no values at all, pinned.
    done = subprocess.run(
        [str(helm), "template", "r", f"oci://{registry}/charts/wharf-core", "--version", VERSION, "--plain-http"],
        capture_output=True,
        text=True,
        timeout=120,
    )
    assert done.returncode == 0, done.stderr
    deployment = next(d for d in yaml.safe_load_all(done.stdout) if d and d["kind"] == "Deployment")
    container = deployment["spec"]["template"]["spec"]["containers"][0]
    assert container["image"] == f"{registry}/wharf/operator@{digests['wharf/operator']}"
    env = {e["name"]: e.get("value") for e in container["env"]}
    assert (
        env["EXECUTOR_CONTAINER_IMAGE_AND_VERSION"] == f"{registry}/wharf/orchestrator@{digests['wharf/orchestrator']}"
    )
    # ... and the operator, configured by that environment, runs SKLEARN_SERVER and the initializer by digest
    from wharf.operator.config import OperatorConfig

    config = OperatorConfig.from_env({k: v for k, v in env.items() if v is not None})
    assert (
        config.predictor_servers["SKLEARN_SERVER"]["seldon"]
        == f"{registry}/wharf/sklearnserver:{VERSION}@{digests['wharf/sklearnserver']}"
    )
    assert config.storage_initializer_image == values["storageInitializer"]["image"]

    # The kustomize bundle was regenerated from the pinned values: `invoke generate --check` holds on the
    # release commit, and the overlay renders the operator and (in its environment) the orchestrator pinned.
    from wharf.gitops.kustomize import stale_files

    assert stale_files(repo / "charts" / "wharf-core", repo / "kustomize") == []
    kustomized = subprocess.run(
        ["kubectl", "kustomize", str(repo / "kustomize" / "overlays" / "default")],
        capture_output=True,
        text=True,
        timeout=120,
    )
    assert kustomized.returncode == 0, kustomized.stderr
    containers = [
        c
        for d in yaml.safe_load_all(kustomized.stdout)
        if d and d["kind"] == "Deployment"
        for c in d["spec"]["template"]["spec"]["containers"]
    ]
    assert [c["image"] for c in containers] == [f"{registry}/wharf/operator:{VERSION}@{digests['wharf/operator']}"]
    kustomized_env = {e["name"]: e.get("value") for e in containers[0]["env"]}
    assert {
        k: kustomized_env[k]
        for k in (
            "EXECUTOR_CONTAINER_IMAGE_AND_VERSION",
            "RELATED_IMAGE_STORAGE_INITIALIZER",
            "WHARF_PREDICTOR_SERVERS",
        )
    } == {
        k: env[k]
        for k in (
            "EXECUTOR_CONTAINER_IMAGE_AND_VERSION",
            "RELATED_IMAGE_STORAGE_INITIALIZER",
            "WHARF_PREDICTOR_SERVERS",
        )
    }

    # `kubectl apply -k` of the released overlay, for real, onto the API server (in this test's namespace: a
    # kustomization on top of the overlay moves it there). The stored Deployment names the images by digest.
    on_top = tmp_path / "apply-k"
    on_top.mkdir()
    (on_top / "kustomization.yaml").write_text(
        yaml.safe_dump(
            {
                "apiVersion": "kustomize.config.k8s.io/v1beta1",
                "kind": "Kustomization",
                "namespace": kube_namespace,
                "resources": [os.path.relpath(repo / "kustomize" / "overlays" / "default", on_top)],
            }
        )
    )
    applied = kube_api.kubectl(
        "apply", "--server-side", "--force-conflicts", "--field-manager=wharf-release-test", "-k", str(on_top)
    )
    assert "deployment.apps/wharf-operator serverside-applied" in applied.stdout
    try:
        stored = json.loads(
            kube_api.kubectl("get", "deployment", "wharf-operator", "-n", kube_namespace, "-o", "json").stdout
        )
        container = stored["spec"]["template"]["spec"]["containers"][0]
        assert container["image"] == f"{registry}/wharf/operator:{VERSION}@{digests['wharf/operator']}"
        stored_env = {e["name"]: e.get("value") for e in container["env"]}
        assert stored_env["EXECUTOR_CONTAINER_IMAGE_AND_VERSION"] == env["EXECUTOR_CONTAINER_IMAGE_AND_VERSION"]
        assert stored_env["RELATED_IMAGE_STORAGE_INITIALIZER"] == values["storageInitializer"]["image"]
    finally:  # the cluster-scoped objects (not the CRD: other tests share it); the namespace goes with the fixture
        names = [
            f"{d['kind'].lower()}/{d['metadata']['name']}"
            for d in yaml.safe_load_all(kustomized.stdout)
            if d and d["kind"] in ("ClusterRole", "ClusterRoleBinding")
        ]
        if names:
            kube_api.kubectl("delete", *names, "--ignore-not-found", check=False)

    # The classic repository index lists both archives at the version.
    index = yaml.safe_load((opts.out / "charts" / "index.yaml").read_text())
    assert {name: [e["version"] for e in entries] for name, entries in index["entries"].items()} == {
        "wharf-core": [VERSION],
        "wharf-model": [VERSION],
    }
    assert index["entries"]["wharf-core"][0]["urls"] == [f"wharf-core-{VERSION}.tgz"]
    assert json.loads((opts.out / "release.json").read_text()) == record

    # Again: refused by name; with force, the same digests (nothing changed, nothing new to pin).
    with pytest.raises(
        ReleaseRefused,
        match=f"version {VERSION} is already in {registry} "
        r"\(charts/wharf-core, charts/wharf-model, wharf/operator",
    ):
        release(repo, opts, stand_ins, charts, helm, lines.append)
    again = release(repo, ReleaseOptions(**{**opts.__dict__, "force": True}), stand_ins, charts, helm, lines.append)
    assert {n: e["digest"] for n, e in again["images"].items()} == digests
    assert (repo / "charts" / "wharf-core" / "values.yaml").read_text() == values_text


@pytest.mark.parametrize(
    "args, message",
    [
        ([], "error: --registry HOST[:PORT] is required"),
        (["--registry", "bad host"], "error: --registry 'bad host' is not HOST[:PORT]"),
        (
            ["--registry", "127.0.0.1:5000", "--version", "v1"],
            "error: --version 'v1' is not a semantic version (X.Y.Z[-pre])",
        ),
    ],
)
def test_invoke_release_names_a_wrong_flag_before_doing_anything(args, message):
    done = subprocess.run(
        [str(ROOT / ".venv" / "bin" / "invoke"), "release", "--no-build", *args],
        cwd=ROOT,
        capture_output=True,
        text=True,
        timeout=120,
    )
    assert (done.returncode, done.stdout.strip()) == (2, message), done.stderr


def test_pinning_changes_only_the_named_scalars_and_names_a_missing_key():
    from wharf.release.pin import PinError, set_scalars

    text = '# top\nimage:\n  # -- the tag\n  tag: ""  \n  digest: ""\nexecutor:\n  image:\n    digest: ""\n'
    pinned = set_scalars(text, {("image", "digest"): "sha256:1", ("executor", "image", "digest"): "sha256:2"})
    assert (
        pinned
        == '# top\nimage:\n  # -- the tag\n  tag: ""  \n  digest: "sha256:1"\nexecutor:\n  image:\n    digest: "sha256:2"\n'
    )
    with pytest.raises(PinError, match=r"^charts/x/values.yaml: no key executor.digest to pin$"):
        set_scalars(text, {("executor", "digest"): "sha256:3"}, "charts/x/values.yaml")


def test_every_image_wharf_builds_is_released_and_so_labelled():
    """`invoke release` labels and pushes what release_images() lists: that must be every image Wharf
    builds (builders aside: users build from those, they are not deployed), so none ships unlabelled."""
    import wharf
    from wharf.build import service_images
    from wharf.release.commands import release_images

    built = {v.repo for v in vars(service_images).values() if isinstance(v, service_images.ServiceImage)}
    released = release_images(False, lambda line: None)
    assert {i.repository for i in released} == built
    assert all(i.local == f"{i.repository}:{wharf.__version__}" for i in released)


# --- SBOMs: syft's SPDX JSON of each released image, beside release.json and in the registry ---------------

SBOM_VERSION = "9.9.1"
INSTALLED = (
    "import importlib.metadata as m, json; "
    "print(json.dumps({d.metadata['Name']: d.version for d in m.distributions()}))"
)


def _normalized(name: str) -> str:
    """A Python distribution's name compared the way pip does (PEP 503): typing_extensions == typing-extensions."""
    import re

    return re.sub(r"[-_.]+", "-", name).lower()


@pytest.fixture(scope="module")
def syft():
    """syft from its Go module; .ci/run starts that build early in the background, this waits for it."""
    from wharf.testing.go_tools import SYFT, wait_for_tool

    binary = wait_for_tool(SYFT, timeout=3600)
    if binary is None:
        infra.unavailable(
            f"syft v{SYFT.version}",
            "build it: `python -m wharf.testing.go_tools syft` (about 20 minutes cold; .ci/run starts it early); "
            "if it failed, ~/.cache/wharf/bin/syft-v*/build.log says why",
        )
    return binary


@pytest.fixture(scope="module")
def storage_initializer():
    """The real storage initializer image, built with the code `invoke release` uses (its own tests build the
    same image: the layers are cached once either has run)."""
    if subprocess.run(["docker", "info"], capture_output=True, timeout=60).returncode != 0:
        infra.unavailable("a Docker engine", "start dockerd (.ci/run does)")
    if shutil.which("debootstrap") is None:
        infra.unavailable("debootstrap", "apt-get install -y debootstrap (the local base images are made with it)")
    from wharf.build.service_images import STORAGE_INITIALIZER, build_service_image

    return Image(build_service_image(STORAGE_INITIALIZER, progress=None), STORAGE_INITIALIZER.repo)


def test_release_writes_each_images_sbom_and_pushes_it_once(helm, oci_registry, syft, storage_initializer, tmp_path):
    repo = tmp_path / "repo"
    for chart in ("wharf-core", "wharf-model"):
        shutil.copytree(CHARTS / chart, repo / "charts" / chart)
    shutil.copytree(ROOT / "kustomize", repo / "kustomize")
    registry = oci_registry.address
    opts = ReleaseOptions(registry, SBOM_VERSION, tmp_path / "dist", revision="0123abc")
    charts = [repo / "charts" / "wharf-model"]
    lines: list[str] = []
    pushed = f"{registry}/{storage_initializer.repository}:{SBOM_VERSION}"
    try:
        record = release(repo, opts, [storage_initializer], charts, helm, lines.append, syft=syft)
        entry = record["images"][storage_initializer.repository]
        digest, sbom = entry["digest"], entry["sbom"]
        assert sbom["reference"] == f"{registry}/wharf/storage-initializer:sha256-{digest.split(':')[1]}.sbom"
        path = opts.out / sbom["file"]
        assert path == opts.out / "sbom" / "wharf-storage-initializer.spdx.json"
        written = path.read_bytes()
        document = json.loads(written)
        assert document["spdxVersion"].startswith("SPDX-2.")

        # The packages the image really holds, read from the image itself, are in the SBOM with their versions.
        done = subprocess.run(
            ["docker", "run", "--rm", "--entrypoint", "python", pushed, "-c", INSTALLED],
            capture_output=True,
            text=True,
            timeout=120,
        )
        assert done.returncode == 0, done.stderr
        installed = json.loads(done.stdout)
        listed: dict[str, set[str]] = {}
        for package in document["packages"]:
            listed.setdefault(_normalized(package["name"]), set()).add(package.get("versionInfo"))
        import wharf

        assert installed["wharf-ml"] == wharf.__version__ and installed["numpy"]
        for name in ("wharf-ml", "numpy", "minio", "google-cloud-storage"):
            assert installed[name] in listed.get(name, set()), (name, installed[name], listed.get(name))
        missing = {n: v for n, v in installed.items() if v not in listed.get(_normalized(n), set())}
        assert missing == {}, f"installed in the image but not in its SBOM: {missing}"
        # ... and so is every Debian package dpkg has installed in it
        dpkg = subprocess.run(
            [
                "docker",
                "run",
                "--rm",
                "--entrypoint",
                "dpkg-query",
                pushed,
                "-W",
                "-f",
                r"${db:Status-Abbrev} ${Package} ${Version}\n",
            ],
            capture_output=True,
            text=True,
            timeout=120,
        )
        assert dpkg.returncode == 0, dpkg.stderr
        debs = dict(line.split()[1:3] for line in dpkg.stdout.splitlines() if line.startswith("ii"))
        assert "libc6" in debs
        missing = {n: v for n, v in debs.items() if v not in listed.get(_normalized(n), set())}
        assert missing == {}, f"installed in the image but not in its SBOM: {missing}"

        # Pullable from the registry under the digest's tag: an SPDX artifact pointing at the image, and its
        # document byte for byte the file written.
        headers, body = _get(
            f"http://{registry}/v2/wharf/storage-initializer/manifests/{sbom['reference'].split(':')[-1]}",
            "application/vnd.oci.image.manifest.v1+json",
        )
        assert headers["Docker-Content-Digest"] == sbom["digest"]
        manifest = json.loads(body)
        assert manifest["artifactType"] == "application/spdx+json"
        assert manifest["subject"]["digest"] == digest
        [layer] = manifest["layers"]
        assert layer["mediaType"] == "application/spdx+json"
        assert _get(f"http://{registry}/v2/wharf/storage-initializer/blobs/{layer['digest']}")[1] == written
        assert json.loads((opts.out / "release.json").read_text()) == record

        # A second run (--force, the same image digest): the SBOM is not made or pushed again. syft's document
        # differs on every run (its creation time and namespace), so an unchanged manifest digest and file
        # mean it was not regenerated.
        again = release(
            repo,
            ReleaseOptions(**{**opts.__dict__, "force": True}),
            [storage_initializer],
            charts,
            helm,
            lines.append,
            syft=syft,
        )
        assert again["images"][storage_initializer.repository] == entry
        assert path.read_bytes() == written
        assert any("not made again" in line for line in lines), lines
    finally:
        subprocess.run(
            ["docker", "rmi", pushed, storage_initializer.local.rsplit(":", 1)[0] + ":release"],
            capture_output=True,
            timeout=120,
        )


def test_an_sbom_tag_is_checked_before_it_is_trusted(oci_registry, monkeypatch):
    """What the registry holds under a `sha256-<digest>.sbom` tag is read only when it is an SPDX artifact,
    and only up to a size limit."""
    from wharf.release import oci, sbom
    from wharf.release.oci import PublishError, put_blob, put_manifest

    registry, repository = oci_registry.address, "wharf-test/sbom-checks"
    image_digest = "sha256:" + "ab" * 32
    document = b'{"spdxVersion": "SPDX-2.3", "packages": []}\n'
    config = put_blob(registry, repository, sbom.EMPTY_BLOB)
    layer = put_blob(registry, repository, document)
    # not an SBOM: a tag of that name with another artifact type
    other = json.dumps(
        {
            "schemaVersion": 2,
            "mediaType": oci.OCI_MANIFEST,
            "artifactType": "application/vnd.example.other",
            "config": {"mediaType": sbom.EMPTY_CONFIG, "digest": config, "size": 2},
            "layers": [{"mediaType": "application/vnd.example.other", "digest": layer, "size": len(document)}],
        }
    ).encode()
    put_manifest(registry, repository, sbom.sbom_tag(image_digest), other)
    with pytest.raises(PublishError, match=r"sha256-abab.*\.sbom exists but is not an SPDX SBOM"):
        sbom.pull_sbom(registry, repository, image_digest)
    # an SBOM: read back; and refused when larger than the limit
    subject = {"mediaType": oci.OCI_MANIFEST, "digest": image_digest, "size": 1}
    put_manifest(registry, repository, sbom.sbom_tag(image_digest), sbom.sbom_manifest(document, layer, subject, "x"))
    assert sbom.pull_sbom(registry, repository, image_digest)[1] == document
    monkeypatch.setattr(sbom, "MAX_ARTIFACT", len(document) - 1)
    with pytest.raises(PublishError, match=f"the document is larger than {len(document) - 1} bytes"):
        sbom.pull_sbom(registry, repository, image_digest)
    monkeypatch.setattr(oci, "MAX_ARTIFACT", len(document) - 1)
    with pytest.raises(PublishError, match=f"answer larger than {len(document) - 1} bytes"):
        oci.get_blob(registry, repository, layer)
    assert sbom.pull_sbom(registry, repository, "sha256:" + "cd" * 32) is None
