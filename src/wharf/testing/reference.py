"""Locate or build the reference seldon-core 1.19.0 virtualenv.

Wharf is compared against the real ``seldon-core`` Python wrapper in benchmarks and in the
black-box compatibility tests. seldon-core is never a dependency of Wharf: it lives in its
own virtualenv, created on demand by :func:`ensure_reference_venv` at
``~/.cache/wharf/reference/seldon-core-1.19.0``.

Environment overrides:

- ``WHARF_REFERENCE_VENV``: use this virtualenv (its root folder) instead of the cache one.
- ``WHARF_REFERENCE_PYTHON``: a python executable of a ready reference venv (used by the
  ``reference`` pytest marker); :func:`reference_python` honours it too.

Only the standard library is used so this module can run before anything is installed.
"""

from __future__ import annotations

import glob
import os
import subprocess
import sys
import venv
from pathlib import Path

SELDON_VERSION = "1.19.0"
REQUIREMENT = f"seldon-core=={SELDON_VERSION}"
_MARKER = ".wharf-reference-ok"


def _say(msg: str) -> None:
    print(f"[wharf.reference] {msg}", file=sys.stderr, flush=True)


def default_venv_dir(cache_dir: str | os.PathLike | None = None) -> Path:
    """Folder of the reference venv: env override, else ``<cache>/seldon-core-1.19.0``."""
    env = os.environ.get("WHARF_REFERENCE_VENV")
    if env and cache_dir is None:
        return Path(env).expanduser()
    base = Path(cache_dir).expanduser() if cache_dir else Path.home() / ".cache" / "wharf" / "reference"
    return base / f"seldon-core-{SELDON_VERSION}"


def _bin_dir(venv_dir: Path) -> Path:
    return venv_dir / ("Scripts" if os.name == "nt" else "bin")


def _python_version(exe: str) -> tuple[int, int] | None:
    """(major, minor) of an interpreter, or None if it does not run (pyenv shims may not)."""
    try:
        out = subprocess.run(
            [exe, "-c", "import sys; print(sys.version_info[0], sys.version_info[1])"],
            check=False,
            capture_output=True,
            text=True,
            timeout=30,
        )
    except (OSError, subprocess.SubprocessError):
        return None
    if out.returncode != 0:
        return None
    try:
        major, minor = (int(x) for x in out.stdout.split())
    except ValueError:
        return None
    return major, minor


def find_base_python() -> tuple[str, bool]:
    """Return ``(python, needs_ignore_requires_python)``.

    Python 3.12+ is preferred (seldon-core 1.19.0 declares ``>=3.12``); 3.11 works with
    ``pip install --ignore-requires-python``.
    """
    home = Path.home()
    candidates: list[str] = []
    for name in ("python3.12", "python3.13"):
        candidates.append(name)
        candidates.extend(
            sorted(glob.glob(str(home / ".pyenv" / "versions" / f"{name[6:]}*" / "bin" / name)), reverse=True)
        )
    for exe in candidates:
        ver = _python_version(exe)
        if ver and ver >= (3, 12):
            return exe, False
    fallbacks = [
        "python3.11",
        *sorted(glob.glob(str(home / ".pyenv" / "versions" / "3.11*" / "bin" / "python3.11")), reverse=True),
        sys.executable,
    ]
    for exe in fallbacks:
        ver = _python_version(exe)
        if ver and ver >= (3, 11):
            return exe, ver < (3, 12)
    raise RuntimeError("no Python >= 3.11 found to build the seldon-core reference venv")


def reference_python(cache_dir: str | os.PathLike | None = None) -> Path | None:
    """Python of a ready reference venv, or None when it was not built yet."""
    env_py = os.environ.get("WHARF_REFERENCE_PYTHON")
    if env_py and cache_dir is None and Path(env_py).exists():
        return Path(env_py)
    venv_dir = default_venv_dir(cache_dir)
    py = _bin_dir(venv_dir) / "python"
    if py.exists() and (venv_dir / _MARKER).exists():
        return py
    # A venv supplied through WHARF_REFERENCE_VENV was not necessarily made by us: accept it
    # when seldon-core-microservice is there.
    if (
        py.exists()
        and os.environ.get("WHARF_REFERENCE_VENV")
        and (_bin_dir(venv_dir) / "seldon-core-microservice").exists()
    ):
        return py
    return None


def ensure_reference_venv(cache_dir: str | os.PathLike | None = None) -> Path:
    """Create (if missing) the seldon-core 1.19.0 venv and return its ``bin/`` folder.

    Idempotent: when the marker file exists nothing is run. grpcio-tools is never installed
    here (it would pull a newer protobuf than seldon-core pins).
    """
    venv_dir = default_venv_dir(cache_dir)
    bindir = _bin_dir(venv_dir)
    if reference_python(cache_dir) is not None and (bindir / "seldon-core-microservice").exists():
        return bindir

    base, ignore_requires = find_base_python()
    py = bindir / "python"
    if not py.exists():
        _say(f"creating venv {venv_dir} with {base}")
        venv_dir.parent.mkdir(parents=True, exist_ok=True)
        if Path(base).resolve() == Path(sys.executable).resolve():
            venv.EnvBuilder(with_pip=True, clear=True).create(venv_dir)
        else:
            subprocess.run([base, "-m", "venv", "--clear", str(venv_dir)], check=True)
    else:
        _say(f"reusing incomplete venv {venv_dir}")

    cmd = [str(py), "-m", "pip", "install", "--disable-pip-version-check", "-q"]
    if ignore_requires:
        cmd.append("--ignore-requires-python")
        _say("only Python 3.11 found: installing with --ignore-requires-python")
    cmd.append(REQUIREMENT)
    _say("running: " + " ".join(cmd))
    subprocess.run(cmd, check=True)

    check = subprocess.run(
        [str(py), "-c", "import seldon_core, importlib.metadata as m; print(m.version('seldon-core'))"],
        check=False,
        capture_output=True,
        text=True,
    )
    if check.returncode != 0 or check.stdout.strip() != SELDON_VERSION:
        raise RuntimeError(
            f"seldon-core {SELDON_VERSION} did not install correctly in {venv_dir}: {check.stderr.strip()}"
        )
    if not (bindir / "seldon-core-microservice").exists():
        raise RuntimeError(f"{bindir}/seldon-core-microservice missing after install")
    (venv_dir / _MARKER).write_text(f"{REQUIREMENT}\n{base}\n")
    _say(f"reference venv ready: {bindir}")
    return bindir


def main() -> int:  # pragma: no cover - convenience CLI
    print(ensure_reference_venv())
    return 0


if __name__ == "__main__":  # pragma: no cover
    raise SystemExit(main())
