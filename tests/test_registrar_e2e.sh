#!/usr/bin/env bash
# tests/test_registrar_e2e.sh - the registrar end to end (issue 4 §4-6):
# sipregd on loopback driven by sipp (tests/sipp/register_e2e*.xml, users
# from an injection CSV) over UDP and TCP, checked through sipregctl:
#   - SIPREG_E2E_USERS (200) distinct users imported with sipregctl, each
#     registered with challenge and credentials at a bounded rate, over UDP
#     then over TCP from a new Contact (SS_ENDPOINT_REGISTER_REPLACE=on: the
#     TCP binding replaces the UDP one);
#   - refresh in the same call (same Call-ID, new expiry granted), removal
#     (Expires: 0);
#   - NAT: a Contact address other than the source gets
#     SS_ENDPOINT_NAT_EXPIRE and records the source address, UDP and TCP;
#   - replace off (SIGHUP): a new Contact is refused 403, a refresh of the
#     current one is accepted; on again: replaced;
#   - SS_ENDPOINT_REGISTER_RETRY wrong passwords suspend the endpoint for
#     SS_ENDPOINT_REGISTER_SUSPEND (10 s): the right password gets 403, it
#     is listed by sipregctl guard list, and accepted after the suspension
#     (UDP and TCP);
#   - a subscriber added with sipregctl registers at once, one deleted is
#     refused at once;
#   - a graceful restart keeps every binding (less time left), a kill -9
#     after flush_interval keeps the last registrations.
#
# sipp 3.6 answers only the first challenge of a 401 and only MD5, while
# sipregd offers SHA-256 then MD5 (RFC 8760): sipp talks through
# tests/test_registrar_e2e_proxy.py, which drops the SHA-256 challenge line
# and changes nothing else (sipp computes real MD5 digests on sipregd's
# nonces). The relay sends from the port the scenario puts in Via and
# Contact, so sipregd sees a UA that is not behind NAT unless the scenario
# says otherwise.
#
# Every port is ephemeral, every process is stopped by its PID, every wait is
# bounded. Exit 77 (skip) with a message when a tool is missing or when
# sipregd does not answer REGISTER (no registrar wired into the engine).
set -u
build=${SIPREG_BUILD_ROOT:?run through meson test}
src=${SIPREG_SOURCE_ROOT:?run through meson test}
sipregd=$build/src/sipregd
ctl=$build/tools/sipregctl
scen=$src/tests/sipp
users=${SIPREG_E2E_USERS:-200}
rate=${SIPREG_E2E_RATE:-100} # calls per second
for t in sipp jq python3 timeout; do
	command -v $t >/dev/null || { echo "SKIP: $t is not installed"; exit 77; }
done
for f in "$sipregd" "$ctl"; do
	[ -x "$f" ] || { echo "FAIL: $f is not built"; exit 1; }
done
py=$(python3 -c 'import sys; print(sys.executable)') # not the pyenv shim: fast start
relay_py=$src/tests/test_registrar_e2e_proxy.py

tmp=$(mktemp -d /tmp/sipreg-test-e2e.XXXXXX)
pid=
relay_pid=
cleanup() {
	[ -n "$relay_pid" ] && kill "$relay_pid" 2>/dev/null && wait "$relay_pid" 2>/dev/null
	[ -n "$pid" ] && kill -9 "$pid" 2>/dev/null && wait "$pid" 2>/dev/null
	rm -rf "$tmp"
}
trap cleanup EXIT
trap "exit 1" INT TERM
fails=0
. "$(dirname "$0")/e2e_lib.sh" # ok, bad, check, now_ms, free_port
die() {
	echo "FAIL: $*"
	echo "--- sipregd log (tail)"; tail -20 "$tmp/sipregd.log"
	exit 1
}

write_conf() { # write_conf REPLACE(on|off)
	cat >"$tmp/sipreg.conf.new" <<CONF
[core]
listen = udp:127.0.0.1:${udp:-0} tcp:127.0.0.1:${tcp:-0}
workers = 2
shutdown_timeout = 5
[admin]
socket = $tmp/admin.sock
[database]
path = $tmp/db/sipreg.db
flush_interval = 200
[sip]
SS_ENDPOINT_EXPIRE = 600
SS_ENDPOINT_NAT_EXPIRE = 60
SS_ENDPOINT_REGISTER_RETRY = 3
SS_ENDPOINT_REGISTER_SUSPEND = 10
SS_ENDPOINT_REGISTER_REPLACE = $1
ENDPOINT_ADDRESS_RETRY = 10000
CONF
	mv "$tmp/sipreg.conf.new" "$tmp/sipreg.conf"
}

