"""The classic source-to-image walkthrough, from a git repository: ``.s2i/environment`` with only
MODEL_NAME and SERVICE_TYPE, built with ``invoke build --source <git> --context-dir --ref`` and
with ``s2i build <git> --context-dir --ref``; both images pass the contract tester."""

from __future__ import annotations

import shutil
import subprocess
from pathlib import Path

import pytest
from build_support import contract_test_image

from wharf.build.run import SourceError, build

pytestmark = pytest.mark.docker

ROOT = Path(__file__).resolve().parents[2]
WALKTHROUGH = ROOT / "examples" / "walkthroughs" / "s2i-python"
CONTEXT = "models/my-model"
NOTE = "PERSISTENCE=0, API_TYPE=REST assumed"


def git(*args: str, cwd: Path) -> str:
    return subprocess.run(["git", *args], cwd=cwd, check=True, capture_output=True, text=True).stdout.strip()


@pytest.fixture(scope="module")
def repo(tmp_path_factory) -> tuple[str, str, str]:
    """Repositories standing in for the remote: tag v1 holds the model, main has since broken it.

    Returns (bare URL, working-tree URL, v1's commit). s2i clones a ``file://`` URL only when it is
    a working tree (it copies any other local path as a plain folder), so the s2i test uses that one.
    """
    work = tmp_path_factory.mktemp("work")
    git("init", "-q", "-b", "main", cwd=work)
    shutil.copytree(WALKTHROUGH, work / CONTEXT)
    git("add", ".", cwd=work)
    git("-c", "user.name=t", "-c", "user.email=t@example.com", "commit", "-q", "-m", "model", cwd=work)
    git("tag", "v1", cwd=work)
    revision = git("rev-parse", "HEAD", cwd=work)
    (work / CONTEXT / "MyModel.py").write_text("class MyModel:\n    pass\n")  # no predict: main is broken
    git("-c", "user.name=t", "-c", "user.email=t@example.com", "commit", "-q", "-am", "break it", cwd=work)
    bare = tmp_path_factory.mktemp("remote") / "models.git"
    git("clone", "-q", "--bare", str(work), str(bare), cwd=work)
    return f"file://{bare}", f"file://{work}", revision


def test_invoke_build_from_git_at_a_ref_defaults_and_says_so_once(engine, builder, repo) -> None:
    url, _, revision = repo
    log: list[str] = []
    result = build(
        url, "wharf-test/walkthrough:git", context_dir=CONTEXT, ref="v1", builder=builder, progress=log.append
    )
    assert sum(NOTE in line for line in log) == 1, "\n".join(log)
    labels = engine.images.get(result.image_id).labels
    assert labels["org.opencontainers.image.revision"] == revision  # the tag's commit, not main's
    contract_test_image(engine, "wharf-test/walkthrough:git", WALKTHROUGH / "contract.json")


def test_s2i_cli_from_git_with_context_dir(engine, builder, s2i_binary, repo, tmp_path) -> None:
    _, url, _ = repo
    proc = subprocess.run(
        [
            str(s2i_binary),
            "build",
            url,
            builder,
            "wharf-test/walkthrough:s2i",
            "--context-dir",
            CONTEXT,
            "--ref",
            "v1",
            "--pull-policy",
            "never",
        ],
        capture_output=True,
        text=True,
        timeout=900,
    )
    assert proc.returncode == 0, proc.stdout + proc.stderr
    assert (proc.stdout + proc.stderr).count(NOTE) == 1
    contract_test_image(engine, "wharf-test/walkthrough:s2i", WALKTHROUGH / "contract.json")


def test_bad_git_sources_are_named(repo, tmp_path) -> None:
    url, _, _ = repo
    with pytest.raises(SourceError, match="--ref v9: not in"):
        build(url, "wharf-test/walkthrough:bad", context_dir=CONTEXT, ref="v9")
    with pytest.raises(SourceError, match="--context-dir models/nope .*: not a directory"):
        build(url, "wharf-test/walkthrough:bad", context_dir="models/nope", ref="v1")
    with pytest.raises(SourceError, match="git clone failed"):
        build(f"file://{tmp_path}/missing.git", "wharf-test/walkthrough:bad")
