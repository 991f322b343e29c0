"""Finding a prepackaged server's model file in its ``model_uri`` folder, with errors that say what is there."""

from __future__ import annotations

import logging
import os
import tempfile
from pathlib import Path

from wharf.protocol.errors import MicroserviceError

log = logging.getLogger(__name__)


class ModelFolderError(MicroserviceError):
    """The model folder does not hold a model this server can load; the message names the folder and the files."""

    def __init__(self, message: str) -> None:
        super().__init__(message, status_code=500, reason="MICROSERVICE_INTERNAL_ERROR")


def first_line(exc: BaseException, default: str | None = None) -> str:
    """The first line of a library's error message (its own tracebacks and hints follow it), or
    ``default`` (the exception's type name unless given) when it says nothing."""
    text = str(exc).strip()
    if text:
        return text.splitlines()[0]
    return type(exc).__name__ if default is None else default


def local_folder(model_uri: str | None) -> Path:
    """``model_uri`` as a local folder: the storage initializer's copy (a path), or a bucket URI fetched here.

    In a SeldonDeployment the init container has already copied the files and ``model_uri`` is
    /mnt/models. Outside a cluster (``wharf run``, a test) an ``s3://`` URI is downloaded into a
    temporary folder through :mod:`wharf.storage`, with the same credentials the initializer reads.
    """
    if not model_uri:
        raise ModelFolderError(
            "the parameter model_uri is not set: give the node a modelUri, "
            "or the server a model_uri parameter naming the model's folder"
        )
    from wharf.storage import StorageError, download, is_remote

    try:
        remote = is_remote(model_uri, os.environ)
        if remote:
            return download(model_uri, tempfile.mkdtemp(prefix="wharf-model-"))
    except StorageError as exc:
        raise ModelFolderError(f"model_uri {model_uri}: {exc}") from None
    path = Path(model_uri.removeprefix("file://"))
    if not path.exists():
        raise ModelFolderError(f"model_uri {model_uri}: no such file or directory")
    return path


def find_model_file(folder: Path, names: tuple[str, ...], kind: str) -> Path:
    """The first of ``names`` in ``folder`` (or ``folder`` itself if it is such a file)."""
    if folder.is_file():
        if folder.name in names:
            return folder
        folder = folder.parent
    for name in names:
        if (folder / name).is_file():
            return folder / name
    present = sorted(p.name for p in folder.iterdir())[:20] if folder.is_dir() else []
    raise ModelFolderError(
        f"no {kind} model in {folder}: expected {' or '.join(names)}"
        + (f" (found: {', '.join(present)})" if present else " (the folder is empty)")
    )


def read_metadata(folder: Path | None) -> dict:
    """``metadata.yaml`` beside the model, as upstream's servers read it; none (or bad YAML) means none."""
    import yaml

    if folder is None:
        return {}
    path = (folder.parent if folder.is_file() else folder) / "metadata.yaml"
    try:
        return yaml.safe_load(path.read_text()) or {}
    except FileNotFoundError:
        return {}
    except yaml.YAMLError as exc:
        log.error("%s is not valid YAML, so the model has no metadata: %s", path, exc)
        return {}


class ModelFolderServer:
    """What upstream's prepackaged servers share: ``model_uri``, one file found in it, ``metadata.yaml``.

    ``__init__`` runs once, in the server's main process: it fetches the folder (if remote) and
    finds the model file, so a wrong URI or an empty folder stops the server at start-up with one
    line. ``load()`` runs in each worker after the fork, as upstream's wrapper calls it: libraries
    with thread pools (XGBoost's OpenMP) hang in a child forked after they started them.
    """

    model_files: tuple[str, ...] = ()
    kind = ""

    def __init__(self, model_uri: str | None = None) -> None:
        self.model_uri = model_uri
        self.ready = False
        self._folder = local_folder(model_uri)
        self._path = find_model_file(self._folder, self.model_files, self.kind)

    def load(self) -> None:
        if self.ready:
            return
        self._load(self._path)
        log.info("loaded %s", self._path)
        self.ready = True

    def _load(self, path: Path) -> None:
        raise NotImplementedError

    def init_metadata(self) -> dict:
        return read_metadata(self._folder)
