#!/usr/bin/env bash
# tests/test_sipregd_sip.sh - sipregd end to end over loopback (issue 3 §5-6,
# issue 4's REGISTER path): OPTIONS with sipp over UDP and TCP, RFC 4475
# messages that must be rejected (400 with the parser's reason, 505, 513, no
# answer when nothing can be answered) while the daemon goes on answering,
# retransmissions absorbed by the server transaction, responses handed to the
# worker that owns their branch, REGISTER with digest authentication over UDP
# and TCP, and bindings kept across a graceful restart and a kill -9.
# Every port is ephemeral (sipregd binds port 0 and reports the ports in
# /status); every process is stopped by PID; every wait is bounded.
set -u
build=${SIPREG_BUILD_ROOT:?}
src=${SIPREG_SOURCE_ROOT:?}
corpus=${SIPREG_CORPUS:-}
sipregd=$build/src/sipregd
ctl=$build/tools/sipregctl
client=(python3 "$src/tests/sip_client.py")
for t in sipp jq curl python3; do
	command -v $t >/dev/null || { echo "SKIP: $t is not installed"; exit 77; }
done
[ -d "$corpus/rfc4475" ] || { echo "SKIP: SIPREG_CORPUS ($corpus) has no rfc4475"; exit 77; }

tmp=$(mktemp -d /tmp/sipreg-test-sip.XXXXXX)
pid=
cleanup() {
	e2e_kill "${e2e_pids[@]}"
	rm -rf "$tmp"
}
trap cleanup EXIT
fails=0
. "$(dirname "$0")/e2e_lib.sh" # ok, bad, check, now_ms, free_port, e2e_start

cat >"$tmp/sipreg.conf" <<CONF
[core]
listen = udp:127.0.0.1:0 tcp:127.0.0.1:0
workers = 2
shutdown_timeout = 5
[admin]
socket = $tmp/admin.sock
[database]
path = $tmp/sipreg.db
flush_interval = 100
CONF

status() { timeout 5 "$ctl" -s "$tmp/admin.sock" status --json; }
api() { timeout 5 curl -sf --unix-socket "$tmp/admin.sock" "$@"; }
start() {
	e2e_start "$tmp/sipreg.conf" "$tmp/sipregd.log" "$tmp/admin.sock" udp tcp || exit 1
	pid=$e2e_pid udp=$e2e_udp tcp=$e2e_tcp
}
stop() { # stop SIGNAL: the exit status
	kill -"$1" "$pid"
	local rc=0
	wait "$pid" 2>/dev/null || rc=$?
	pid=
	return $rc
}
total() { status | jq -r ".sip.totals.$1"; }

start

# --- OPTIONS with sipp, UDP and TCP, bounded count
for tr in u1 t1; do
	port=$udp; [ $tr = t1 ] && port=$tcp
	(cd "$tmp" && timeout 30 sipp -sf "$src/tests/sipp/options.xml" -m 50 -r 100 -l 20 \
		-t $tr -i 127.0.0.1 -nostdin -timeout 15s -timeout_error -trace_err \
		"127.0.0.1:$port" >"$tmp/sipp-$tr.out" 2>&1)
	rc=$?
	n=$(awk '/Successful call/ { print $NF }' "$tmp/sipp-$tr.out")
	check "sipp OPTIONS over $tr: exit status" 0 "$rc"
	check "sipp OPTIONS over $tr: 200 with Allow, Accept, To tag" 50 "$n"
done
check "OPTIONS counted" 100 "$(status | jq -r '.sip.totals.requests.OPTIONS')"

# --- malformed requests: answered where they can be, the daemon goes on
awk 'BEGIN { printf "OPTIONS sip:a@b SIP/2.0\r\nVia: SIP/2.0/UDP 127.0.0.1:5;branch=z9hG4bKbig\r\n" \
	"Max-Forwards: 70\r\nFrom: <sip:a@b>;tag=1\r\nTo: <sip:a@b>\r\nCall-ID: big\r\nCSeq: 1 OPTIONS\r\n";
	for (i = 0; i < 80; i++) printf "X-Pad-%d: %d\r\n", i, i; printf "Content-Length: 0\r\n\r\n" }' >"$tmp/oversize.sip"
C=$corpus/rfc4475
"${client[@]}" raw "$udp" "$C/badvers.dat" "$C/mismatch01.dat" "$C/clerr.dat" "$C/lwsstart.dat" \
	"$C/intmeth.dat" "$C/insuf.dat" "$C/test.dat" "$tmp/oversize.sip" "$C/multi01.dat" >"$tmp/raw.out"
