#!/usr/bin/env bash
# Integration test of the measuring tools: bench/udp-echo and bench/sipreg-bench.
#   - 2000 OPTIONS echoed by udp-echo (127.0.0.1, port 0) all complete, JSON parses
#   - the same over ::1 (skipped when the host has no IPv6 loopback)
#   - against a scripted responder: answers matched by branch, counted by code,
#     drops become timeouts, duplicates stray, garbage bad
#   - REGISTER with MD5/SHA-256 digest answers against a scripted registrar
#   - OPTIONS and REGISTER digests against Kamailio, when it is installed
#   - TCP: framing of a fragmented stream, a server that closes, refused
#   - against a closed port: every request times out, the run ends in bounded
#     time, for --count and for --duration
#   - bad command lines are refused with exit status 2
# Needs jq and python3. Exit 77 (skip) when the tools were not built (-Dbench=false).
set -uo pipefail

build=${SIPREG_BUILD_ROOT:-$(dirname "$0")/../build}
bench=$build/bench/sipreg-bench
echo_bin=$build/bench/udp-echo
if [ ! -x "$bench" ] || [ ! -x "$echo_bin" ]; then
	echo "SKIP: $bench or $echo_bin not built (meson -Dbench=false?)"
	exit 77
fi
for t in jq python3 timeout; do
	command -v "$t" >/dev/null || { echo "FAIL: $t is not installed"; exit 1; }
done

tmp=$(mktemp -d)
pids=()
cleanup() {
	for p in "${pids[@]}"; do kill "$p" 2>/dev/null && wait "$p" 2>/dev/null; done
	rm -rf "$tmp"
}
trap cleanup EXIT

# jq -e exits 0 on empty input: jqe is true only when the filter printed "true".
jqe() {
	local out
	out=$(jq -e "$@" 2>/dev/null) || return 1
	[ "$out" = true ]
}

fails=0
check() { # check DESCRIPTION CONDITION-EXIT-STATUS
	if [ "$2" -eq 0 ]; then echo "ok   - $1"; else echo "FAIL - $1"; fails=$((fails + 1)); fi
}

# start_echo ADDR NAME: starts udp-echo on ADDR:0, sets PORT (empty on failure).
start_echo() {
	PORT=
	"$echo_bin" --listen "$1:0" >"$tmp/$2.port" 2>"$tmp/$2.err" &
	pids+=($!)
	ECHO_PID=$!
	for _ in $(seq 50); do
		PORT=$(head -n 1 "$tmp/$2.port" 2>/dev/null)
		[ -n "$PORT" ] && return 0
		sleep 0.1
	done
	echo "udp-echo did not print its port: $(cat "$tmp/$2.err")"
	return 1
}

