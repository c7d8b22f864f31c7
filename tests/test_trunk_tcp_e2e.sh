#!/usr/bin/env bash
# tests/test_trunk_tcp_e2e.sh - a trunk over TCP whose registrar refuses the
# connection (issue 5 §2: a transport error is a failure, retried after the
# retry delay): sipregd ("D") with a trunk of transport tcp to a loopback
# port nothing listens on must be failed within about a second (the refused
# connect fails the REGISTER's transaction at once, not after Timer F's
# 32 s), its last reason naming the connect error, its next action the retry
# after exactly its retry delay (30 s); a second trunk to the same closed
# port fails the same way on a fresh connect. Then a listener appears on
# that port (a python3 TCP server that reads and never answers): `trunk
# refresh` connects, and the attempt now waits for an answer (registering,
# not failed at once), which shows the fast failure is the refused connect,
# not any TCP attempt; the listener then resets the connection (SO_LINGER 0)
# and the attempt fails at once with the reset named.
#
# Every port is ephemeral, every process is stopped by its PID, every wait
# is bounded. Exit 77 (skip, said so) without jq/python3/timeout.
set -u
build=${SIPREG_BUILD_ROOT:?run through meson test}
sipregd=$build/src/sipregd
ctl=$build/tools/sipregctl
for t in jq python3 timeout; do
	command -v $t >/dev/null || { echo "SKIP: $t is not installed"; exit 77; }
done
for f in "$sipregd" "$ctl"; do
	[ -x "$f" ] || { echo "FAIL: $f is not built"; exit 1; }
done
py=$(python3 -c 'import sys; print(sys.executable)')

tmp=$(mktemp -d /tmp/sipreg-test-trunktcp.XXXXXX)
dpid= lpid=
cleanup() {
	for p in $lpid $dpid; do
		kill -9 "$p" 2>/dev/null && wait "$p" 2>/dev/null
	done
	rm -rf "$tmp"
}
trap cleanup EXIT
trap "exit 1" INT TERM
fails=0
. "$(dirname "$0")/e2e_lib.sh" # ok, bad, check, now_ms, free_port
die() {
	echo "FAIL: $*"
	echo "--- D log (tail)"; tail -25 "$tmp/d.log" 2>/dev/null
	exit 1
}

# A port free for both UDP and TCP on 127.0.0.1 (and left closed).
dport=$(free_port)
closed=$(free_port)
[ -n "$dport" ] && [ -n "$closed" ] || die "no free port"

mkdir -p "$tmp/db"
cat >"$tmp/d.conf" <<CONF
[core]
listen = udp:127.0.0.1:$dport tcp:127.0.0.1:$dport
workers = 1
shutdown_timeout = 2
[admin]
socket = $tmp/d.sock
[database]
path = $tmp/db/sipreg.db
flush_interval = 100
[sip]
SS_SIP_USER_AGENT_RETRY_DELAY = 30
SS_SIP_USER_AGENT_SEND_UNREGISTER = off
CONF
dctl() { timeout 20 "$ctl" -s "$tmp/d.sock" "$@"; }
"$sipregd" -c "$tmp/d.conf" </dev/null >>"$tmp/d.log" 2>&1 &
dpid=$!
for _ in $(seq 100); do
	# (jq 1.6 -e exits 0 on empty input: test the status itself)
	st=$(dctl status --json 2>/dev/null) && jq -e '.sip.bound | length > 0' <<<"$st" >/dev/null 2>&1 && break
	kill -0 "$dpid" 2>/dev/null || die "sipregd exited at start"
	sleep 0.1
done
st=$(dctl status --json 2>/dev/null) && jq -e '.trunks | type == "object"' <<<"$st" >/dev/null ||
	die "sipregd did not start, or has no trunk service"

tjson() { dctl trunk show "$1" --json 2>/dev/null; }
# wait_trunk NAME MS JQ-CONDITION: polls `trunk show` every 50 ms
wait_trunk() {
	local end=$(($(now_ms) + $2))
	while [ "$(now_ms)" -lt $end ]; do
		# "true" printed: jq 1.6 -e exits 0 on empty input (no trunk)
		tjson "$1" | jq "$3" 2>/dev/null | grep -qx true && return 0
		sleep 0.05
	done
	return 1
}

