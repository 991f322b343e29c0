"""The pure parts of ``wharf.build.java``: Dockerfile text, Maven settings, error extraction."""

from __future__ import annotations

import shutil
import subprocess
from pathlib import Path

import pytest

from wharf.build import java
from wharf.build.model import ModelBuildError


def test_model_dockerfile_keeps_maven_settings_out_of_the_final_stage() -> None:
    text = java.model_dockerfile(
        "wharf/java-builder:1",
        "wharf/java-runtime:1",
        {"MODEL_NAME": "a.B", "SERVICE_TYPE": "MODEL", "MAVEN_MIRROR_URL": "https://u:secret@nexus/x"},
        {"io.wharf.source.digest": "sha256:0"},
    )
    build, final = text.split("\nFROM wharf/java-runtime:1\n")
    assert build.startswith("FROM wharf/java-builder:1 AS build")
    assert "RUN /usr/libexec/s2i/assemble" in build and "build-config/" in build
    assert "secret" not in final and "build-config" not in final
    assert 'MODEL_NAME="a.B"' in final and 'SERVICE_TYPE="MODEL"' in final
    assert "COPY --from=build --chown=1001:0 /opt/app-root/app/ /opt/app-root/app/" in final
    assert "USER 1001" in final and 'io.wharf.source.digest="sha256:0"' in final


def test_maven_settings_mirror_everything_and_escape_the_url() -> None:
    assert "<mirror>" not in java.maven_settings(None)
    text = java.maven_settings("https://nexus.example/repo?a=1&b=2")
    assert "<mirrorOf>*</mirrorOf>" in text
    assert "<url>https://nexus.example/repo?a=1&amp;b=2</url>" in text


def test_build_problems_are_the_assemble_error_lines() -> None:
    log = [
        "Step 5/9 : RUN /usr/libexec/s2i/assemble",
        "[INFO] x",
        "wharf-build error: mvn package failed in /opt/app-root/src/pom.xml:",
        "wharf-build error:   /opt/app-root/src/A.java:[3,5] ';' expected",
    ]
    assert java.build_problems(log) == [
        "mvn package failed in /opt/app-root/src/pom.xml:",
        "  /opt/app-root/src/A.java:[3,5] ';' expected",
    ]


def test_network_files_and_missing_files(tmp_path: Path) -> None:
    ca = tmp_path / "ca.pem"
    ca.write_text("-----BEGIN CERTIFICATE-----\n")
    files = java.MavenNetwork(ca_bundle=ca, mirror_url="http://m").context_files()
    assert files["build-config/ca.crt"] == ca
    assert b"http://m" in files["build-config/settings.xml"]
    net = java.MavenNetwork.from_env({"MAVEN_MIRROR_URL": "http://mirror", "WHARF_CA_BUNDLE": str(ca)})
    assert net.mirror_url == "http://mirror" and net.ca_bundle == ca
    with pytest.raises(ModelBuildError, match="MAVEN_SETTINGS_XML=.*no such file"):
        java.MavenNetwork(settings_xml=tmp_path / "nope.xml").context_files()
    with pytest.raises(ModelBuildError, match="CA bundle .* no such file"):
        java.MavenNetwork(ca_bundle=tmp_path / "nope.pem").context_files()


def test_source_without_pom_is_refused(tmp_path: Path) -> None:
    (tmp_path / ".s2i").mkdir()
    (tmp_path / ".s2i/environment").write_text("MODEL_NAME=a.B\nSERVICE_TYPE=MODEL\n")
    with pytest.raises(ModelBuildError, match="pom.xml: missing"):
        java.build_model(tmp_path, "x:1", builder="unused", runtime="unused", progress=None)


def test_missing_environment_file_is_refused(tmp_path: Path) -> None:
    with pytest.raises(ModelBuildError, match=r"\.s2i/environment: missing"):
        java.build_model(tmp_path, "x:1", builder="unused", runtime="unused", progress=None)


