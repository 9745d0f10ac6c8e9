from __future__ import annotations

import sys

from wuerstchen_desktop.core.engine.sysinfo import memory_in_use


def test_ram_in_use_grows_with_an_allocation() -> None:
    before = memory_in_use()
    assert before.ram is not None and before.ram > 10_000_000
    block = bytearray(200_000_000)
    block[::4096] = b"x" * len(block[::4096])  # touch every page so it is resident
    after = memory_in_use()
    assert after.ram is not None and after.ram - before.ram > 150_000_000
    assert after.vram is None  # no CUDA here
    del block


def test_does_not_import_torch() -> None:
    import subprocess

    code = "import sys; from wuerstchen_desktop.core.engine.sysinfo import memory_in_use; memory_in_use(); " \
           "print('torch' in sys.modules)"  # fmt: skip
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=60).stdout
    assert out.strip() == "False"
