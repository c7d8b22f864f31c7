#!/usr/bin/env bash
# tests/test_trunk_e2e.sh - outbound trunk registrations end to end (issue 5
# §1, §3, §4 integration): sipregd (the daemon under test, "D") registers
# trunks added with sipregctl to real registrars on loopback:
#   - a second sipregd as the upstream registrar ("U", its own subscribers):
#     a trunk added with `sipregctl trunk add` registers (401 then 200 with
#     credentials), `trunk show` says registered with the granted expiry
#     (fixed expire 20); the refresh comes at about half of it (9-10.3 s:
#     the refresh spread moves it at most 10% earlier, never later); disable
#     sends the unregister (U's bindings go to 0), enable registers again;
#     `trunk import` of two more rows registers them, `trunk list --state`
#     and `status` count them; U going away: `trunk refresh` times out
#     (Timer F) to failed with the retry SS_SIP_USER_AGENT_RETRY_DELAY (30 s)
#     later, the retry comes after exactly that delay and registers again
#     once U is back; SIGTERM unregisters every trunk (U's bindings go to 0)
#     and D exits 0; after a restart the stored trunks register again;
#     a wrong password (401 again after credentials) fails and waits the
#     trunk's own retry delay (45 s);
#   - sipp as a UAS registrar (tests/sipp/uas_register.xml): 401 (MD5,
#     qop=auth) then 200 granting 40 s to an auto trunk asking 3600
#     (verifyauth checks our digest); disable sends REGISTER Expires: 0;
#     uas_register_423.xml: 423 with Min-Expires 60 answered at once with
#     Expires: 60, and the warning naming both values; uas_register_503.xml:
#     503 with Retry-After 45, longer than the delay: honoured and logged;
#   - Kamailio (tests/kamailio/registrar.cfg, auth without a database by
#     pv_www_authenticate, usrloc in memory): registered, the binding in
#     Kamailio's location table (kamcmd ul.lookup), refreshed at about half
#     of 20 s with the same Call-ID and the next CSeq, removed by D's SIGTERM
#     (Expires: 0 in the same Call-ID).
#     Skipped (said so) when kamailio/kamcmd are not installed.
#
# Exit 77 (skip) with a message when a required tool is missing or when D's
# /status has no "trunks" object (the trunk service not wired into sipregd).
# Every port is ephemeral, every process is stopped by its PID, every wait
# is bounded.
set -u
build=${SIPREG_BUILD_ROOT:?run through meson test}
src=${SIPREG_SOURCE_ROOT:?run through meson test}
sipregd=$build/src/sipregd
ctl=$build/tools/sipregctl
for t in jq python3 timeout; do
	command -v $t >/dev/null || { echo "SKIP: $t is not installed"; exit 77; }
done
for f in "$sipregd" "$ctl"; do
	[ -x "$f" ] || { echo "FAIL: $f is not built"; exit 1; }
done
py=$(python3 -c 'import sys; print(sys.executable)')

tmp=$(mktemp -d /tmp/sipreg-test-trunk.XXXXXX)
upid= dpid= sipp_pid= kam_pid=
cleanup() {
	for p in $sipp_pid $kam_pid $dpid $upid; do
		kill -9 "$p" 2>/dev/null && wait "$p" 2>/dev/null
	done
	rm -rf "$tmp"
}
trap cleanup EXIT
trap "exit 1" INT TERM
fails=0
. "$(dirname "$0")/e2e_lib.sh" # ok, bad, check, now_ms, free_port
logs() {
	echo "--- D log (tail)"; tail -25 "$tmp/d.log" 2>/dev/null
	echo "--- U log (tail)"; tail -10 "$tmp/u.log" 2>/dev/null
}
die() {
	echo "FAIL: $*"
	logs
	exit 1
}


uport=$(free_port)
dport=$(free_port)
kport=$(free_port)
sport=$(free_port)

