"""Listen on TCP ports (accept and close) and UDP ports "uNNNN" (append payloads to a log).

Run inside a test namespace; prints "ready" once every socket is bound.
"""

from __future__ import annotations

import argparse
import selectors
import socket


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--udp-log")
    parser.add_argument("ports", nargs="+")
    args = parser.parse_args()
    sel = selectors.DefaultSelector()
    for port in args.ports:
        udp = port.startswith("u")
        sock = socket.socket(socket.AF_INET, socket.SOCK_DGRAM if udp else socket.SOCK_STREAM)
        sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        sock.bind(("0.0.0.0", int(port.lstrip("u"))))  # noqa: S104 - inside a test netns
        if not udp:
            sock.listen(64)
        sel.register(sock, selectors.EVENT_READ, udp)
    print("ready", flush=True)
    while True:
        for key, _ in sel.select():
            if key.data:
                payload, peer = key.fileobj.recvfrom(2048)
                with open(args.udp_log, "a") as log:
                    log.write(f"{peer[0]} {payload.decode(errors='replace')}\n")
            else:
                conn, _ = key.fileobj.accept()
                conn.close()


if __name__ == "__main__":
    main()
