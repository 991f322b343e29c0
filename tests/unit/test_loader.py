"""Loading the user class from a model folder: ``MyModel`` (file = class) or ``pkg.mod.Class``."""

from __future__ import annotations

import sys
import textwrap
import uuid
from pathlib import Path

import pytest

from wharf.component.loader import UserClassError, load_user_class


@pytest.fixture(autouse=True)
def clean_imports():
    """Every test imports into a fresh folder: restore sys.path and drop the modules it added."""
    path, modules = list(sys.path), set(sys.modules)
    yield
    sys.path[:] = path
    for name in set(sys.modules) - modules:
        del sys.modules[name]


def unique(prefix: str) -> str:
    return f"{prefix}_{uuid.uuid4().hex[:8]}"


def write(folder: Path, relative: str, source: str) -> Path:
    path = folder / relative
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(textwrap.dedent(source).lstrip())
    return path


def test_plain_name_is_file_and_class(tmp_path):
    name = unique("Model")
    write(tmp_path, f"{name}.py", f"class {name}:\n    kind = 'plain'\n")
    cls = load_user_class(name, tmp_path)
    assert cls.__name__ == name and cls.kind == "plain"
    assert str(tmp_path.resolve()) in sys.path  # the folder is appended, as upstream does with the cwd


def test_current_directory_is_the_default(tmp_path, monkeypatch):
    name = unique("CwdModel")
    write(tmp_path, f"{name}.py", f"class {name}:\n    pass\n")
    monkeypatch.chdir(tmp_path)
    assert load_user_class(name).__name__ == name


def test_dotted_name_splits_at_the_last_dot(tmp_path):
    pkg = unique("pkg")
    write(tmp_path, f"{pkg}/__init__.py", "")
    write(tmp_path, f"{pkg}/models/__init__.py", "")
    write(tmp_path, f"{pkg}/models/iris.py", "class Classifier:\n    pass\n")
    cls = load_user_class(f"{pkg}.models.iris.Classifier", tmp_path)
    assert cls.__module__ == f"{pkg}.models.iris" and cls.__name__ == "Classifier"


def test_missing_module(tmp_path):
    name = unique("Nowhere")
    with pytest.raises(UserClassError) as info:
        load_user_class(name, tmp_path)
    message = str(info.value)
    assert f"cannot import module {name!r}" in message
    assert f"no {name}.py in {tmp_path.resolve()}" in message


def test_missing_dotted_module_names_the_path(tmp_path):
    pkg = unique("pkg")
    write(tmp_path, f"{pkg}/__init__.py", "")
    with pytest.raises(UserClassError, match=f"no {pkg}/absent.py in"):
        load_user_class(f"{pkg}.absent.Model", tmp_path)


def test_missing_dependency_is_not_reported_as_missing_model(tmp_path):
    name = unique("NeedsDep")
    write(tmp_path, f"{name}.py", "import surely_not_installed_pkg_xyz\nclass X: pass\n")
    with pytest.raises(UserClassError) as info:
        load_user_class(name, tmp_path)
    assert f"importing {name!r} failed" in str(info.value)
    assert "surely_not_installed_pkg_xyz" in str(info.value) and "requirements.txt" in str(info.value)


def test_missing_class_lists_the_classes_found(tmp_path):
    name = unique("Mod")
    path = write(
        tmp_path,
        f"{name}.py",
        """
        import json
        from collections import OrderedDict

        class Alpha:
            pass

        class Beta(Alpha):
            pass

        def helper():
            pass
    """,
    )
    with pytest.raises(UserClassError) as info:
        load_user_class(name, tmp_path)
    message = str(info.value)
    assert message.startswith(f"{path.resolve()}: no class {name!r} in module {name!r}")
    assert message.endswith("(classes defined there: Alpha, Beta)")  # imported classes are not listed
    assert "OrderedDict" not in message


def test_missing_class_in_module_without_classes(tmp_path):
    name = unique("Empty")
    write(tmp_path, f"{name}.py", "x = 1\n")
    with pytest.raises(UserClassError) as info:
        load_user_class(f"{name}.Model", tmp_path)
    assert "no class 'Model'" in str(info.value) and "classes defined there" not in str(info.value)


def test_syntax_error_names_file_and_line(tmp_path):
    name = unique("Broken")
    path = write(tmp_path, f"{name}.py", "class Broken:\n    def predict(self, X:\n        return X\n")
    with pytest.raises(UserClassError) as info:
        load_user_class(name, tmp_path)
    message = str(info.value)
    assert message.startswith(f"{path.resolve()}:2: syntax error in the model code")


def test_attribute_that_is_not_callable(tmp_path):
    name = unique("Const")
    write(tmp_path, f"{name}.py", "Model = 42\n")
    with pytest.raises(UserClassError, match=f"{name}.Model is not a class"):
        load_user_class(f"{name}.Model", tmp_path)