# write_conf NAME PORT: the registrar settings serve U, the user-agent ones D
write_conf() {
	mkdir -p "$tmp/$1-db"
	cat >"$tmp/$1.conf" <<CONF
[core]
listen = udp:127.0.0.1:$2 tcp:127.0.0.1:$2
workers = 2
shutdown_timeout = 5
[admin]
socket = $tmp/$1.sock
[database]
path = $tmp/$1-db/sipreg.db
flush_interval = 100
[sip]
SS_SIP_USER_AGENT_RETRY_DELAY = 30
SS_SIP_USER_AGENT_SEND_UNREGISTER = on
SS_ENDPOINT_EXPIRE = 600
SS_ENDPOINT_NAT_EXPIRE = 60
min_expire = 20
ENDPOINT_ADDRESS_RETRY = 10000
CONF
	# D at debug: the routine state changes (refresh, retry) are logged with
	# their millisecond times
	[ "$1" = d ] && sed -i 's/^shutdown_timeout = 5$/&\nlog_level = debug/' "$tmp/$1.conf"
}
# log_ms PATTERN: the time (epoch ms) of the first line of D's log matching
# PATTERN (grep -E), from its ts=YYYY-MM-DDTHH:MM:SS.mmmZ
log_ms() {
	local ts
	ts=$(grep -E -m1 "$1" "$tmp/d.log" | sed -n 's/^ts=\([0-9-]*\)T\([0-9:.]*\)Z.*/\1 \2/p')
	[ -n "$ts" ] && date -u -d "$ts UTC" +%s%3N
}
# within NAME MS LOW HIGH: MS is within [LOW, HIGH]
within() {
	if [ -n "$2" ] && [ "$2" -ge "$3" ] && [ "$2" -le "$4" ]; then ok "$1: $2 ms"; else bad "$1: '$2' ms, want $3-$4"; fi
}
uctl() { timeout 20 "$ctl" -s "$tmp/u.sock" "$@"; }
dctl() { timeout 20 "$ctl" -s "$tmp/d.sock" "$@"; }

# start NAME: sipregd -c NAME.conf in the background (its own PID, for kill)
start() {
	"$sipregd" -c "$tmp/$1.conf" </dev/null >>"$tmp/$1.log" 2>&1 &
	local p=$!
	eval "${1}pid=$p"
	for _ in $(seq 100); do
		# (jq 1.6 -e exits 0 on empty input: test the status itself)
		st=$(timeout 5 "$ctl" -s "$tmp/$1.sock" status --json 2>/dev/null) &&
			jq -e '.sip.bound | length > 0' <<<"$st" >/dev/null 2>&1 && return 0
		kill -0 "$p" 2>/dev/null || die "sipregd $1 exited at start"
		sleep 0.1
	done
	die "sipregd $1 did not start within 10 s"
}

# stop NAME: SIGTERM, bounded; the exit status must be 0
stop() {
	local p
	eval "p=\$${1}pid"
	kill -TERM "$p"
	for _ in $(seq 150); do
		kill -0 "$p" 2>/dev/null || break
		sleep 0.1
	done
	kill -0 "$p" 2>/dev/null && die "sipregd $1 did not stop within 15 s of SIGTERM"
	wait "$p"
	check "sipregd $1: graceful stop exits 0" 0 $?
	eval "${1}pid="
}

tjson() { dctl trunk show "$1" --json 2>/dev/null; }
tget() { tjson "$1" | jq -r "$2" 2>/dev/null; }
# wait_trunk NAME SECONDS JQ-CONDITION: polls `trunk show` every 0.1 s
wait_trunk() {
	local end=$(($(now_ms) + $2 * 1000))
	while [ "$(now_ms)" -lt $end ]; do
		# "true" printed: jq 1.6 -e exits 0 on empty input (no trunk)
		tjson "$1" | jq "$3" 2>/dev/null | grep -qx true && return 0
		sleep 0.1
	done
	return 1
}
# U's bindings of AOR (a number)
ubindings() { uctl bindings "$1" --json 2>/dev/null | jq '.bindings | length'; }
wait_ubindings() { # wait_ubindings AOR WANT SECONDS
	local end=$(($(now_ms) + $3 * 1000))
	while [ "$(now_ms)" -lt $end ]; do
		[ "$(ubindings "$1")" = "$2" ] && return 0
		sleep 0.1
	done
	return 1
}