ctl() { timeout 20 "$ctl" -s "$tmp/admin.sock" "$@"; }

start() {
	# not under timeout(1): pid must be sipregd's own, for kill -9
	"$sipregd" -c "$tmp/sipreg.conf" </dev/null >>"$tmp/sipregd.log" 2>&1 &
	pid=$!
	for _ in $(seq 100); do
		st=$(ctl status --json 2>/dev/null)
		udp=$(jq -r '.sip.bound[]? | select(startswith("udp:"))' <<<"$st" 2>/dev/null | sed 's/.*://')
		tcp=$(jq -r '.sip.bound[]? | select(startswith("tcp:"))' <<<"$st" 2>/dev/null | sed 's/.*://')
		[ -n "$udp" ] && [ -n "$tcp" ] && return 0
		kill -0 "$pid" 2>/dev/null || die "sipregd exited at start"
		sleep 0.1
	done
	die "sipregd did not report its ports within 10 s"
}

stop() { # graceful; the exit status must be 0
	kill -TERM "$pid"
	for _ in $(seq 100); do
		kill -0 "$pid" 2>/dev/null || break
		sleep 0.1
	done
	kill -0 "$pid" 2>/dev/null && die "sipregd did not stop within 10 s of SIGTERM"
	wait "$pid"
	check "graceful stop exits 0" 0 $?
	pid=
}


# The users FIRST..LAST (indexes) as a sipp injection file.
inf() { # inf FIRST LAST FILE
	{
		echo SEQUENTIAL
		for i in $(seq "$1" "$2"); do
			u=$(printf 'u%03d' "$i")
			echo "$u;carrier.example;[authentication username=$u password=pw-$u];[authentication username=$u password=bad-$u]"
		done
	} >"$3"
}

# sipp PROTO SCENARIO FIRST LAST VIA_PORT CONTACT_HOST EXPIRES [sipp args...]:
# one call per user FIRST..LAST through a relay sending from VIA_PORT.
# Returns sipp's exit status (0: every call went as the scenario says).
nsipp=0
sipp_run() {
	local proto=$1 sf=$2 first=$3 last=$4 via=$5 host=$6 exp=$7
	shift 7
	local lport sport calls=$((last - first + 1)) rc
	nsipp=$((nsipp + 1))
	inf "$first" "$last" "$tmp/users-$nsipp.csv"
	lport=$(free_port)
	sport=$(free_port)
	"$py" "$relay_py" "$proto" "$lport" "$via" "$([ "$proto" = tcp ] && echo "$tcp" || echo "$udp")" \
		>"$tmp/relay-$nsipp.out" 2>&1 &
	relay_pid=$!
	for _ in $(seq 50); do
		grep -qs ready "$tmp/relay-$nsipp.out" && break
		sleep 0.1
	done
	grep -qs ready "$tmp/relay-$nsipp.out" || die "relay did not start: $(cat "$tmp/relay-$nsipp.out")"
	timeout 120 sipp "127.0.0.1:$lport" -sf "$scen/$sf" -inf "$tmp/users-$nsipp.csv" \
		-key via_port "$via" -key contact_host "$host" -key expires "$exp" \
		-i 127.0.0.1 -p "$sport" -t "$([ "$proto" = tcp ] && echo t1 || echo u1)" \
		-m "$calls" -r "$rate" -l 50 -timeout 100s -timeout_error -recv_timeout 5000 \
		-max_recv_loops 1000 -trace_err -error_file "$tmp/sipp-$nsipp.err" \
		-trace_stat -stf "$tmp/sipp-$nsipp.csv" "$@" </dev/null >"$tmp/sipp-$nsipp.out" 2>&1
	rc=$?
	kill "$relay_pid" 2>/dev/null
	wait "$relay_pid" 2>/dev/null
	relay_pid=
	if [ $rc -ne 0 ]; then
		bad "sipp $sf ($proto, users $first-$last) exited $rc:"
		grep -v "Failed to delete FD from epoll\|Failed to shutdown socket" \
			"$tmp/sipp-$nsipp.err" 2>/dev/null | head -30
		tail -8 "$tmp/sipp-$nsipp.out"
	fi
	return $rc
}

