"""Build Wharf's own service images (operator, orchestrator): stages of builders/service/Dockerfile,
with the same machinery as the builders: the wharf wheel of this checkout, the network settings
of the install stage, and a tag only after a start-up check as UID 1001 with a read-only root.
"""

from __future__ import annotations

import tempfile
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

import wharf

ROOT = Path(__file__).resolve().parents[3]


@dataclass(frozen=True)
class ServiceImage:
    """One image: its builders/ folder, its repository, and the command proving it starts."""

    name: str  # its stage in builders/service/Dockerfile
    repo: str
    check: tuple[str, ...]  # run as entrypoint, read-only, UID 1001; its output must contain `expect`
    expect: str
    extras: tuple[str, ...] = ()  # wharf-ml extras whose dependencies go into requirements.txt
    folder: str = "service"  # builders/<folder>/Dockerfile
    wharf_wheel: bool = True  # False: no Wharf inside; the folder's own files are the context

    @property
    def dockerfile(self) -> Path:
        return ROOT / "builders" / self.folder / "Dockerfile"

    @property
    def tag(self) -> str:
        return f"{self.repo}:{wharf.__version__}"


OPERATOR = ServiceImage(
    "operator", "wharf/operator", ("wharf", "render", "--help"), "usage: wharf render", extras=("operator",)
)
ORCHESTRATOR = ServiceImage(
    "orchestrator",
    "wharf/orchestrator",
    ("python", "-c", "import aiokafka, wharf.tracing as t; t.check_available(); print('extras ok')"),
    "extras ok",
    extras=("kafka", "tracing"),
)
# Prepackaged servers and the storage initializer the operator's defaults name (predictor_servers,
# storageInitializer.image): Wharf's own, so a SeldonDeployment with implementation + modelUri
# needs no Seldon image.
SKLEARN_SERVER = ServiceImage(
    "sklearnserver",
    "wharf/sklearnserver",
    ("python", "-c", "import sklearn, joblib, minio, wharf.servers.sklearn; print('imports ok')"),
    "imports ok",
    extras=("sklearn", "s3"),
)
XGBOOST_SERVER = ServiceImage(
    "xgboostserver",
    "wharf/xgboostserver",
    ("python", "-c", "import xgboost, minio, wharf.servers.xgboost; print('imports ok')"),
    "imports ok",
    extras=("xgboost", "s3"),
)
STORAGE_INITIALIZER = ServiceImage(
    "storage-initializer",
    "wharf/storage-initializer",
    ("python", "-c", "import minio, google.cloud.storage, wharf.storage; print('imports ok')"),
    "imports ok",
    extras=("s3", "gcs"),
)
MLFLOW_SERVER = ServiceImage(
    "mlflowserver",
    "wharf/mlflowserver",
    (
        "python",
        "-c",
        "import mlflow.pyfunc, pandas, sklearn, skops.io, xgboost, lightgbm, minio, "
        "wharf.servers.mlflow; print('imports ok')",
    ),
    "imports ok",
    extras=("mlflow", "s3"),
)
# Not in the default predictor_servers: the custom server a cluster registers (examples/servers/lightgbm).
LIGHTGBM_SERVER = ServiceImage(
    "lightgbmserver",
    "wharf/lightgbmserver",
    ("python", "-c", "import lightgbm, minio, wharf.servers.lightgbm; print('imports ok')"),
    "imports ok",
    extras=("lightgbm", "s3"),
)
# protocol: v2 SKLEARN_SERVER, XGBOOST_SERVER and MLFLOW_SERVER: MLServer from PyPI with the three
# runtimes in one image (builders/mlserver/Dockerfile says why one); no Wharf code in it.
MLSERVER = ServiceImage(
    "mlserver",
    "wharf/mlserver",
    ("python", "-c", "import mlserver_sklearn, mlserver_xgboost, mlserver_mlflow; print('runtimes ok')"),
    "runtimes ok",
    folder="mlserver",
    wharf_wheel=False,
)
# TENSORFLOW_SERVER (protocol seldon): the proxy in front of TF Serving, which is Google's own image.
TFSERVING_PROXY = ServiceImage(
    "tfserving-proxy",
    "wharf/tfserving-proxy",
    ("python", "-c", "import grpc, urllib3, wharf.servers.tfserving; print('imports ok')"),
    "imports ok",
    extras=("tfserving",),
)
SERVER_IMAGES = (
    SKLEARN_SERVER,
    XGBOOST_SERVER,
    MLFLOW_SERVER,
    LIGHTGBM_SERVER,
    TFSERVING_PROXY,
    STORAGE_INITIALIZER,
    MLSERVER,
)


