"""Pure parts of the build: .s2i/environment, the split Dockerfile, labels, pip settings, hooks."""

from __future__ import annotations

import csv
import datetime as dt
import subprocess
import sys
import textwrap
from pathlib import Path

import pytest

from hooks import check, deps, licences
from wharf.build import base, dockerfile
from wharf.build.config import Network, model_labels, tree_digest
from wharf.build.model import ModelBuildError, collect_sources, hook_problems, ignore_patterns, read_settings
from wharf.build.run import detect_language
from wharf.build.s2ienv import EnvFileError, model_settings, parse_env

ROOT = Path(__file__).resolve().parents[2]
EXAMPLES = ROOT / "examples" / "models"


# --- .s2i/environment ---------------------------------------------------------------------


def test_env_file_format_is_s2i_s():
    env = parse_env("# comment\n\nMODEL_NAME=My\nURL=http://x/?a=b\nEMPTY=\n")
    assert env == {"MODEL_NAME": "My", "URL": "http://x/?a=b", "EMPTY": ""}


def test_env_file_bad_line_names_file_and_line():
    with pytest.raises(EnvFileError) as err:
        parse_env("MODEL_NAME=A\nnot a pair\n", "m/.s2i/environment")
    assert err.value.problems == ["m/.s2i/environment:2: expected KEY=VALUE, got 'not a pair'"]


def test_missing_and_wrong_values_are_all_reported():
    with pytest.raises(EnvFileError) as err:
        model_settings({"SERVICE_TYPE": "MODL", "PERSISTENCE": "yes"}, "f")
    text = "\n".join(err.value.problems)
    assert "f: MODEL_NAME is missing" in text
    assert "SERVICE_TYPE='MODL' is not one of MODEL, ROUTER" in text
    assert "PERSISTENCE='yes': expected 0 or 1" in text


def test_pip_settings_stay_out_of_the_image_env():
    s = model_settings(
        {
            "MODEL_NAME": "M",
            "SERVICE_TYPE": "MODEL",
            "EXTRA_INDEX_URL": "https://u:tok@idx/simple",
            "PIP_TRUSTED_HOST": "idx",
            "GUNICORN_WORKERS": "2",
        }
    )
    assert s.image_env == {"MODEL_NAME": "M", "SERVICE_TYPE": "MODEL", "GUNICORN_WORKERS": "2"}


@pytest.mark.parametrize(
    "folder,name,service",
    [
        ("iris", "IrisClassifier", "MODEL"),
        ("scaler", "MillimetreScaler", "TRANSFORMER"),
        ("epsilon-router", "EpsilonGreedyRouter", "ROUTER"),
    ],
)
def test_examples_have_s2i_environment(folder, name, service):
    s = read_settings(EXAMPLES / folder)
    assert (s.model_name, s.service_type) == (name, service)


def test_missing_env_file_is_named(tmp_path):
    with pytest.raises(ModelBuildError, match=r"\.s2i/environment: missing; it must set MODEL_NAME"):
        read_settings(tmp_path)


# --- the split Dockerfile -------------------------------------------------------------------


def test_dependency_layer_depends_on_requirements_only():
    assert dockerfile.dependency_files({"requirements.txt", "M.py", "setup.py"}) == (["requirements.txt"], False)
    assert dockerfile.dependency_files({"pyproject.toml", "M.py"}) == (["M.py", "pyproject.toml"], True)
    assert dockerfile.dependency_files({"M.py"}) == ([], False)


def test_dockerfile_keeps_pip_secrets_in_the_throwaway_stage():
    s = model_settings({"MODEL_NAME": "M", "SERVICE_TYPE": "MODEL", "EXTRA_INDEX_URL": "https://tok@idx"})
    text = dockerfile.model_dockerfile("b:1", s, {"io.wharf.x": "1"}, has_deps=True)
    deps_stage, final = text.split("\nFROM b:1\n")
    assert "tok@idx" in deps_stage and "tok@idx" not in final
    assert "build-config" not in final and "pip.conf" not in final
    # the code is copied after the dependencies, so a code change keeps the dependency layers
    assert final.index("/opt/app-root/deps/") < final.index("COPY --chown=1001:0 src/")
    assert final.rstrip().endswith('CMD ["/usr/libexec/s2i/run"]') and "USER 1001" in final


