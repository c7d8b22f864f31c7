#!/usr/bin/env bash
# tests/test_metrics_e2e.sh - sipregd's Prometheus listener end to end (issue
# 6 §1): sipregd started with [admin] http = 127.0.0.1:0, /metrics scraped
# with curl and validated with promtool (Debian's prometheus package; the
# check is skipped loudly when promtool is missing, the rest still runs),
# then OPTIONS, REGISTERs (one good, one with a wrong password) and a
# malformed datagram sent with tests/sip_client.py, and the counters checked
# to have moved by what was sent. Also: only GET/HEAD /metrics is served
# (POST 405, other paths 404), and a second daemon asking for the same http
# port fails to start (exit 1) with the reason. Loopback only, ephemeral
# ports, every process stopped by PID, every wait bounded.
set -u
build=${SIPREG_BUILD_ROOT:?}
src=${SIPREG_SOURCE_ROOT:?}
sipregd=$build/src/sipregd
ctl=$build/tools/sipregctl
client=(python3 "$src/tests/sip_client.py")
for t in jq curl python3; do
	command -v $t >/dev/null || { echo "SKIP: $t is not installed"; exit 77; }
done

tmp=$(mktemp -d /tmp/sipreg-test-metrics.XXXXXX)
pid=
pid2=
cleanup() {
	e2e_kill "${e2e_pids[@]}" "$pid2"
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
http = 127.0.0.1:0
[database]
path = $tmp/sipreg.db
flush_interval = 100
[sip]
digest_algorithms = md5
CONF

status() { timeout 5 "$ctl" -s "$tmp/admin.sock" status --json; }
e2e_start "$tmp/sipreg.conf" "$tmp/sipregd.log" "$tmp/admin.sock" || exit 1
pid=$e2e_pid udp=$e2e_udp
# the metrics port is logged at the end of start-up, after the workers bind
for _ in $(seq 50); do
	mport=$(sed -n 's/.*event=metrics_listening .*port=\([0-9]*\).*/\1/p' "$tmp/sipregd.log")
	[ -n "$mport" ] && break
	sleep 0.1
done
[ -n "$mport" ] || { echo "sipregd did not log its metrics port:"; cat "$tmp/sipregd.log"; exit 1; }
ok "sipregd up: SIP udp $udp, metrics on 127.0.0.1:$mport"
url=http://127.0.0.1:$mport/metrics

scrape() { # scrape FILE
	timeout 5 curl -sf -o "$1" -w '%{content_type}' "$url"
}
# value NAME_WITH_LABELS FILE: the sample's value (empty if absent)
value() { awk -v k="$1" '$1 == k { print $2; exit }' "$2"; }

ct=$(scrape "$tmp/m0.txt") || bad "first scrape failed"
check "content type" "text/plain; version=0.0.4; charset=utf-8" "$ct"
if command -v promtool >/dev/null; then
	if promtool check metrics <"$tmp/m0.txt" >"$tmp/promtool.out" 2>&1; then
		ok "promtool check metrics: clean"
	else
		bad "promtool check metrics: $(cat "$tmp/promtool.out")"
	fi
else
	echo "SKIP (loudly): promtool is not installed (Debian package prometheus): the exposition is not validated"
fi
for fam in sipreg_build_info sipreg_trunks sipreg_bindings sipreg_subscribers \
	sipreg_registrar_registers_total sipreg_registrar_results_total \
	sipreg_registrar_challenges_total sipreg_registrar_auth_failures_total \
	sipreg_suspensions_active sipreg_suspensions_total \
	sipreg_transaction_timeouts_total sipreg_transaction_retransmissions_total \
	sipreg_parse_errors_total sipreg_worker_loop_turns_total \
	sipreg_trunk_registers_sent_total sipreg_requests_received_total \
	sipreg_registrar_processing_seconds sipreg_overload_shed_total; do
	grep -q "^# TYPE $fam " "$tmp/m0.txt" || bad "family $fam missing"
done
check "trunks by state: registered" 0 "$(value 'sipreg_trunks{state="registered"}' "$tmp/m0.txt")"

# only GET/HEAD /metrics
check "POST /metrics" 405 "$(curl -s -o /dev/null -w '%{http_code}' -d x=1 "$url")"
check "DELETE /metrics" 405 "$(curl -s -o /dev/null -w '%{http_code}' -X DELETE "$url")"
check "GET /status" 404 "$(curl -s -o /dev/null -w '%{http_code}' "http://127.0.0.1:$mport/status")"
check "POST /subscribers" 405 "$(curl -s -o /dev/null -w '%{http_code}' \
	-d '{"username":"x","domain":"y","password":"z"}' "http://127.0.0.1:$mport/subscribers")"
check "HEAD /metrics" 200 "$(curl -s -o /dev/null -w '%{http_code}' -I "$url")"

# traffic: 3 OPTIONS, a good REGISTER (401 then 200), a wrong password, junk
timeout 5 curl -sf --unix-socket "$tmp/admin.sock" \
	-d '{"username":"alice","domain":"example.com","password":"secret"}' \
	http://sipreg/subscribers >/dev/null || bad "subscriber not added"
for i in 1 2 3; do
	printf 'OPTIONS sip:127.0.0.1 SIP/2.0\r\nVia: SIP/2.0/UDP 127.0.0.1:5999;branch=z9hG4bK-m%s\r\nFrom: <sip:probe@127.0.0.1>;tag=m%s\r\nTo: <sip:127.0.0.1>\r\nCall-ID: metrics-%s\r\nCSeq: 1 OPTIONS\r\nMax-Forwards: 70\r\nContent-Length: 0\r\n\r\n' \
		$i $i $i >"$tmp/options$i.sip"
done
printf 'this is not SIP\r\n\r\n' >"$tmp/junk.sip"
timeout 10 "${client[@]}" raw "$udp" "$tmp"/options{1,2,3}.sip "$tmp/junk.sip" >"$tmp/raw.out" 2>&1
grep -c ' -> SIP/2.0 200' "$tmp/raw.out" | grep -qx 3 || bad "OPTIONS not answered: $(cat "$tmp/raw.out")"
reg=$(timeout 10 "${client[@]}" register udp "$udp" alice example.com secret 300 2>&1 | head -1)
check "REGISTER alice" "401 200" "$reg"
timeout 10 "${client[@]}" register udp "$udp" alice example.com wrong 300 >"$tmp/wrong.out" 2>&1
sleep 1.2 # the transaction counters are copied once a second

ct=$(scrape "$tmp/m1.txt") || bad "second scrape failed"
delta() { # delta NAME: value in m1 minus value in m0
	local a b
	a=$(value "$1" "$tmp/m0.txt"); b=$(value "$1" "$tmp/m1.txt")
	echo $(( ${b:-0} - ${a:-0} ))
}
atleast() { # atleast DESCRIPTION MIN GOT
	if [ "$3" -ge "$2" ] 2>/dev/null; then ok "$1: $3 (>= $2)"; else bad "$1: want >= $2, got '$3'"; fi
}
check "OPTIONS counted" 3 "$(delta 'sipreg_requests_received_total{method="OPTIONS"}')"
atleast "REGISTERs counted" 4 "$(delta 'sipreg_requests_received_total{method="REGISTER"}')"
atleast "registrar REGISTERs" 4 "$(delta sipreg_registrar_registers_total)"
check "registered" 1 "$(delta 'sipreg_registrar_results_total{result="registered"}')"
atleast "challenges" 2 "$(delta sipreg_registrar_challenges_total)"
atleast "auth failures" 1 "$(delta sipreg_registrar_auth_failures_total)"
check "parse errors (malformed)" 1 "$(delta 'sipreg_parse_errors_total{kind="malformed"}')"
atleast "datagrams received" 8 "$(delta 'sipreg_messages_received_total{transport="udp"}')"
atleast "2xx sent" 4 "$(delta 'sipreg_responses_sent_total{class="2xx"}')"
check "bindings" 1 "$(value sipreg_bindings "$tmp/m1.txt")"
check "subscribers" 1 "$(value sipreg_subscribers "$tmp/m1.txt")"
turns=$(( $(delta 'sipreg_worker_loop_turns_total{worker="0"}') + $(delta 'sipreg_worker_loop_turns_total{worker="1"}') ))
atleast "worker loop turns" 4 "$turns"
if command -v promtool >/dev/null; then
	promtool check metrics <"$tmp/m1.txt" >"$tmp/promtool.out" 2>&1 &&
		ok "promtool after traffic: clean" || bad "promtool after traffic: $(cat "$tmp/promtool.out")"
fi
# the registrar latency histogram: one observation per REGISTER, in buckets
check "latency histogram: one observation per REGISTER" \
	"$(value sipreg_registrar_processing_seconds_count "$tmp/m1.txt")" \
	"$(value sipreg_registrar_registers_total "$tmp/m1.txt")"
check "latency histogram: +Inf bucket = count" \
	"$(value sipreg_registrar_processing_seconds_count "$tmp/m1.txt")" \
	"$(value 'sipreg_registrar_processing_seconds_bucket{le="+Inf"}' "$tmp/m1.txt")"
atleast "latency: REGISTERs decided within 100 ms" 4 \
	"$(value 'sipreg_registrar_processing_seconds_bucket{le="0.1"}' "$tmp/m1.txt")"
awk '$1 == "sipreg_registrar_processing_seconds_sum" { exit !($2 > 0 && $2 < 1) }' "$tmp/m1.txt" &&
	ok "latency sum in seconds" || bad "latency sum: $(grep processing_seconds_sum "$tmp/m1.txt")"

# /metrics agrees with /status
check "/metrics = /status (REGISTER requests)" \
	"$(status | jq -r '.registrar_requests.requests')" \
	"$(value sipreg_registrar_registers_total "$tmp/m1.txt")"

# the UDP sockets' counters (udp_* in /status sip.totals, sipreg_udp_* in
# /metrics): 5 UDP_SEGMENT (GSO) messages of 64 equal-size OPTIONS each from
# one socket, so 320 datagrams that reach sipregd as GRO runs, 320 equal-size
# answers to one destination (sent as GSO runs, and enough of them to open a
# connected companion socket: UDP_PEER_PROMOTE is 256)
ukeys="udp_rx_datagrams udp_rx_truncated udp_rx_gro udp_tx_datagrams udp_tx_drops
	udp_tx_errors udp_tx_eagain udp_tx_gso udp_tx_gso_off udp_peers"
status >"$tmp/s2.json" || bad "status before UDP traffic failed"
scrape "$tmp/m2.txt" >/dev/null || bad "scrape before UDP traffic failed"
timeout 20 python3 - "$udp" >"$tmp/gso.out" 2>&1 <<'PY'
import socket, sys, time
host, port = "127.0.0.1", sys.argv[1]
s = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
s.bind(("127.0.0.1", 0))
me = s.getsockname()[1]
def opt(i):
    return ("OPTIONS sip:127.0.0.1 SIP/2.0\r\n"
            f"Via: SIP/2.0/UDP 127.0.0.1:{me};branch=z9hG4bK-g{i:06d}\r\n"
            f"From: <sip:probe@127.0.0.1>;tag=g{i:06d}\r\n"
            "To: <sip:127.0.0.1>\r\n"
            f"Call-ID: gso-{i:06d}\r\n"
            "CSeq: 1 OPTIONS\r\nMax-Forwards: 70\r\nContent-Length: 0\r\n\r\n").encode()
seg = len(opt(0))
s.setsockopt(socket.SOL_UDP, 103, seg)  # UDP_SEGMENT
s.settimeout(2)
got = 0
for m in range(5):
    s.sendto(b"".join(opt(m * 64 + k) for k in range(64)), (host, int(port)))
    try:
        while got < (m + 1) * 64:
            d = s.recv(65536)
            got += d.count(b"SIP/2.0 200 ")
    except socket.timeout:
        break
print(f"answers {got}")
PY
check "GSO OPTIONS: answers" "answers 320" "$(cat "$tmp/gso.out")"
sleep 0.3
status >"$tmp/s3.json" || bad "status after UDP traffic failed"
scrape "$tmp/m3.txt" >/dev/null || bad "scrape after UDP traffic failed"
sdelta() { # sdelta KEY: sip.totals.KEY in s3 minus in s2 (null: key missing)
	jq -r --slurpfile a "$tmp/s2.json" --arg k "$1" \
		'if .sip.totals[$k] == null or $a[0].sip.totals[$k] == null then "missing"
		 else .sip.totals[$k] - $a[0].sip.totals[$k] end' "$tmp/s3.json"
}
check "/status udp_rx_datagrams" 320 "$(sdelta udp_rx_datagrams)"
check "/status udp_tx_datagrams" 320 "$(sdelta udp_tx_datagrams)"
check "/status udp_rx_gro (every datagram came in a GRO run)" 320 "$(sdelta udp_rx_gro)"
atleast "/status udp_tx_gso" 2 "$(sdelta udp_tx_gso)"
for k in udp_rx_truncated udp_tx_drops udp_tx_errors udp_tx_eagain udp_tx_gso_off; do
	check "/status $k" 0 "$(sdelta "$k")"
done
atleast "/status udp_peers" 1 "$(jq -r '.sip.totals.udp_peers' "$tmp/s3.json")"
check "/status udp_peers before" 0 "$(jq -r '.sip.totals.udp_peers' "$tmp/s2.json")"
m2=$tmp/m2.txt m3=$tmp/m3.txt
mdelta() { # mdelta SAMPLE: value in m3 minus value in m2 (absent: "missing")
	local a b
	a=$(value "$1" "$m2"); b=$(value "$1" "$m3")
	[ -n "$a" ] && [ -n "$b" ] && echo $((b - a)) || echo missing
}
check "/metrics rx datagrams" 320 "$(mdelta 'sipreg_udp_datagrams_total{direction="rx"}')"
check "/metrics tx datagrams" 320 "$(mdelta 'sipreg_udp_datagrams_total{direction="tx"}')"
check "/metrics GRO datagrams" 320 "$(mdelta sipreg_udp_gro_datagrams_total)"
atleast "/metrics GSO datagrams" 2 "$(mdelta sipreg_udp_gso_datagrams_total)"
for f in sipreg_udp_truncated_total sipreg_udp_send_dropped_total \
	sipreg_udp_send_errors_total sipreg_udp_send_eagain_total; do
	check "/metrics $f" 0 "$(mdelta "$f")"
done
# every sample = its /status key (no traffic between the two reads)
while read -r sample key; do
	check "/metrics $sample = /status $key" "$(jq -r ".sip.totals.$key" "$tmp/s3.json")" \
		"$(value "$sample" "$m3")"
done <<'MAP'
sipreg_udp_datagrams_total{direction="rx"} udp_rx_datagrams
sipreg_udp_datagrams_total{direction="tx"} udp_tx_datagrams
sipreg_udp_truncated_total udp_rx_truncated
sipreg_udp_send_dropped_total udp_tx_drops
sipreg_udp_send_errors_total udp_tx_errors
sipreg_udp_send_eagain_total udp_tx_eagain
sipreg_udp_gso_datagrams_total udp_tx_gso
sipreg_udp_gso_disabled_sockets udp_tx_gso_off
sipreg_udp_gro_datagrams_total udp_rx_gro
sipreg_udp_peer_sockets udp_peers
MAP
# per worker too, and the workers add up to the totals
for k in $ukeys; do
	check "/status $k: sum of the workers = total" "$(jq -r ".sip.totals.$k" "$tmp/s3.json")" \
		"$(jq -r "[.sip.workers[].$k] | add" "$tmp/s3.json")"
done

# a second daemon wanting the same http port does not start
sed -e "s|^socket = .*|socket = $tmp/admin2.sock|" -e "s|^path = .*|path = $tmp/sipreg2.db|" \
	-e "s|^http = .*|http = 127.0.0.1:$mport|" "$tmp/sipreg.conf" >"$tmp/second.conf"
timeout 10 "$sipregd" -c "$tmp/second.conf" >"$tmp/second.log" 2>&1 &
pid2=$!
rc=0
wait "$pid2" || rc=$?
pid2=
check "second daemon on a busy http port: exit status" 1 "$rc"
grep -q 'http 127.0.0.1:'"$mport"': Address already in use' "$tmp/second.log" &&
	ok "it says why" || bad "no reason given: $(cat "$tmp/second.log")"

# the first one stops cleanly, and the listener with it
kill -TERM "$pid"
rc=0
wait "$pid" || rc=$?
pid=
check "sipregd exit status" 0 "$rc"
check "listener closed" 000 "$(curl -s -o /dev/null -w '%{http_code}' --max-time 2 "$url")"

echo "metrics_e2e: $fails failure(s)"
[ $fails -eq 0 ]
