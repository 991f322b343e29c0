"""chart-testing (ct) configuration: the same keys, file lookup and precedence (flag > CT_* env > file)."""

from __future__ import annotations

import os
from collections.abc import Mapping
from dataclasses import dataclass, field, fields
from pathlib import Path
from typing import Any

from wharf.charts.values_schema import load_yaml

SEARCH_DIRS = (".", ".ct", str(Path.home() / ".ct"), "/usr/local/etc/ct", "/etc/ct")


class ConfigError(ValueError):
    """A bad ct configuration (message names the file/flag and the problem)."""


@dataclass
class CtConfig:
    remote: str = "origin"
    target_branch: str = "main"
    since: str = "HEAD"
    build_id: str = ""
    lint_conf: str = ""
    chart_yaml_schema: str = ""
    validate_maintainers: bool = True
    validate_chart_schema: bool = True
    validate_yaml: bool = True
    check_version_increment: bool = True
    additional_commands: list[str] = field(default_factory=list)
    all: bool = False
    charts: list[str] = field(default_factory=list)
    chart_dirs: list[str] = field(default_factory=lambda: ["charts"])
    excluded_charts: list[str] = field(default_factory=list)
    helm_extra_args: str = ""
    helm_extra_set_args: str = ""
    helm_lint_extra_args: str = ""
    upgrade: bool = False
    skip_missing_values: bool = False
    skip_clean_up: bool = False
    namespace: str = ""
    release_label: str = "app.kubernetes.io/instance"
    kubectl_timeout: str = "30s"
    print_logs: bool = True
    # Wharf additions (ct ignores unknown keys): the Kubernetes version for template/validation.
    kube_version: str = "1.32.0"

    @property
    def key_names(self) -> list[str]:
        return [f.name.replace("_", "-") for f in fields(self)]


def _coerce(name: str, raw: Any, like: Any, where: str) -> Any:
    if isinstance(like, bool):
        if isinstance(raw, bool):
            return raw
        if str(raw).lower() in ("true", "1", "yes"):
            return True
        if str(raw).lower() in ("false", "0", "no", ""):
            return False
        raise ConfigError(f"{where}: {name}: expected true or false, got {raw!r}")
    if isinstance(like, list):
        if isinstance(raw, str):
            return [part.strip() for part in raw.split(",") if part.strip()]
        if isinstance(raw, list):
            return [str(part) for part in raw]
        raise ConfigError(f"{where}: {name}: expected a list or comma-separated string, got {raw!r}")
    if isinstance(raw, (dict, list)):
        raise ConfigError(f"{where}: {name}: expected a string, got {raw!r}")
    return str(raw)


def find_config_file(explicit: str | None, cwd: Path) -> Path | None:
    if explicit:
        path = Path(explicit)
        if not path.is_file():
            raise ConfigError(f"--config {explicit}: no such file")
        return path
    dirs = [os.environ["CT_CONFIG_DIR"]] if os.environ.get("CT_CONFIG_DIR") else SEARCH_DIRS
    for d in dirs:
        for ext in ("yaml", "yml", "json"):
            candidate = cwd / d / f"ct.{ext}"
            if candidate.is_file():
                return candidate
    return None


def load_config(
    cwd: Path,
    explicit: str | None = None,
    flags: Mapping[str, Any] | None = None,
    environ: Mapping[str, str] | None = None,
) -> CtConfig:
    environ = os.environ if environ is None else environ
    config = CtConfig()
    defaults = {f.name: getattr(config, f.name) for f in fields(config)}
    path = find_config_file(explicit, cwd)
    if path is not None:
        data = load_yaml(path.read_text()) or {}
        if not isinstance(data, dict):
            raise ConfigError(f"{path}: expected a mapping of ct options")
        for key, raw in data.items():
            attr = str(key).replace("-", "_")
            if attr in defaults:  # ct ignores keys it does not know; so do we
                setattr(config, attr, _coerce(str(key), raw, defaults[attr], str(path)))
    for attr, like in defaults.items():
        env = "CT_" + attr.upper()
        if env in environ:
            setattr(config, attr, _coerce(env, environ[env], like, "environment"))
    for key, raw in (flags or {}).items():
        attr = key.replace("-", "_")
        if raw is not None and attr in defaults:
            setattr(config, attr, _coerce(f"--{attr.replace('_', '-')}", raw, defaults[attr], "command line"))
    if config.all and config.charts:
        raise ConfigError("--all and --charts are mutually exclusive")
    return config