def test_labels_are_reproducible_and_name_the_revision():
    files = {"a.py": b"x", "b/c.txt": b"y"}
    assert tree_digest(files) == tree_digest(dict(reversed(list(files.items()))))
    assert tree_digest(files) != tree_digest({**files, "a.py": b"z"})
    git = {"commit": "abc", "dirty": "true", "remote": "https://git/x"}
    labels = model_labels("wharf/python-builder:0.1.0", "0.1.0", "iris", git, "sha256:1")
    assert labels["org.opencontainers.image.revision"] == "abc-dirty"
    assert labels["io.openshift.s2i.build.source-location"] == "https://git/x"
    assert labels == model_labels("wharf/python-builder:0.1.0", "0.1.0", "iris", git, "sha256:1")


def test_pip_conf_points_at_the_build_only_ca(tmp_path):
    ca = tmp_path / "ca.pem"
    ca.write_text("---")
    net = Network.from_env({}, ca_bundle=str(ca), index_url="https://mirror/simple", trusted_hosts="mirror")
    conf = net.pip_conf()
    assert "cert = /tmp/wharf-build/ca.crt" in conf and "index-url = https://mirror/simple" in conf
    assert "trusted-host = mirror" in conf
    assert set(net.context_files()) == {"build-config/pip.conf", "build-config/ca.crt"}
    with pytest.raises(FileNotFoundError, match="no-such.pem"):
        Network(ca_bundle=tmp_path / "no-such.pem").context_files()


def test_sources_honour_s2iignore(tmp_path):
    (tmp_path / "M.py").write_text("x = 1\n")
    (tmp_path / "data").mkdir()
    (tmp_path / "data" / "big.bin").write_bytes(b"0")
    (tmp_path / "__pycache__").mkdir()
    (tmp_path / "__pycache__" / "M.cpython-312.pyc").write_bytes(b"0")
    (tmp_path / ".s2iignore").write_text("# no data\ndata/\n")
    assert ignore_patterns("# c\ndata/\n*.log\n") == ["data", "*.log"]
    assert sorted(collect_sources(tmp_path)) == [".s2iignore", "M.py"]


def test_hook_errors_are_picked_out_of_a_build_log():
    log = ["Step 10/13 : RUN ...", "wharf-hook error: M.py:3: syntax error: invalid syntax", "noise"]
    assert hook_problems(log) == ["M.py:3: syntax error: invalid syntax"]


def test_language_from_folder():
    assert detect_language({"pom.xml", "src"}) == "java"
    assert detect_language({"MyModel.py", "requirements.txt"}) == "python"


# --- base images ----------------------------------------------------------------------------


def test_mirror_from_deb822_and_one_line_sources():
    deb822 = "Types: deb\nURIs: http://mirror.local/debian-security\n\nTypes: deb\nURIs: http://mirror.local/debian/\n"
    assert base.mirror_from_sources(deb822) == "http://mirror.local/debian"
    assert base.mirror_from_sources("deb [arch=amd64] http://m/debian bookworm main\n") == "http://m/debian"
    assert base.mirror_from_sources("# nothing\n") is None


def test_the_mirror_comes_from_apt_or_the_setting_and_never_from_a_guess(tmp_path, monkeypatch):
    monkeypatch.delenv("WHARF_DEBIAN_MIRROR", raising=False)
    (tmp_path / "sources.list.d").mkdir()
    (tmp_path / "sources.list.d" / "debian.sources").write_text("Types: deb\nURIs: http://mirror.local/debian/\n")
    assert base.configured_mirror((tmp_path / "sources.list.d",)) == "http://mirror.local/debian"
    monkeypatch.setenv("WHARF_DEBIAN_MIRROR", "http://other.local/debian/")
    assert base.configured_mirror((tmp_path / "sources.list.d",)) == "http://other.local/debian"
    monkeypatch.delenv("WHARF_DEBIAN_MIRROR")
    empty = tmp_path / "empty.list"
    empty.write_text("# no sources\n")
    with pytest.raises(base.BaseImageError, match="no Debian mirror found in .*empty.list.*WHARF_DEBIAN_MIRROR"):
        base.configured_mirror((empty, tmp_path / "missing"))


