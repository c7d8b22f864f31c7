#!/usr/bin/env python3
"""A small SIP client for tests/test_sipregd_sip.sh (loopback only, bounded).

  sip_client.py raw PORT FILE...         send each file as one UDP datagram,
                                         print "NAME -> STATUS-LINE" (or
                                         "(no answer)" after 1 s)
  sip_client.py show PORT FILE          send one datagram, print the whole
                                         answer (or "(no answer)")
  sip_client.py twice PORT FILE          send the datagram twice from one
                                         socket; print "identical" when both
                                         answers are byte for byte the same
  sip_client.py register udp|tcp PORT USER DOMAIN PASSWORD EXPIRES
                                         REGISTER, answer the MD5 challenge
                                         (qop=auth), print the status codes
                                         ("401 200") and the 200's Contact
  sip_client.py handoff PORT N           from N sockets send a 200 for
                                         branches made by worker 0 and by
                                         worker 1 (tx_branch_make's format)
sipp 3.6 cannot answer a SHA-256 first challenge (the registrar offers
SHA-256 then MD5, RFC 8760 order), hence the digest here.
"""
import hashlib
import os
import re
import socket
import sys

TIMEOUT = 1.0


def recv_msg(s, tcp):
    if not tcp:
        return s.recv(65535)
    data = b""
    while b"\r\n\r\n" not in data:
        chunk = s.recv(65535)
        if not chunk:
            return data
        data += chunk
    head, _, body = data.partition(b"\r\n\r\n")
    m = re.search(rb"(?im)^(?:content-length|l)\s*:\s*(\d+)", head)
    need = int(m.group(1)) if m else 0
    while len(body) < need:
        chunk = s.recv(65535)
        if not chunk:
            break
        body += chunk
    return head + b"\r\n\r\n" + body


def cmd_raw(port, files):
    s = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
    s.settimeout(TIMEOUT)
    for f in files:
        with open(f, "rb") as fh:
            s.sendto(fh.read(), ("127.0.0.1", port))
        try:
            line = s.recv(65535).split(b"\r\n")[0].decode(errors="replace")
        except socket.timeout:
            line = "(no answer)"
        print(os.path.basename(f), "->", line)


def cmd_show(port, f):
    s = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
    s.settimeout(TIMEOUT)
    with open(f, "rb") as fh:
        s.sendto(fh.read(), ("127.0.0.1", port))
    try:
        sys.stdout.write(s.recv(65535).decode(errors="replace"))
    except socket.timeout:
        print("(no answer)")


def cmd_twice(port, f):
    s = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
    s.settimeout(TIMEOUT)
    with open(f, "rb") as fh:
        data = fh.read()
    got = []
    for _ in range(2):
        s.sendto(data, ("127.0.0.1", port))
        got.append(s.recv(65535))
    print(got[0].split(b"\r\n")[0].decode())
    print("identical" if got[0] == got[1] else "different")


def md5(x):
    return hashlib.md5(x.encode()).hexdigest()


def register_msg(tr, lport, user, domain, expires, cseq, callid, auth=""):
    return (
        f"REGISTER sip:{domain} SIP/2.0\r\n"
        f"Via: SIP/2.0/{tr.upper()} 127.0.0.1:{lport};branch=z9hG4bK{callid}{cseq};rport\r\n"
        f"Max-Forwards: 70\r\n"
        f"From: <sip:{user}@{domain}>;tag=t{callid}\r\n"
        f"To: <sip:{user}@{domain}>\r\n"
        f"Call-ID: {callid}\r\n"
        f"CSeq: {cseq} REGISTER\r\n"
        f"Contact: <sip:{user}@127.0.0.1:{lport};transport={tr}>\r\n"
        f"{auth}"
        f"Expires: {expires}\r\n"
        f"Content-Length: 0\r\n\r\n"
    ).encode()


def md5_challenge(resp):
    for line in resp.decode(errors="replace").split("\r\n"):
        if line.lower().startswith("www-authenticate:") and "MD5" in line:
            return dict(re.findall(r'(\w+)="?([^",]*)"?', line.split(":", 1)[1]))
    return None


def cmd_register(tr, port, user, domain, password, expires):
    tcp = tr == "tcp"
    s = socket.socket(socket.AF_INET, socket.SOCK_STREAM if tcp else socket.SOCK_DGRAM)
    s.settimeout(TIMEOUT * 3)
    s.connect(("127.0.0.1", port))
    lport = s.getsockname()[1]
    callid = os.urandom(6).hex()
    codes = []
    s.send(register_msg(tr, lport, user, domain, expires, 1, callid))
    r = recv_msg(s, tcp)
    codes.append(r.split(b" ")[1].decode())
    ch = md5_challenge(r)
    if ch:
        uri = f"sip:{domain}"
        ha1 = md5(f"{user}:{ch['realm']}:{password}")
        ha2 = md5(f"REGISTER:{uri}")
        cnonce, nc = "0a4f113b", "00000001"
        resp = md5(f"{ha1}:{ch['nonce']}:{nc}:{cnonce}:auth:{ha2}")
        auth = (
            f'Authorization: Digest username="{user}", realm="{ch["realm"]}", '
            f'nonce="{ch["nonce"]}", uri="{uri}", response="{resp}", '
            f"algorithm=MD5, qop=auth, nc={nc}, cnonce=\"{cnonce}\""
            + (f', opaque="{ch["opaque"]}"' if "opaque" in ch else "")
            + "\r\n"
        )
        s.send(register_msg(tr, lport, user, domain, expires, 2, callid, auth))
        r = recv_msg(s, tcp)
        codes.append(r.split(b" ")[1].decode())
    print(" ".join(codes))
    for line in r.decode(errors="replace").split("\r\n"):
        if line.lower().startswith("contact:"):
            print(line)


def cmd_handoff(port, n):
    for i in range(n):
        s = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
        for owner in (0, 1):
            branch = "z9hG4bKsR%02x%016x" % (owner, 0x0123456789ABCDEF + i)
            msg = (
                "SIP/2.0 200 OK\r\n"
                f"Via: SIP/2.0/UDP 127.0.0.1:{port};branch={branch}\r\n"
                f"From: <sip:a@x>;tag=1\r\nTo: <sip:a@x>;tag=2\r\n"
                f"Call-ID: h{i}-{owner}\r\nCSeq: 1 REGISTER\r\nContent-Length: 0\r\n\r\n"
            )
            s.sendto(msg.encode(), ("127.0.0.1", port))
        s.close()


def main(a):
    if len(a) >= 3 and a[0] == "raw":
        cmd_raw(int(a[1]), a[2:])
    elif len(a) == 3 and a[0] == "show":
        cmd_show(int(a[1]), a[2])
    elif len(a) == 3 and a[0] == "twice":
        cmd_twice(int(a[1]), a[2])
    elif len(a) == 7 and a[0] == "register":
        cmd_register(a[1], int(a[2]), a[3], a[4], a[5], a[6])
    elif len(a) == 3 and a[0] == "handoff":
        cmd_handoff(int(a[1]), int(a[2]))
    else:
        print(__doc__, file=sys.stderr)
        return 2
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
