"""The fixed mmap threshold: a batch-sized buffer is mapped on its own and given back to the
system when freed, even after a larger block was freed (glibc only)."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import pytest

from plugin.allocator import fix_mmap_threshold, glibc

ROOT = Path(__file__).resolve().parents[2]

# In a fresh process (the test runner's allocator state would blur it): one large block
# freed early on (a large reply), then a buffer of a batch's size. Prints the bytes in
# blocks mapped of their own (mallinfo2's hblkhd) before, with and after that buffer.
CHILD = """
import ctypes, json, sys
from plugin.allocator import fix_mmap_threshold

class Mallinfo2(ctypes.Structure):
    _fields_ = [(name, ctypes.c_size_t) for name in (
        "arena", "ordblks", "smblks", "hblks", "hblkhd", "usmblks", "fsmblks", "uordblks",
        "fordblks", "keepcost")]

libc = ctypes.CDLL(None)
libc.malloc.restype = ctypes.c_void_p
libc.malloc.argtypes = [ctypes.c_size_t]
libc.free.argtypes = [ctypes.c_void_p]
libc.mallinfo2.restype = Mallinfo2
if sys.argv[1] == "fixed":
    assert fix_mmap_threshold()
libc.free(libc.malloc(4 << 20))
before = libc.mallinfo2().hblkhd
buffer = libc.malloc(256 << 10)
held = libc.mallinfo2().hblkhd
libc.free(buffer)
print(json.dumps([before, held, libc.mallinfo2().hblkhd]))
"""


def mapped_bytes(mode: str) -> list[int]:
    env = {k: v for k, v in os.environ.items()
           if k not in ("MALLOC_MMAP_THRESHOLD_", "GLIBC_TUNABLES")}
    done = subprocess.run([sys.executable, "-c", CHILD, mode], cwd=ROOT, env=env,
                          capture_output=True, text=True, timeout=60, check=True)
    return list(json.loads(done.stdout))


@pytest.mark.skipif(glibc() is None, reason="glibc's allocator")
def test_a_batch_sized_buffer_is_mapped_on_its_own_and_given_back() -> None:
    before, held, after = mapped_bytes("fixed")
    assert held - before >= 256 << 10
    assert after == before
    # Without the fix, the freed 4 MiB block raised glibc's threshold above the buffer:
    # it came from the heap, where it leaves a hole once freed (what grew the worker).
    before, held, after = mapped_bytes("default")
    assert held == before


def test_an_operators_own_threshold_is_left_in_force(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("MALLOC_MMAP_THRESHOLD_", "65536")
    assert fix_mmap_threshold() is False