# --- U, the upstream registrar, with the trunks' accounts
write_conf u "$uport"
start u
printf 'username,domain,password\ntrunk1,upstream.example,pw-1\ntrunk2,upstream.example,pw-2\ntrunk3,upstream.example,pw-3\n' >"$tmp/subs.csv"
out=$(uctl subscriber import "$tmp/subs.csv")
check "U: trunk accounts imported" "imported 3 subscribers from $tmp/subs.csv" "$out"

# --- D, the daemon under test
write_conf d "$dport"
start d
st=$(dctl status --json) || die "sipregd d: status failed after start"
if ! jq '.trunks | type == "object"' <<<"$st" 2>/dev/null | grep -qx true; then
	echo "SKIP: sipregd's /status has no \"trunks\" object: the trunk service is not wired into sipregd yet (nothing tested against it)"
	exit 77
fi

# --- registration: 401 then 200, the granted expiry
out=$(dctl trunk add t1 --registrar "127.0.0.1:$uport" --user trunk1 --password pw-1 \
	--domain upstream.example --expire 20)
check "trunk add t1" "added trunk t1: registrar 127.0.0.1:$uport, user trunk1, enabled" "$out"
wait_trunk t1 10 '.state == "registered"' || die "t1 not registered within 10 s: $(tjson t1)"
t_reg=$(now_ms)
j=$(tjson t1)
check "t1: last status 200" 200 "$(jq -r .last_code <<<"$j")"
check "t1: granted 20 s (fixed expire 20)" 20 "$(jq -r .granted <<<"$j")"
check "t1: two REGISTERs (401, then credentials)" 2 "$(jq -r .attempts <<<"$j")"
check "t1: no failure" 0 "$(jq -r .failures <<<"$j")"
check "t1: next action refresh" refresh "$(jq -r .next_action <<<"$j")"
n=$(jq -r .next_in <<<"$j")
[ "$n" -ge 8 ] && [ "$n" -le 10 ] && ok "t1: refresh in $n s (half of 20, spread <= 10% earlier)" ||
	bad "t1: refresh in $n s, want 8-10"
ls=$(jq -r .last_success <<<"$j")
d=$(($(date +%s) - ls))
[ "$d" -ge 0 ] && [ "$d" -le 2 ] && ok "t1: last success is now ($d s ago)" || bad "t1: last success $d s ago"
check "D status: a challenge answered" true "$(dctl status --json | jq '.trunks.challenges >= 1')"
check "U: one binding for trunk1" 1 "$(ubindings trunk1@upstream.example)"
check "U: the binding's contact is D's port" true \
	"$(uctl bindings trunk1@upstream.example --json | jq --arg p ":$dport" '.bindings[0].contact | contains($p)')"
out=$(dctl trunk show t1)
grep -q '^state: *registered$' <<<"$out" && ok "trunk show: state registered" || bad "trunk show: $out"
grep -q '^granted expiry: *20s, valid for' <<<"$out" && ok "trunk show: granted expiry 20s" || bad "trunk show: $out"
grep -q '^last result: *200 OK$' <<<"$out" && ok "trunk show: last result 200 OK" || bad "trunk show: $out"
grep -q '^next action: *refresh in [0-9]*s$' <<<"$out" && ok "trunk show: next refresh" || bad "trunk show: $out"

# --- the refresh at about half of the granted expiry
wait_trunk t1 14 '.attempts >= 3' || bad "t1: no refresh within 14 s: $(tjson t1)"
dt=$(($(now_ms) - t_reg))
[ $dt -ge 8000 ] && [ $dt -le 11500 ] && ok "t1: refreshed $dt ms after registering (due at 9000-10000; seen by polling every 0.1 s)" ||
	bad "t1: refreshed $dt ms after registering (want 9000-10000)"
wait_trunk t1 5 '.state == "registered" and .failures == 0' || bad "t1: refresh failed: $(tjson t1)"
check "t1: the refresh is one REGISTER (credentials sent pre-emptively)" 3 "$(tget t1 .attempts)"
check "U: still one binding after the refresh" 1 "$(ubindings trunk1@upstream.example)"
# the daemon's own times: the refresh is due at 10 s minus a spread of at most 1 s
a=$(log_ms 'event=trunk_state trunk=t1 old=registering new=registered')
b=$(log_ms 'event=trunk_state trunk=t1 old=registered new=refreshing')
within "D's log: t1's refresh after its registration (due 9000-10000)" $((b - a)) 8990 10020

