"""Rebuilding a tag removes the image it replaced, and nothing else (real Docker engine).

A CI runner or a laptop rebuilds the same tags again and again; each rebuild used to leave the
previous image dangling, and a machine filled its disk after a few runs of the test suite."""

from __future__ import annotations

import uuid

import docker.errors
import pytest

from wharf.build.engine import build_image, context_tar, tag_image


def _build(engine, marker: str) -> str:
    """A tiny image (no base, one label) whose id differs with ``marker``."""
    return build_image(
        engine,
        context_tar({"Dockerfile": f"FROM scratch\nLABEL marker={marker}\n".encode()}),
        label=f"retag test {marker}",
    )


def _exists(engine, image_id: str) -> bool:
    try:
        engine.images.get(image_id)
        return True
    except docker.errors.ImageNotFound:
        return False


@pytest.fixture
def tag(engine):
    name = f"wharf-test/retag-{uuid.uuid4().hex[:8]}"
    yield f"{name}:1"
    for image in engine.images.list(name=name):
        engine.images.remove(image.id, force=True)


def test_a_rebuilt_tag_removes_the_image_it_named_before(engine, tag):
    first = _build(engine, uuid.uuid4().hex)
    tag_image(engine, first, tag)
    second = _build(engine, uuid.uuid4().hex)
    tag_image(engine, second, tag)
    assert engine.images.get(tag).id == engine.images.get(second).id
    assert not _exists(engine, first)


def test_the_same_image_tagged_again_stays(engine, tag):
    image = _build(engine, uuid.uuid4().hex)
    tag_image(engine, image, tag)
    tag_image(engine, image, tag)
    assert engine.images.get(tag).id == engine.images.get(image).id


def test_an_image_another_tag_or_a_container_still_uses_is_kept(engine, tag):
    repo = tag.rsplit(":", 1)[0]
    kept_by_tag = _build(engine, uuid.uuid4().hex)
    tag_image(engine, kept_by_tag, tag)
    tag_image(engine, kept_by_tag, f"{repo}:other")
    tag_image(engine, _build(engine, uuid.uuid4().hex), tag)
    assert engine.images.get(f"{repo}:other").id == engine.images.get(kept_by_tag).id

    kept_by_container = _build(engine, uuid.uuid4().hex)
    tag_image(engine, kept_by_container, tag)
    # created, never started: a scratch image has nothing to run, and the engine still counts it as a user
    container = engine.containers.create(kept_by_container, command=["/none"])
    try:
        tag_image(engine, _build(engine, uuid.uuid4().hex), tag)
        assert _exists(engine, kept_by_container)
    finally:
        container.remove(force=True)
        engine.images.remove(kept_by_container, force=True)
