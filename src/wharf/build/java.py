"""Java models: the builder/runtime images and ``invoke build --lang java`` (no s2i binary needed).

The model build is s2i's as-Dockerfile form with a runtime image (two stages):

1. ``FROM <java-builder> AS build``: the source is copied to /tmp/src and the builder's own
   ``assemble`` runs (``mvn package``, runtime dependencies into /opt/app-root/app/lib, then a check
   that MODEL_NAME implements the method SERVICE_TYPE needs). The CA bundle and Maven settings
   (mirror) are in this stage only.
2. ``FROM <java-runtime>``: a JRE and /opt/app-root/app, nothing else.

The image is built untagged, smoke-tested as UID 1001 with a read-only root filesystem, and tagged
only then: a failed build leaves no tag. Pure parts (settings.xml, Dockerfile text, problems from
the log) are plain functions; the rest only wires them to the Docker engine.
"""

from __future__ import annotations

import dataclasses
import json
import os
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from xml.sax.saxutils import escape

import wharf
from wharf.build.config import HOST_CA_BUNDLE, git_info, model_labels, tree_digest
from wharf.build.model import (
    BuildResult,
    ModelBuildError,
    build_tested_image,
    collect_sources,
    read_contract,
    read_settings,
)
from wharf.build.s2ienv import ENV_FILE, EnvFileError, ModelSettings, model_settings, parse_env

ROOT = Path(__file__).resolve().parents[3]
BUILDER_DIR = ROOT / "builders" / "java"
WRAPPER_DIR = ROOT / "wrappers" / "java"
PROTOCOL_DIR = ROOT / "src" / "wharf" / "protocol"
BUILDER_REPO = "wharf/java-builder"
RUNTIME_REPO = "wharf/java-runtime"
BUILD_ERROR = "wharf-build error: "
APP_DIR = "/opt/app-root/app"
S2I = "/usr/libexec/s2i"
# A project written for Seldon Core's Java wrapper depends on it by this artifactId; the image's run
# script starts such a project through the compatibility layer's Launcher (no MODEL_NAME needed).
UPSTREAM_WRAPPER = "<artifactId>seldon-core-wrapper</artifactId>"
UPSTREAM_LAUNCHER = "io.seldon.wrapper.Launcher"


@dataclass(frozen=True)
class MavenNetwork:
    """How Maven reaches its repositories during a build: a CA bundle, a mirror, or a whole settings.xml."""

    ca_bundle: Path | None = None
    mirror_url: str | None = None
    settings_xml: Path | None = None

    @classmethod
    def from_env(cls, env: dict[str, str] | None = None, **overrides) -> MavenNetwork:
        """``WHARF_CA_BUNDLE`` (else the host bundle), ``MAVEN_MIRROR_URL``, ``MAVEN_SETTINGS_XML``."""
        env = dict(os.environ if env is None else env)
        ca = env.get("WHARF_CA_BUNDLE") or (str(HOST_CA_BUNDLE) if HOST_CA_BUNDLE.is_file() else "")
        values = {
            "ca_bundle": Path(ca) if ca else None,
            "mirror_url": env.get("MAVEN_MIRROR_URL") or None,
            "settings_xml": Path(env["MAVEN_SETTINGS_XML"]) if env.get("MAVEN_SETTINGS_XML") else None,
        }
        values.update(
            {
                k: (Path(v) if k != "mirror_url" and isinstance(v, str) else v)
                for k, v in overrides.items()
                if v not in (None, "")
            }
        )
        return cls(**values)

    def context_files(self) -> dict[str, bytes | Path]:
        """The ``build-config/`` files of a build context (stage-local: never in the final image)."""
        files: dict[str, bytes | Path] = {"build-config/.keep": b""}
        if self.settings_xml is not None:
            if not self.settings_xml.is_file():
                raise ModelBuildError([f"MAVEN_SETTINGS_XML={self.settings_xml}: no such file"])
            files["build-config/settings.xml"] = self.settings_xml
        else:
            files["build-config/settings.xml"] = maven_settings(self.mirror_url).encode()
        if self.ca_bundle is not None:
            if not self.ca_bundle.is_file():
                raise ModelBuildError(
                    [f"CA bundle {self.ca_bundle}: no such file (set WHARF_CA_BUNDLE or --ca-bundle)"]
                )
            files["build-config/ca.crt"] = self.ca_bundle
        return files


