"""Connect to TCP "addr:port" targets in parallel (0.5 s each); print {target: connected}.

With --udp TAG, send one UDP datagram carrying TAG to each target instead.
"""

from __future__ import annotations

import argparse
import json
import socket
from concurrent.futures import ThreadPoolExecutor

# What a dropped SYN costs every probe. The handshake between these namespaces is done by
# the kernel (no listener needs to be scheduled), in well under a millisecond, and a
# connection made while the prober waited still counts (poll looks once more at its
# timeout): 0.5 s is margin enough and saves ~0.5 s of each of the firewall tests' probes.
TIMEOUT = 0.5


def _split(target: str) -> tuple[str, int]:
    addr, port = target.rsplit(":", 1)
    return addr, int(port)


def connects(target: str, source: str | None) -> bool:
    try:
        with socket.create_connection(
            _split(target), timeout=TIMEOUT, source_address=(source, 0) if source else None
        ):
            return True
    except OSError:
        return False


def send_udp(target: str, tag: str, source: str | None) -> None:
    with socket.socket(socket.AF_INET, socket.SOCK_DGRAM) as sock:
        if source:
            sock.bind((source, 0))
        for _ in range(3):
            sock.sendto(tag.encode(), _split(target))


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--source")
    parser.add_argument("--udp")
    parser.add_argument("targets", nargs="+")
    args = parser.parse_args()
    if args.udp:
        for target in args.targets:
            send_udp(target, args.udp, args.source)
        return
    with ThreadPoolExecutor(len(args.targets)) as pool:
        results = pool.map(lambda t: connects(t, args.source), args.targets)
    print(json.dumps(dict(zip(args.targets, results, strict=True))))


if __name__ == "__main__":
    main()
