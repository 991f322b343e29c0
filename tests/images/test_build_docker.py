"""Real Docker: the builder image, the example models built with `invoke build`'s code and with
the real s2i CLI, run as arbitrary UIDs and contract-tested over REST and gRPC; bad inputs fail
with clear messages and leave no tag."""

from __future__ import annotations

import shutil
import subprocess
import time
from pathlib import Path

import pytest
from build_support import contract_test, running

from wharf.build import smoke
from wharf.build.model import ModelBuildError, build_model

pytestmark = pytest.mark.docker
HERE = Path(__file__).resolve().parent
EXAMPLES = HERE.parents[1] / "examples" / "models"
TEST_REPO = "wharf-test"  # same as conftest


def no_tag(client, tag):
    import docker.errors

    with pytest.raises(docker.errors.ImageNotFound):
        client.images.get(tag)


# --- the builder ------------------------------------------------------------------------------


def test_builder_follows_the_s2i_protocol(engine, builder):
    image = engine.images.get(builder)
    cfg = image.attrs["Config"]
    assert cfg["Labels"]["io.openshift.s2i.scripts-url"] == "image:///usr/libexec/s2i"
    assert cfg["Labels"]["io.wharf.builder.version"]
    assert cfg["User"] == "1001" and cfg["Cmd"] == ["/usr/libexec/s2i/usage"]
    out = engine.containers.run(
        builder,
        [
            "sh",
            "-c",
            "ls -l /usr/libexec/s2i; command -v tar; id -u; ls /tmp/wharf-build 2>&1; ls /tmp/wheels 2>&1; true",
        ],
        remove=True,
    ).decode()
    for script in ("assemble", "run", "save-artifacts", "usage"):
        assert "-rwxr-xr-x 1 root root" in out and script in out
    assert "/tar" in out and "\n1001\n" in out
    # the CA bundle and pip settings of the builder's own build stage did not reach the image
    assert "'/tmp/wharf-build': No such file" in out and "'/tmp/wheels': No such file" in out


# --- invoke build: the three examples ---------------------------------------------------------


def exercise(engine, tag, kind):
    """Run ``tag`` and test it over REST and gRPC the way its SERVICE_TYPE is used."""
    with running(engine, tag) as (http, grpc):
        if kind == "iris":  # MODEL: the contract tester on predict
            contract_test(EXAMPLES / "iris" / "contract.json", http)
            contract_test(EXAMPLES / "iris" / "contract.json", grpc, "--grpc")
        elif kind == "scaler":  # TRANSFORMER: the contract tester on transform-input
            contract_test(HERE / "contract-scaler.json", http, "--endpoint", "transform-input")
            contract_test(HERE / "contract-scaler.json", grpc, "--endpoint", "transform-input", "--grpc")
        else:  # ROUTER: the tester has no route endpoint; the answer must name a branch
            for call, port in ((smoke.call_rest, http), (smoke.call_grpc, grpc)):
                body, problems = call(port, "route", {"data": {"ndarray": [[1.0, 2.0]]}})
                assert problems == []
                assert body["data"]["ndarray"] in ([[0]], [[1]], [[0.0]], [[1.0]])


@pytest.mark.parametrize("kind", ["iris", "scaler", "router"])
def test_example_image_serves_rest_and_grpc(engine, examples, kind):
    exercise(engine, examples[kind].tags[0], kind)


def test_model_image_runs_as_1001_with_reproducible_labels_and_no_build_settings(engine, examples):
    result = examples["iris"]
    image = engine.images.get(result.image_id)
    cfg = image.attrs["Config"]
    assert cfg["User"] == "1001" and cfg["Cmd"] == ["/usr/libexec/s2i/run"]
    env = dict(e.split("=", 1) for e in cfg["Env"])
    assert env["MODEL_NAME"] == "IrisClassifier" and env["SERVICE_TYPE"] == "MODEL"
    labels = cfg["Labels"]
    assert labels["io.wharf.source.digest"].startswith("sha256:")
    assert labels["io.openshift.s2i.build.image"].startswith("wharf/python-builder:")
    assert labels["org.opencontainers.image.revision"]  # the examples live in this git checkout
    out = engine.containers.run(
        result.image_id,
        ["sh", "-c", "ls /tmp/wharf-build 2>&1; head -3 /licenses/license_info.csv; ls -ld /opt/app-root/src"],
        remove=True,
    ).decode()
    assert "No such file" in out and "Name,Version,License" in out