def maven_settings(mirror_url: str | None) -> str:
    """A settings.xml sending every repository request to ``mirror_url`` (none: Maven Central)."""
    lines = ['<settings xmlns="http://maven.apache.org/SETTINGS/1.0.0">']
    if mirror_url:
        lines += [
            "  <mirrors>",
            "    <mirror>",
            "      <id>wharf-mirror</id>",
            "      <mirrorOf>*</mirrorOf>",
            f"      <url>{escape(mirror_url)}</url>",
            "    </mirror>",
            "  </mirrors>",
        ]
    lines.append("</settings>")
    return "\n".join(lines) + "\n"


def image_version() -> str:
    return wharf.__version__


def image_tags(version: str | None = None) -> tuple[str, str]:
    version = version or image_version()
    return f"{BUILDER_REPO}:{version}", f"{RUNTIME_REPO}:{version}"


def _env_line(env: dict[str, str]) -> str:
    return "ENV " + " \\\n    ".join(f"{k}={json.dumps(v)}" for k, v in sorted(env.items()))


def model_dockerfile(builder: str, runtime: str, env: dict[str, str], labels: dict[str, str]) -> str:
    """The two-stage as-Dockerfile build of a Java model (pure)."""
    image_env = {k: v for k, v in env.items() if not k.startswith("MAVEN_")}
    lines = [
        f"FROM {builder} AS build",
        _env_line(env),  # the whole .s2i/environment (Maven settings too): this stage is thrown away
        "COPY --chown=1001:0 build-config/ /tmp/wharf-build/",
        "COPY --chown=1001:0 src/ /tmp/src/",
        f"RUN {S2I}/assemble",
        "",
        f"FROM {runtime}",
        f"COPY --from=build --chown=1001:0 {APP_DIR}/ {APP_DIR}/",
        _env_line(image_env),
        "LABEL " + " \\\n      ".join(f"{k}={json.dumps(v)}" for k, v in sorted(labels.items())),
        "USER 1001",
        f'CMD ["{S2I}/run"]',
        "",
    ]
    return "\n".join(lines)


def read_java_settings(source: Path) -> ModelSettings:
    """``.s2i/environment`` of a Java project. One written for Seldon's wrapper (its pom depends on
    ``io.seldon.wrapper:seldon-core-wrapper``) keeps upstream's file, which has no MODEL_NAME: the
    image finds its Spring Boot app, so MODEL_NAME stays out of the image's environment."""
    env_file, pom = source / ENV_FILE, source / "pom.xml"
    if env_file.is_file() and pom.is_file() and UPSTREAM_WRAPPER in pom.read_text(errors="replace"):
        try:
            env = parse_env(env_file.read_text(), str(env_file))
            if not env.get("MODEL_NAME", "").strip():
                settings = model_settings({**env, "MODEL_NAME": UPSTREAM_LAUNCHER}, str(env_file))
                return dataclasses.replace(settings, env=dict(env))
        except EnvFileError as exc:
            raise ModelBuildError(exc.problems) from None
    return read_settings(source)


def build_problems(log: list[str]) -> list[str]:
    """The ``wharf-build error:`` lines assemble printed, in order, without the prefix."""
    return [line.split(BUILD_ERROR, 1)[1] for line in log if BUILD_ERROR in line]


# --- images ----------------------------------------------------------------------------------


def _wrapper_filter(info):
    parts = info.name.split("/")
    return None if "target" in parts or ".idea" in parts else info


