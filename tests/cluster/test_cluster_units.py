"""The pure parts of the harness: the throwaway go.mod, version flags, and the missing-binary error."""

from __future__ import annotations

import pytest

from wharf.testing import apiserver, kube_binaries

K8S_GO_MOD = """module k8s.io/kubernetes

require (
\tk8s.io/api v0.0.0
\tgithub.com/x/y v1.2.3
)

replace (
\tk8s.io/api => ./staging/src/k8s.io/api
\tk8s.io/apimachinery => ./staging/src/k8s.io/apimachinery
\tgithub.com/other/thing => github.com/fork/thing v1.0.0
)
"""


def test_staging_modules_are_the_local_replaces_only():
    assert kube_binaries.staging_modules(K8S_GO_MOD) == ["k8s.io/api", "k8s.io/apimachinery"]


def test_build_go_mod_pins_each_staging_module_to_its_v0_tag():
    text = kube_binaries.kubernetes_build_go_mod("1.32.2", ["k8s.io/api", "k8s.io/apimachinery"])
    assert "require k8s.io/kubernetes v1.32.2" in text
    assert "\tk8s.io/api => k8s.io/api v0.32.2" in text
    assert "\tk8s.io/apimachinery => k8s.io/apimachinery v0.32.2" in text


def test_version_ldflags_name_the_release():
    flags = kube_binaries.kube_version_ldflags("1.32.2")
    assert "-X k8s.io/component-base/version.gitVersion=v1.32.2" in flags
    assert "-X k8s.io/component-base/version.gitMinor=32" in flags


def test_cache_folder_is_keyed_by_version(monkeypatch, tmp_path):
    monkeypatch.delenv("WHARF_KUBE_BIN_DIR", raising=False)
    monkeypatch.setenv("XDG_CACHE_HOME", str(tmp_path))
    assert kube_binaries.bin_dir("1.32.2") == tmp_path / "wharf" / "bin" / "k8s-v1.32.2"


def test_missing_binaries_give_a_clear_error_and_start_nothing(monkeypatch, tmp_path):
    monkeypatch.setenv("WHARF_KUBE_BIN_DIR", str(tmp_path))
    (tmp_path / "etcd").write_text("#!/bin/sh\n")
    (tmp_path / "etcd").chmod(0o755)
    with pytest.raises(apiserver.HarnessError) as caught:
        apiserver.start_control_plane(work=tmp_path / "work")
    message = str(caught.value)
    assert "kube-apiserver" in message and "kube-controller-manager" in message
    assert "etcd," not in message  # present binaries are not blamed
    assert "invoke cluster.build-binaries" in message
    assert not (tmp_path / "work").exists()


def test_kubeconfig_and_token_file_formats():
    import base64
    import json

    config = json.loads(apiserver.kubeconfig_text("https://127.0.0.1:1", b"PEM", "admin", "tok"))
    assert config["clusters"][0]["cluster"]["server"] == "https://127.0.0.1:1"
    assert base64.b64decode(config["clusters"][0]["cluster"]["certificate-authority-data"]) == b"PEM"
    assert config["users"][0]["user"] == {"token": "tok"}
    assert apiserver.token_file_text({"t1": ("admin", "system:masters")}) == 't1,admin,admin,"system:masters"\n'
    assert apiserver.token_file_text({"t2": ("cm", "")}) == "t2,cm,cm\n"


def test_a_failed_build_leaves_no_binary_and_names_the_log(monkeypatch, tmp_path):
    """A stand-in `go` (the real one would need minutes) that writes half a binary, then fails."""
    fake_bin = tmp_path / "fakebin"
    fake_bin.mkdir()
    (fake_bin / "go").write_text(
        "#!/bin/sh\n"
        'if [ "$1" = build ]; then\n'
        '  while [ "$1" != -o ]; do shift; done; echo half > "$2"\n'
        '  echo "link: out of memory"; exit 2\n'
        "fi\n"
    )
    (fake_bin / "go").chmod(0o755)
    out = tmp_path / "bin"
    monkeypatch.setenv("PATH", f"{fake_bin}:/usr/bin:/bin")
    monkeypatch.setenv("WHARF_KUBE_BIN_DIR", str(out))
    with pytest.raises(kube_binaries.BuildError) as caught:
        kube_binaries.build_binaries(("etcd",), say=lambda _: None)
    assert "link: out of memory" in str(caught.value)
    assert str(out / "build.log") in str(caught.value)
    assert sorted(p.name for p in out.iterdir()) == ["build.log", "src"]
