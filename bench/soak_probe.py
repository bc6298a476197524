"""What a process tree holds, read from /proc: resident memory and descriptors by kind.

Used by bench_soak.py. Descriptors are sorted by what they lead to, so a soak can
tell the load generator's own connections (which come and go with the load) from
the ones that must stay flat (PostgreSQL, Redis, files, pipes):

- ``http``: TCP sockets whose local port is the server's (accepted connections);
- ``listen``: listening TCP sockets;
- ``pg`` / ``redis``: TCP sockets to the PostgreSQL / Redis port;
- ``tcp``: any other TCP socket; ``socket``: other sockets (UNIX, netlink...);
- ``file``: regular files and devices; ``pipe``; ``anon``: epoll, eventfd, timerfd...
"""

from __future__ import annotations

import os
from dataclasses import dataclass, field
from pathlib import Path

__all__ = ["KINDS", "Usage", "process_tree", "tcp_sockets", "usage"]

KINDS = ("http", "listen", "pg", "redis", "tcp", "socket", "file", "pipe", "anon")


@dataclass
class Usage:
    rss_mib: float = 0.0
    fds: int = 0
    processes: int = 0
    kinds: dict[str, int] = field(default_factory=dict)
    files: list[str] = field(default_factory=list)  # paths of the ``file`` descriptors


def process_tree(pid: int) -> list[int]:
    """``pid`` and every descendant (from /proc/*/stat)."""
    children: dict[int, list[int]] = {}
    for entry in os.listdir("/proc"):
        if not entry.isdigit():
            continue
        try:
            stat = Path(f"/proc/{entry}/stat").read_text()
        except OSError:
            continue
        parent = int(stat[stat.rindex(")") + 2 :].split()[1])
        children.setdefault(parent, []).append(int(entry))
    found, todo = [], [pid]
    while todo:
        current = todo.pop()
        found.append(current)
        todo.extend(children.get(current, []))
    return found


def tcp_sockets() -> dict[str, tuple[int, int, str]]:
    """Socket inode -> (local port, remote port, state) for every TCP socket of this host."""
    found: dict[str, tuple[int, int, str]] = {}
    for table in ("/proc/net/tcp", "/proc/net/tcp6"):
        try:
            lines = Path(table).read_text().splitlines()[1:]
        except OSError:
            continue
        for line in lines:
            parts = line.split()
            local, remote, state, inode = parts[1], parts[2], parts[3], parts[9]
            found[inode] = (int(local.rsplit(":", 1)[1], 16), int(remote.rsplit(":", 1)[1], 16),
                            state)
    return found


def _kind(target: str, sockets: dict[str, tuple[int, int, str]], server_port: int,
          pg_port: int, redis_port: int) -> str:
    if target.startswith("socket:["):
        found = sockets.get(target[8:-1])
        if found is None:
            return "socket"
        local, remote, state = found
        if state == "0A":  # TCP_LISTEN
            return "listen"
        if local == server_port:
            return "http"
        if remote == pg_port:
            return "pg"
        if remote == redis_port:
            return "redis"
        return "tcp"
    if target.startswith("pipe:"):
        return "pipe"
    if target.startswith("anon_inode:"):
        return "anon"
    return "file"


def usage(pid: int, server_port: int, pg_port: int = 5432, redis_port: int = 6379) -> Usage:
    """Resident MiB, descriptors (total and by kind) and processes of ``pid``'s tree."""
    sockets = tcp_sockets()
    result = Usage(kinds=dict.fromkeys(KINDS, 0))
    for member in process_tree(pid):
        try:
            status = Path(f"/proc/{member}/status").read_text()
            targets = []
            for fd in os.listdir(f"/proc/{member}/fd"):
                try:
                    targets.append(os.readlink(f"/proc/{member}/fd/{fd}"))
                except OSError:
                    continue  # closed meanwhile
        except OSError:
            continue  # the process ended meanwhile
        result.processes += 1
        result.fds += len(targets)
        for target in targets:
            kind = _kind(target, sockets, server_port, pg_port, redis_port)
            result.kinds[kind] += 1
            if kind == "file":
                result.files.append(target)
        for line in status.splitlines():
            if line.startswith("VmRSS:"):
                result.rss_mib += int(line.split()[1]) / 1024
    return result
