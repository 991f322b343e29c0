"""``seldon_core.Storage``: upstream's model-download helper, with object stores behind it.

Upstream 1.19 only links local paths (``file://`` or plain) into ``out_dir``; the same calls
behave the same here. ``s3://bucket/key`` and rclone ``remote:bucket/key`` URIs, which 1.19
refuses, are downloaded by :mod:`wharf.storage` with the storage initializer's credentials.
"""

from __future__ import annotations

import os
import tempfile
from pathlib import Path

from wharf import storage

_LOCAL = "file://"


class Storage:
    @staticmethod
    def download(uri: str, out_dir: str | None = None) -> str:
        """Make ``uri`` available locally; returns ``out_dir`` (or, for a local ``uri`` with no
        ``out_dir``, the path itself, as upstream does)."""
        if storage.is_remote(uri, os.environ):
            target = out_dir or tempfile.mkdtemp(prefix="wharf-model-")
            storage.download(uri, target)
            return target
        local = Path(uri[len(_LOCAL) :] if uri.startswith(_LOCAL) else uri)
        if not local.exists():
            raise RuntimeError(f"Local path {uri} does not exist.")
        if out_dir is None:
            return str(local)
        os.makedirs(out_dir, exist_ok=True)
        for item in local.iterdir() if local.is_dir() else [local]:
            os.symlink(item, os.path.join(out_dir, item.name))  # linked, not copied, like upstream
        return out_dir
