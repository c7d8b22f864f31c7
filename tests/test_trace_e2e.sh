#!/usr/bin/env bash
# tests/test_trace_e2e.sh - the SIP trace end to end (issue 6 §2): sipregd on
# loopback with ephemeral UDP and TCP ports; `sipregctl trace start --file
# X.pcap --user alice`; REGISTERs of alice over UDP and TCP (401 then 200) and
# of bob (not to be traced) with tests/sip_client.py; `trace stop`; then the
# pcap read back with tshark (SIP decoded on the daemon's ports): the
# REGISTERs and their 401/200 with the right addresses and ports (the client's
# port, also in its Via), times inside the test's window and in order, no bob.
# Then a trunk registering to sipregd itself traced with --trunk (both sides
# of it: our REGISTER out, the registrar's view in), HEPv3 to a loopback
# collector (python3, decodes the chunks), the limits (--max-packets stops the
# trace by itself) and bad input (no sink, an existing or unwritable file, a
# bad HEP address, stop when none runs: exit 1 or 2 with the reason).
# Skips (77) without tshark, jq or python3. Every process stopped by PID.
set -u
build=${SIPREG_BUILD_ROOT:?}
src=${SIPREG_SOURCE_ROOT:?}
sipregd=$build/src/sipregd
ctl=$build/tools/sipregctl
client=(python3 "$src/tests/sip_client.py")
for t in tshark jq python3; do
	command -v $t >/dev/null || { echo "SKIP: $t is not installed (tools/setup installs it)"; exit 77; }
done

tmp=$(mktemp -d /tmp/sipreg-test-trace.XXXXXX)
chmod 755 "$tmp"
pid=
pid2=
hpid=
cleanup() {
	e2e_kill "$pid2" "${e2e_pids[@]}" "$hpid"
	rm -rf "$tmp"
}
trap cleanup EXIT
fails=0
. "$(dirname "$0")/e2e_lib.sh" # ok, bad, check, now_ms, free_port, e2e_start

cat >"$tmp/sipreg.conf" <<CONF
[core]
listen = udp:127.0.0.1:0 tcp:127.0.0.1:0
workers = 2
[admin]
socket = $tmp/admin.sock
[database]
path = $tmp/sipreg.db
flush_interval = 100
[sip]
digest_algorithms = md5
CONF

dctl() { timeout 10 "$ctl" -s "$tmp/admin.sock" "$@"; }
e2e_start "$tmp/sipreg.conf" "$tmp/sipregd.log" "$tmp/admin.sock" udp tcp || exit 1
pid=$e2e_pid udp=$e2e_udp tcp=$e2e_tcp
ok "sipregd up: udp $udp, tcp $tcp"
for u in alice bob carol; do
	dctl subscriber add "$u@example.com" "pw-$u" >/dev/null || bad "subscriber $u not added"
done

# ---- bad input, and nothing running ----
out=$(dctl trace status); check "status before any trace" "trace: not running" "$out"
dctl trace stop >"$tmp/o" 2>&1; rc=$?
check "stop when none runs: exit" 1 "$rc"
grep -q "409: no trace is running" "$tmp/o" || bad "stop when none runs: $(cat "$tmp/o")"
dctl trace start --user alice >"$tmp/o" 2>&1; rc=$?
check "start without a sink: exit" 2 "$rc"
dctl trace start --file /nonexistent-sipreg-dir/x.pcap >"$tmp/o" 2>&1; rc=$?
check "unwritable file: exit" 1 "$rc"
grep -q "No such file or directory" "$tmp/o" || bad "unwritable file: $(cat "$tmp/o")"
echo keep >"$tmp/exists.pcap"
dctl trace start --file "$tmp/exists.pcap" >"$tmp/o" 2>&1; rc=$?
check "existing file: exit" 1 "$rc"
check "existing file kept" keep "$(cat "$tmp/exists.pcap")"
dctl trace start --hep 127.0.0.1 >"$tmp/o" 2>&1; rc=$?
check "HEP address without port: exit" 1 "$rc"
grep -q "not HOST:PORT" "$tmp/o" || bad "bad HEP: $(cat "$tmp/o")"
dctl trace start --file "$tmp/x.pcap" --address 300.1.1.1 >"$tmp/o" 2>&1; rc=$?
check "bad address: exit" 1 "$rc"
dctl trace start --file "$tmp/x.pcap" --bogus >"$tmp/o" 2>&1; rc=$?
check "unknown option: exit" 2 "$rc"
dctl trace start --file "$tmp/x.pcap" --trunk nosuch >"$tmp/o" 2>&1; rc=$?
check "unknown trunk: exit" 1 "$rc"
[ -e "$tmp/x.pcap" ] && bad "a refused start left a file"

