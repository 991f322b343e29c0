"""Local base images made from Debian packages, for machines without an image registry.

``ensure_base_image()`` returns the tag of a minimal Debian image, building it if the engine
does not have it: ``debootstrap --variant=minbase`` against the apt mirror this machine already
uses, the rootfs tarball cached under ``~/.cache/wharf/rootfs/`` (keyed by suite and date), then
``docker import``. Users with a registry never need this: every Dockerfile takes ``ARG BASE_IMAGE``.

``ensure_python_base()`` adds a CPython to that base for the Python builder (see
docs/building-images.md for why 3.11 comes from Debian and 3.12 from the host's pyenv tree).
"""

from __future__ import annotations

import datetime as _dt
import fcntl
import os
import re
import shutil
import subprocess
import tarfile
import tempfile
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

CACHE = Path(os.environ.get("WHARF_CACHE", Path.home() / ".cache" / "wharf"))
ROOTFS_CACHE = CACHE / "rootfs"
BASE_REPO = "wharf-base/debian"
PYTHON_BASE_REPO = "wharf-base/python"
# A cached rootfs older than this is rebuilt, so security updates reach the base eventually.
MAX_ROOTFS_AGE_DAYS = 14
APT_SOURCES = (Path("/etc/apt/sources.list.d"), Path("/etc/apt/sources.list"))


class BaseImageError(RuntimeError):
    """Making a base image failed; the message says which step and why."""


# --- pure helpers -------------------------------------------------------------------------


def mirror_from_sources(text: str) -> str | None:
    """The first Debian main-archive URL in apt sources text (deb822 or one-line format).

    Security mirrors (``.../debian-security``) are skipped: debootstrap needs the main archive.
    """
    candidates = re.findall(r"^\s*URIs:\s*(\S+)", text, flags=re.M)
    candidates += re.findall(r"^\s*deb\s+(?:\[[^\]]*\]\s+)?(\S+)", text, flags=re.M)
    for url in candidates:
        if "security" not in url:
            return url.rstrip("/")
    return None


def rootfs_name(suite: str, day: _dt.date) -> str:
    return f"debian-{suite}-minbase-{day:%Y%m%d}.tar"


def fresh_rootfs(cache: Path, suite: str, today: _dt.date, max_age_days: int = MAX_ROOTFS_AGE_DAYS) -> Path | None:
    """The newest cached rootfs tarball for ``suite`` not older than ``max_age_days``."""
    best: tuple[_dt.date, Path] | None = None
    for path in cache.glob(f"debian-{suite}-minbase-*.tar"):
        match = re.fullmatch(rf"debian-{re.escape(suite)}-minbase-(\d{{8}})\.tar", path.name)
        if not match:
            continue
        day = _dt.datetime.strptime(match.group(1), "%Y%m%d").date()
        if (today - day).days <= max_age_days and (best is None or day > best[0]):
            best = (day, path)
    return best[1] if best else None


def base_tag(suite: str) -> str:
    return f"{BASE_REPO}:{suite}"


# --- I/O ----------------------------------------------------------------------------------


def configured_mirror(sources: tuple[Path, ...] = APT_SOURCES) -> str:
    """The Debian mirror apt uses on this machine, or ``WHARF_DEBIAN_MIRROR`` when set.

    There is no built-in fallback: a machine reaches Debian through whatever its apt is configured
    with (often a proxy or a local mirror), and a guessed public host would only fail later, slower.
    """
    override = os.environ.get("WHARF_DEBIAN_MIRROR")
    if override:
        return override.rstrip("/")
    for source in sources:
        files = sorted(source.glob("*")) if source.is_dir() else [source]
        for file in files:
            try:
                found = mirror_from_sources(file.read_text())
            except OSError:
                continue
            if found:
                return found
    raise BaseImageError(
        f"no Debian mirror found in {' or '.join(str(s) for s in sources)} (debootstrap needs "
        "the archive apt uses); add an apt source, or set WHARF_DEBIAN_MIRROR to the archive's URL"
    )