def test_cached_rootfs_is_keyed_by_suite_and_date(tmp_path):
    today = dt.date(2026, 11, 25)
    for name in (
        "debian-bookworm-minbase-20261120.tar",
        "debian-bookworm-minbase-20261001.tar",
        "debian-trixie-minbase-20261124.tar",
    ):
        (tmp_path / name).write_bytes(b"")
    assert base.fresh_rootfs(tmp_path, "bookworm", today).name == "debian-bookworm-minbase-20261120.tar"
    assert base.fresh_rootfs(tmp_path, "bookworm", dt.date(2027, 1, 1)) is None  # too old: rebuilt
    assert base.rootfs_name("bookworm", today) == "debian-bookworm-minbase-20261125.tar"


def test_python_base_uses_debian_for_311_and_pyenv_tree_otherwise():
    debian = base.python_base_dockerfile("3.11", "bookworm", from_pyenv=False)
    assert "python3-venv" in debian and "COPY" not in debian
    pyenv = base.python_base_dockerfile("3.12", "bookworm", from_pyenv=True)
    assert "COPY python/ /usr/local/" in pyenv and "ldconfig" in pyenv and "libssl3" in pyenv


# --- hooks (run as the builder runs them: python -m hooks, in a subprocess) -------------------


def test_dependency_plan_first_match_wins():
    assert deps.plan({"requirements.txt", "setup.py"}) == deps.Plan("requirements", "requirements.txt")
    assert deps.plan({"pyproject.toml"}) == deps.Plan("package", "pyproject.toml")
    assert deps.plan({"environment.yml"}).kind == "conda"
    assert deps.plan({"M.py"}).kind == "none"
    cmd = deps.pip_command(
        deps.Plan("requirements", "requirements.txt"),
        "/p",
        {"EXTRA_INDEX_URL": "https://idx", "PIP_TRUSTED_HOST": "idx other"},
        find_links=True,
    )
    assert cmd[cmd.index("--prefix") + 1] == "/p" and cmd[-2:] == ["-r", "requirements.txt"]
    assert ["--trusted-host", "idx", "--trusted-host", "other"] == cmd[
        cmd.index("--trusted-host") : cmd.index("--find-links")
    ]


def test_conda_file_without_conda_is_a_clear_error(tmp_path, monkeypatch):
    (tmp_path / "environment.yml").write_text("name: x\n")
    monkeypatch.setattr(deps.shutil, "which", lambda name: None)
    with pytest.raises(deps.DependencyError, match="environment.yml: this builder has no conda"):
        deps.install(tmp_path, str(tmp_path / "prefix"), env={})


def _hook(args, cwd, **env):
    import os

    full = {**os.environ, "PYTHONPATH": str(ROOT), **env}
    return subprocess.run([sys.executable, "-m", "hooks", *args], cwd=cwd, env=full, capture_output=True, text=True)


def _model(tmp_path, code, env="MODEL_NAME=Good\nSERVICE_TYPE=MODEL\n"):
    (tmp_path / "Good.py").write_text(textwrap.dedent(code))
    return {k: v for k, v in (line.split("=", 1) for line in env.splitlines())}


def test_check_passes_a_good_model(tmp_path):
    env = _model(tmp_path, "class Good:\n    def predict(self, X, names):\n        return X\n")
    proc = _hook(["check", str(tmp_path)], tmp_path, **env)
    assert proc.returncode == 0, proc.stderr
    assert "check passed" in proc.stdout


