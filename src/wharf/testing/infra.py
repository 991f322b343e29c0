"""Policy for tests that need real infrastructure (a Docker engine, an API server, helm).

Locally such a test is skipped with a reason that says how to get what is missing. In CI
(``CI=true``) the same condition fails the test: real-infrastructure tests must never pass
there by being skipped.
"""

from __future__ import annotations

import os
from typing import NoReturn

import pytest


def in_ci() -> bool:
    return os.environ.get("CI", "").strip().lower() in {"1", "true", "yes"}


def unavailable(what: str, how_to_get_it: str) -> NoReturn:
    """Skip (locally) or fail (in CI) the current test because ``what`` is missing."""
    message = f"{what} is not available; {how_to_get_it}"
    if in_ci():
        pytest.fail(f"{message} (required when CI=true)", pytrace=False)
    pytest.skip(message)