cat "$tmp/raw.out"
got() { awk -v f="$1" '$1 == f { sub(/^[^>]*> /, ""); print }' "$tmp/raw.out"; }
check "badvers: 505" "SIP/2.0 505 Version Not Supported" "$(got badvers.dat)"
check "mismatch01: 400 with the reason" "SIP/2.0 400 CSeq method does not match the request method" "$(got mismatch01.dat)"
check "clerr: 400 with the reason" "SIP/2.0 400 Content-Length larger than the message" "$(got clerr.dat)"
check "lwsstart: 400" "SIP/2.0 400 Bad request line: extra whitespace before Request-URI" "$(got lwsstart.dat)"
check "intmeth: 501" "SIP/2.0 501 Not Implemented" "$(got intmeth.dat)"
check "insuf (no From/To/Call-ID): no answer" "(no answer)" "$(got insuf.dat)"
check "test.dat (no version): no answer" "(no answer)" "$(got test.dat)"
check "80 headers: 513" "SIP/2.0 513 Message Too Large" "$(got oversize.sip)"
case "$(got multi01.dat)" in
"SIP/2.0 400 "*) ok "multi01: 400 ($(got multi01.dat))" ;;
*) bad "multi01: $(got multi01.dat)" ;;
esac
check "parse errors counted (-EBADMSG)" 4 "$(total err_badmsg)"
check "parse errors counted (-E2BIG)" 1 "$(total err_toobig)"
check "parse errors counted (version)" 1 "$(total err_version)"
check "validation failures counted (mismatch01, insuf)" 2 "$(total err_invalid)"
check "unanswerable counted" 2 "$(total unanswerable)"
"${client[@]}" raw "$udp" "$src/tests/sip_client.py" >/dev/null # not SIP at all
printf 'OPTIONS sip:a@b SIP/2.0\r\nVia: SIP/2.0/UDP 127.0.0.1:5;branch=z9hG4bKafter\r\nMax-Forwards: 70\r\nFrom: <sip:a@b>;tag=1\r\nTo: <sip:a@b>\r\nCall-ID: after\r\nCSeq: 1 OPTIONS\r\nContent-Length: 0\r\n\r\n' >"$tmp/options.sip"
check "still answering after the malformed ones" "options.sip -> SIP/2.0 200 OK" "$("${client[@]}" raw "$udp" "$tmp/options.sip")"

# --- retransmissions: the same datagram twice, one answer remembered.
# A REGISTER with credentials goes through a server transaction (its answer
# may change state); one without is answered statelessly, afresh each time.
printf 'REGISTER sip:example.com SIP/2.0\r\nVia: SIP/2.0/UDP 127.0.0.1:5;branch=z9hG4bKretrans;rport\r\nMax-Forwards: 70\r\nFrom: <sip:carol@example.com>;tag=1\r\nTo: <sip:carol@example.com>\r\nCall-ID: retrans\r\nCSeq: 1 REGISTER\r\nContact: <sip:carol@127.0.0.1:5>\r\nAuthorization: Digest username="carol", realm="example.com", nonce="00", uri="sip:example.com", response="00000000000000000000000000000000"\r\nContent-Length: 0\r\n\r\n' >"$tmp/register.sip"
sed 's/z9hG4bKretrans/z9hG4bKnocred/; s/Call-ID: retrans/Call-ID: nocred/; /^Authorization/d' "$tmp/register.sip" >"$tmp/register_nocred.sip"
sed 's/z9hG4bKafter/z9hG4bKtwice/; s/Call-ID: after/Call-ID: twice/' "$tmp/options.sip" >"$tmp/options2.sip"
reg0=$(status | jq -r '.registrar_requests.requests')
abs0=$(total absorbed)
check "REGISTER sent twice: identical answers" "SIP/2.0 401 Unauthorized
identical" "$("${client[@]}" twice "$udp" "$tmp/register.sip")"
check "OPTIONS sent twice: identical answers" "SIP/2.0 200 OK
identical" "$("${client[@]}" twice "$udp" "$tmp/options2.sip")"
check "the registrar saw the REGISTER once" $((reg0 + 1)) "$(status | jq -r '.registrar_requests.requests')"
check "the REGISTER retransmission absorbed (OPTIONS is stateless)" $((abs0 + 1)) "$(total absorbed)"
check "REGISTER without credentials twice: a 401 each, each with its own nonce" "SIP/2.0 401 Unauthorized
different" "$("${client[@]}" twice "$udp" "$tmp/register_nocred.sip")"
check "the registrar saw it twice (stateless)" $((reg0 + 3)) "$(status | jq -r '.registrar_requests.requests')"
check "nothing absorbed for it" $((abs0 + 1)) "$(total absorbed)"