def test_code_only_change_rebuilds_from_the_dependency_cache(engine, builder, examples, tmp_path):
    source = tmp_path / "iris"
    shutil.copytree(EXAMPLES / "iris", source)
    with open(source / "IrisClassifier.py", "a") as fh:
        fh.write("\n# a code-only change\n")
    log = []
    started = time.monotonic()
    result = build_model(source, f"{TEST_REPO}/iris:rebuild", builder=builder, progress=log.append)
    seconds = time.monotonic() - started
    deps_step = next(i for i, line in enumerate(log) if "hooks deps" in line)
    assert log[deps_step + 1].strip() == "---> Using cache", log[deps_step : deps_step + 3]
    assert result.image_id != examples["iris"].image_id
    assert seconds < 60, f"code-only rebuild took {seconds:.1f} s"
    print(f"\ncode-only rebuild: {seconds:.1f} s")


# --- bad inputs: a clear message, no tag ------------------------------------------------------


def _broken_copy(tmp_path, edit):
    source = tmp_path / "model"
    shutil.copytree(EXAMPLES / "iris", source)
    edit(source)
    return source


@pytest.mark.parametrize(
    "case,edit,expected",
    [
        (
            "missing-values",
            lambda s: (s / ".s2i" / "environment").write_text("PERSISTENCE=0\n"),
            ["environment: MODEL_NAME is missing", "environment: SERVICE_TYPE is missing"],
        ),
        (
            "wrong-model-name",
            lambda s: (s / ".s2i" / "environment").write_text("MODEL_NAME=IrisClasifier\nSERVICE_TYPE=MODEL\n"),
            ["MODEL_NAME=IrisClasifier", "no IrisClasifier.py"],
        ),
        (
            "syntax-error",
            lambda s: (s / "IrisClassifier.py").write_text("class IrisClassifier:\n    def predict(self X):\n"),
            ["IrisClassifier.py:2: syntax error"],
        ),
        (
            "failing-requirements",
            lambda s: (s / "requirements.txt").write_text("wharf-no-such-package-4f2a==9.9\n"),
            ["requirements.txt: installing the dependencies failed"],
        ),
        (
            "fails-at-start-up",
            lambda s: (s / "IrisClassifier.py").write_text(
                "class IrisClassifier:\n    def load(self):\n        raise RuntimeError('weights missing')\n"
                "    def predict(self, X, names):\n        return X\n"
            ),
            ["smoke test of the new image failed", "weights missing"],
        ),
    ],
)
def test_bad_input_fails_clearly_and_leaves_no_tag(engine, builder, tmp_path, case, edit, expected):
    tag = f"{TEST_REPO}/bad-{case}:0.1"
    with pytest.raises(ModelBuildError) as err:
        build_model(_broken_copy(tmp_path, edit), tag, builder=builder, progress=None)
    for text in expected:
        assert text in str(err.value)
    no_tag(engine, tag)


# --- the real s2i CLI with the same builder ---------------------------------------------------


def s2i_build(s2i, source, builder, tag, tmp_path, *extra):
    ca = tmp_path / "ca"
    ca.mkdir(exist_ok=True)
    shutil.copy("/etc/ssl/certs/ca-certificates.crt", ca / "ca.crt")
    # --inject: the CA bundle is present while assemble runs and emptied before the commit.
    proc = subprocess.run(
        [
            str(s2i),
            "build",
            str(source),
            builder,
            tag,
            "--pull-policy",
            "never",
            "--inject",
            f"{ca}:/tmp/wharf-ca",
            "-e",
            "PIP_CERT=/tmp/wharf-ca/ca.crt",
            *extra,
        ],
        capture_output=True,
        text=True,
        timeout=900,
    )
    return proc


@pytest.mark.parametrize("kind,folder", [("iris", "iris"), ("scaler", "scaler"), ("router", "epsilon-router")])
def test_s2i_cli_builds_working_model_images(engine, builder, s2i_binary, tmp_path, kind, folder):
    tag = f"{TEST_REPO}/{kind}:s2i"
    proc = s2i_build(s2i_binary, EXAMPLES / folder, builder, tag, tmp_path)
    assert proc.returncode == 0, proc.stdout + proc.stderr
    exercise(engine, tag, kind)


def test_s2i_usage_prints_the_builder_usage(builder, s2i_binary):
    usage = subprocess.run([str(s2i_binary), "usage", builder], capture_output=True, text=True, timeout=120)
    assert "invoke build" in usage.stdout + usage.stderr