# --- disable unregisters, enable registers again
out=$(dctl trunk disable t1)
check "trunk disable t1" "disabled trunk t1" "$out"
wait_ubindings trunk1@upstream.example 0 5 && ok "disable: U's binding removed (REGISTER Expires: 0)" ||
	bad "disable: U still has $(ubindings trunk1@upstream.example) binding(s)"
wait_trunk t1 5 '.state == "disabled"' && ok "t1: disabled" || bad "t1 not disabled: $(tjson t1)"
check "list --state disabled" t1 "$(dctl trunk list --state disabled --json | jq -r '[.trunks[].name] | join(",")')"
out=$(dctl trunk enable t1)
check "trunk enable t1" "enabled trunk t1" "$out"
wait_trunk t1 10 '.state == "registered"' && ok "enable: registered again" || bad "enable: $(tjson t1)"
wait_ubindings trunk1@upstream.example 1 5 && ok "enable: U has the binding again" || bad "enable: no binding at U"

# --- a wrong password: the repeated challenge is a failure, retried after the delay
out=$(dctl trunk add tbad --registrar "127.0.0.1:$uport" --user trunk2 --password wrong \
	--domain upstream.example --retry-delay 45)
check "trunk add tbad (wrong password)" "added trunk tbad: registrar 127.0.0.1:$uport, user trunk2, enabled" "$out"
wait_trunk tbad 10 '.state == "failed"' || bad "tbad not failed within 10 s: $(tjson tbad)"
j=$(tjson tbad)
check "tbad: 401 after credentials, one failure, two REGISTERs" "401 1 2 retry" \
	"$(jq -r '"\(.last_code) \(.failures) \(.attempts) \(.next_action)"' <<<"$j")"
n=$(jq -r .next_in <<<"$j")
[ "$n" -ge 44 ] && [ "$n" -le 45 ] && ok "tbad: retry in $n s (its own retry delay 45)" || bad "tbad: retry in $n s, want 44-45"
check "U: no binding for the wrong password" 0 "$(ubindings trunk2@upstream.example)"
dctl trunk del tbad >/dev/null || bad "trunk del tbad"

# --- import, list, status
printf 'name,registrar,proxy,transport,user,auth_user,password,domain,expire,retry_delay,enabled\nt2,127.0.0.1:%s,,udp,trunk2,,pw-2,upstream.example,,,1\nt3,127.0.0.1:%s,,tcp,trunk3,trunk3,pw-3,upstream.example,60,30,1\n' \
	"$uport" "$uport" >"$tmp/trunks.csv"
printf 'name,registrar,proxy,transport,user,auth_user,password,domain,expire,retry_delay,enabled\nt4,127.0.0.1:%s,,udp,trunk4,,pw,upstream.example,,,1\nt5,127.0.0.1:%s,,udp,trunk5,,pw,upstream.example,5,,1\n' \
	"$uport" "$uport" >"$tmp/bad.csv"
out=$(dctl trunk import "$tmp/bad.csv" 2>&1)
check "import of a bad file exits 1" 1 $?
grep -q "line 3" <<<"$out" && ok "the bad row is reported by its line" || bad "bad import said: $out"
check "nothing of the bad file imported" 1 "$(dctl trunk list --json | jq '.trunks | length')"
out=$(dctl trunk import "$tmp/trunks.csv")
check "trunk import" "imported 2 trunks from $tmp/trunks.csv" "$out"
for t in t2 t3; do
	wait_trunk $t 10 '.state == "registered"' && ok "$t (imported) registered" || bad "$t: $(tjson $t)"
done
check "t2: auto asks 3600, U grants its SS_ENDPOINT_EXPIRE 600" 600 "$(tget t2 .granted)"
check "t3 over TCP: granted 60" 60 "$(tget t3 .granted)"
check "U: trunk2 and trunk3 bound" "1 1" "$(ubindings trunk2@upstream.example) $(ubindings trunk3@upstream.example)"
check "list --state registered" "t1,t2,t3" \
	"$(dctl trunk list --state registered --json | jq -r '[.trunks[].name] | sort | join(",")')"
