"""Ports for the services a test starts: free ones, so several test runs (a developer's,
CI's, another stack's) never fight over a fixed number.

Chosen below the kernel's ephemeral range (`net.ipv4.ip_local_port_range`, 32768 and up
by default), where the outgoing connections of a long run (Kafka, PostgreSQL, S3...)
take their local ports: a port picked at collection time is still free when its
module's service starts, minutes later. And never twice in one run: every module asks at
import time, so without the record two modules could be handed the same port."""

from __future__ import annotations

import random
import socket

LOW, HIGH = 20000, 32000  # under the ephemeral range; above the stacks' fixed ports
_handed_out: set[int] = set()
_random = random.Random()


def _ephemeral_low() -> int:
    try:
        with open("/proc/sys/net/ipv4/ip_local_port_range") as f:
            return int(f.read().split()[0])
    except (OSError, ValueError, IndexError):
        return 32768


def _bindable(port: int) -> bool:
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as s:
        try:
            s.bind(("127.0.0.1", port))
        except OSError:
            return False
    return True


def free_port() -> int:
    return free_ports(1)[0]


def free_ports(n: int) -> tuple[int, ...]:
    """`n` distinct ports nobody listens on now, none handed out before in this run."""
    high = min(HIGH, _ephemeral_low())
    chosen: list[int] = []
    for _ in range(100_000):
        if len(chosen) == n:
            return tuple(chosen)
        port = _random.randrange(LOW, high)
        if port in _handed_out or not _bindable(port):
            continue
        _handed_out.add(port)
        chosen.append(port)
    raise RuntimeError(f"no {n} free ports between {LOW} and {high}")
