"""A container image reference split the way upstream names a model in its metadata: everything
before the last colon is the name, the rest the version, unless that colon belongs to a registry
port (``registry:5000/repo/name`` has no tag)."""

from __future__ import annotations


def split_image(image: str) -> tuple[str, str]:
    """``registry:5000/repo/name:tag`` -> (``registry:5000/repo/name``, ``tag``)."""
    name, sep, tag = image.rpartition(":")
    if not sep or "/" in tag:
        return image, ""
    return name, tag