out=$(dctl trunk list)
grep -q '^NAME  *STATE  *LAST_RESULT  *GRANTED  *NEXT  *ATTEMPTS/FAILURES$' <<<"$out" && ok "trunk list: the table" ||
	bad "trunk list: $out"
grep -q '^t2  *registered  *200 OK  *600s (asked 3600)  *refresh in [0-9]*s  *[0-9]*/0$' <<<"$out" &&
	ok "trunk list: t2's row" || bad "trunk list: $out"
out=$(dctl status)
grep -q '^trunks: 3 (disabled 0, registering 0, registered 3, refreshing 0, failed 0, unregistering 0)$' <<<"$out" &&
	ok "status: trunks by state" || bad "status: $(grep trunks <<<"$out")"

# --- the registrar goes away: timeout, failed, retry after exactly 30 s
stop u
out=$(dctl trunk refresh t1)
check "trunk refresh t1" "refreshing trunk t1" "$out"
t_ref=$(now_ms)
dctl trunk refresh t2 >/dev/null || bad "trunk refresh t2"
wait_trunk t1 40 '.state == "failed"' || die "t1 not failed within 40 s of a refresh with U gone: $(tjson t1)"
t_fail=$(now_ms)
dt=$((t_fail - t_ref))
[ $dt -ge 31000 ] && [ $dt -le 34000 ] && ok "t1 failed $dt ms after the refresh (Timer F, 32 s)" ||
	bad "t1 failed $dt ms after the refresh, want about 32000"
j=$(tjson t1)
check "t1: last result timeout" timeout "$(jq -r .last_reason <<<"$j")"
check "t1: next action retry" retry "$(jq -r .next_action <<<"$j")"
n=$(jq -r .next_in <<<"$j")
[ "$n" -ge 29 ] && [ "$n" -le 30 ] && ok "t1: retry in $n s (SS_SIP_USER_AGENT_RETRY_DELAY 30)" || bad "t1: retry in $n s"
f=$(jq -r .failures <<<"$j")
a=$(jq -r .attempts <<<"$j")
check "t1: one failure counted" 1 "$f"
out=$(dctl trunk show t1)
grep -q '^state: *failed$' <<<"$out" && grep -q '^last result: *timeout$' <<<"$out" &&
	grep -q '^next action: *retry in [0-9]*s$' <<<"$out" && ok "trunk show: failed, timeout, retry" ||
	bad "trunk show: $out"
# t2's refresh failed too, but its binding (600 s) is still valid: said so
wait_trunk t2 5 '.state == "failed"' || bad "t2 not failed: $(tjson t2)"
check "t2: a failed refresh leaves the registration valid" true "$(tget t2 '.valid and .valid_for > 500')"
grep -q '^granted expiry: *600s (asked 3600), valid for [0-9]*s more$' <<<"$(dctl trunk show t2)" &&
	ok "trunk show t2: failed, still valid for the rest of its 600 s" || bad "trunk show t2: $(dctl trunk show t2)"
# t3 (TCP) is listed too when its refresh came due while U was gone: the
# refused connect failed it at once (a transport error), not after Timer F
lf=$(dctl trunk list --state failed --json | jq -r '[.trunks[].name] | sort | join(",")')
[ "$lf" = t1,t2,t3 ] && grep -q '^transport error: Connection refused$' <<<"$(tget t3 .last_reason)" &&
	{ ok "t3 (TCP): its refresh with U gone failed at once: $(tget t3 .last_reason)"; lf=t1,t2; }
check "list --state failed" t1,t2 "$lf"
start u # back, on the same port: the retry succeeds
wait_trunk t1 33 ".attempts > $a" || bad "t1: no retry within 33 s of failing: $(tjson t1)"
dt=$(($(now_ms) - t_fail))
[ $dt -ge 28500 ] && [ $dt -le 32000 ] && ok "t1: retried $dt ms after failing (want 30000)" ||
	bad "t1: retried $dt ms after failing (want 30000)"
