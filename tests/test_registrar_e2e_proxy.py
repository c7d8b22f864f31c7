#!/usr/bin/env python3
"""A loopback relay between sipp and sipregd for tests/test_registrar_e2e.sh.

  test_registrar_e2e_proxy.py udp|tcp LISTEN_PORT UPSTREAM_LOCAL_PORT SERVER_PORT

sipp 3.6 answers only the first WWW-Authenticate of a 401, and only when it
is MD5; sipregd offers SHA-256 then MD5 (RFC 8760 order). The relay passes
every message unchanged except that it removes the SHA-256 (and SHA-512-256)
challenge lines from responses, so sipp's [authentication] computes a real
MD5 digest on sipregd's real nonce. Nothing else is touched.

The relay's upstream socket is bound to 127.0.0.1:UPSTREAM_LOCAL_PORT, the
port the scenarios put in Via and Contact (-key via_port): sipregd sees a
source that matches them, as it would from a UA that is not behind NAT.

udp: datagrams from sipp (any port) go to sipregd; datagrams from sipregd go
to the last sipp address seen. tcp: one connection from sipp, one to
sipregd, messages cut by Content-Length. Stops after 600 s at most, when
sipp closes (tcp), or on SIGTERM. Prints "ready" once it listens.
"""
import re
import selectors
import signal
import socket
import sys
import time

MAX_LIFE = 600.0
SHA_CHALLENGE = re.compile(
    rb"(?im)^(?:www|proxy)-authenticate[ \t]*:[^\r\n]*algorithm=\"?sha-[^\r\n]*\r\n")


def strip(msg):
    if msg.startswith(b"SIP/2.0 401") or msg.startswith(b"SIP/2.0 407"):
        return SHA_CHALLENGE.sub(b"", msg)
    return msg


def udp(listen_port, up_port, server_port):
    down = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
    down.bind(("127.0.0.1", listen_port))
    up = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
    up.bind(("127.0.0.1", up_port))
    server = ("127.0.0.1", server_port)
    client = None
    print("ready", flush=True)
    sel = selectors.DefaultSelector()
    sel.register(down, selectors.EVENT_READ)
    sel.register(up, selectors.EVENT_READ)
    end = time.monotonic() + MAX_LIFE
    while time.monotonic() < end:
        for key, _ in sel.select(1.0):
            data, addr = key.fileobj.recvfrom(65535)
            if key.fileobj is down:
                client = addr
                up.sendto(data, server)
            elif client is not None and addr == server:
                down.sendto(strip(data), client)


def frames(buf):
    """Complete messages at the head of buf, and the rest."""
    out = []
    while True:
        while buf.startswith(b"\r\n"):  # keep-alive CRLFs
            buf = buf[2:]
        end = buf.find(b"\r\n\r\n")
        if end < 0:
            return out, buf
        m = re.search(rb"(?im)^(?:content-length|l)[ \t]*:[ \t]*(\d+)", buf[:end])
        total = end + 4 + (int(m.group(1)) if m else 0)
        if len(buf) < total:
            return out, buf
        out.append(buf[:total])
        buf = buf[total:]


def tcp(listen_port, up_port, server_port):
    lst = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
    lst.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
    lst.bind(("127.0.0.1", listen_port))
    lst.listen(1)
    print("ready", flush=True)
    lst.settimeout(MAX_LIFE)
    down, _ = lst.accept()
    lst.close()
    up = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
    up.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
    up.bind(("127.0.0.1", up_port))
    up.connect(("127.0.0.1", server_port))
    sel = selectors.DefaultSelector()
    sel.register(down, selectors.EVENT_READ)
    sel.register(up, selectors.EVENT_READ)
    pending = b""
    end = time.monotonic() + MAX_LIFE
    while time.monotonic() < end:
        for key, _ in sel.select(1.0):
            data = key.fileobj.recv(65536)
            if not data:
                return
            if key.fileobj is down:
                up.sendall(data)
            else:
                msgs, pending = frames(pending + data)
                for m in msgs:
                    down.sendall(strip(m))


def main():
    if len(sys.argv) != 5 or sys.argv[1] not in ("udp", "tcp"):
        sys.stderr.write(__doc__)
        sys.exit(2)
    signal.signal(signal.SIGTERM, lambda *_: sys.exit(0))
    ports = [int(p) for p in sys.argv[2:]]
    (udp if sys.argv[1] == "udp" else tcp)(*ports)


if __name__ == "__main__":
    main()