def test_check_names_the_wrong_model_name(tmp_path):
    env = _model(tmp_path, "class Good:\n    def predict(self, X, names):\n        return X\n")
    proc = _hook(["check", str(tmp_path)], tmp_path, **{**env, "MODEL_NAME": "Goood"})
    assert proc.returncode == 1
    assert "wharf-hook error: .s2i/environment MODEL_NAME=Goood" in proc.stderr and "Goood.py" in proc.stderr


def test_check_names_file_and_line_of_a_syntax_error(tmp_path):
    env = _model(tmp_path, "class Good:\n    def predict(self, X, names)\n        return X\n")
    proc = _hook(["check", str(tmp_path)], tmp_path, **env)
    assert proc.returncode == 1 and "wharf-hook error: Good.py:2: syntax error" in proc.stderr


def test_check_wants_the_method_of_the_service_type(tmp_path):
    env = _model(tmp_path, "class Good:\n    def predict(self, X, names):\n        return X\n")
    proc = _hook(["check", str(tmp_path)], tmp_path, **{**env, "SERVICE_TYPE": "ROUTER"})
    assert proc.returncode == 1
    assert "Good.py: class Good has no route or route_raw method, which SERVICE_TYPE=ROUTER needs" in proc.stderr


def test_inherited_stub_does_not_count_as_a_method():
    from wharf.component.user_api import SeldonComponent

    class OnlyStub(SeldonComponent):
        pass

    class Real(SeldonComponent):
        def route(self, features, names):
            return 0

    assert not check.defined(OnlyStub, "route") and check.defined(Real, "route")


def test_env_hook_reports_missing_values(tmp_path):
    proc = _hook(["env"], tmp_path, MODEL_NAME="", SERVICE_TYPE="")
    assert proc.returncode == 1
    assert "MODEL_NAME is missing" in proc.stderr and "SERVICE_TYPE is missing" in proc.stderr


def test_licence_report_lists_installed_packages(tmp_path):
    table = licences.write_report(tmp_path)
    names = {row[0].lower() for row in table}
    assert {"numpy", "pytest"} <= names
    with open(tmp_path / "license_info.csv") as fh:
        rows = list(csv.reader(fh))
    assert rows[0] == ["Name", "Version", "License"] and len(rows) == len(table) + 1
    assert "numpy" in (tmp_path / "license.txt").read_text().lower()


def test_invoke_build_exits_1_naming_the_missing_values(tmp_path):
    (tmp_path / ".s2i").mkdir()
    (tmp_path / ".s2i" / "environment").write_text("PERSISTENCE=0\n")
    invoke = Path(sys.executable).with_name("invoke")
    proc = subprocess.run(
        [str(invoke), "-r", str(ROOT), "build", "--source", str(tmp_path), "--image", "x/y:1"],
        capture_output=True,
        text=True,
        timeout=120,
    )
    assert proc.returncode == 1
    assert "MODEL_NAME is missing" in proc.stderr and "SERVICE_TYPE is missing" in proc.stderr
    assert "no tag x/y:1 was created" in proc.stderr


def test_defaults_note_names_what_upstream_requires_and_wharf_assumes() -> None:
    from wharf.build.s2ienv import defaults_note

    assert defaults_note({"MODEL_NAME": "M", "SERVICE_TYPE": "MODEL"}) == (
        ".s2i/environment: PERSISTENCE=0, API_TYPE=REST assumed (PERSISTENCE and API_TYPE not set; "
        "upstream's builder requires them, Wharf's does not)"
    )
    assert defaults_note({"PERSISTENCE": "1"}).startswith(".s2i/environment: API_TYPE=REST assumed")
    assert defaults_note({"PERSISTENCE": "0", "API_TYPE": "GRPC"}) is None


def test_git_and_folder_sources_are_told_apart() -> None:
    from wharf.build.run import is_git_url

    assert is_git_url("https://github.com/org/models.git") and is_git_url("file:///srv/models.git")
    assert is_git_url("git@github.com:org/models") and not is_git_url("examples/models/iris")
