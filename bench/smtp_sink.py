"""An SMTP server for the benchmarks, in its own process: accepts everything, counts it.

    python bench/smtp_sink.py PORT [--starttls CERT KEY] [--rtt-ms MS] [--no-pipelining]

Prints ``ready`` once listening, then one line per accepted message (``a``) and per
new session (``s``), so that the benchmark reads the counts from its stdout.
It advertises ESMTP PIPELINING, as real relays do (``--no-pipelining``: not).
``--rtt-ms`` puts a relay in front that holds every chunk half that long in each
direction: a mail server that far away (a network round trip per SMTP command).
"""

from __future__ import annotations

import argparse
import asyncio
import ssl
import sys
import threading
import time
import weakref
from typing import Any

from aiosmtpd.controller import Controller


class Sink:
    def __init__(self, pipelining: bool) -> None:
        self._pipelining = pipelining
        self._lock = threading.Lock()
        self._sessions: weakref.WeakSet[Any] = weakref.WeakSet()  # one per connection

    def _say(self, what: str) -> None:
        with self._lock:
            sys.stdout.write(what + "\n")
            sys.stdout.flush()

    async def handle_EHLO(self, server: Any, session: Any, envelope: Any, hostname: str,
                          responses: list[str]) -> list[str]:
        if server not in self._sessions:  # EHLO comes again after STARTTLS
            self._sessions.add(server)
            self._say("s")
        session.host_name = hostname
        if self._pipelining:
            # aiosmtpd reads commands in order from its stream, so it copes with pipelined
            # ones; it just does not say so. Real relays (Postfix, Exim, Gmail) do.
            responses.insert(len(responses) - 1, "250-PIPELINING")
        return responses

    async def handle_DATA(self, server: Any, session: Any, envelope: Any) -> str:
        self._say("a")
        return "250 OK"


async def _pump(reader: asyncio.StreamReader, writer: asyncio.StreamWriter, delay: float) -> None:
    """Forward what ``reader`` gets to ``writer``, each chunk ``delay`` seconds later, in order."""
    queue: asyncio.Queue[tuple[float, bytes]] = asyncio.Queue()

    async def deliver() -> None:
        while True:
            due, chunk = await queue.get()
            await asyncio.sleep(max(0.0, due - time.monotonic()))
            if not chunk:
                writer.close()
                return
            writer.write(chunk)
            await writer.drain()

    sender = asyncio.create_task(deliver())
    try:
        while True:
            chunk = await reader.read(65536)
            queue.put_nowait((time.monotonic() + delay, chunk))
            if not chunk:
                break
        await sender
    except (ConnectionError, OSError):
        sender.cancel()
        writer.close()


def _relay(listen_port: int, target_port: int, rtt: float) -> None:
    """A TCP relay adding ``rtt`` per round trip, on its own thread and loop."""

    async def handle(client_r: asyncio.StreamReader, client_w: asyncio.StreamWriter) -> None:
        server_r, server_w = await asyncio.open_connection("127.0.0.1", target_port)
        await asyncio.sleep(rtt)  # the TCP handshake's round trip
        await asyncio.gather(_pump(client_r, server_w, rtt / 2), _pump(server_r, client_w, rtt / 2))

    async def serve(ready: threading.Event) -> None:
        server = await asyncio.start_server(handle, "127.0.0.1", listen_port)
        ready.set()
        async with server:
            await server.serve_forever()

    ready = threading.Event()
    threading.Thread(target=lambda: asyncio.run(serve(ready)), daemon=True).start()
    ready.wait()


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("port", type=int)
    parser.add_argument("--starttls", nargs=2, metavar=("CERT", "KEY"))
    parser.add_argument("--rtt-ms", type=float, default=0.0)
    parser.add_argument("--no-pipelining", action="store_true",
                        help="do not advertise ESMTP PIPELINING")
    args = parser.parse_args()
    context = None
    if args.starttls:
        context = ssl.create_default_context(ssl.Purpose.CLIENT_AUTH)
        context.load_cert_chain(*args.starttls)
    # Behind a relay, the server itself listens on the next port.
    server_port = args.port + 1 if args.rtt_ms else args.port
    controller = Controller(Sink(not args.no_pipelining), hostname="127.0.0.1",
                            port=server_port, tls_context=context,
                            require_starttls=context is not None)
    controller.start()
    if args.rtt_ms:
        _relay(args.port, server_port, args.rtt_ms / 1000)
    print("ready", flush=True)
    try:
        threading.Event().wait()
    except KeyboardInterrupt:
        pass
    finally:
        controller.stop()


if __name__ == "__main__":
    main()
