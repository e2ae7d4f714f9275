#!/usr/bin/env python3
"""The tcp1g case's backend: `tcp_sink.py serve PORT`. Every connection is
read to its end (recv_into a 1 MiB buffer, nothing kept), then answered with
the byte count and a newline, then closed: the client checks the count, so
a proxy that loses bytes fails the measurement."""

import socket
import sys
import threading


def serve_conn(c):
    buf = bytearray(1 << 20)
    view = memoryview(buf)
    total = 0
    try:
        while True:
            n = c.recv_into(view)
            if n == 0:
                break
            total += n
        c.sendall(b"%d\n" % total)
    except OSError:
        pass
    finally:
        c.close()


def main():
    if len(sys.argv) != 3 or sys.argv[1] != "serve":
        raise SystemExit("usage: tcp_sink.py serve PORT")
    s = socket.socket()
    s.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
    s.bind(("127.0.0.1", int(sys.argv[2])))
    s.listen(128)
    while True:
        c, _ = s.accept()
        threading.Thread(target=serve_conn, args=(c,), daemon=True).start()


if __name__ == "__main__":
    main()
