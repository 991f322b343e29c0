"""Virtualenvs of their own for the tools the tests call that cannot share Wharf's venv (their
pins clash with it: MLServer's FastAPI and pydantic, tritonclient's and TensorFlow's protobuf 6).

A :class:`ToolVenv` names the venv's folder under ``~/.cache/wharf``, its requirements (exact
versions) and a line of Python that proves the install works. :meth:`ToolVenv.bin` creates it on
first use and returns its ``bin/``: a venv whose marker lists the same requirements is trusted as
is; a half-made one (an install that was interrupted) or one made for other requirements is
completed, not trusted. An environment variable may point at a ready venv someone else made.
Only the standard library is used.
"""

from __future__ import annotations

import os
import subprocess
import sys
import venv
from dataclasses import dataclass
from pathlib import Path

_MARKER = ".wharf-tool-venv-ok"


class ToolVenvError(RuntimeError):
    pass


@dataclass(frozen=True)
class ToolVenv:
    folder: str  # under ~/.cache/wharf, e.g. "mlserver-1.7.1-venv"
    requirements: tuple[str, ...]
    check: str  # Python run in the venv; a non-zero exit means the install is broken
    env_override: str = ""  # names a variable that may point at a ready venv instead

    @property
    def root(self) -> Path:
        given = os.environ.get(self.env_override) if self.env_override else None
        return Path(given).expanduser() if given else Path.home() / ".cache" / "wharf" / self.folder

    def bin(self) -> Path:
        """The venv's ``bin/``, created or completed first when needed. Idempotent."""
        root = self.root
        bindir, marker = root / "bin", root / _MARKER
        python = bindir / "python"
        if marker.exists() and marker.read_text().split() == list(self.requirements) and python.exists():
            return bindir
        if self.env_override and os.environ.get(self.env_override) and self._works(python):
            return bindir  # a venv someone else made: trusted when the check passes
        if not python.exists():
            print(f"[wharf.testing] creating {root}", file=sys.stderr, flush=True)
            root.parent.mkdir(parents=True, exist_ok=True)
            venv.EnvBuilder(with_pip=True, clear=True).create(root)
        subprocess.run(
            [str(python), "-m", "pip", "install", "--disable-pip-version-check", "-q", *self.requirements], check=True
        )
        if not self._works(python):
            raise ToolVenvError(f"{' '.join(self.requirements)} did not install in {root}: {self._why(python)}")
        marker.write_text("\n".join(self.requirements) + "\n")
        return bindir

    def _works(self, python: Path) -> bool:
        return python.exists() and not self._why(python)

    def _why(self, python: Path) -> str:
        done = subprocess.run([str(python), "-c", self.check], capture_output=True, text=True, check=False)
        return "" if done.returncode == 0 else (done.stderr.strip()[-2000:] or f"exit {done.returncode}")
