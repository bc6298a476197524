"""CPU per counted open of the embedded ``serve`` (the whole process tree), at fixed rates.

Run: .venv/bin/python bench/bench_embedded_cpu.py [--shape spread] [--rates 800]
        [--duration 10] [--roots .,/path/to/baseline/tree] [--rounds 2] [--py-spy DIR]

Latency on a shared machine is noise; CPU time is not (much). For each tree in
``--roots`` (alternated ``--rounds`` times, so that both see the same machine),
``mailbeacon serve`` starts embedded (SQLite, spool, in-process workers) pinned
to CPU 0 as in bench_load.py, this generator on CPU 1; for each rate the utime +
stime of serve's process tree is read from /proc before the hits and after they
are all counted, and divided by the hits counted. ``--py-spy DIR`` records the
serve process (``py-spy record --gil -r 100 -f raw``) during the first tree's
first rate of each round.
"""

from __future__ import annotations

import argparse
import asyncio
import os
import subprocess
import sys
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))

import bench_load
from loadgen import OpenLoop, Poller, pixel_request

TICK = os.sysconf("SC_CLK_TCK")


def _stat(pid: int) -> tuple[int, float, int]:
    """(parent pid, utime + stime in s, threads) of one process."""
    raw = Path(f"/proc/{pid}/stat").read_text()
    fields = raw[raw.rindex(")") + 2:].split()
    return int(fields[1]), (int(fields[11]) + int(fields[12])) / TICK, int(fields[17])


def tree_cpu(root: int) -> tuple[float, int, int]:
    """(CPU seconds, processes, threads) of ``root`` and its descendants."""
    stats: dict[int, tuple[int, float, int]] = {}
    for entry in os.listdir("/proc"):
        if entry.isdigit():
            try:
                stats[int(entry)] = _stat(int(entry))
            except (OSError, ValueError, IndexError):
                continue
    tree, grew = {root}, True
    while grew:
        grew = False
        for pid, (ppid, _, _) in stats.items():
            if ppid in tree and pid not in tree:
                tree.add(pid)
                grew = True
    return (sum(stats[p][1] for p in tree if p in stats), len(tree),
            sum(stats[p][2] for p in tree if p in stats))


def thread_cpu(pids: list[int]) -> dict[str, float]:
    """CPU seconds by thread name (``comm``) over ``pids``' threads."""
    out: dict[str, float] = {}
    for pid in pids:
        try:
            tids = os.listdir(f"/proc/{pid}/task")
        except OSError:
            continue
        for tid in tids:
            try:
                name = Path(f"/proc/{pid}/task/{tid}/comm").read_text().strip()
                raw = Path(f"/proc/{pid}/task/{tid}/stat").read_text()
            except OSError:
                continue
            fields = raw[raw.rindex(")") + 2:].split()
            key = f"{pid}:{name}"
            out[key] = out.get(key, 0.0) + (int(fields[11]) + int(fields[12])) / TICK
    return out


def _batch_sizes(log: Path) -> list[int]:
    """Sizes of the batches the consumer logged as recorded, in order."""
    sizes = []
    for line in log.read_text(errors="replace").splitlines():
        marker = line.find("recorded a batch of ")
        if marker >= 0:
            sizes.append(int(line[marker + 20:].split()[0]))
    return sizes


def _python_pid(root: int) -> int:
    """The deepest python process of the tree (granian's worker runs the app)."""
    pids = [root]
    for entry in os.listdir("/proc"):
        if entry.isdigit():
            try:
                if _stat(int(entry))[0] in pids:
                    pids.append(int(entry))
            except (OSError, ValueError, IndexError):
                continue
    return pids[-1]


_wait_port = bench_load._wait_port


async def _patient_wait_port(port: int, timeout: float = 300) -> None:
    # A niced serve on a busy core may take minutes to start.
    await _wait_port(port, timeout)