wait_trunk t1 10 '.state == "registered"' && ok "t1: registered again (recovery)" || bad "t1: $(tjson t1)"
a=$(log_ms 'event=trunk_state trunk=t1 old=refreshing new=failed')
b=$(grep -E 'event=trunk_state trunk=t1 old=refreshing new=failed' -A100000 "$tmp/d.log" |
	grep -E -m1 'event=trunk_state trunk=t1 old=failed new=' | sed -n 's/^ts=\([0-9-]*\)T\([0-9:.]*\)Z.*/\1 \2/p')
b=$([ -n "$b" ] && date -u -d "$b UTC" +%s%3N)
within "D's log: t1's retry after its failure (SS_SIP_USER_AGENT_RETRY_DELAY 30 s)" $((b - a)) 29990 30020
f=$(grep -E -m1 -B100000 'event=trunk_state trunk=t1 old=refreshing new=failed' "$tmp/d.log" |
	grep -E 'event=trunk_state trunk=t1 old=registered new=refreshing' | tail -1 |
	sed -n 's/^ts=\([0-9-]*\)T\([0-9:.]*\)Z.*/\1 \2/p')
f=$([ -n "$f" ] && date -u -d "$f UTC" +%s%3N)
within "D's log: t1's refresh with U gone failed after Timer F (64*T1 = 32 s)" $((a - f)) 31990 32100
wait_ubindings trunk1@upstream.example 1 5 && ok "U: trunk1 bound again" || bad "U: trunk1 not bound"
wait_trunk t2 10 '.state == "registered"' && ok "t2: registered again (recovery)" || bad "t2: $(tjson t2)"

# --- SIGTERM unregisters every trunk: all three registered at U first
echo "info: before SIGTERM: $(dctl trunk list --json | jq -c '[.trunks[] | {name, state, last_reason, next_action, next_in}]')"
for t in t1 t2 t3; do
	wait_trunk $t 45 '.state == "registered"' || bad "$t not registered before SIGTERM: $(tjson $t)"
done
check "U: trunk1-3 bound before SIGTERM" "1 1 1" \
	"$(ubindings trunk1@upstream.example) $(ubindings trunk2@upstream.example) $(ubindings trunk3@upstream.example)"
stop d
for u in trunk1 trunk2 trunk3; do
	check "SIGTERM: U's binding of $u removed" 0 "$(ubindings $u@upstream.example)"
done
# one notice per worker (2): every unregister answered
check "D logged 3 unregisters answered, none unanswered" "3 0" \
	"$(grep -m2 'event=trunks_unregistered' "$tmp/d.log" |
		sed -n 's/.* answered=\([0-9]*\) unanswered=\([0-9]*\).*/\1 \2/p' |
		awk '{a += $1; u += $2} END {print a + 0, u + 0}')"

# --- a restart: the stored trunks register again
start d
for t in t1 t2 t3; do
	wait_trunk $t 15 '.state == "registered"' && ok "after a restart $t registered again" || bad "$t: $(tjson $t)"
done
check "U: bindings back after D's restart" "1 1 1" \
	"$(ubindings trunk1@upstream.example) $(ubindings trunk2@upstream.example) $(ubindings trunk3@upstream.example)"
for t in t1 t2 t3; do dctl trunk del $t >/dev/null || bad "trunk del $t"; done
for u in trunk1 trunk2 trunk3; do
	wait_ubindings $u@upstream.example 0 5 || bad "trunk del: U still has $u bound"
done
ok "trunk del unregistered t1-t3"
check "no trunk left" 0 "$(dctl trunk list --json | jq '.trunks | length')"

