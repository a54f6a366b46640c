"""CPU threads per process: the machine's cores shared among the processes a command starts.

torch gives every process as many threads as the machine has cores; two processes side by side then run
twice as many threads as there are cores, and each one runs many times slower than alone.
"""
import os


def available_cores() -> int:
    """Cores this process may run on (its CPU affinity, which container limits often set)."""
    return len(os.sched_getaffinity(0)) if hasattr(os, "sched_getaffinity") else os.cpu_count() or 1


def threads_per_process(processes: int = 1) -> int:
    """The cores divided among ``processes`` processes, at least one thread each."""
    return max(1, available_cores() // processes)


def set_torch_threads(threads: int) -> None:
    """Use ``threads`` torch threads in this process, inter-op threads too where torch still allows it."""
    import torch

    torch.set_num_threads(threads)
    try:
        torch.set_num_interop_threads(threads)
    except RuntimeError:  # fixed once the process has run parallel work or set them before
        pass
