"""The container's termination message: written where the kubelet reads it, bounded, nothing elsewhere."""

from __future__ import annotations

from wharf.termination import LIMIT, write_termination_message


def test_written_when_the_file_exists_and_cut_to_the_kubelets_limit(tmp_path) -> None:
    path = tmp_path / "termination-log"
    path.write_text("")
    assert write_termination_message("load() failed: no model.joblib in /mnt/models", str(path))
    assert path.read_text() == "load() failed: no model.joblib in /mnt/models"
    assert write_termination_message("a" + "é" * 5000, str(path))
    data = path.read_bytes()
    assert LIMIT - 1 <= len(data) <= LIMIT and data.decode("utf-8") == "a" + "é" * ((len(data) - 1) // 2)


def test_nothing_is_written_outside_a_pod(tmp_path, monkeypatch) -> None:
    monkeypatch.setenv("WHARF_TERMINATION_MESSAGE_PATH", str(tmp_path / "absent"))
    assert not write_termination_message("x")
    assert not (tmp_path / "absent").exists()