@contextmanager
def _locked(name: str) -> Iterator[None]:
    """Serialise base-image builds across processes (several helpers/tests may ask at once)."""
    CACHE.mkdir(parents=True, exist_ok=True)
    with open(CACHE / f".{name}.lock", "w") as handle:
        fcntl.flock(handle, fcntl.LOCK_EX)
        try:
            yield
        finally:
            fcntl.flock(handle, fcntl.LOCK_UN)


def _docker():
    import docker

    return docker.from_env(timeout=900)


def _image_exists(client, tag: str) -> bool:
    import docker.errors

    try:
        client.images.get(tag)
        return True
    except docker.errors.ImageNotFound:
        return False


def build_rootfs(suite: str, dest: Path, mirror: str | None = None) -> Path:
    """debootstrap a minbase ``suite`` and write it as an uncompressed tarball ``dest``."""
    if shutil.which("debootstrap") is None:
        raise BaseImageError("debootstrap is not installed; run `apt-get install -y debootstrap`")
    mirror = mirror or configured_mirror()
    dest.parent.mkdir(parents=True, exist_ok=True)
    with tempfile.TemporaryDirectory(prefix=f"wharf-rootfs-{suite}-") as tmp:
        root = Path(tmp) / "root"
        proc = subprocess.run(
            ["debootstrap", "--variant=minbase", suite, str(root), mirror],
            capture_output=True,
            text=True,
            timeout=1800,
        )
        if proc.returncode != 0:
            tail = "\n".join((proc.stdout + proc.stderr).strip().splitlines()[-15:])
            raise BaseImageError(f"debootstrap {suite} from {mirror} failed (exit {proc.returncode}):\n{tail}")
        # Package caches and lists only add size; images run `apt-get update` before installing.
        for junk in ("var/cache/apt/archives", "var/lib/apt/lists"):
            for entry in (root / junk).glob("*"):
                if entry.is_file():
                    entry.unlink()
        partial = dest.with_suffix(".tar.partial")
        with tarfile.open(partial, "w") as tar:
            tar.add(root, arcname=".")
        partial.replace(dest)  # atomic: a half-written tarball never looks like a cache hit
    return dest


def ensure_base_image(suite: str = "bookworm") -> str:
    """Return the tag of a local minimal Debian ``suite`` image, building it if absent."""
    tag = base_tag(suite)
    client = _docker()
    if _image_exists(client, tag):
        return tag
    with _locked(f"base-{suite}"):
        if _image_exists(client, tag):  # built by another process while we waited
            return tag
        today = _dt.date.today()
        tarball = fresh_rootfs(ROOTFS_CACHE, suite, today) or build_rootfs(
            suite, ROOTFS_CACHE / rootfs_name(suite, today)
        )
        repo, _, name = tag.partition(":")
        # The whole tarball as bytes: streaming a file object makes the SDK send a chunked body
        # that Docker 20.10 rejects ("invalid byte in chunk length"). ~130 MB, once per suite.
        client.api.import_image_from_data(
            tarball.read_bytes(),
            repository=repo,
            tag=name,
            changes=[
                "ENV LANG=C.UTF-8",
                "ENV LC_ALL=C.UTF-8",
                'CMD ["/bin/bash"]',
                f"LABEL org.opencontainers.image.description=debian-{suite}-minbase io.wharf.rootfs={tarball.name}",
            ],
        )
        if not _image_exists(client, tag):
            raise BaseImageError(f"docker import of {tarball} did not produce {tag}")
    return tag


# --- Python-bearing bases for the Python builder -------------------------------------------

PYENV_ROOT = Path(os.environ.get("PYENV_ROOT", Path.home() / ".pyenv"))
# Runtime libraries a CPython built on bookworm links against (the host pyenv build included).
PYTHON_RUNTIME_DEBS = (
    "ca-certificates",
    "libssl3",
    "libffi8",
    "libsqlite3-0",
    "libbz2-1.0",
    "liblzma5",
    "zlib1g",
    "libreadline8",
    "libncursesw6",
    "libexpat1",
    "libuuid1",
    "libgdbm6",
)
# Parts of a CPython tree a server never needs: tests, GUI, IDE, and whatever pyenv installed.
_PYENV_SKIP = ("test", "idlelib", "tkinter", "turtledemo", "lib2to3", "ensurepip/_bundled/__pycache__")
DEBIAN_PYTHON = {"bookworm": "3.11"}


