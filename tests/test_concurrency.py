"""Tables of one job run side by side: results in task order, failures raised after every
task ran, one thread means one after another."""

from __future__ import annotations

import subprocess
import sys
import threading
from pathlib import Path

import pytest

from lakejobs.concurrency import exclusive_lock, run_side_by_side

# Exit code 0 if the lock file can be taken without waiting, 1 if another process holds it.
TRY_LOCK = """
import fcntl, sys
with open(sys.argv[1], "w") as f:
    try:
        fcntl.flock(f, fcntl.LOCK_EX | fcntl.LOCK_NB)
    except BlockingIOError:
        sys.exit(1)
"""


def _other_process_gets(path: Path) -> bool:
    done = subprocess.run([sys.executable, "-c", TRY_LOCK, str(path)], timeout=60, check=False)
    return done.returncode == 0


def test_tasks_run_at_the_same_time_and_results_keep_their_order() -> None:
    both_started = threading.Barrier(2, timeout=30)  # broken unless both tasks run at once

    def task(value: str) -> str:
        both_started.wait()
        return value

    assert run_side_by_side([lambda: task("a"), lambda: task("b")], threads=2) == ["a", "b"]


def test_a_failure_is_raised_after_every_task_ran() -> None:
    ran: list[str] = []

    def ok(name: str) -> str:
        ran.append(name)
        return name

    def fail() -> str:
        ran.append("fail")
        raise ValueError("table b: bad")

    with pytest.raises(ValueError, match="table b: bad"):
        run_side_by_side([lambda: ok("a"), fail, lambda: ok("c")], threads=2)
    assert sorted(ran) == ["a", "c", "fail"]


def test_one_thread_runs_the_tasks_in_order_in_the_calling_thread() -> None:
    threads: list[str] = []

    def task() -> int:
        threads.append(threading.current_thread().name)
        return len(threads)

    assert run_side_by_side([task, task, task], threads=1) == [1, 2, 3]
    assert set(threads) == {threading.current_thread().name}


def test_an_exclusive_lock_keeps_other_processes_out_until_released(tmp_path: Path) -> None:
    path = tmp_path / "cache" / ".lock"  # its folder is created
    with exclusive_lock(path):
        assert not _other_process_gets(path)
    assert _other_process_gets(path)