# --- responses to our requests reach the worker that owns their branch
un0=$(total resp_unmatched)
"${client[@]}" handoff "$udp" 8
sleep 0.3
check "each socket's foreign-branch response handed off" 8 "$(total resp_handed_off)"
check "handed-off responses delivered to the owners" 8 "$(total rx_handoff)"
check "every response reached its owner (no transaction there: dropped)" $((un0 + 16)) "$(total resp_unmatched)"
check "worker 0 got its 8" 8 "$(status | jq -r '[.sip.workers[0].resp_unmatched] | add')"

# --- SIGHUP: a new user_agent is the Server of the next answers
check "Server before SIGHUP" 1 "$("${client[@]}" show "$udp" "$tmp/options.sip" | grep -c '^Server: sipreg/')"
printf '[sip]\nuser_agent = reloaded-ua/1\ndigest_algorithms = md5\n' >>"$tmp/sipreg.conf"
kill -HUP "$pid"
for _ in $(seq 50); do
	[ "$(status | jq -r '.counters.config_reloads')" = 1 ] && break
	sleep 0.1
done
check "Server after SIGHUP" 1 "$("${client[@]}" show "$udp" "$tmp/options.sip" | grep -c '^Server: reloaded-ua/1')"

# --- REGISTER with digest authentication, UDP and TCP
api -X POST http://sipreg/subscribers \
	-d '{"username":"alice","domain":"example.com","password":"s3cret"}' >/dev/null ||
	bad "POST /subscribers"
out=$("${client[@]}" register udp "$udp" alice example.com s3cret 600)
check "REGISTER over UDP: 401 then 200" "401 200" "$(echo "$out" | head -n 1)"
out=$("${client[@]}" register tcp "$tcp" alice example.com s3cret 600)
check "REGISTER over TCP: 401 then 200" "401 200" "$(echo "$out" | head -n 1)"
check "the 200 lists the binding" 1 "$(echo "$out" | grep -c 'transport=tcp>;expires=600')"
out=$("${client[@]}" register udp "$udp" alice example.com wrong 600)
check "a wrong password: 401 twice" "401 401" "$(echo "$out" | head -n 1)"
# sipp as the UAC (digest_algorithms = md5 since the SIGHUP: sipp 3.6 answers
# only a first MD5 challenge), another account, UDP then TCP
api -X POST http://sipreg/subscribers \
	-d '{"username":"bob","domain":"example.com","password":"b0b"}' >/dev/null ||
	bad "POST /subscribers bob"
for tr in u1 t1; do
	port=$udp; [ $tr = t1 ] && port=$tcp
	(cd "$tmp" && timeout 30 sipp -sf "$src/tests/sipp/register_auth.xml" -s bob -au bob \
		-ap b0b -key domain example.com -key expires 900 -m 1 -t $tr -i 127.0.0.1 \
		-nostdin -timeout 15s -timeout_error -trace_err "127.0.0.1:$port" \
		>"$tmp/sipp-reg-$tr.out" 2>&1)
	check "sipp REGISTER over $tr: 401 then 200" "0 1" \
		"$? $(awk '/Successful call/ { print $NF }' "$tmp/sipp-reg-$tr.out")"
done
check "bob's binding is the TCP one" "tcp 900" \
	"$(api 'http://sipreg/bindings?aor=bob@example.com' | jq -r '.bindings[] | "\(.transport) \(.expires > 890)"' | sed 's/true/900/')"
check "GET /bindings shows alice" "alice@example.com tcp" \
	"$(api http://sipreg/bindings | jq -r '.bindings[] | select(.aor == "alice@example.com") | "\(.aor) \(.transport)"')"

# --- a graceful restart keeps the binding (with less time left)
sleep 1.2
stop TERM
check "SIGTERM: exit 0" 0 $?
start
exp=$(api http://sipreg/bindings | jq -r '.bindings[] | select(.aor == "alice@example.com") | .expires')
if [ -n "$exp" ] && [ "$exp" -lt 600 ] && [ "$exp" -gt 500 ]; then
	ok "binding kept across SIGTERM + start (expires $exp)"
else
	bad "binding after a graceful restart: '$exp'"
fi

# --- kill -9 after more than flush_interval keeps a new binding
out=$("${client[@]}" register udp "$udp" alice example.com s3cret 300)
check "REGISTER again (300 s)" "401 200" "$(echo "$out" | head -n 1)"
sleep 0.5
stop KILL
start
got=$(api http://sipreg/bindings | jq -r '.bindings[] | select(.aor == "alice@example.com") | "\(.transport) \(.expires <= 300 and .expires > 250)"')
check "binding kept across kill -9" "udp true" "$got"

stop TERM
check "final SIGTERM: exit 0" 0 $?
[ "$fails" -eq 0 ] || { echo "$fails check(s) failed"; tail -n 30 "$tmp/sipregd.log"; exit 1; }
echo "all checks passed"
