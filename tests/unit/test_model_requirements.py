"""The MLflow server's start-up check: a model's requirements.txt against what is installed (pure)."""

from __future__ import annotations

from wharf.servers.requirements import Mismatch, check_requirements

INSTALLED = {
    "mlflow-skinny": "3.18.0",
    "scikit-learn": "1.9.1",
    "pandas": "3.1.1",
    "xgboost-cpu": "3.2.0",
    "numpy": "2.4.6",
}
ENV = {
    "python_version": "3.12",
    "python_full_version": "3.12.8",
    "sys_platform": "linux",
    "platform_system": "Linux",
    "os_name": "posix",
    "platform_machine": "x86_64",
    "implementation_name": "cpython",
    "platform_python_implementation": "CPython",
    "platform_release": "",
    "platform_version": "",
    "implementation_version": "3.12.8",
}


def check(text: str):
    return check_requirements(text.splitlines(), INSTALLED.get, ENV)


def test_what_mlflow_writes_is_met_by_mlflow_skinny_and_xgboost_cpu():
    found = check("mlflow==3.18.0\nscikit-learn==1.9.1\npandas\nxgboost>=2\n")
    assert found.missing == () and found.mismatched == () and found.unchecked == ()


def test_a_package_not_installed_is_missing_as_written():
    assert check("mlflow\ntorch==2.5.1  # the model's own\nSciKit_Learn\n").missing == ("torch==2.5.1",)


def test_another_version_is_a_mismatch_naming_both():
    found = check("scikit-learn==1.5.2\nmlflow<3\nnumpy>=2,<3\n")
    assert found.mismatched == (
        Mismatch("scikit-learn==1.5.2", "scikit-learn 1.9.1"),
        Mismatch("mlflow<3", "mlflow-skinny 3.18.0"),
    )


def test_markers_for_another_interpreter_do_not_apply():
    found = check('torch==2.5.1; python_version < "3.9"\ntensorflow; sys_platform == "darwin"\n')
    assert found.missing == ()


def test_options_and_comments_are_not_packages():
    found = check("# comment\n\n-r other.txt\n--extra-index-url https://example.invalid/simple\npandas\n")
    assert found.missing == () and found.unchecked == (
        "-r other.txt",
        "--extra-index-url https://example.invalid/simple",
    )
