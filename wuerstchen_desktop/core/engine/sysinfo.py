"""How much memory the app uses now, cheaply enough for a status bar that refreshes every few seconds."""

from __future__ import annotations

import os
import sys
from dataclasses import dataclass


@dataclass(frozen=True)
class MemoryUse:
    ram: int | None  # bytes resident now (the peak on macOS, where only that is cheap to read)
    ram_is_peak: bool = False
    vram: int | None = None  # bytes allocated by torch on the CUDA device, when it is in use


def _rss_linux() -> int | None:
    try:
        with open("/proc/self/statm", encoding="ascii") as f:
            return int(f.read().split()[1]) * os.sysconf("SC_PAGE_SIZE")
    except (OSError, ValueError, IndexError):
        return None


def _rss_windows() -> int | None:
    import ctypes
    from ctypes import wintypes

    class Counters(ctypes.Structure):
        _fields_ = [("cb", wintypes.DWORD), ("PageFaultCount", wintypes.DWORD)] + [
            (name, ctypes.c_size_t)
            for name in (
                "PeakWorkingSetSize", "WorkingSetSize", "QuotaPeakPagedPoolUsage", "QuotaPagedPoolUsage",
                "QuotaPeakNonPagedPoolUsage", "QuotaNonPagedPoolUsage", "PagefileUsage", "PeakPagefileUsage",
            )
        ]  # fmt: skip

    counters = Counters()
    counters.cb = ctypes.sizeof(Counters)
    process = ctypes.windll.kernel32.GetCurrentProcess()  # type: ignore[attr-defined]
    psapi = ctypes.windll.psapi  # type: ignore[attr-defined]
    ok = psapi.GetProcessMemoryInfo(process, ctypes.byref(counters), counters.cb)
    return int(counters.WorkingSetSize) if ok else None


def memory_in_use() -> MemoryUse:
    """RAM of this process and, if torch is already running on CUDA, its VRAM. Never imports torch."""
    peak = False
    if sys.platform.startswith("linux"):
        ram = _rss_linux()
    elif sys.platform == "win32":
        ram = _rss_windows()
    else:
        import resource

        ram, peak = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss, True  # bytes on macOS
    vram = None
    torch = sys.modules.get("torch")
    if torch is not None and torch.cuda.is_initialized():
        vram = int(torch.cuda.memory_allocated())
    return MemoryUse(ram, peak, vram)
