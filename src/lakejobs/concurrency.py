"""Independent pieces of one job run side by side on the driver.

A job that writes several independent tables (six staging tables, two dimensions, two facts)
spends much of each table's time on the driver — planning, Delta log replay, commits — while the
executors idle. Submitting the tables from a few threads overlaps that work; Spark schedules the
jobs of all threads on the same executors. Each task must touch tables no other task writes
(or handle Delta's concurrent-write conflicts itself, as the SCD merges do).

Separate processes that fill one shared folder (a jar cache) take turns with
:func:`exclusive_lock`.
"""

from __future__ import annotations

import fcntl
from collections.abc import Callable, Iterator, Sequence
from concurrent.futures import ThreadPoolExecutor
from contextlib import contextmanager
from pathlib import Path
from typing import TypeVar

T = TypeVar("T")


def run_side_by_side(tasks: Sequence[Callable[[], T]], threads: int) -> list[T]:
    """Run ``tasks`` on up to ``threads`` threads; their results in task order.

    Every task runs to its end; the first failure (in task order) is raised afterwards. With one
    thread or one task, the tasks run one after another in the calling thread.
    """
    if threads <= 1 or len(tasks) <= 1:
        return [task() for task in tasks]
    with ThreadPoolExecutor(max_workers=min(threads, len(tasks)),
                            thread_name_prefix="lakejobs-table") as pool:
        futures = [pool.submit(task) for task in tasks]
    return [future.result() for future in futures]


@contextmanager
def exclusive_lock(path: Path) -> Iterator[None]:
    """Hold an exclusive lock on the file ``path`` (created with its folder if missing) against
    other processes; released when the block ends, or when the process dies."""
    path.parent.mkdir(parents=True, exist_ok=True)
    with open(path, "w", encoding="utf-8") as lock:
        fcntl.flock(lock, fcntl.LOCK_EX)
        yield