# ---- 1. echo ceiling over IPv4: 2000 requests, all complete
start_echo 127.0.0.1 echo4
check "udp-echo on 127.0.0.1 port 0 prints its port ($PORT)" $([ -n "$PORT" ] && [ "$PORT" -gt 0 ]; echo $?)
timeout 30 "$bench" --target "127.0.0.1:$PORT" --expect-echo --count 2000 --json >"$tmp/e4.json"
rc=$?
check "sipreg-bench --expect-echo --count 2000 exits 0 (got $rc)" $([ $rc -eq 0 ]; echo $?)
check "its output is one valid JSON object" $(jqe 'type == "object"' "$tmp/e4.json" >/dev/null; echo $?)
check "2000 offered, sent, completed and ok; no timeout, stray or bad" $(jqe \
	'.offered == 2000 and .sent == 2000 and .completed == 2000 and .ok == 2000 and
	 .timeouts == 0 and .stray == 0 and .bad == 0 and .codes.echo == 2000' "$tmp/e4.json" >/dev/null; echo $?)
check "latency percentiles ordered and positive, rps > 0, cpu reported" $(jqe \
	'.latency_us as $l | $l.min > 0 and $l.p50 >= $l.min and $l.p99 >= $l.p50 and
	 $l.p999 >= $l.p99 and $l.max >= $l.p999 and .rps > 0 and .cpu.share >= 0' "$tmp/e4.json" >/dev/null; echo $?)
timeout 30 "$bench" --target "127.0.0.1:$PORT" --expect-echo --count 3000 --window 64 --gso \
	--json >"$tmp/gso.json"
check "--gso (UDP_SEGMENT batches): 3000 completed, none bad" $(jqe \
	'.gso == true and .completed == 3000 and .timeouts == 0 and .bad == 0' "$tmp/gso.json" >/dev/null; echo $?)
kill "$ECHO_PID"; wait "$ECHO_PID" 2>/dev/null
check "udp-echo counted the 5000 datagrams" $(grep -q 'echoed 5000 datagrams' "$tmp/echo4.err"; echo $?)

# ---- 1b. udp-echo --offload: GSO runs arrive as one GRO buffer and go back as one
# UDP_SEGMENT message; the generator still sees every datagram, counted one by one.
PORT=
"$echo_bin" --listen 127.0.0.1:0 --offload >"$tmp/echoo.port" 2>"$tmp/echoo.err" &
pids+=($!)
ECHO_PID=$!
for _ in $(seq 50); do PORT=$(head -n 1 "$tmp/echoo.port" 2>/dev/null); [ -n "$PORT" ] && break; sleep 0.1; done
timeout 30 "$bench" --target "127.0.0.1:$PORT" --expect-echo --count 3000 --window 64 --gso \
	--json >"$tmp/off.json"
timeout 30 "$bench" --target "127.0.0.1:$PORT" --expect-echo --count 500 --json >"$tmp/off1.json"
kill "$ECHO_PID"; wait "$ECHO_PID" 2>/dev/null
check "udp-echo --offload: 3000 GSO + 500 single round trips complete, none bad" $(jqe \
	'.completed == 3000 and .ok == 3000 and .timeouts == 0 and .bad == 0' "$tmp/off.json" >/dev/null &&
	jqe '.completed == 500 and .ok == 500 and .timeouts == 0' "$tmp/off1.json" >/dev/null; echo $?)
# GRO hands the echo whole runs: counted per slot it would report fewer than 3500.
check "udp-echo --offload counted the 3500 datagrams one by one" $(awk \
	'/echoed/ { exit !($3 == 3500) }' "$tmp/echoo.err"; echo $?)

# ---- 2. IPv6, two threads with two sockets each, open loop
if [ -e /proc/net/if_inet6 ] && grep -q '^0\{31\}1 ' /proc/net/if_inet6; then
	start_echo '[::1]' echo6
	timeout 30 "$bench" --target "[::1]:$PORT" --expect-echo --count 1000 --threads 2 \
		--sockets 2 --window 16 --json >"$tmp/e6.json"
	check "IPv6, 2 threads x 2 sockets: 1000 completed" $(jqe \
		'.completed == 1000 and .timeouts == 0 and .threads == 2' "$tmp/e6.json" >/dev/null; echo $?)
	start=$(date +%s%N)
	timeout 30 "$bench" --target "[::1]:$PORT" --expect-echo --rate 2000 --duration 1 \
		--json >"$tmp/open.json"
	el=$((($(date +%s%N) - start) / 1000000))
	# 2000/s for 1 s: about 2000 offered (pacing), none skipped, in about 1 s.
	check "open loop 2000/s for 1 s offers 1600-2100 (a stall on a loaded machine costs some) and takes < 3 s (${el} ms)" $(jqe \
		'.mode == "open" and .offered >= 1600 and .offered <= 2100 and .skipped == 0 and
		 .completed + .timeouts == .offered' "$tmp/open.json" >/dev/null && [ $el -lt 3000 ]; echo $?)
	kill "$ECHO_PID"; wait "$ECHO_PID" 2>/dev/null
else
	echo "skip - no ::1 on this host: IPv6 checks not run"
fi

# ---- 3. a scripted responder: request i (arrival order) gets
#   i%10 == 0: nothing (timeout)     i%10 == 1: 404
#   i%10 == 2: 200 twice (stray)     i%10 == 3: garbage, then 200
#   otherwise 200; 1xx first when i%10 == 4.
cat >"$tmp/responder.py" <<'PY'
import socket, sys
s = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
s.bind(("127.0.0.1", 0))
print(s.getsockname()[1], flush=True)
s.settimeout(10)
def reply(req, code):
    lines = req.split(b"\r\n")
    keep = [l for l in lines[1:] if l.split(b":")[0] in (b"Via", b"From", b"To", b"Call-ID", b"CSeq")]
    return b"SIP/2.0 " + code + b"\r\n" + b"\r\n".join(keep) + b"\r\nContent-Length: 0\r\n\r\n"
i = 0
while i < int(sys.argv[1]):
    d, a = s.recvfrom(4096)
    k = i % 10
    i += 1
    if k == 0:
        continue
    if k == 1:
        s.sendto(reply(d, b"404 Not Found"), a); continue
    if k == 2:
        s.sendto(reply(d, b"200 OK"), a); s.sendto(reply(d, b"200 OK"), a); continue
    if k == 3:
        s.sendto(b"hello, not SIP", a)
    if k == 4:
        s.sendto(reply(d, b"100 Trying"), a)
    s.sendto(reply(d, b"200 OK"), a)
PY
python3 "$tmp/responder.py" 200 >"$tmp/resp.port" &
pids+=($!)
RPID=$!
PORT=
for _ in $(seq 50); do PORT=$(head -n 1 "$tmp/resp.port" 2>/dev/null); [ -n "$PORT" ] && break; sleep 0.1; done
timeout 30 "$bench" --target "127.0.0.1:$PORT" --count 200 --window 8 --timeout-ms 1000 --json >"$tmp/resp.json"
check "responder: 200 offered, 180 completed, 20 timeouts" $(jqe \
	'.offered == 200 and .completed == 180 and .timeouts == 20' "$tmp/resp.json" >/dev/null; echo $?)
check "responder: answers by code 200: 160, 404: 20, 100: 20; ok 160" $(jqe \
	'.codes["200"] == 160 and .codes["404"] == 20 and .codes["100"] == 20 and
	 .provisional == 20 and .ok == 160' "$tmp/resp.json" >/dev/null; echo $?)
check "responder: 20 duplicates counted stray, 20 garbage datagrams bad" $(jqe \
	'.stray == 20 and .bad == 20' "$tmp/resp.json" >/dev/null; echo $?)
wait "$RPID" 2>/dev/null

# ---- 3b. REGISTER with digest against a scripted registrar (python3 hashlib):
#   401 with a fresh nonce, then the Authorization is checked (qop=auth) and
#   answered 200 (right) or 403 (wrong); CSeq must grow per Call-ID.
cat >"$tmp/registrar.py" <<'PY'
import socket, sys, re, hashlib, os
alg = sys.argv[1]            # MD5 or SHA-256
password = sys.argv[2]
limit = int(sys.argv[3])     # stop after this many REGISTERs
H = (lambda x: hashlib.md5(x.encode()).hexdigest()) if alg == "MD5" else (lambda x: hashlib.sha256(x.encode()).hexdigest())
s = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
s.bind(("127.0.0.1", 0))
print(s.getsockname()[1], flush=True)
s.settimeout(10)
realm = "bench.test"
cseqs = {}
bad_cseq = 0
stats = {"challenged": 0, "ok": 0, "forbidden": 0, "new": 0, "refresh": 0}
def reply(req, code, extra=b""):
    lines = req.split(b"\r\n")
    keep = [l for l in lines[1:] if l.split(b":")[0] in (b"Via", b"From", b"To", b"Call-ID", b"CSeq")]
    return b"SIP/2.0 " + code + b"\r\n" + b"\r\n".join(keep) + b"\r\n" + extra + b"Content-Length: 0\r\n\r\n"
n = 0
while n < limit:
    d, a = s.recvfrom(4096)
    n += 1
    t = d.decode()
    hdr = dict()
    for l in t.split("\r\n")[1:]:
        if ":" in l:
            k, v = l.split(":", 1); hdr[k.strip()] = v.strip()
    callid = hdr["Call-ID"]; cseq = int(hdr["CSeq"].split()[0])
    if callid in cseqs and cseq <= cseqs[callid]:
        bad_cseq += 1
    cseqs[callid] = cseq
    auth = hdr.get("Authorization")
    if not auth:
        stats["challenged"] += 1
        nonce = os.urandom(8).hex()
        s.sendto(reply(d, b"401 Unauthorized", ('WWW-Authenticate: Digest realm="%s", nonce="%s", algorithm=%s, qop="auth"\r\n' % (realm, nonce, alg)).encode()), a)
        continue
    p = dict((m.group(1), m.group(2) if m.group(2) is not None else m.group(3)) for m in re.finditer(r'(\w+)=(?:"([^"]*)"|([^,\s]+))', auth))
    user = re.search(r"sip:([^@]+)@", hdr["To"]).group(1)
    ha1 = H("%s:%s:%s" % (p["username"], realm, password))
    ha2 = H("REGISTER:%s" % p["uri"])
    want = H(":".join([ha1, p["nonce"], p["nc"], p["cnonce"], p["qop"], ha2]))
    if p["response"] == want and p["username"] == user and p.get("algorithm", "MD5") == alg:
        stats["ok"] += 1
        s.sendto(reply(d, b"200 OK", ("Contact: %s;expires=%s\r\n" % (hdr["Contact"], hdr["Expires"])).encode()), a)
    else:
        stats["forbidden"] += 1
        s.sendto(reply(d, b"403 Forbidden"), a)
print("challenged=%d ok=%d forbidden=%d bad_cseq=%d callids=%d" % (stats["challenged"], stats["ok"], stats["forbidden"], bad_cseq, len(cseqs)), file=sys.stderr)
PY
# start_registrar ALG PASSWORD REQUESTS: sets PORT and RPID
start_registrar() {
	python3 "$tmp/registrar.py" "$@" >"$tmp/reg.port" 2>"$tmp/reg.err" &
	pids+=($!)
	RPID=$!
	PORT=
	for _ in $(seq 50); do PORT=$(head -n 1 "$tmp/reg.port" 2>/dev/null); [ -n "$PORT" ] && break; sleep 0.1; done
}
start_registrar MD5 s3cret 600
timeout 30 "$bench" --target "127.0.0.1:$PORT" --method REGISTER --users 'u%04u:30' \
	--password s3cret --count 300 --threads 2 --window 5 --timeout-ms 1000 --json >"$tmp/reg.json"
wait "$RPID" 2>/dev/null
check "REGISTER MD5: 300 registrations ok, each after one 401, 600 datagrams" $(jqe \
	'.completed == 300 and .ok == 300 and .codes["200"] == 300 and .codes["401"] == 300 and
	 .sent == 600 and .timeouts == 0' "$tmp/reg.json" >/dev/null; echo $?)
check "REGISTER MD5: the registrar verified 300 responses, 30 Call-IDs, CSeq always grew" \
	$(grep -q 'challenged=300 ok=300 forbidden=0 bad_cseq=0 callids=30' "$tmp/reg.err"; echo $?)
printf 'alice,wrong\n# a comment\nbob\n' >"$tmp/users.csv"
start_registrar SHA-256 s3cret 20
timeout 30 "$bench" --target "127.0.0.1:$PORT" --method REGISTER --users "$tmp/users.csv" \
	--password s3cret --count 10 --window 2 --timeout-ms 1000 --json >"$tmp/reg2.json"
wait "$RPID" 2>/dev/null
check "REGISTER SHA-256, CSV users: bob (default password) 200, alice (her own, wrong) 403" $(jqe \
	'.completed == 10 and .codes["200"] == 5 and .codes["403"] == 5 and .codes["401"] == 10' \
	"$tmp/reg2.json" >/dev/null; echo $?)
check "REGISTER SHA-256: the registrar saw 5 right and 5 wrong responses" \
	$(grep -q 'challenged=10 ok=5 forbidden=5 bad_cseq=0 callids=2' "$tmp/reg.err"; echo $?)

# ---- 3c. interoperability: Kamailio (when installed) answers OPTIONS with
#   sl_send_reply and checks REGISTER digests with auth's pv_www_authenticate,
#   with and without qop: its parser and its digest code against ours.
if command -v kamailio >/dev/null && [ -d /usr/lib/x86_64-linux-gnu/kamailio/modules ]; then
	kport=$(python3 -c 'import socket; s=socket.socket(socket.AF_INET, socket.SOCK_DGRAM); s.bind(("127.0.0.1", 0)); print(s.getsockname()[1])')
	for qop in 1 0; do
		cat >"$tmp/kam.cfg" <<KAM
#!KAMAILIO
debug=1
log_stderror=yes
fork=yes
children=1
auto_aliases=no
listen=udp:127.0.0.1:$kport
listen=tcp:127.0.0.1:$kport
mpath="/usr/lib/x86_64-linux-gnu/kamailio/modules/"
loadmodule "sl.so"
loadmodule "pv.so"
loadmodule "textops.so"
loadmodule "auth.so"
request_route {
	if (is_method("OPTIONS")) {
		sl_send_reply("200", "OK");
		exit;
	}
	if (is_method("REGISTER")) {
		if (!pv_www_authenticate("\$td", "s3cret", "0")) {
			www_challenge("\$td", "$qop");
			exit;
		}
		sl_send_reply("200", "OK");
		exit;
	}
	sl_send_reply("404", "Not Here");
}
KAM
		kamailio -f "$tmp/kam.cfg" -DD -E -Y "$tmp" >"$tmp/kam.log" 2>&1 &
		KPID=$!
		pids+=("$KPID")
		# ready when it answers one OPTIONS (at most 5 s)
		for _ in $(seq 25); do
			"$bench" --target "127.0.0.1:$kport" --count 1 --timeout-ms 200 --json 2>/dev/null |
				jqe '.ok == 1' >/dev/null && break
		done
		timeout 30 "$bench" --target "127.0.0.1:$kport" --count 500 --duration 10 \
			--json >"$tmp/kopt.json"
		check "Kamailio (qop flag $qop): 500 OPTIONS answered 200" $(jqe \
			'.completed == 500 and .codes["200"] == 500' "$tmp/kopt.json" >/dev/null; echo $?)
		timeout 30 "$bench" --target "127.0.0.1:$kport" --method REGISTER --users 'u%03u:50' \
			--password s3cret --domain example.test --count 200 --duration 10 --json >"$tmp/kreg.json"
		check "Kamailio auth (qop flag $qop) accepts 200 REGISTER digests" $(jqe \
			'.completed == 200 and .codes["200"] == 200 and .codes["401"] == 200' "$tmp/kreg.json" >/dev/null; echo $?)
		timeout 30 "$bench" --target "127.0.0.1:$kport" --method REGISTER --users 'u%03u:50' \
			--password wrong --domain example.test --count 50 --duration 10 --json >"$tmp/kbad.json"
		check "Kamailio auth (qop flag $qop) refuses 50 digests of a wrong password" $(jqe \
			'.completed == 50 and .ok == 0 and .codes["401"] == 100' "$tmp/kbad.json" >/dev/null; echo $?)
		timeout 30 "$bench" --target "127.0.0.1:$kport" --transport tcp --method REGISTER \
			--users 'u%03u:50' --password s3cret --domain example.test --count 200 --duration 10 \
			--json >"$tmp/ktcp.json"
		check "Kamailio over TCP (qop flag $qop): 200 REGISTER digests accepted" $(jqe \
			'.transport == "tcp" and .completed == 200 and .codes["200"] == 200' "$tmp/ktcp.json"; echo $?)
		kill "$KPID"; wait "$KPID" 2>/dev/null
	done
else
	echo "skip - kamailio is not installed: interoperability checks not run"
fi

# ---- 3d. TCP: a responder that answers in random small pieces, with bodies
#   (one holding a blank line), compact and odd-case Content-Length, CRLF
#   keep-alive pongs between answers; then one that closes after 10 answers.
cat >"$tmp/tcpresp.py" <<'PY'
import socket, sys, random
limit = int(sys.argv[1])       # answer this many requests, then close
random.seed(7)
ls = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
ls.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
ls.bind(("127.0.0.1", 0)); ls.listen(4)
print(ls.getsockname()[1], flush=True)
ls.settimeout(10)
c, _ = ls.accept()
c.settimeout(10)
c.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
buf = b""; i = 0; out = b""
def reply(req, i):
    lines = req.split(b"\r\n")
    keep = [l for l in lines[1:] if l.split(b":")[0] in (b"Via", b"From", b"To", b"Call-ID", b"CSeq")]
    if i % 2:
        return b"SIP/2.0 200 OK\r\n" + b"\r\n".join(keep) + b"\r\nl: 0\r\n\r\n"
    return b"SIP/2.0 200 OK\r\n" + b"\r\n".join(keep) + b"\r\nContent-Type: text/plain\r\ncontent-length:  13\r\n\r\nhello\r\n\r\nbody"
while i < limit:
    d = c.recv(65536)
    if not d:
        break
    buf += d
    while b"\r\n\r\n" in buf and i < limit:
        req, buf = buf.split(b"\r\n\r\n", 1)
        out += reply(req, i) + (b"\r\n\r\n" if i % 3 == 0 else b"")   # keep-alive pongs between some
        i += 1
    # send what is ready in random small pieces
    while out:
        n = random.randint(1, 200)
        c.sendall(out[:n]); out = out[n:]
c.close()
PY
start_tcp() { # start_tcp LIMIT: sets PORT and TPID
	python3 "$tmp/tcpresp.py" "$1" >"$tmp/tcp.port" &
	pids+=($!)
	TPID=$!
	PORT=
	for _ in $(seq 50); do PORT=$(head -n 1 "$tmp/tcp.port" 2>/dev/null); [ -n "$PORT" ] && break; sleep 0.1; done
}
start_tcp 100000
timeout 30 "$bench" --target "127.0.0.1:$PORT" --transport tcp --count 3000 --window 16 --json >"$tmp/tcp.json"
rc=$?
check "TCP: 3000 answers cut out of a fragmented stream, none bad or stray (exit $rc)" $(jqe \
	'.transport == "tcp" and .completed == 3000 and .ok == 3000 and .bad == 0 and .stray == 0' \
	"$tmp/tcp.json" && [ $rc -eq 0 ]; echo $?)
kill "$TPID" 2>/dev/null; wait "$TPID" 2>/dev/null
start_tcp 10
timeout 30 "$bench" --target "127.0.0.1:$PORT" --transport tcp --count 100 --window 32 --timeout-ms 300 \
	--json >"$tmp/tcpclose.json" 2>"$tmp/tcpclose.err"
rc=$?
# The close may come as FIN or, with our next requests unread, as RST, which can
# take answers already queued with it: at most 10 complete, the rest time out.
check "TCP: the server closes after 10 answers: <= 10 completed, the rest time out, exit 1" $(jqe \
	'.completed >= 1 and .completed <= 10 and .completed + .timeouts == .offered and .timeouts == 32' \
	"$tmp/tcpclose.json" && [ $rc -eq 1 ] &&
	grep -E -q 'closed: |TCP send: ' "$tmp/tcpclose.err"; echo $?)
wait "$TPID" 2>/dev/null
# A server that accepts and never reads: the generator must not block forever.
python3 -c '
import socket, time
ls = socket.socket(); ls.bind(("127.0.0.1", 0)); ls.listen(1); print(ls.getsockname()[1], flush=True)
c, _ = ls.accept(); time.sleep(20)' >"$tmp/stall.port" &
pids+=($!)
SPID=$!
PORT=
for _ in $(seq 50); do PORT=$(head -n 1 "$tmp/stall.port" 2>/dev/null); [ -n "$PORT" ] && break; sleep 0.1; done
start=$(date +%s%N)
timeout 30 "$bench" --target "127.0.0.1:$PORT" --transport tcp --rate 200000 --duration 3 --timeout-ms 500 \
	--json >"$tmp/stall.json" 2>"$tmp/stall.err"
rc=$?
el=$((($(date +%s%N) - start) / 1000000))
check "TCP: a server that never reads: exit 1 within 8 s (${el} ms), nothing completed, all timed out" $(jqe \
	'.completed == 0 and .timeouts == .offered and .send_errors > 0' "$tmp/stall.json" && [ $rc -eq 1 ] &&
	[ $el -lt 8000 ] && grep -q 'TCP send' "$tmp/stall.err"; echo $?)
kill "$SPID" 2>/dev/null; wait "$SPID" 2>/dev/null
timeout 10 "$bench" --target "127.0.0.1:$PORT" --transport tcp --count 5 >/dev/null 2>"$tmp/refused.err"
rc=$?
check "TCP: connection refused: exit 1 with the reason" $([ $rc -eq 1 ] && grep -q 'Connection refused' "$tmp/refused.err"; echo $?)

# ---- 4. closed port: timeouts, bounded time
start_echo 127.0.0.1 closed
closed=$PORT
kill "$ECHO_PID"; wait "$ECHO_PID" 2>/dev/null
start=$(date +%s%N)
timeout 20 "$bench" --target "127.0.0.1:$closed" --count 100 --window 10 --timeout-ms 200 \
	--json >"$tmp/closed.json"
rc=$?
el=$((($(date +%s%N) - start) / 1000000))
check "closed port, --count 100 --window 10: exits 0 (got $rc)" $([ $rc -eq 0 ]; echo $?)
check "closed port: 100 timeouts, nothing completed" $(jqe \
	'.offered == 100 and .timeouts == 100 and .completed == 0' "$tmp/closed.json" >/dev/null; echo $?)
# 10 rounds of a 200 ms timeout: 2 s, with room for a busy machine.
check "closed port: 10 rounds of 200 ms take 1.9-8 s (${el} ms)" $([ $el -ge 1900 ] && [ $el -lt 8000 ]; echo $?)
start=$(date +%s%N)
timeout 20 "$bench" --target "127.0.0.1:$closed" --duration 0.5 --timeout-ms 300 --json >"$tmp/closed2.json"
el=$((($(date +%s%N) - start) / 1000000))
check "closed port, --duration 0.5 --timeout-ms 300: ends in < 3 s (${el} ms), all timed out" $(jqe \
	'.offered > 0 and .timeouts == .offered and .completed == 0' "$tmp/closed2.json" >/dev/null &&
	[ $el -ge 500 ] && [ $el -lt 3000 ]; echo $?)

# ---- 5. bad command lines
for args in "" "--target nonsense" "--target 127.0.0.1:0" "--target 127.0.0.1:70000" \
	"--target 127.0.0.1:5060 --window 0" "--target 127.0.0.1:5060 --rate -5" \
	"--target 127.0.0.1:5060 --count abc" "--target 127.0.0.1:5060 --method INVITE" \
	"--target 127.0.0.1:5060 --transport sctp" "--target 127.0.0.1:5060 --duration 0" \
	"--target 127.0.0.1:5060 --threads 1000" "--target [::1:5060" \
	"--target 127.0.0.1:5060 --method REGISTER" "--target 127.0.0.1:5060 --method REGISTER --users u%u:5" \
	"--target 127.0.0.1:5060 --method REGISTER --users u%x:5 --password p" \
	"--target 127.0.0.1:5060 --method REGISTER --users u%u:0 --password p" \
	"--target 127.0.0.1:5060 --method REGISTER --users u%u:5 --password p --window 6" \
	"--target 127.0.0.1:5060 --method REGISTER --users /nonexistent.csv --password p" \
	"--target 127.0.0.1:5060 --users u%u:5 --password p"; do
	# shellcheck disable=SC2086
	timeout 5 "$bench" $args >/dev/null 2>&1
	rc=$?
	check "sipreg-bench $args: usage error (exit 2, got $rc)" $([ $rc -eq 2 ]; echo $?)
done
for args in "" "--listen nonsense" "--listen 127.0.0.1:65536" "--listen 127.0.0.1:0 --batch 0" "--listen 127.0.0.1:0 --offload=1"; do
	# shellcheck disable=SC2086
	timeout 5 "$echo_bin" $args >/dev/null 2>&1
	rc=$?
	check "udp-echo $args: usage error (exit 2, got $rc)" $([ $rc -eq 2 ]; echo $?)
done

echo "$fails failure(s)"
[ $fails -eq 0 ]