# --- sipp as the registrar (UAS): 401 then 200 granting 40 to an auto trunk
if command -v sipp >/dev/null; then
	timeout 90 sipp -sf "$src/tests/sipp/uas_register.xml" -i 127.0.0.1 -p "$sport" -t u1 \
		-m 1 -timeout 80s -timeout_error -trace_err -error_file "$tmp/sipp.err" \
		-key user sipp1 -key password pw-sipp </dev/null >"$tmp/sipp.out" 2>&1 &
	sipp_pid=$!
	sleep 0.5
	out=$(dctl trunk add s1 --registrar "127.0.0.1:$sport" --user sipp1 --password pw-sipp \
		--domain sipp.example --expire auto)
	check "trunk add s1 (sipp UAS)" "added trunk s1: registrar 127.0.0.1:$sport, user sipp1, enabled" "$out"
	wait_trunk s1 10 '.state == "registered"' && ok "s1 registered with sipp (401, 200)" || bad "s1: $(tjson s1)"
	check "s1: sipp granted 40 of the 3600 asked" "40 3600" "$(tget s1 '"\(.granted) \(.asked)"')"
	n=$(tget s1 .next_in)
	[ "$n" -ge 17 ] && [ "$n" -le 20 ] && ok "s1: refresh in $n s (about half of 40)" || bad "s1: refresh in $n s"
	dctl trunk disable s1 >/dev/null
	for _ in $(seq 100); do kill -0 $sipp_pid 2>/dev/null || break; sleep 0.1; done
	wait $sipp_pid
	rc=$?
	sipp_pid=
	check "sipp: 401, digest verified, 200, unregister (Expires: 0) answered" 0 $rc
	[ $rc -ne 0 ] && { tail -20 "$tmp/sipp.err" 2>/dev/null; tail -5 "$tmp/sipp.out"; }
	wait_trunk s1 5 '.state == "disabled"' && ok "s1: disabled" || bad "s1: $(tjson s1)"
	dctl trunk del s1 >/dev/null

	# 423 Interval Too Brief: at once again with Min-Expires, a warning
	sipp_uas() { # sipp_uas SCENARIO
		timeout 90 sipp -sf "$src/tests/sipp/$1" -i 127.0.0.1 -p "$sport" -t u1 \
			-m 1 -timeout 80s -timeout_error -trace_err -error_file "$tmp/sipp-$1.err" \
			</dev/null >"$tmp/sipp-$1.out" 2>&1 &
		sipp_pid=$!
		sleep 0.5
	}
	sipp_done() { # sipp_done DESCRIPTION: sipp's exit status must be 0
		local rc
		for _ in $(seq 100); do kill -0 $sipp_pid 2>/dev/null || break; sleep 0.1; done
		wait $sipp_pid
		rc=$?
		sipp_pid=
		check "$1" 0 $rc
		[ $rc -ne 0 ] && { tail -20 "$tmp"/sipp-*.err 2>/dev/null; }
	}
	sipp_uas uas_register_423.xml
	dctl trunk add s2 --registrar "127.0.0.1:$sport" --user sipp2 --domain sipp.example --expire 30 >/dev/null ||
		bad "trunk add s2"
	wait_trunk s2 10 '.state == "registered"' && ok "s2 registered after 423" || bad "s2: $(tjson s2)"
	check "s2: asked and granted Min-Expires 60" "60 60" "$(tget s2 '"\(.asked) \(.granted)"')"
	grep -q 'event=trunk_interval_too_brief trunk=s2 asked=30 min_expires=60' "$tmp/d.log" &&
		ok "D warned of the 423 with both values" || bad "no trunk_interval_too_brief warning for s2"
	dctl trunk del s2 >/dev/null
	sipp_done "sipp: 423 with Min-Expires 60, REGISTER Expires: 60 at once, 200, unregister on del"

	# 503 with Retry-After 45 > the retry delay 30: honoured
	sipp_uas uas_register_503.xml
	dctl trunk add s3 --registrar "127.0.0.1:$sport" --user sipp3 --domain sipp.example >/dev/null ||
		bad "trunk add s3"
	wait_trunk s3 10 '.state == "failed"' || bad "s3 not failed: $(tjson s3)"
	j=$(tjson s3)
	check "s3: 503, retry" "503 retry" "$(jq -r '"\(.last_code) \(.next_action)"' <<<"$j")"
	n=$(jq -r .next_in <<<"$j")
	[ "$n" -ge 44 ] && [ "$n" -le 45 ] && ok "s3: retry in $n s (Retry-After 45 honoured)" ||
		bad "s3: retry in $n s, want 44-45"
	grep -q 'event=trunk_retry_after trunk=s3 retry_delay=30 retry_after=45' "$tmp/d.log" &&
		ok "D logged the Retry-After wait" || bad "no trunk_retry_after line for s3"
	sipp_done "sipp: REGISTER answered 503 Retry-After: 45"
	dctl trunk del s3 >/dev/null