def requirements(metadata: str, extras: tuple[str, ...]) -> str:
    """requirements.txt of a wheel's METADATA: its dependencies plus those of ``extras``.

    Installed in a layer of their own before the wheel, so a source change rebuilds in seconds
    instead of downloading every dependency again. Platform markers stay for pip to evaluate.
    """
    from email.parser import HeaderParser

    from packaging.requirements import Requirement

    meta = HeaderParser().parsestr(metadata)
    own = meta["Name"].lower().replace("_", "-")
    lines = []
    for raw in meta.get_all("Requires-Dist") or []:
        req = Requirement(raw)
        if req.name.lower().replace("_", "-") == own:
            continue
        if req.marker is not None and "extra" in str(req.marker):
            if not any(req.marker.evaluate({"extra": extra}) for extra in extras):
                continue
            req.marker = None  # the extra is chosen; what remains is the requirement itself
        lines.append(str(req))
    return "".join(f"{line}\n" for line in lines)


def wheel_metadata(wheel: Path) -> str:
    import zipfile

    with zipfile.ZipFile(wheel) as zf:
        name = next(n for n in zf.namelist() if n.endswith(".dist-info/METADATA"))
        return zf.read(name).decode()


def build_service_image(
    image: ServiceImage, base_image: str | None = None, progress: Callable[[str], None] | None = print
) -> str:
    from wharf.build.base import ensure_python_base
    from wharf.build.builder import build_wharf_wheel
    from wharf.build.config import Network
    from wharf.build.dockerfile import pinned_dockerfile
    from wharf.build.engine import build_image, context_tar, docker_client, tag_image

    base = base_image or ensure_python_base("3.12")
    dockerfile = pinned_dockerfile(
        image.dockerfile.read_text(),
        {"BASE_IMAGE": base, "WHARF_VERSION": wharf.__version__, "EXTRAS": ",".join(image.extras)},
    )
    if not image.wharf_wheel:
        files = {path.name: path for path in image.dockerfile.parent.iterdir() if path.name != "Dockerfile"}
        context = context_tar({**files, "Dockerfile": dockerfile.encode(), **Network.from_env().context_files()})
    else:
        with tempfile.TemporaryDirectory(prefix="wharf-wheel-") as tmp:
            wheel = build_wharf_wheel(Path(tmp))
            files = {
                "Dockerfile": dockerfile.encode(),
                f"wheels/{wheel.name}": wheel.read_bytes(),
                "requirements.txt": requirements(wheel_metadata(wheel), image.extras).encode(),
                **Network.from_env().context_files(),
            }
            context = context_tar(files)
    client = docker_client()
    image_id = build_image(client, context, label=image.name, progress=progress, target=image.name)
    out = client.containers.run(
        image_id, entrypoint=list(image.check), remove=True, user="1001:0", read_only=True
    ).decode()
    if image.expect not in out:
        raise RuntimeError(f"the new {image.name} image {image_id[:19]} did not start: {out[:500]}")
    tag_image(client, image_id, image.tag)
    return image.tag


def build_operator_image(base_image: str | None = None, progress: Callable[[str], None] | None = print) -> str:
    return build_service_image(OPERATOR, base_image, progress)


def build_orchestrator_image(base_image: str | None = None, progress: Callable[[str], None] | None = print) -> str:
    return build_service_image(ORCHESTRATOR, base_image, progress)
