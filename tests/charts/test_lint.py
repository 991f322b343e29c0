"""ct-style lint: configuration like ct's, steps in ct's order, first failure stops the chart."""

from __future__ import annotations

import re
import shutil
import subprocess
from pathlib import Path

import pytest
from chart_support import CHARTS, ROOT

from wharf.charts import semver
from wharf.charts.ctconfig import ConfigError, load_config
from wharf.charts.ctinstall import names
from wharf.charts.helm import ensure_helm, helm_version
from wharf.charts.lint import _helm_lint_step, lint, lint_chart, selected_charts


def test_config_precedence_flag_over_env_over_file(tmp_path):
    (tmp_path / "ct.yaml").write_text(
        "target-branch: develop\nchart-dirs: [a, b]\nvalidate-maintainers: false\nunknown: 1\n"
    )
    config = load_config(tmp_path, environ={})
    assert (config.target_branch, config.chart_dirs, config.validate_maintainers) == ("develop", ["a", "b"], False)
    config = load_config(tmp_path, environ={"CT_TARGET_BRANCH": "env", "CT_CHART_DIRS": "x,y"})
    assert (config.target_branch, config.chart_dirs) == ("env", ["x", "y"])
    config = load_config(tmp_path, flags={"target-branch": "flag"}, environ={"CT_TARGET_BRANCH": "env"})
    assert config.target_branch == "flag"


def test_config_errors_name_the_source(tmp_path):
    with pytest.raises(ConfigError, match="--config nope.yaml: no such file"):
        load_config(tmp_path, "nope.yaml", environ={})
    (tmp_path / "ct.yaml").write_text("validate-yaml: maybe\n")
    with pytest.raises(ConfigError, match=r"ct.yaml: validate-yaml: expected true or false, got 'maybe'"):
        load_config(tmp_path, environ={})
    (tmp_path / "ct.yaml").write_text("validate-yaml: false\n")
    with pytest.raises(ConfigError, match="mutually exclusive"):
        load_config(tmp_path, flags={"all": True, "charts": "charts/x", "validate-yaml": True}, environ={})


def test_repo_ct_yaml_is_read():
    config = load_config(ROOT, environ={})
    assert config.chart_dirs == ["charts"] and config.lint_conf == ".yamllint.yaml" and not config.validate_maintainers


def test_semver_rules():
    assert semver.greater("0.1.1", "0.1.0") and not semver.greater("0.1.0", "0.1.0")
    assert semver.greater("1.0.0", "1.0.0-rc.1") and semver.greater("1.0.0-rc.10", "1.0.0-rc.9")
    assert semver.non_breaking("0.1.0", "0.1.5") and not semver.non_breaking("0.1.0", "0.2.0")
    assert semver.non_breaking("1.2.0", "1.9.0") and not semver.non_breaking("1.2.0", "2.0.0")
    with pytest.raises(ValueError, match="not a SemVer"):
        semver.parse("one")


def test_release_and_namespace_names_like_ct():
    release, namespace = names("wharf-model", "42", rand=lambda: "abcdefghij")
    assert (release, namespace) == ("wharf-model-abcdefghij", "wharf-model-42-abcdefghij")
    long_release, _ = names("x" * 70, rand=lambda: "abcdefghij")
    assert len(long_release) == 63 and long_release.endswith("-abcdefghij")


def _git(repo: Path, *args: str) -> None:
    subprocess.run(
        ["git", "-C", str(repo), "-c", "user.email=t@t", "-c", "user.name=t", *args], check=True, capture_output=True
    )


@pytest.fixture
def chart_repo(tmp_path):
    """A throwaway git repo whose main branch holds wharf-model 0.1.0 and the repo's lint config."""
    repo = tmp_path / "repo"
    shutil.copytree(CHARTS / "wharf-model", repo / "charts" / "wharf-model")
    # Whatever the repository's chart version is now, main here holds 0.1.0 (the versions below).
    meta = repo / "charts" / "wharf-model" / "Chart.yaml"
    meta.write_text(re.sub(r"(?m)^version: .*$", "version: 0.1.0", meta.read_text()))
    for name in ("ct.yaml", ".yamllint.yaml"):
        shutil.copy(ROOT / name, repo / name)
    _git(repo, "init", "-q", "-b", "main")
    _git(repo, "add", ".")
    _git(repo, "commit", "-q", "-m", "v0.1.0")
    _git(repo, "checkout", "-q", "-b", "feature")
    return repo