# ---- a user's REGISTERs over UDP and TCP ----
out=$(cd "$tmp" && dctl trace start --file t.pcap --user alice --json) || bad "trace start failed"
check "start: the relative path made absolute" "$tmp/t.pcap" "$(jq -r .file <<<"$out")"
check "start: active" true "$(jq -r .active <<<"$out")"
check "start: filter" alice "$(jq -r .filter.user <<<"$out")"
dctl trace start --file "$tmp/t2.pcap" >"$tmp/o" 2>&1; rc=$?
check "second start: exit" 1 "$rc"
grep -q "409: a trace is already running" "$tmp/o" || bad "second start: $(cat "$tmp/o")"
t0=$(date +%s.%N)
check "REGISTER alice udp" "401 200" "$(timeout 10 "${client[@]}" register udp "$udp" alice example.com pw-alice 300 | head -1)"
check "REGISTER bob udp" "401 200" "$(timeout 10 "${client[@]}" register udp "$udp" bob example.com pw-bob 300 | head -1)"
check "REGISTER alice tcp" "401 200" "$(timeout 10 "${client[@]}" register tcp "$tcp" alice example.com pw-alice 300 | head -1)"
t1=$(date +%s.%N)
st=$(dctl trace status --json)
check "status: matched" 8 "$(jq -r .matched <<<"$st")"
out=$(dctl trace stop --json) || bad "trace stop failed"
check "stop: written" 8 "$(jq -r .written <<<"$out")"
check "stop: dropped" 0 "$(jq -r .dropped <<<"$out")"
check "stop: reason" stopped "$(jq -r .stop_reason <<<"$out")"
check "file size = bytes" "$(jq -r .bytes <<<"$out")" "$(stat -c %s "$tmp/t.pcap")"
grep -q 'event=trace_stopped reason=stopped' "$tmp/sipregd.log" || bad "trace_stopped not logged"

tshark -r "$tmp/t.pcap" -d "udp.port==$udp,sip" -d "tcp.port==$tcp,sip" -Y sip -T fields \
	-E separator='|' -e frame.time_epoch -e ip.src -e ip.dst -e udp.srcport -e udp.dstport \
	-e tcp.srcport -e tcp.dstport -e sip.Method -e sip.Status-Code -e sip.from.user \
	-e sip.Via -e sip.CSeq.method >"$tmp/t.txt" 2>"$tmp/tshark.err" || bad "tshark: $(cat "$tmp/tshark.err")"
cat "$tmp/t.txt"
check "tshark: SIP records" 8 "$(wc -l <"$tmp/t.txt")"
check "tshark: REGISTERs" 4 "$(awk -F'|' '$8 == "REGISTER"' "$tmp/t.txt" | wc -l)"
check "tshark: 401s" 2 "$(awk -F'|' '$9 == "401" && $12 == "REGISTER"' "$tmp/t.txt" | wc -l)"
check "tshark: 200s" 2 "$(awk -F'|' '$9 == "200" && $12 == "REGISTER"' "$tmp/t.txt" | wc -l)"
check "tshark: only alice" 8 "$(awk -F'|' '$10 == "alice"' "$tmp/t.txt" | wc -l)"
check "tshark: all on 127.0.0.1" 8 "$(awk -F'|' '$2 == "127.0.0.1" && $3 == "127.0.0.1"' "$tmp/t.txt" | wc -l)"
# each request goes to our port from the client's (its Via says which), each
# answer from our port back to that port
awk -F'|' -v u="$udp" -v t="$tcp" '
	{ sp = $4 != "" ? $4 : $6; dp = $5 != "" ? $5 : $7; ours = $4 != "" ? u : t }
	$8 == "REGISTER" { if (dp != ours || index($11, "127.0.0.1:" sp) == 0) { print "bad request: " $0; bad++ } ; cl = sp; next }
	{ if (sp != ours || dp != cl) { print "bad answer: " $0; bad++ } }
	END { exit bad > 0 }' "$tmp/t.txt" >"$tmp/ports.out" || bad "ports: $(cat "$tmp/ports.out")"
