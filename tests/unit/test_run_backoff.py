"""`wharf run`'s restart delays: a kubelet's CrashLoopBackOff shape with a laptop's numbers."""

import pytest

from wharf.cli import main
from wharf.local.restarts import Backoff, describe_exit


def test_first_restart_is_at_once_then_the_delay_doubles_up_to_its_cap() -> None:
    backoff = Backoff()
    assert [backoff.delay(up_for=0.5) for _ in range(9)] == [0, 1, 2, 4, 8, 16, 32, 60, 60]
    assert backoff.restarts == 9


def test_a_process_that_stayed_up_long_enough_starts_over_at_once() -> None:
    backoff = Backoff()
    for _ in range(5):
        backoff.delay(up_for=1)
    assert backoff.delay(up_for=119) == 16  # not long enough: the crash loop goes on
    assert backoff.delay(up_for=120) == 0
    assert backoff.delay(up_for=1) == 1


def test_exits_are_described_by_code_or_by_signal() -> None:
    assert describe_exit(1) == "exit code 1"
    assert describe_exit(-9) == "killed by SIGKILL"
    assert describe_exit(137) == "exit code 137"


def test_a_negative_max_restarts_is_refused_naming_the_flag(capsys) -> None:
    with pytest.raises(SystemExit) as exited:
        main(["run", "graph.yaml", "--max-restarts", "-1"])
    assert exited.value.code == 2
    assert (
        capsys.readouterr().err.strip().splitlines()[-1] == "wharf run: error: --max-restarts must be 0 or more, not -1"
    )
