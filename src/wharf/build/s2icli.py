"""The real s2i CLI, built from its Go module (no release download here), cached by version.

``go install module/cmd/s2i@version`` fails against the module proxy here (it asks for the module's
version list, which the proxy refuses), so a throwaway module that requires the pinned version
is built instead. CGO is off and the storage drivers needing C headers are excluded, as in s2i's
own release build.
"""

from __future__ import annotations

import os
import shutil
import subprocess
import tempfile
from pathlib import Path

from wharf.build.base import CACHE

S2I_VERSION = "v1.5.1"
S2I_MODULE = "github.com/openshift/source-to-image"
BUILD_TAGS = "exclude_graphdriver_btrfs exclude_graphdriver_devicemapper containers_image_openpgp"


def s2i_path(version: str = S2I_VERSION) -> Path:
    return CACHE / "bin" / f"s2i-{version}" / "s2i"


def ensure_s2i(version: str = S2I_VERSION) -> Path:
    """Path of the s2i binary, building it (a few minutes, cold) if it is not cached."""
    target = s2i_path(version)
    if target.is_file():
        return target
    if shutil.which("go") is None:
        raise RuntimeError("building s2i needs Go (https://go.dev/dl) and the Go module proxy")
    with tempfile.TemporaryDirectory(prefix="wharf-s2i-") as tmp:
        work = Path(tmp)
        (work / "go.mod").write_text(f"module wharf.local/s2i\n\ngo 1.23.3\n\nrequire {S2I_MODULE} {version}\n")
        (work / "tools.go").write_text(f'//go:build tools\n\npackage tools\n\nimport _ "{S2I_MODULE}/cmd/s2i"\n')
        env = dict(os.environ, CGO_ENABLED="0", GOFLAGS="-mod=mod", GOBIN=str(target.parent))
        ldflags = f"-X {S2I_MODULE}/pkg/version.versionFromGit={version}"
        for cmd in (
            ["go", "mod", "tidy"],
            ["go", "install", "-tags", BUILD_TAGS, "-ldflags", ldflags, f"{S2I_MODULE}/cmd/s2i"],
        ):
            proc = subprocess.run(cmd, cwd=work, env=env, capture_output=True, text=True, timeout=1800)
            if proc.returncode != 0:
                raise RuntimeError(f"{' '.join(cmd[:2])} for s2i {version} failed:\n{proc.stderr[-3000:]}")
    return target