# --- a refused connect: failed at once, the error named, retry after 30 s
for t in tcp1 tcp2; do
	t0=$(now_ms)
	out=$(dctl trunk add $t --registrar "127.0.0.1:$closed" --transport tcp --user $t \
		--password pw --domain upstream.example --expire 60)
	check "trunk add $t (tcp to a closed port)" \
		"added trunk $t: registrar 127.0.0.1:$closed, user $t, enabled" "$out"
	wait_trunk $t 3000 '.state == "failed"' || die "$t not failed within 3 s: $(tjson $t)"
	dt=$(($(now_ms) - t0))
	# the add itself, the start slot and the polling are in dt; Timer F is 32 s
	[ $dt -le 1500 ] && ok "$t: failed $dt ms after the add (within ~1 s, not Timer F)" ||
		bad "$t: failed only $dt ms after the add"
	j=$(tjson $t)
	reason=$(jq -r .last_reason <<<"$j")
	grep -qi 'connection refused' <<<"$reason" && ok "$t: last reason names the error: $reason" ||
		bad "$t: last reason '$reason' does not name the refused connect"
	check "$t: one failure, next action retry" "1 retry" \
		"$(jq -r '"\(.failures) \(.next_action)"' <<<"$j")"
	n=$(jq -r .next_in <<<"$j")
	[ "$n" -ge 28 ] && [ "$n" -le 30 ] && ok "$t: retry in $n s (the retry delay, 30)" ||
		bad "$t: retry in '$n' s, want 28-30"
done
check "status: 2 trunks failed" 2 "$(dctl status --json | jq '.trunks.by_state.failed')"

# --- a listener that accepts and never answers: the attempt waits
cat >"$tmp/listen.py" <<'PY'
import socket, struct, sys, time
s = socket.socket()
s.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
s.bind(("127.0.0.1", int(sys.argv[1])))
s.listen(8)
print("listening", flush=True)
s.settimeout(20)
c, _ = s.accept()
c.settimeout(20)
data = b""
while b"\r\n\r\n" not in data:
    chunk = c.recv(4096)
    if not chunk:
        sys.exit(1)
    data += chunk
print("got REGISTER" if data.startswith(b"REGISTER ") else "got other", flush=True)
time.sleep(float(sys.argv[2]))
# reset, not FIN: the trunk side sees ECONNRESET
c.setsockopt(socket.SOL_SOCKET, socket.SO_LINGER, struct.pack("ii", 1, 0))
c.close()
print("reset", flush=True)
time.sleep(2)
PY
"$py" "$tmp/listen.py" "$closed" 1.5 >"$tmp/listen.out" 2>&1 &
lpid=$!
for _ in $(seq 100); do
	grep -q listening "$tmp/listen.out" 2>/dev/null && break
	sleep 0.05
done
grep -q listening "$tmp/listen.out" || die "the listener did not start: $(cat "$tmp/listen.out")"
out=$(dctl trunk refresh tcp1)
check "trunk refresh tcp1" "refreshing trunk tcp1" "$out"
for _ in $(seq 60); do
	grep -q "got REGISTER" "$tmp/listen.out" && break
	sleep 0.05
done
grep -q "got REGISTER" "$tmp/listen.out" && ok "the listener got tcp1's REGISTER over TCP" ||
	bad "the listener got no REGISTER: $(cat "$tmp/listen.out")"
sleep 0.5
check "tcp1: connected, waiting for an answer (not failed at once)" registering \
	"$(tjson tcp1 | jq -r .state)"
wait_trunk tcp1 4000 '.state == "failed" and .failures == 2' ||
	bad "tcp1 not failed after the reset: $(tjson tcp1)"
grep -q "reset" "$tmp/listen.out" || bad "the listener did not reset: $(cat "$tmp/listen.out")"
reason=$(tjson tcp1 | jq -r .last_reason)
grep -qi 'reset' <<<"$reason" && ok "tcp1: failed at the reset, reason: $reason" ||
	bad "tcp1: last reason '$reason' does not name the reset"
kill "$lpid" 2>/dev/null; wait "$lpid" 2>/dev/null
lpid=

kill -TERM "$dpid"
for _ in $(seq 100); do kill -0 "$dpid" 2>/dev/null || break; sleep 0.1; done
kill -0 "$dpid" 2>/dev/null && bad "sipregd did not stop within 10 s"
wait "$dpid"
check "sipregd: graceful stop exits 0" 0 $?
dpid=
if [ $fails -ne 0 ]; then
	echo "--- D log (tail)"; tail -25 "$tmp/d.log"
	echo "$fails check(s) failed"
	exit 1
fi
echo "all checks passed"
