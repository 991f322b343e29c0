"""``MLFLOW_SERVER``: an MLflow model folder (``MLmodel``), served through its pyfunc flavour as upstream's MLFlowServer.

Upstream's contract, kept: the class is ``MLFlowServer(model_uri, xtype="ndarray")``; the model is
``mlflow.pyfunc.load_model(folder)``; with ``xtype`` ``ndarray`` the request's array goes to the
model's ``predict`` as it is, with ``DataFrame`` it becomes a ``pandas.DataFrame`` whose columns
are the request's ``names`` (none given: 0, 1, ...); ``metadata.yaml`` beside ``MLmodel``, if
present, is the model's metadata.

Where its Python packages come from, on purpose unlike upstream: upstream's image creates a conda
environment from the model's ``conda.yaml`` every time the container starts, which downloads
packages (minutes, a crash loop when the mirror is slow, no start at all without the internet, and
a Python version mismatch when the model's differs). Wharf's image instead ships MLflow
(``mlflow-skinny``: the same ``mlflow`` package, pyfunc included, without the tracking server and
its UI) and the libraries most models are saved with (scikit-learn, skops, XGBoost, LightGBM,
pandas), and at start-up only *compares* the model's ``requirements.txt`` (or the ``pip`` list of
its ``conda.yaml``) with what is installed, with no network:

- a package the image does not have is a warning naming it, and the model is loaded all the same:
  MLflow's inferred requirements often name packages the model never imports (whatever the saving
  process had loaded: pytest, say), which upstream's conda step installed for nothing. If the model
  then fails to load, the one-line error names the missing packages and how to get them: an image
  ``FROM wharf/mlflowserver:<version>`` that runs ``pip install -r requirements.txt`` (built with
  ``docker build`` or ``invoke build --dockerfile``), named as the node's container image;
- an installed package at another version than the model pins is a warning naming both versions
  (models usually load across patch and minor versions; a model that does not fails at load with
  the library's own error, after the warning that explains it);
- the model's Python version (``MLmodel``) against the image's is a warning too.

Other differences: an ``xtype`` other than ``ndarray`` or ``DataFrame`` is refused at start-up
(upstream took any other value as DataFrame); an ``MLmodel`` without the ``python_function``
flavour is refused at start-up naming the flavours it has; a pandas answer is sent as its values.

Loading runs code from the model folder (pickles, a PythonModel's class): serve only models from a
source you trust.
"""

from __future__ import annotations

import logging
import os
import sys
from pathlib import Path
from typing import Any

from wharf import __version__
from wharf.servers.model_folder import ModelFolderError, ModelFolderServer, first_line

log = logging.getLogger(__name__)

XTYPES = ("ndarray", "DataFrame")
IMAGE = f"wharf/mlflowserver:{__version__}"


class MLFlowServer(ModelFolderServer):
    model_files = ("MLmodel",)
    kind = "MLflow"

    def __init__(self, model_uri: str | None = None, xtype: str = "ndarray") -> None:
        xtypes = {x.lower(): x for x in XTYPES}
        if str(xtype).lower() not in xtypes:
            raise ModelFolderError(f"parameter xtype: {xtype!r} is not one of {', '.join(XTYPES)}")
        self.xtype = xtypes[str(xtype).lower()]
        self._model: Any = None
        super().__init__(model_uri)
        mlmodel = read_mlmodel(self._path)
        check_python_version(self._path, mlmodel)
        self._missing = check_installed(self._path.parent)

    def _load(self, path: Path) -> None:
        from mlflow import pyfunc

        try:
            self._model = pyfunc.load_model(str(path.parent))
        except Exception as exc:  # noqa: BLE001 - whatever the flavour's loader raises, name the folder
            first = first_line(exc, default="")
            raise ModelFolderError(
                f"{path.parent}: the MLflow model did not load "
                f"({type(exc).__name__}: {first})" + (f"; {self._missing}" if self._missing else "")
            ) from None

    def predict(self, X, names=None, meta=None):  # noqa: N803 - upstream's argument names
        self.load()  # a no-op once loaded; the class also works outside the component server
        if self.xtype == "DataFrame":
            import pandas as pd

            X = pd.DataFrame(data=X, columns=list(names) if names else None)
        result = self._model.predict(X)
        return result.to_numpy() if hasattr(result, "to_numpy") else result  # a DataFrame or Series


