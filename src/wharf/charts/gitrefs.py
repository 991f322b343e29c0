"""Read-only git queries ct needs: the merge-base, changed charts, a chart as it was at a ref."""

from __future__ import annotations

import io
import subprocess
import tarfile
from pathlib import Path

from wharf.charts.values_schema import load_yaml


class GitError(RuntimeError):
    pass


def _git(repo: Path, *args: str, check: bool = True) -> subprocess.CompletedProcess:
    done = subprocess.run(["git", "-C", str(repo), *args], capture_output=True, timeout=60)
    if check and done.returncode != 0:
        raise GitError(f"git {' '.join(args)}: {done.stderr.decode(errors='replace').strip()}")
    return done


def ref_exists(repo: Path, ref: str) -> bool:
    return _git(repo, "rev-parse", "--verify", "--quiet", f"{ref}^{{commit}}", check=False).returncode == 0


def target_ref(repo: Path, remote: str, branch: str) -> str:
    """``<remote>/<branch>`` as ct uses it; the local branch when there is no such remote (a fresh clone
    without remotes, or this workplace)."""
    for ref in ([f"{remote}/{branch}"] if remote else []) + [branch]:
        if ref_exists(repo, ref):
            return ref
    raise GitError(f"neither {remote}/{branch} nor {branch} exists; set target-branch/remote in ct.yaml or use --all")


def merge_base(repo: Path, ref: str, since: str = "HEAD") -> str:
    return _git(repo, "merge-base", ref, since).stdout.decode().strip()


def changed_files(repo: Path, base: str, paths: list[str]) -> list[str]:
    """Files changed since ``base`` (committed or not) plus untracked ones, under ``paths``."""
    diff = _git(repo, "diff", "--find-renames", "--name-only", base, "--", *paths).stdout.decode().split()
    untracked = _git(repo, "ls-files", "--others", "--exclude-standard", "--", *paths).stdout.decode().split()
    return sorted(set(diff) | set(untracked))


def changed_charts(repo: Path, base: str, chart_dirs: list[str], excluded: list[str]) -> list[Path]:
    charts: set[Path] = set()
    for name in changed_files(repo, base, chart_dirs):
        path = (repo / name).parent
        while path != repo and path.parent != path:
            if (path / "Chart.yaml").is_file() and str(path.parent.relative_to(repo)) in chart_dirs:
                if path.name not in excluded:
                    charts.add(path)
                break
            path = path.parent
    return sorted(charts)


def chart_at_ref(repo: Path, ref: str, chart_dir: Path) -> dict | None:
    """Chart.yaml of ``chart_dir`` at ``ref``, or None if the chart did not exist there."""
    rel = chart_dir.resolve().relative_to(repo.resolve())
    done = _git(repo, "show", f"{ref}:{rel.as_posix()}/Chart.yaml", check=False)
    if done.returncode != 0:
        return None
    return load_yaml(done.stdout.decode()) or {}


def export_chart(repo: Path, ref: str, chart_dir: Path, dest: Path) -> Path | None:
    """Extract ``chart_dir`` as it was at ``ref`` into ``dest`` (git archive: no worktree, no checkout)."""
    rel = chart_dir.resolve().relative_to(repo.resolve()).as_posix()
    done = _git(repo, "archive", "--format=tar", ref, rel, check=False)
    if done.returncode != 0:
        return None
    with tarfile.open(fileobj=io.BytesIO(done.stdout)) as tar:
        tar.extractall(dest, filter="data")
    return dest / rel
