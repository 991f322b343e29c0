"""Build settings as plain data: network (CA bundle, pip index) and reproducible image labels.

The network settings reach pip through a ``pip.conf`` and a CA file copied into a *build-only*
stage of the multi-stage Dockerfiles: they never become ``--build-arg``s (which ``docker history``
shows) and never reach the final image.
"""

from __future__ import annotations

import hashlib
import os
import subprocess
from dataclasses import dataclass
from pathlib import Path

HOST_CA_BUNDLE = Path("/etc/ssl/certs/ca-certificates.crt")
CA_IN_BUILD = "/tmp/wharf-build/ca.crt"


@dataclass(frozen=True)
class Network:
    """How pip reaches its index during a build (air-gapped mirrors, TLS-intercepting proxies)."""

    ca_bundle: Path | None = None
    index_url: str | None = None
    extra_index_url: str | None = None
    trusted_hosts: tuple[str, ...] = ()

    @classmethod
    def from_env(cls, env: dict[str, str] | None = None, **overrides) -> Network:
        """Defaults: ``WHARF_CA_BUNDLE`` or the host bundle, ``PIP_INDEX_URL`` etc. from the host env."""
        env = dict(os.environ if env is None else env)
        ca = env.get("WHARF_CA_BUNDLE") or (str(HOST_CA_BUNDLE) if HOST_CA_BUNDLE.is_file() else "")
        values = {
            "ca_bundle": Path(ca) if ca else None,
            "index_url": env.get("PIP_INDEX_URL") or None,
            "extra_index_url": env.get("PIP_EXTRA_INDEX_URL") or None,
            "trusted_hosts": tuple(env.get("PIP_TRUSTED_HOST", "").split()),
        }
        values.update({k: v for k, v in overrides.items() if v not in (None, "", ())})
        if isinstance(values["ca_bundle"], str):
            values["ca_bundle"] = Path(values["ca_bundle"])
        if isinstance(values["trusted_hosts"], str):
            values["trusted_hosts"] = tuple(values["trusted_hosts"].split())
        return cls(**values)

    def pip_conf(self) -> str:
        lines = ["[global]", "disable-pip-version-check = true", "no-cache-dir = true"]
        if self.ca_bundle:
            lines.append(f"cert = {CA_IN_BUILD}")
        if self.index_url:
            lines.append(f"index-url = {self.index_url}")
        if self.extra_index_url:
            lines.append(f"extra-index-url = {self.extra_index_url}")
        if self.trusted_hosts:
            lines.append("trusted-host = " + " ".join(self.trusted_hosts))
        return "\n".join(lines) + "\n"

    def context_files(self) -> dict[str, bytes | Path]:
        """The ``build-config/`` files of a build context."""
        files: dict[str, bytes | Path] = {"build-config/pip.conf": self.pip_conf().encode()}
        if self.ca_bundle:
            if not self.ca_bundle.is_file():
                raise FileNotFoundError(
                    f"CA bundle {self.ca_bundle}: no such file (set WHARF_CA_BUNDLE or --ca-bundle)"
                )
            files["build-config/ca.crt"] = self.ca_bundle
        return files


def git_info(path: Path) -> dict[str, str]:
    """Commit, author date, remote and dirtiness of the git checkout holding ``path`` ({} if none)."""

    def git(*args: str) -> str:
        proc = subprocess.run(["git", "-C", str(path), *args], capture_output=True, text=True, timeout=30)
        if proc.returncode != 0:
            raise RuntimeError(proc.stderr)
        return proc.stdout.strip()

    try:
        commit = git("rev-parse", "HEAD")
    except (RuntimeError, OSError):
        return {}
    info = {"commit": commit, "date": git("log", "-1", "--format=%cI"), "author": git("log", "-1", "--format=%an")}
    try:
        info["ref"] = git("rev-parse", "--abbrev-ref", "HEAD")
        info["remote"] = git("config", "--get", "remote.origin.url")
    except RuntimeError:
        pass
    info["dirty"] = "true" if git("status", "--porcelain", "--", ".") else "false"
    return info


def tree_digest(files: dict[str, bytes]) -> str:
    """A digest of the source as built (names and bytes), independent of mtimes and the machine."""
    h = hashlib.sha256()
    for name in sorted(files):
        h.update(name.encode() + b"\0" + hashlib.sha256(files[name]).digest())
    return "sha256:" + h.hexdigest()


def model_labels(
    builder_image: str, builder_version: str, source_name: str, git: dict[str, str], digest: str
) -> dict[str, str]:
    """Labels of a model image: the s2i build labels plus OCI ones. No timestamps: rebuilding the
    same source with the same builder gives the same labels."""
    labels = {
        "io.openshift.s2i.build.image": builder_image,
        "io.openshift.s2i.build.source-location": git.get("remote") or source_name,
        "io.wharf.builder.version": builder_version,
        "io.wharf.source.digest": digest,
    }
    if git:
        labels.update(
            {
                "io.openshift.s2i.build.commit.id": git["commit"],
                "io.openshift.s2i.build.commit.date": git.get("date", ""),
                "io.openshift.s2i.build.commit.author": git.get("author", ""),
                "io.openshift.s2i.build.commit.ref": git.get("ref", ""),
                "org.opencontainers.image.revision": git["commit"] + ("-dirty" if git.get("dirty") == "true" else ""),
            }
        )
    return labels