def read_mlmodel(path: Path) -> dict:
    """The ``MLmodel`` file, which must name the ``python_function`` flavour (the one this server calls)."""
    import yaml

    try:
        mlmodel = yaml.safe_load(path.read_text()) or {}
    except (OSError, yaml.YAMLError) as exc:
        raise ModelFolderError(f"{path}: not a readable MLmodel file ({type(exc).__name__}: {exc})") from None
    flavors = mlmodel.get("flavors") if isinstance(mlmodel, dict) else None
    if not isinstance(flavors, dict) or "python_function" not in flavors:
        have = ", ".join(sorted(flavors)) if isinstance(flavors, dict) and flavors else "none"
        raise ModelFolderError(
            f"{path}: no python_function flavour, which MLFLOW_SERVER serves "
            f"(flavours: {have}); save the model with mlflow.<flavour>.save_model or "
            "mlflow.pyfunc.save_model"
        )
    return mlmodel


def check_python_version(path: Path, mlmodel: dict) -> None:
    saved = str((mlmodel["flavors"]["python_function"] or {}).get("python_version") or "")
    here = f"{sys.version_info.major}.{sys.version_info.minor}"
    if saved and ".".join(saved.split(".")[:2]) != here:
        log.warning(
            "%s: the model was saved with Python %s and this image runs Python %s; pickled "
            "models usually load across versions, and the flavour's loader says so if not",
            path,
            saved,
            sys.version.split()[0],
        )


def requirement_lines(folder: Path) -> tuple[Path | None, list[str]]:
    """The model's pip requirements: ``requirements.txt`` (MLflow 1.26 and later), else ``conda.yaml``'s pip list."""
    import yaml

    requirements = folder / "requirements.txt"
    if requirements.is_file():
        return requirements, requirements.read_text().splitlines()
    conda = folder / "conda.yaml"
    if conda.is_file():
        try:
            env = yaml.safe_load(conda.read_text()) or {}
        except yaml.YAMLError as exc:
            log.warning("%s is not valid YAML, so the model's requirements are not checked: %s", conda, exc)
            return None, []
        deps = env.get("dependencies") if isinstance(env, dict) else None
        pip = next((d["pip"] for d in deps or [] if isinstance(d, dict) and isinstance(d.get("pip"), list)), [])
        return conda, [str(line) for line in pip]
    return None, []


def check_installed(folder: Path) -> str:
    """Warn for each required package this image lacks or has at another version; return the advice
    for a model that then fails to load ("" when nothing is missing)."""
    from wharf.servers.requirements import check_requirements, installed_version

    source, lines = requirement_lines(folder)
    if source is None:
        log.info("%s has no requirements.txt or conda.yaml: the model's packages are not checked", folder)
        return ""
    found = check_requirements(lines, installed_version)
    for line in found.unchecked:
        log.warning("%s: %r is not checked (only package requirements are)", source, line)
    for m in found.mismatched:
        log.warning("%s asks for %s; this image has %s", source, m.requirement, m.installed)
    if not found.missing:
        return ""
    # the operator names the container's image in PREDICTIVE_UNIT_IMAGE: a mirror's or a derived one
    image = os.environ.get("PREDICTIVE_UNIT_IMAGE") or IMAGE
    advice = (
        f"{source} needs {', '.join(found.missing)}, which this image does not have "
        f"(MLFLOW_SERVER installs nothing at start-up): build an image FROM {image} that runs "
        f"pip install -r {source.name}, and give it as the image of the node's container in componentSpecs"
    )
    log.warning("%s; loading the model anyway, as it may not import them", advice)
    return advice