def test_s2i_incremental_build_reuses_saved_dependencies(engine, builder, s2i_binary, tmp_path):
    source = tmp_path / "iris"
    shutil.copytree(EXAMPLES / "iris", source)
    (source / "requirements.txt").write_text("numpy>=1.24\ntabulate==0.9.0\n")
    tag = f"{TEST_REPO}/iris:s2i-incremental"
    first = s2i_build(s2i_binary, source, builder, tag, tmp_path)
    assert first.returncode == 0, first.stdout + first.stderr
    assert "Successfully installed tabulate-0.9.0" in first.stdout + first.stderr
    second = s2i_build(s2i_binary, source, builder, tag, tmp_path, "--incremental")
    out = second.stdout + second.stderr
    assert second.returncode == 0, out
    assert "restoring dependencies saved from the previous image" in out
    assert "Successfully installed tabulate" not in out


def test_s2i_cli_failure_names_the_model_name(engine, builder, s2i_binary, tmp_path):
    source = _broken_copy(
        tmp_path,
        lambda s: (s / ".s2i" / "environment").write_text(
            "MODEL_NAME=IrisClasifier\nSERVICE_TYPE=MODEL\nPERSISTENCE=0\n"
        ),
    )
    tag = f"{TEST_REPO}/bad-s2i:0.1"
    proc = s2i_build(s2i_binary, source, builder, tag, tmp_path)
    assert proc.returncode != 0
    assert "wharf-hook error: .s2i/environment MODEL_NAME=IrisClasifier" in proc.stdout + proc.stderr
    no_tag(engine, tag)


def test_python_311_builder_builds_and_serves_the_model(engine, builder, tmp_path):
    """The 3.11 variant (Debian's python3 on the local base) builds and passes the smoke test."""
    from wharf.build.builder import build_builder

    tag = build_builder("3.11", progress=None)[0]
    assert tag.endswith("-py3.11")
    version = engine.containers.run(tag, ["python", "--version"], remove=True).decode()
    assert version.startswith("Python 3.11")
    result = build_model(EXAMPLES / "iris", f"{TEST_REPO}/iris:py311", builder=tag, progress=None)
    assert result.seconds["smoke"] > 0  # tagged only after the REST + gRPC smoke test passed
    with running(engine, result.tags[0]) as (http, grpc):
        contract_test(EXAMPLES / "iris" / "contract.json", grpc, "--grpc")


def test_invoke_build_prints_a_line_per_step_and_stage_then_one_summary(engine, builder) -> None:
    """The real `invoke build` of the iris example: stages and steps with elapsed time, none of the
    engine's raw output (pip's lines, layer ids), and a summary that names the tag, times and size."""
    import re
    import sys

    root = HERE.parents[1]
    tag = f"{TEST_REPO}/iris-progress:1"
    invoke = Path(sys.executable).with_name("invoke")
    try:
        ran = subprocess.run(
            [
                str(invoke),
                "-r",
                str(root),
                "build",
                "--source",
                str(EXAMPLES / "iris"),
                "--image",
                tag,
                "--builder",
                builder,
            ],
            capture_output=True,
            text=True,
            timeout=900,
        )
        assert ran.returncode == 0, ran.stdout[-3000:] + ran.stderr[-3000:]
        lines = ran.stdout.strip().splitlines()
        progress, summary = lines[:-1], lines[-1]
        assert progress and all(re.match(r"\[\s*\d+\.\d+s\] ", line) for line in progress), progress
        said = [line.split("] ", 1)[1] for line in progress]
        assert said[0] == f"building {tag} from {EXAMPLES / 'iris'}"
        steps = [s for s in said if s.startswith("step ")]
        assert steps and steps[-1].split(":")[0].endswith(steps[-1].split("/")[1].split(":")[0])  # the last step
        assert any(s.startswith("smoke test: starting the image as 1001:0 (MODEL)") for s in said)
        assert re.fullmatch(
            rf"built {re.escape(tag)} in \d+\.\d s \(build \d+\.\d s, smoke \d+\.\d s\), \d+ MB, "
            r"id sha256:[0-9a-f]{12}",
            summary,
        ), summary
        verbose = subprocess.run(
            [
                str(invoke),
                "-r",
                str(root),
                "build",
                "--source",
                str(EXAMPLES / "iris"),
                "--image",
                tag,
                "--builder",
                builder,
                "--verbose",
                "--no-smoke",
            ],
            capture_output=True,
            text=True,
            timeout=900,
        )
        assert verbose.returncode == 0 and len(verbose.stdout.splitlines()) > len(lines)
        assert any(line.startswith(" ---> ") for line in verbose.stdout.splitlines())  # the engine's own lines
    finally:
        subprocess.run(["docker", "rmi", "-f", tag], capture_output=True)
