"""Benchmark: our HTML instrumentation vs pytracking's adapt_html, same run, same files.

Run: .venv/bin/python bench/bench_instrument.py [--repeat N]

Both do open + click tracking on every email of the HTML corpus. For each we
print throughput (MB/s), mean ms per email, ms for the ~60 KB email closest
to 60 KB, and how many outputs keep the original bytes. Ours: removing our
tracking again (instrument with tracking off, same registry) must give the
input back exactly. pytracking: its output with tracking switched off must
equal the input (it re-serializes through lxml, so it usually does not).
pytracking needs lxml (``pip install lxml``, the ``bench`` extra).
"""

from __future__ import annotations

import argparse
import statistics
import time
from collections.abc import Callable
from pathlib import Path

from plugin.tracking.edge.tokens import TokenSigner, TrackingUrls
from plugin.tracking.instrument.html_body import (
    HtmlInstrumentOptions,
    SimpleLinkRegistry,
    instrument_html,
)

__all__ = ["main"]

CORPUS = Path(__file__).resolve().parents[1] / "tests" / "data" / "corpus" / "html-email"
TRACK = HtmlInstrumentOptions(track_opens=True, track_links=True)
OFF = HtmlInstrumentOptions(track_opens=False, track_links=False)


def _time(func: Callable[[str], object], docs: list[str], repeat: int) -> list[float]:
    """Best-of-``repeat`` seconds per document."""
    best: list[float] = []
    for doc in docs:
        func(doc)  # warm up caches (regexes, lxml)
        runs = []
        for _ in range(repeat):
            start = time.perf_counter()
            func(doc)
            runs.append(time.perf_counter() - start)
        best.append(min(runs))
    return best


def _report(name: str, seconds: list[float], sizes: list[int], near60: int, kept: int) -> None:
    total_mb = sum(sizes) / 1e6
    print(
        f"{name:<12} {total_mb / sum(seconds):8.1f} MB/s  "
        f"{statistics.mean(seconds) * 1e3:7.3f} ms/email (mean)  "
        f"{statistics.median(seconds) * 1e3:7.3f} ms (median)  "
        f"{seconds[near60] * 1e3:7.3f} ms for the {sizes[near60] / 1000:.0f} KB email  "
        f"byte-preserving {kept}/{len(sizes)}"
    )


def main() -> None:
    """Run the benchmark and print the figures."""
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--repeat", type=int, default=20)
    args = parser.parse_args()

    paths = sorted(CORPUS.glob("*.html"))
    docs = [p.read_text(encoding="utf-8") for p in paths]
    sizes = [len(d.encode("utf-8")) for d in docs]
    near60 = min(range(len(docs)), key=lambda i: abs(sizes[i] - 60_000))
    print(f"{len(docs)} emails, {sum(sizes) / 1e6:.2f} MB; ~60 KB email: {paths[near60].name}")

    urls = TrackingUrls("https://t.example.com", TokenSigner(["bench-secret"]))

    def ours(doc: str) -> str:
        return instrument_html(doc, SimpleLinkRegistry(urls, b"\x01" * 12), TRACK)

    kept = 0
    for doc in docs:
        registry = SimpleLinkRegistry(urls, b"\x01" * 12)
        tracked = instrument_html(doc, registry, TRACK)
        kept += instrument_html(tracked, registry, OFF) == doc
    ours_s = _time(ours, docs, args.repeat)
    _report("mailbeacon", ours_s, sizes, near60, kept)
    largest = max(range(len(docs)), key=lambda i: sizes[i])
    print(
        f"mailbeacon   {ours_s[largest] * 1e3:.3f} ms for the largest, {paths[largest].name} "
        f"({sizes[largest] / 1000:.0f} KB): {ours_s[largest] * 1e3 * 60_000 / sizes[largest]:.3f} "
        "ms per 60 KB"
    )

    try:
        from pytracking import Configuration
        from pytracking.html import adapt_html
    except ImportError as exc:  # lxml missing
        print(f"pytracking      skipped: {exc} (pip install lxml)")
        return
    config = Configuration(
        base_open_tracking_url="https://t.example.com/o/",
        base_click_tracking_url="https://t.example.com/c/",
    )
    meta = {"copy": "0101010101"}

    def theirs(doc: str) -> str:
        return str(
            adapt_html(doc, meta, click_tracking=True, open_tracking=True, configuration=config)
        )

    ok: list[int] = []
    for i, doc in enumerate(docs):
        try:
            theirs(doc)
            ok.append(i)
        except Exception as exc:  # report it and compare on the other emails
            print(f"pytracking   fails on {paths[i].name}: {type(exc).__name__}: {exc}")
    theirs_kept = sum(
        adapt_html(docs[i], meta, click_tracking=False, open_tracking=False, configuration=config)
        == docs[i]
        for i in ok
    )
    theirs_s = _time(theirs, [docs[i] for i in ok], args.repeat)
    common_ours = [ours_s[i] for i in ok]
    common_sizes = [sizes[i] for i in ok]
    at = ok.index(near60)
    print(f"on the {len(ok)} emails pytracking can process:")
    _report("mailbeacon", common_ours, common_sizes, at, len(ok))
    _report("pytracking", theirs_s, common_sizes, at, theirs_kept)
    print(
        f"ratio        mailbeacon is {sum(theirs_s) / sum(common_ours):.1f}x pytracking's "
        f"throughput ({theirs_s[at] / common_ours[at]:.1f}x on the ~60 KB email)"
    )


if __name__ == "__main__":
    main()