bindings() { ctl bindings --json; }
# jq over the bindings of users FIRST..LAST
of_users() { # of_users FIRST LAST JQ-FILTER
	bindings | jq -r --argjson a "$1" --argjson b "$2" \
		"[.bindings[] | select((.aor | ltrimstr(\"u\") | split(\"@\")[0] | tonumber) as \$n | \$n >= \$a and \$n <= \$b)] | $3"
}

mkdir -p "$tmp/db"
write_conf on
start
echo "sipregd pid $pid, udp $udp, tcp $tcp"

# --- does sipregd answer REGISTER at all? (skip, loudly, when it does not)
probe=$("$py" - "$udp" <<'PY'
import socket, sys
s = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
s.bind(("127.0.0.1", 0))
p = s.getsockname()[1]
s.settimeout(2.0)
msg = ("REGISTER sip:carrier.example SIP/2.0\r\n"
       f"Via: SIP/2.0/UDP 127.0.0.1:{p};branch=z9hG4bKprobe1;rport\r\n"
       "Max-Forwards: 70\r\nFrom: <sip:probe@carrier.example>;tag=1\r\n"
       "To: <sip:probe@carrier.example>\r\nCall-ID: probe-1\r\nCSeq: 1 REGISTER\r\n"
       f"Contact: <sip:probe@127.0.0.1:{p}>\r\nContent-Length: 0\r\n\r\n")
s.sendto(msg.encode(), ("127.0.0.1", int(sys.argv[1])))
try:
    print(s.recv(65535).split(b"\r\n")[0].decode())
except socket.timeout:
    print("(no answer)")
PY
)
case "$probe" in
"SIP/2.0 401"*) ok "sipregd challenges a REGISTER ($probe)" ;;
*) echo "SKIP: sipregd does not handle REGISTER (answered: $probe): the registrar is not wired into the engine"; exit 77 ;;
esac

# --- subscribers
last=$((users - 1))
{
	echo "username,domain,password"
	for i in $(seq 0 $last); do u=$(printf 'u%03d' "$i"); echo "$u,carrier.example,pw-$u"; done
} >"$tmp/subs.csv"
out=$(ctl subscriber import "$tmp/subs.csv")
check "import $users subscribers" "imported $users subscribers from $tmp/subs.csv" "$out"

# --- many users over UDP, at a bounded rate
v_udp=$(free_port)
t0=$(date +%s%N)
sipp_run udp register_e2e.xml 0 $last "$v_udp" 127.0.0.1 600 &&
	ok "$users users registered over UDP (401 + credentials + 200) at $rate/s in $((($(date +%s%N) - t0) / 1000000)) ms"
check "UDP: one binding per user" "$users" "$(bindings | jq '[.bindings[] | select(.transport == "udp")] | length')"
check "UDP: contact, source, expiry, not NAT" "$users" "$(bindings | jq --arg p "$v_udp" '[.bindings[] | select(.contact == "sip:\(.aor | split("@")[0])@127.0.0.1:\($p);transport=UDP" and .received == "127.0.0.1:\($p)" and .nat == false and .expires >= 590 and .expires <= 600)] | length')"

# --- the same users over TCP from another Contact: replace on replaces
v_tcp=$(free_port)
sipp_run tcp register_e2e.xml 0 $last "$v_tcp" 127.0.0.1 600 && ok "$users users registered over TCP"
check "TCP: every AOR has exactly one binding" "$users,$users" "$(bindings | jq '[.bindings[].aor] | unique | length'),$(bindings | jq '.bindings | length')"
check "TCP replaced the UDP bindings (replace on)" "$users" "$(bindings | jq --arg p "$v_tcp" '[.bindings[] | select(.transport == "tcp" and .received == "127.0.0.1:\($p)" and .nat == false)] | length')"
check "no UDP binding left" 0 "$(bindings | jq '[.bindings[] | select(.transport == "udp")] | length')"

# --- refresh in the same call: 600 then 120
v_ref=$(free_port)
sipp_run udp register_e2e_refresh.xml 0 9 "$v_ref" 127.0.0.1 600 -key refresh_expires 120 &&
	ok "10 users registered then refreshed in the same call"