async def one_tree(root: str, args: argparse.Namespace, spy: Path | None) -> list[str]:
    bench_load.ROOT = Path(root).resolve()
    # `python -m plugin.cli` puts the working directory first on sys.path: serve that tree.
    os.chdir(bench_load.ROOT)
    bench_load._wait_port = _patient_wait_port
    setup = await bench_load.setup_ours("embedded", args.shape, 8)
    lines = []
    try:
        serve = setup.processes[0][1].pid
        load = OpenLoop("127.0.0.1", setup.port)
        await load.warm(64)
        poller = Poller(setup.read_total)
        poller.start()
        host = f"127.0.0.1:{setup.port}"
        first, seen_batches = 0, 0
        try:
            hits = await load.run(50, 2, pixel_request(setup.paths, host), first)
            first += len(hits.due)
            while poller.latest() < len(hits.answered()):
                await asyncio.sleep(0.05)
            await asyncio.sleep(1)
            seen_batches = len(_batch_sizes(setup.log_dir / "serve.log"))
            for index, rate in enumerate(args.rates):
                base = poller.latest()
                cpu0, _, _ = tree_cpu(serve)
                pids = [serve, _python_pid(serve)]
                threads0 = thread_cpu(pids)
                recorder = None
                if spy is not None and index == 0:
                    recorder = subprocess.Popen(
                        [str(Path(sys.executable).parent / "py-spy"), "record", "--gil", "-r",
                         "100", "-f", "raw", "-p", str(_python_pid(serve)), "-d",
                         str(int(args.duration)), "-o", str(spy)],
                        stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
                started = time.monotonic()
                hits = await load.run(rate, args.duration, pixel_request(setup.paths, host),
                                      first)
                first += len(hits.due)
                answered = len(hits.answered())
                while poller.latest() < base + answered and time.monotonic() - started < 120:
                    await asyncio.sleep(0.02)
                drained = time.monotonic() - started - args.duration
                cpu1, procs, threads = tree_cpu(serve)
                counted = poller.latest() - base
                threads1 = thread_cpu(pids)
                by_thread = sorted(((threads1[k] - threads0.get(k, 0.0), k) for k in threads1),
                                   reverse=True)
                names = {serve: "main", pids[1]: "app"}
                detail = ", ".join(
                    f"{names.get(int(k.split(':')[0]), '?')}:{k.split(':', 1)[1]} "
                    f"{v / max(counted, 1) * 1e6:.0f}" for v, k in by_thread if v > 0)
                if recorder is not None:
                    recorder.wait()
                sizes = _batch_sizes(setup.log_dir / "serve.log")[seen_batches:]
                seen_batches += len(sizes)
                line = (f"{Path(root).resolve().name} {rate:>6.0f}/s: answered {answered}, "
                        f"counted {counted}, CPU {cpu1 - cpu0:.2f} s = "
                        f"{(cpu1 - cpu0) / max(counted, 1) * 1e6:.0f} us/counted open, "
                        f"drain {drained:.1f} s, {len(sizes)} recorded batches "
                        f"(mean {sum(sizes) / max(len(sizes), 1):.1f} hits), "
                        f"{procs} processes / {threads} threads, "
                        f"load {os.getloadavg()[0]:.1f}")
                print(line, flush=True)
                print(f"      us/open by thread: {detail}", flush=True)
                lines.append(line)
                await asyncio.sleep(1)
        finally:
            await poller.stop()
            load.close()
    finally:
        await setup.stop()
    return lines


async def main(args: argparse.Namespace) -> None:
    os.sched_setaffinity(0, {bench_load.LOAD_CPU})
    for round_ in range(args.rounds):
        for n, root in enumerate(args.roots):
            spy = None
            if args.py_spy and n == 0:
                spy = Path(args.py_spy) / f"{Path(root).resolve().name}-{round_}.txt"
            await one_tree(root, args, spy)


if __name__ == "__main__":
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0] if __doc__ else None)
    parser.add_argument("--shape", default="spread")
    parser.add_argument("--rates", default="800")
    parser.add_argument("--duration", type=float, default=10)
    parser.add_argument("--roots", default=str(bench_load.ROOT))
    parser.add_argument("--rounds", type=int, default=1)
    parser.add_argument("--py-spy", default=None)
    parsed = parser.parse_args()
    parsed.rates = [float(r) for r in parsed.rates.split(",")]
    parsed.roots = parsed.roots.split(",")
    import uvloop

    uvloop.run(main(parsed))