# --- projects written for Seldon's Java wrapper ---------------------------------------------------

UPSTREAM = Path(__file__).resolve().parents[2] / "tests" / "fixtures" / "upstream-java" / "testing-s2i-java"
ALIAS_TOOL = Path(__file__).resolve().parents[2] / "builders" / "java" / "s2i" / "tools" / "SeldonWrapperAlias.java"


def test_upstream_environment_needs_no_model_name_and_keeps_none_in_the_image() -> None:
    settings = java.read_java_settings(UPSTREAM)
    assert settings.service_type == "MODEL"
    assert "MODEL_NAME" not in settings.env and settings.env["API_TYPE"] == "REST"
    text = java.model_dockerfile("b:1", "r:1", {"PERSISTENCE": "0", **settings.env}, {})
    assert "MODEL_NAME" not in text


def test_a_project_not_written_for_seldon_still_needs_model_name(tmp_path: Path) -> None:
    (tmp_path / ".s2i").mkdir()
    (tmp_path / ".s2i/environment").write_text("SERVICE_TYPE=MODEL\n")
    (tmp_path / "pom.xml").write_text("<project><artifactId>wharf-java-wrapper</artifactId></project>")
    with pytest.raises(ModelBuildError, match="MODEL_NAME is missing"):
        java.read_java_settings(tmp_path)


def _alias(tmp_path: Path, pom: str) -> subprocess.CompletedProcess:
    if shutil.which("java") is None:
        pytest.skip("no JDK")
    (tmp_path / "pom.xml").write_text(pom)
    return subprocess.run(
        [
            "java",
            str(ALIAS_TOOL),
            str(tmp_path / "pom.xml"),
            str(tmp_path / "m2"),
            "io.wharf:wharf-seldon-compat:0.1.0",
        ],
        capture_output=True,
        text=True,
        timeout=120,
    )


def test_alias_relocates_each_wrapper_version_the_pom_asks_for(tmp_path: Path) -> None:
    pom = (
        "<project><version>2.0</version><properties><seldon.version>0.3.0</seldon.version></properties><dependencies>"
        "<dependency><groupId>io.seldon.wrapper</groupId><artifactId>seldon-core-wrapper</artifactId>"
        "<version>${seldon.version}</version></dependency>"
        "<dependency><groupId>io.seldon.wrapper</groupId><artifactId>seldon-core-wrapper</artifactId>"
        "<version>${project.version}</version></dependency></dependencies></project>"
    )
    proc = _alias(tmp_path, pom)
    assert proc.returncode == 0, proc.stderr
    for version in ("0.3.0", "2.0"):
        written = (
            tmp_path / f"m2/io/seldon/wrapper/seldon-core-wrapper/{version}/seldon-core-wrapper-{version}.pom"
        ).read_text()
        assert f"<version>{version}</version>" in written
        assert "<relocation>" in written and "<artifactId>wharf-seldon-compat</artifactId>" in written
    assert proc.stdout.count(" -> io.wharf:wharf-seldon-compat:0.1.0") == 2


def test_alias_names_an_undefined_version_property(tmp_path: Path) -> None:
    pom = (
        "<project><dependencies><dependency><groupId>io.seldon.wrapper</groupId>"
        "<artifactId>seldon-core-wrapper</artifactId><version>${nope}</version></dependency></dependencies></project>"
    )
    proc = _alias(tmp_path, pom)
    assert proc.returncode == 1
    assert "wharf-build error:" in proc.stderr and "${nope}" in proc.stderr and "<properties>" in proc.stderr
    assert not (tmp_path / "m2").exists()


def test_alias_leaves_other_projects_alone(tmp_path: Path) -> None:
    proc = _alias(tmp_path, "<project><dependencies/></project>")
    assert proc.returncode == 0 and proc.stdout == "" and not (tmp_path / "m2").exists()
