"""One helper thread per process for torch work that can run beside the main thread's.

Why: on a CPU, a pass that needs no gradient (a target network over the next states) does not depend
on the online pass over the current states; each runs on one core, so on a machine with a free core
the two together take the time of the longer one. torch releases the GIL inside its kernels, so a
plain Python thread suffices. The result is the same computation as running them one after the other.
"""

from __future__ import annotations

import os
import threading
from concurrent.futures import ThreadPoolExecutor

import torch

_lock = threading.Lock()
_executor: tuple[int, ThreadPoolExecutor] | None = None  # (pid that made it, executor)


def _start(count: int) -> None:
    # torch's intra-op thread count is per thread under OpenMP: a new thread would otherwise start a
    # team on every core, and such teams slow down a hundredfold when another process holds a core
    torch.set_num_threads(count)
    # subnormals flushed as in a run's main thread (harness/threads.py), whoever starts this thread
    torch.set_flush_denormal(True)


def side_thread() -> ThreadPoolExecutor | None:
    """The process's helper thread, or None where only one core is usable (it would only add switches)
    or where torch already runs each operation on several threads (a run that owns the machine,
    ``--threads 2``: its kernels use the other core themselves, which measured faster than a side pass).

    Made lazily and again after a fork: a forked child does not inherit the parent's threads.
    """
    global _executor
    if len(os.sched_getaffinity(0)) < 2 or torch.get_num_threads() > 1:
        return None
    with _lock:
        if _executor is None or _executor[0] != os.getpid():
            pool = ThreadPoolExecutor(1, thread_name_prefix="side-pass", initializer=_start,
                                      initargs=(torch.get_num_threads(),))
            _executor = (os.getpid(), pool)
        return _executor[1]