def _bump(chart: Path, version: str) -> None:
    text = (chart / "Chart.yaml").read_text().replace("version: 0.1.0", f"version: {version}")
    (chart / "Chart.yaml").write_text(text)


@pytest.mark.helm
def test_lint_steps_run_in_ct_order_and_stop_at_the_first_failure(helm, chart_repo):
    chart = chart_repo / "charts" / "wharf-model"
    config = load_config(chart_repo, environ={})
    (chart / "templates" / "NOTES.txt").write_text("changed\n")
    charts, base = selected_charts(chart_repo, config)
    assert charts == [chart] and base
    result = lint_chart(chart_repo, chart, base, config)
    assert [s.step for s in result.steps] == ["version-increment"]
    assert "Needs a version bump" in result.failed.problems[0] and "0.1.0" in result.failed.problems[0]

    _bump(chart, "0.1.1")
    (chart / "ci" / "default-values.yaml").write_text("model:\n  image: wharf/iris:0.1.0   \n")
    result = lint_chart(chart_repo, chart, base, config)
    assert [s.step for s in result.steps] == ["version-increment", "chart-yaml-schema", "yamllint"]
    assert "default-values.yaml:2:" in result.failed.problems[0] and "[trailing-spaces]" in result.failed.problems[0]

    (chart / "ci" / "default-values.yaml").write_text("model:\n  image: wharf/iris:0.1.0\n")
    (chart / "templates" / "broken.yaml").write_text("{{ .Values.model.image | nosuchfunc }}\n")
    result = lint_chart(chart_repo, chart, base, config)
    assert result.failed.step == "helm-lint" and "nosuchfunc" in result.failed.problems[0]

    (chart / "templates" / "broken.yaml").unlink()
    # Only a description changes: helm lint is happy, the committed schema is stale, a key is undocumented.
    (chart / "values.yaml").write_text(
        (chart / "values.yaml").read_text().replace("# -- Labels added to the SeldonDeployment.\n", "")
    )
    result = lint_chart(chart_repo, chart, base, config)
    assert result.failed.step == "values-schema"
    assert result.failed.problems == [
        f"{chart / 'values.schema.json'}: out of date with values.yaml; run `invoke charts.schema`",
        f"{chart / 'values.yaml'}: labels: no `# --` description",
    ]


@pytest.mark.helm
def test_lint_reports_a_security_finding_from_the_validate_step(helm, chart_repo):
    chart = chart_repo / "charts" / "wharf-model"
    _bump(chart, "0.1.1")
    (chart / "ci" / "root-values.yaml").write_text(
        "model:\n  image: wharf/iris:latest\n  securityContext:\n    runAsNonRoot: false\n"
    )
    out: list[str] = []
    assert not lint(chart_repo, load_config(chart_repo, environ={}), out.append)
    text = "\n".join(out)
    assert '✖︎ wharf-model => (version: "0.1.1", path: "charts/wharf-model") > step validate failed:' in text
    assert "[image-tag-pinned]" in text and "[run-as-non-root]" in text and "with root-values.yaml" in text


@pytest.mark.helm
def test_unchanged_charts_are_not_processed_and_all_repo_charts_pass(helm, chart_repo):
    out: list[str] = []
    assert lint(chart_repo, load_config(chart_repo, environ={}), out.append)
    assert out == ["No chart changes detected."]
    out.clear()
    assert lint(ROOT, load_config(ROOT, flags={"all": True}, environ={}), out.append), "\n".join(out)
    assert sum(line.startswith("✔︎") for line in out) == len(list(CHARTS.glob("*/Chart.yaml")))


@pytest.mark.helm
def test_helm_lint_step_passes_every_chart_and_names_a_broken_template(helm_major, chart_repo):
    """ct's helm-lint step with Helm 3 and with Helm 4: every repository chart with each ci file passes;
    a template calling an unknown function fails with helm's own line (both majors print it alike)."""
    major, binary = helm_major
    config = load_config(ROOT, flags={"all": True}, environ={})
    for chart in sorted(p.parent for p in CHARTS.glob("*/Chart.yaml")):
        assert _helm_lint_step(chart, config) == [], chart.name
    chart = chart_repo / "charts" / "wharf-model"
    (chart / "templates" / "broken.yaml").write_text("{{ .Values.model.image | nosuchfunc }}\n")
    problems = _helm_lint_step(chart, load_config(chart_repo, environ={}))
    assert len(problems) == len(list((chart / "ci").glob("*-values.yaml")))
    assert 'function "nosuchfunc" not defined' in problems[0]
    assert ensure_helm().parent.name == f"helm-{helm_version(major)}" and ensure_helm() == binary
