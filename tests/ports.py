"""Ports for the services a test starts: free ones, chosen by the kernel, so several
test runs (a developer's, CI's, another stack's) never fight over a fixed number."""

from __future__ import annotations

import socket


def free_port() -> int:
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def free_ports(n: int) -> tuple[int, ...]:
    """`n` distinct free ports (all held open until chosen, so none repeats)."""
    held = []
    try:
        for _ in range(n):
            s = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
            s.bind(("127.0.0.1", 0))
            held.append(s)
        return tuple(int(s.getsockname()[1]) for s in held)
    finally:
        for s in held:
            s.close()