def python_base_tag(version: str) -> str:
    return f"{PYTHON_BASE_REPO}:{version}"


def python_base_dockerfile(version: str, suite: str, from_pyenv: bool) -> str:
    """Dockerfile text of a Python ``version`` base on the local Debian ``suite`` image."""
    apt = (
        "apt-get update && apt-get install -y --no-install-recommends {pkgs}"
        " && apt-get clean && rm -rf /var/lib/apt/lists/*"
    )
    lines = [f"FROM {base_tag(suite)}"]
    if from_pyenv:
        lines += [
            "RUN " + apt.format(pkgs=" ".join(PYTHON_RUNTIME_DEBS)),
            "COPY python/ /usr/local/",
            # pyenv links python against its own libpython by an absolute rpath; after the move
            # the dynamic linker finds it through /usr/local/lib.
            f"RUN ldconfig && ln -sf python{version} /usr/local/bin/python3 && python3 --version",
        ]
    else:
        lines += ["RUN " + apt.format(pkgs="python3 python3-venv ca-certificates") + " && python3 --version"]
    lines += [f"LABEL io.wharf.python={version} io.wharf.python-source={'pyenv' if from_pyenv else 'debian'}", ""]
    return "\n".join(lines)


def pyenv_tree(version: str) -> Path | None:
    """The newest host pyenv install of ``version`` (e.g. 3.12 -> ~/.pyenv/versions/3.12.1)."""
    found = sorted(
        PYENV_ROOT.glob(f"versions/{version}.*"),
        key=lambda p: [int(x) if x.isdigit() else 0 for x in p.name.split(".")],
    )
    return found[-1] if found else None


def _pyenv_filter(version: str):
    stdlib = f"python/lib/python{version}/"

    def keep(info: tarfile.TarInfo) -> tarfile.TarInfo | None:
        name = info.name
        # Static libpython (60 MB) is only for embedding; site-packages holds the host's extras.
        if "__pycache__" in name or name.startswith(f"{stdlib}site-packages/") or name.endswith(".a"):
            return None
        if any(name == stdlib + s or name.startswith(stdlib + s + "/") for s in _PYENV_SKIP):
            return None
        info.uid = info.gid = 0
        info.uname = info.gname = "root"
        return info

    return keep


def ensure_python_base(version: str = "3.12", suite: str = "bookworm") -> str:
    """Return the tag of a local image with CPython ``version`` on Debian ``suite``, building it if absent.

    Debian's own python3 is used when the suite ships that version (bookworm: 3.11); otherwise the
    host's pyenv build of it is copied in (same Debian release, so the same glibc and libraries).
    """
    import io

    tag = python_base_tag(version)
    client = _docker()
    if _image_exists(client, tag):
        return tag
    from_pyenv = DEBIAN_PYTHON.get(suite) != version
    tree = pyenv_tree(version) if from_pyenv else None
    if from_pyenv and tree is None:
        raise BaseImageError(
            f"Python {version}: Debian {suite} has no package for it and no pyenv build was found under "
            f"{PYENV_ROOT}/versions/{version}.*; install it with `pyenv install {version}` or pass a "
            f"base image that has it (BASE_IMAGE=python:{version}-slim)"
        )
    ensure_base_image(suite)
    with _locked(f"python-{version}"):
        if _image_exists(client, tag):
            return tag
        buf = io.BytesIO()
        with tarfile.open(fileobj=buf, mode="w") as tar:
            text = python_base_dockerfile(version, suite, from_pyenv).encode()
            info = tarfile.TarInfo("Dockerfile")
            info.size = len(text)
            tar.addfile(info, io.BytesIO(text))
            if tree is not None:
                tar.add(tree, arcname="python", filter=_pyenv_filter(version))
        buf.seek(0)
        from wharf.build.engine import build_image, tag_image  # local import: engine needs the docker SDK

        image_id = build_image(client, buf, label=f"python base {version}")
        tag_image(client, image_id, tag)
    return tag