[ -s "$tmp/ports.out" ] || ok "ports: requests to $udp/$tcp from the client's port (as in its Via), answers back"
check "tshark: UDP records" 4 "$(awk -F'|' '$4 != ""' "$tmp/t.txt" | wc -l)"
check "tshark: TCP records" 4 "$(awk -F'|' '$6 != ""' "$tmp/t.txt" | wc -l)"
awk -F'|' -v a="$t0" -v b="$t1" '
	{ if ($1 + 0 < a - 0.001 || $1 + 0 > b + 0.001) { print "outside the window: " $1; bad++ }
	  if (NR > 1 && $1 + 0 < prev) { print "out of order: " $1 " after " prev; bad++ }
	  prev = $1 + 0 }
	END { exit bad > 0 }' "$tmp/t.txt" >"$tmp/times.out" || bad "timestamps: $(cat "$tmp/times.out")"
[ -s "$tmp/times.out" ] || ok "timestamps inside [$t0, $t1] and in order"
tshark -r "$tmp/t.pcap" -o tcp.check_checksum:TRUE -o udp.check_checksum:TRUE \
	-o ip.check_checksum:TRUE -Y 'ip.checksum.status == "Bad" || udp.checksum.status == "Bad" || tcp.checksum.status == "Bad"' \
	>"$tmp/bad.txt" 2>"$tmp/tshark.err" || bad "tshark checksums: $(cat "$tmp/tshark.err")"
check "tshark: no bad checksum" 0 "$(wc -l <"$tmp/bad.txt")"

# ---- the address filter: another IP selects nothing, ours everything ----
timeout 10 "$ctl" -c "$tmp/sipreg.conf" trace start --file "$tmp/a2.pcap" --address 127.0.0.2 >/dev/null \
	|| bad "trace start --address (socket from -c)"
timeout 10 "${client[@]}" register udp "$udp" bob example.com pw-bob 300 >/dev/null
check "address 127.0.0.2: nothing" "0 0" "$(dctl trace stop --json | jq -r '"\(.matched) \(.written)"')"
dctl trace start --file "$tmp/a1.pcap" --address 127.0.0.1 >/dev/null || bad "trace start --address"
timeout 10 "${client[@]}" register udp "$udp" bob example.com pw-bob 300 >/dev/null
check "address 127.0.0.1: both REGISTERs and answers" 4 "$(dctl trace stop --json | jq -r .written)"

# ---- a trunk registering to sipregd itself, traced by name ----
dctl trunk add t1 --registrar "127.0.0.1:$udp" --user carol --password pw-carol \
	--domain example.com --expire 60 --disabled >/dev/null || bad "trunk add"
dctl trace start --file "$tmp/trunk.pcap" --trunk t1 >/dev/null || bad "trace start --trunk"
check "trunk filter resolved" "carol@example.com" \
	"$(dctl trace status --json | jq -r '.filter.trunk_user + "@" + .filter.trunk_domain')"
dctl trunk enable t1 >/dev/null || bad "trunk enable"
for _ in $(seq 50); do
	[ "$(dctl trunk show t1 --json | jq -r .state)" = registered ] && break
	sleep 0.1
done
check "trunk registered" registered "$(dctl trunk show t1 --json | jq -r .state)"
timeout 10 "${client[@]}" register udp "$udp" alice example.com pw-alice 300 >/dev/null
out=$(dctl trace stop --json)
tshark -r "$tmp/trunk.pcap" -d "udp.port==$udp,sip" -Y sip -T fields -E separator='|' \
	-e sip.Method -e sip.Status-Code -e sip.from.user >"$tmp/trunk.txt" 2>"$tmp/tshark.err"
cat "$tmp/trunk.txt"
# each message twice: as sent and as received by the registrar side
check "trunk: REGISTERs (sent and received)" 4 "$(grep -c '^REGISTER|' "$tmp/trunk.txt")"
check "trunk: 401 and 200, both sides" 4 "$(grep -cE '^\|(401|200)\|carol$' "$tmp/trunk.txt")"
check "trunk: nothing but carol" 0 "$(grep -vc '|carol$' "$tmp/trunk.txt")"

# ---- HEPv3 to a loopback collector; --max-packets stops by itself ----
cat >"$tmp/hep.py" <<'PY'
import socket, struct, sys
s = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
s.bind(("127.0.0.1", 0))
print(s.getsockname()[1], flush=True)
s.settimeout(8)
got = []
try:
    while len(got) < int(sys.argv[1]):
        b, _ = s.recvfrom(65535)
        assert b[:4] == b"HEP3" and struct.unpack("!H", b[4:6])[0] == len(b), "framing"
        off, c = 6, {}
        while off < len(b):
            v, t, l = struct.unpack("!HHH", b[off:off + 6])
            c[t] = b[off + 6:off + l]
            off += l
        assert off == len(b), "chunks"
        got.append("%d %d %s:%d>%s:%d %d %s" % (c[1][0], c[11][0],
            socket.inet_ntoa(c[3]), struct.unpack("!H", c[7])[0],
            socket.inet_ntoa(c[4]), struct.unpack("!H", c[8])[0],
            struct.unpack("!I", c[12])[0], c[15].split(b" ")[0].decode()))