def build_java_images(
    base_image: str | None = None, network: MavenNetwork | None = None, progress: Callable[[str], None] | None = print
) -> tuple[str, str]:
    """Build and tag the Java builder and runtime images; each is tagged after a start-up check."""
    from wharf.build.base import ensure_base_image
    from wharf.build.engine import build_image, context_tar, docker_client, tag_image

    base = base_image or ensure_base_image()
    network = network or MavenNetwork.from_env()
    git = git_info(ROOT)
    args = {
        "BASE_IMAGE": base,
        "BUILDER_VERSION": image_version(),
        "WHARF_VERSION": wharf.__version__,
        "SOURCE_REVISION": git.get("commit", "unknown") + ("-dirty" if git.get("dirty") == "true" else ""),
    }
    client = docker_client()
    builder_tag, runtime_tag = image_tags()
    built = {}
    for name, dockerfile_name in (("builder", "Dockerfile"), ("runtime", "Dockerfile.runtime")):
        dockerfile = (BUILDER_DIR / dockerfile_name).read_text()
        # Written into the ARG defaults rather than passed as --build-arg: nothing leaks into history.
        for arg, value in args.items():
            dockerfile = dockerfile.replace(f"ARG {arg}=", f"ARG {arg}={value}\n# upstream default: ", 1)
        files: dict[str, bytes | Path] = {"Dockerfile": dockerfile.encode()}
        for script in sorted((BUILDER_DIR / "s2i" / "bin").iterdir()):
            files[f"s2i/bin/{script.name}"] = script
        for tool in sorted((BUILDER_DIR / "s2i" / "tools").iterdir()):
            files[f"s2i/tools/{tool.name}"] = tool
        dirs = []
        if name == "builder":
            files.update(network.context_files())
            dirs = [
                (WRAPPER_DIR, "wrapper/wrappers/java", _wrapper_filter),
                (PROTOCOL_DIR / "proto", "wrapper/src/wharf/protocol/proto", None),
                (PROTOCOL_DIR / "openapi", "wrapper/src/wharf/protocol/openapi", None),
            ]
        image_id = build_image(client, context_tar(files, dirs=dirs), label=f"java {name} image", progress=progress)
        out = client.containers.run(image_id, ["/usr/libexec/s2i/usage"], remove=True, user="1001:0").decode()
        if "invoke build --lang java" not in out:
            raise RuntimeError(f"the new java {name} image {image_id[:19]} did not print its usage: {out[:500]}")
        built[name] = image_id
    tag_image(client, built["builder"], builder_tag)
    tag_image(client, built["runtime"], runtime_tag)
    return builder_tag, runtime_tag


def ensure_java_images() -> tuple[str, str]:
    """The builder and runtime tags, building them only if the engine lacks either."""
    import docker.errors

    from wharf.build.engine import docker_client

    client = docker_client()
    tags = image_tags()
    try:
        for tag in tags:
            client.images.get(tag)
    except docker.errors.ImageNotFound:
        return build_java_images()
    return tags


def build_model(
    source: Path,
    image: str,
    builder: str | None = None,
    runtime: str | None = None,
    network: MavenNetwork | None = None,
    smoke: bool = True,
    progress: Callable[[str], None] | None = print,
    **_ignored,
) -> BuildResult:
    """Build the Maven project ``source`` into ``image``; tag only after the smoke test passes."""
    from wharf.build.engine import context_tar, docker_client

    source = Path(source).resolve()
    settings = read_java_settings(source)  # .s2i/environment: MODEL_NAME, SERVICE_TYPE checked here
    files = collect_sources(source)
    if "pom.xml" not in files:
        raise ModelBuildError([f"{source / 'pom.xml'}: missing: the Java builder builds Maven projects"])
    contract = read_contract(source, files)
    if builder is None or runtime is None:
        default_builder, default_runtime = ensure_java_images()
        builder, runtime = builder or default_builder, runtime or default_runtime
    client = docker_client()
    version = client.images.get(builder).labels.get("io.wharf.builder.version", "unknown")
    labels = model_labels(builder, version, source.name, git_info(source), tree_digest(files))
    labels["io.wharf.runtime.image"] = runtime
    env = {"PERSISTENCE": "0", **settings.env}
    network = network or MavenNetwork.from_env()
    if network.mirror_url is None and settings.env.get("MAVEN_MIRROR_URL"):
        network = MavenNetwork(network.ca_bundle, settings.env["MAVEN_MIRROR_URL"], network.settings_xml)
    context = context_tar(
        {
            "Dockerfile": model_dockerfile(builder, runtime, env, labels).encode(),
            **network.context_files(),
            **{f"src/{n}": b for n, b in files.items()},
        }
    )
    return build_tested_image(client, context, image, source, settings, contract, smoke, progress, build_problems)
