"""Free loopback ports for servers in tests and the local Triton: distinct within one call."""

from __future__ import annotations

import socket

from tritonkit.triton.server import LOOPBACK, free_ports


def test_ports_picked_together_are_distinct_and_free() -> None:
    for _ in range(50):  # the kernel reused a just-released port for two of three once in CI
        ports = free_ports(3)
        assert len(set(ports)) == 3
        for port in ports:
            with socket.socket() as probe:
                probe.bind((LOOPBACK, port))  # free again once returned