check "refresh granted the new expiry" "10" "$(of_users 0 9 "map(select(.expires <= 120 and .expires >= 115 and .received == \"127.0.0.1:$v_ref\")) | length")"
check "refresh kept one binding each" "10" "$(of_users 0 9 'length')"

# --- removal: Expires: 0 for the same Contact
sipp_run udp register_e2e.xml 0 9 "$v_ref" 127.0.0.1 0 && ok "10 users removed their binding (Expires: 0)"
check "removed bindings are gone" 0 "$(of_users 0 9 'length')"
check "the others are untouched" $((users - 10)) "$(bindings | jq '.bindings | length')"

# --- NAT: Contact 192.0.2.55, source 127.0.0.1
v_nat=$(free_port)
sipp_run udp register_e2e.xml 10 19 "$v_nat" 192.0.2.55 600 && ok "10 NATed users registered over UDP"
check "UDP NAT: SS_ENDPOINT_NAT_EXPIRE granted, source recorded" 10 "$(of_users 10 19 "map(select(.nat == true and .expires <= 60 and .expires >= 55 and .received == \"127.0.0.1:$v_nat\" and (.contact | contains(\"@192.0.2.55:\")))) | length")"
v_nat2=$(free_port)
sipp_run tcp register_e2e.xml 20 29 "$v_nat2" 192.0.2.55 600 && ok "10 NATed users registered over TCP"
check "TCP NAT: SS_ENDPOINT_NAT_EXPIRE granted, source recorded" 10 "$(of_users 20 29 "map(select(.nat == true and .transport == \"tcp\" and .expires <= 60 and .expires >= 55 and .received == \"127.0.0.1:$v_nat2\")) | length")"
out=$(ctl bindings u010@carrier.example)
case "$out" in
*"u010@carrier.example  sip:u010@192.0.2.55:$v_nat;transport=UDP  "*"127.0.0.1:$v_nat  udp        yes  sipp-e2e"*) ok "sipregctl bindings USER shows the NATed binding" ;;
*) bad "sipregctl bindings u010@carrier.example: $out" ;;
esac

# --- replace off (a live key, SIGHUP)
v_a=$(free_port)
v_b=$(free_port)
sipp_run udp register_e2e.xml 30 39 "$v_a" 127.0.0.1 600 && ok "10 users registered from contact A"
write_conf off
kill -HUP "$pid"
for _ in $(seq 50); do
	[ "$(ctl config --json | jq -r '.. | .SS_ENDPOINT_REGISTER_REPLACE? // empty' | head -1)" = off ] && break
	sleep 0.1
done
check "SIGHUP applied SS_ENDPOINT_REGISTER_REPLACE=off" off "$(ctl config --json | jq -r '.. | .SS_ENDPOINT_REGISTER_REPLACE? // empty' | head -1)"
sipp_run udp register_e2e_forbidden.xml 30 39 "$v_b" 127.0.0.1 600 &&
	ok "replace off: a new Contact is refused with 403"
check "replace off: bindings still contact A" 10 "$(of_users 30 39 "map(select(.received == \"127.0.0.1:$v_a\")) | length")"
sipp_run udp register_e2e.xml 30 39 "$v_a" 127.0.0.1 300 && ok "replace off: a refresh from contact A is accepted"
check "replace off: refresh applied" 10 "$(of_users 30 39 "map(select(.received == \"127.0.0.1:$v_a\" and .expires <= 300 and .expires >= 295)) | length")"
write_conf on
kill -HUP "$pid"
for _ in $(seq 50); do
	[ "$(ctl config --json | jq -r '.. | .SS_ENDPOINT_REGISTER_REPLACE? // empty' | head -1)" = on ] && break
	sleep 0.1
done
sipp_run udp register_e2e.xml 30 39 "$v_b" 127.0.0.1 600 && ok "replace on again: contact B accepted"
check "replace on: contact B replaced A" "10,10" "$(of_users 30 39 "map(select(.received == \"127.0.0.1:$v_b\")) | length"),$(of_users 30 39 'length')"

# --- suspension after SS_ENDPOINT_REGISTER_RETRY (3) wrong passwords, UDP and TCP
v_s=$(free_port)
sipp_run udp register_e2e_suspend.xml 40 40 "$v_s" 127.0.0.1 600 &&
	ok "UDP: 3 wrong passwords, then the right one refused 403, a new REGISTER 403"
t_susp=$(date +%s)
v_s2=$(free_port)
sipp_run tcp register_e2e_suspend.xml 41 41 "$v_s2" 127.0.0.1 600 &&
	ok "TCP: 3 wrong passwords, then the right one refused 403, a new REGISTER 403"
out=$(ctl guard list)
case "$out" in
*"u040@carrier.example@127.0.0.1  endpoint  "*"yes, "*) ok "sipregctl guard list shows u040 suspended" ;;
*) bad "guard list: $out" ;;
esac
check "guard: both endpoints suspended" 2 "$(ctl guard list --json | jq '[.entries[] | select(.kind == "endpoint" and .suspended and (.key | test("^u04[01]@carrier.example@127.0.0.1$")))] | length')"
check "suspended endpoints got no new binding (theirs from the TCP run stays)" "0,2" \
	"$(of_users 40 41 "map(select(.received == \"127.0.0.1:$v_s\" or .received == \"127.0.0.1:$v_s2\")) | length"),$(of_users 40 41 "map(select(.received == \"127.0.0.1:$v_tcp\")) | length")"
sipp_run udp register_e2e_suspended.xml 40 40 "$v_s" 127.0.0.1 600 && ok "still suspended: 403 at once"
# another user from the same address is not affected (the endpoint is account + address)
sipp_run udp register_e2e.xml 42 42 "$v_s" 127.0.0.1 600 && ok "another account from the same address registers"
sleep $((t_susp + 11 - $(date +%s)))
sipp_run udp register_e2e.xml 40 40 "$v_s" 127.0.0.1 600 && ok "UDP: after SS_ENDPOINT_REGISTER_SUSPEND the right password registers"
sipp_run tcp register_e2e.xml 41 41 "$v_s2" 127.0.0.1 600 && ok "TCP: after SS_ENDPOINT_REGISTER_SUSPEND the right password registers"
check "both registered after the suspension" 2 "$(of_users 40 41 'length')"

# --- subscribers changed live with sipregctl take effect at once
v_l=$(free_port)
out=$(ctl subscriber add u999@carrier.example pw-u999)
check "sipregctl subscriber add while running" "added u999@carrier.example: enabled, max_contacts default" "$out"
sipp_run udp register_e2e.xml 999 999 "$v_l" 127.0.0.1 600 && ok "a subscriber added live registers at once"
out=$(ctl subscriber del u999@carrier.example)
check "sipregctl subscriber del while running" "deleted u999@carrier.example" "$out"
sipp_run udp register_e2e_unknown.xml 999 999 "$v_l" 127.0.0.1 600 &&
	ok "a subscriber deleted live is refused at once (401, as a wrong password)"
ctl subscriber show u999@carrier.example >/dev/null 2>&1
check "sipregctl subscriber show of the deleted one exits 1" 1 $?
ctl bindings u999@carrier.example --json >/dev/null
check "sipregctl bindings of it exits 0" 0 $?

# --- graceful restart: every binding back, with less (or the same) time left
before=$(bindings | jq -c '[.bindings[] | {aor, contact, expires}] | sort_by(.aor, .contact)')
n_before=$(jq length <<<"$before")
sleep 1
stop
start
after=$(bindings | jq -c '[.bindings[] | {aor, contact, expires}] | sort_by(.aor, .contact)')
check "graceful restart: the same $n_before bindings" "$(jq -c 'map([.aor, .contact])' <<<"$before")" "$(jq -c 'map([.aor, .contact])' <<<"$after")"
check "graceful restart: remaining expiry kept (lower by the downtime, at most 10 s)" 0 \
	"$(jq -n --argjson a "$before" --argjson b "$after" '[range($a | length) | select($b[.].expires > $a[.].expires or $b[.].expires < $a[.].expires - 10)] | length')"

# --- kill -9 after flush_interval (200 ms): the last registrations are kept
v_k=$(free_port)
sipp_run udp register_e2e.xml 50 59 "$v_k" 127.0.0.1 600 && ok "10 users registered just before kill -9"
sleep 1
{ kill -9 "$pid"; wait "$pid"; } 2>/dev/null
pid=
start
check "kill -9: the last registrations survived" 10 "$(of_users 50 59 "map(select(.received == \"127.0.0.1:$v_k\")) | length")"
check "kill -9: every binding survived" "$n_before" "$(bindings | jq '.bindings | length')"
stop

if [ $fails -ne 0 ]; then
	echo "$fails check(s) failed"; echo "--- sipregd log (tail)"; tail -20 "$tmp/sipregd.log"
	exit 1
fi
echo "all checks passed"