except socket.timeout:
    pass
print("\n".join(got), flush=True)
PY
python3 "$tmp/hep.py" 4 >"$tmp/hep.out" 2>&1 &
hpid=$!
hport=
for _ in $(seq 50); do
	hport=$(head -1 "$tmp/hep.out")
	[ -n "$hport" ] && break
	sleep 0.1
done
[ -n "$hport" ] || bad "HEP collector did not start"
out=$(dctl trace start --hep "127.0.0.1:$hport" --hep-id 42 --user bob --max-packets 4 --json) \
	|| bad "trace start --hep"
check "hep: no file" null "$(jq -r .file <<<"$out")"
check "REGISTER bob (HEP)" "401 200" "$(timeout 10 "${client[@]}" register udp "$udp" bob example.com pw-bob 300 | head -1)"
st=$(dctl trace status --json)
check "hep: stopped by max_packets" "false max_packets 4" "$(jq -r '"\(.active) \(.stop_reason) \(.hep_sent)"' <<<"$st")"
grep -q 'event=trace_stopped reason=max_packets' "$tmp/sipregd.log" || bad "the limit stop not logged"
for _ in $(seq 100); do kill -0 "$hpid" 2>/dev/null || break; sleep 0.1; done
wait "$hpid" 2>/dev/null
hpid=
tail -n +2 "$tmp/hep.out" >"$tmp/hep.txt"
cat "$tmp/hep.txt"
check "hep: packets" 4 "$(grep -c . "$tmp/hep.txt")"
check "hep: family 2, SIP, capture id 42" 4 "$(grep -cE '^2 1 127\.0\.0\.1:[0-9]+>127\.0\.0\.1:[0-9]+ 42 ' "$tmp/hep.txt")"
check "hep: REGISTERs to our port" 2 "$(grep -cE ">127\.0\.0\.1:$udp 42 REGISTER$" "$tmp/hep.txt")"
check "hep: answers from our port" 2 "$(grep -cE " 127\.0\.0\.1:$udp>.* 42 SIP/2.0$" "$tmp/hep.txt")"

# ---- a file sipregd writes where we cannot see it (systemd's PrivateTmp):
# a second sipregd in its own mount namespace with a tmpfs over a directory;
# sipregctl warns. Needs unshare(1) and the right to mount (root). ----
mkdir -p "$tmp/priv"
if unshare -m sh -c "mount -t tmpfs none '$tmp/priv'" 2>/dev/null; then
	sed -e "s|$tmp/admin.sock|$tmp/admin2.sock|" -e "s|$tmp/sipreg.db|$tmp/sipreg2.db|" \
		"$tmp/sipreg.conf" >"$tmp/sipreg2.conf"
	unshare -m sh -c "mount -t tmpfs none '$tmp/priv' && exec '$sipregd' -c '$tmp/sipreg2.conf'" \
		>"$tmp/sipregd2.log" 2>&1 &
	pid2=$!
	for _ in $(seq 50); do [ -S "$tmp/admin2.sock" ] && break; sleep 0.1; done
	timeout 10 "$ctl" -s "$tmp/admin2.sock" trace start --file "$tmp/priv/x.pcap" >"$tmp/o" 2>&1 \
		|| bad "trace start in the private namespace: $(cat "$tmp/o")"
	grep -q "warning: sipregd created $tmp/priv/x.pcap but it is not visible here" "$tmp/o" \
		&& ok "a file in sipregd's private /tmp: warned" || bad "no warning: $(cat "$tmp/o")"
	kill -TERM "$pid2"
	for _ in $(seq 100); do kill -0 "$pid2" 2>/dev/null || break; sleep 0.1; done
	kill -9 "$pid2" 2>/dev/null
	wait "$pid2" 2>/dev/null
	pid2=
else
	echo "SKIP (loudly): cannot unshare a mount namespace here: the private-/tmp warning is not checked"
fi

kill -TERM "$pid"
for _ in $(seq 100); do kill -0 "$pid" 2>/dev/null || break; sleep 0.1; done
kill -0 "$pid" 2>/dev/null && bad "sipregd did not stop on SIGTERM"
wait "$pid" 2>/dev/null
pid=
[ "$fails" -eq 0 ] && echo "all trace checks passed" && exit 0
echo "$fails check(s) failed; sipregd log:"
tail -30 "$tmp/sipregd.log"
exit 1