else
	echo "skipped: sipp part (sipp is not installed)"
fi

# --- Kamailio as the registrar
if command -v kamailio >/dev/null && command -v kamcmd >/dev/null; then
	sed -e "s|@PORT@|$kport|g" -e "s|@CTL@|$tmp/kam.ctl|g" -e "s|@DIR@|$tmp|g" \
		"$src/tests/kamailio/registrar.cfg" >"$tmp/kam.cfg"
	kamailio -f "$tmp/kam.cfg" -DD -E -n 1 -Y "$tmp" -P "$tmp/kam.pid" </dev/null >"$tmp/kam.log" 2>&1 &
	kam_pid=$!
	kam_up=
	for _ in $(seq 50); do
		timeout 5 kamcmd -s "unix:$tmp/kam.ctl" core.uptime >/dev/null 2>&1 && { kam_up=1; break; }
		kill -0 $kam_pid 2>/dev/null || break
		sleep 0.1
	done
	if [ -z "$kam_up" ]; then
		bad "kamailio did not start: $(tail -5 "$tmp/kam.log")"
	else
		kbind() { timeout 5 kamcmd -s "unix:$tmp/kam.ctl" ul.lookup location "$1" 2>/dev/null | grep -c 'Address:'; }
		out=$(dctl trunk add k1 --registrar "127.0.0.1:$kport" --user kam1 --password pw-kam \
			--domain kamailio.example --expire 20)
		check "trunk add k1 (Kamailio)" "added trunk k1: registrar 127.0.0.1:$kport, user kam1, enabled" "$out"
		wait_trunk k1 10 '.state == "registered"' && ok "k1 registered with Kamailio (401, 200)" ||
			bad "k1: $(tjson k1) $(tail -5 "$tmp/kam.log")"
		check "k1: Kamailio granted 20" 20 "$(tget k1 .granted)"
		check "Kamailio: one binding of kam1" 1 "$(kbind kam1)"
		# the refresh at about 10 s: same Call-ID, next CSeq (RFC 3261 §10.2.4)
		wait_trunk k1 14 '.attempts >= 3 and .state == "registered"' && ok "k1 refreshed with Kamailio" ||
			bad "k1: no refresh: $(tjson k1)"
		regs=$(grep -o 'REGISTER kam1@kamailio.example expires=20 callid=[^ ]* cseq=[0-9]*' "$tmp/kam.log")
		check "Kamailio saw the registration and its refresh" 2 "$(wc -l <<<"$regs")"
		check "one Call-ID for both" 1 "$(sed 's/.*callid=\([^ ]*\).*/\1/' <<<"$regs" | sort -u | wc -l)"
		c1=$(sed -n '1s/.*cseq=//p' <<<"$regs")
		c2=$(sed -n '2s/.*cseq=//p' <<<"$regs")
		check "the refresh's CSeq is the next one" $((c1 + 1)) "$c2"
		check "Kamailio: still one binding of kam1" 1 "$(kbind kam1)"
		stop d
		timeout 5 kamcmd -s "unix:$tmp/kam.ctl" core.uptime >/dev/null 2>&1 ||
			bad "kamailio does not answer kamcmd after D's stop"
		check "SIGTERM: Kamailio's binding of kam1 removed" 0 "$(kbind kam1)"
		grep -q "REGISTER kam1@kamailio.example expires=0 callid=$(sed -n '1s/.*callid=\([^ ]*\).*/\1/p' <<<"$regs") " "$tmp/kam.log" &&
			ok "Kamailio logged the REGISTER with Expires: 0" || bad "no unregister in Kamailio's log"
	fi
	kill $kam_pid 2>/dev/null
	wait $kam_pid 2>/dev/null
	kam_pid=
else
	echo "skipped: Kamailio part (kamailio/kamcmd are not installed)"
fi

[ -n "$dpid" ] && stop d
stop u
if [ $fails -ne 0 ]; then
	logs
	echo "$fails check(s) failed"
	exit 1
fi
echo "all trunk end-to-end checks passed"
