#!/usr/bin/env bash
# tests/test_doctor_e2e.sh - `sipregctl doctor` and `sipregctl reload` end to
# end (issue 6 §3, §4): sipregd ("D") registers trunks to real upstreams on
# loopback and the doctor names each problem with the trunk and the setting:
#   - a second sipregd as the upstream registrar ("U"):
#       t-badpw  a wrong password: 401 again after credentials
#                -> credentials_rejected, setting the trunk's password;
#       t-fast   --expire 20 -> register_flooding (a REGISTER every 10 s),
#                setting the trunk's expire;
#       t-ok     --expire 600, registered at our own address -> no finding;
#       t-block  a wrong password to U that suspends an account after one
#                failure and then drops its REGISTERs (suspend_action drop):
#                401 after credentials, the retry 30 s later unanswered
#                (Timer F) -> upstream_blocking (critical), the evidence
#                counting the timeout after the rejection;
#   - sipp as an upstream that answers 200 OK granting 600 s with a top Via
#     received=203.0.113.7;rport=40000 (tests/sipp/uas_register_nat.xml):
#       t-nat    -> nat_expiry_too_long, SS_SIP_USER_AGENT_EXPIRE, the
#                evidence quoting the received/rport seen;
#   - five trunks to U with the same 20 s expiry registered together, their
#     names chosen so that ua.c's per-name refresh spread is almost the same
#     for all (they stay together for the whole test instead of drifting
#     apart) -> synchronised_refreshes about U, the names in the evidence;
#   - the findings as the sipreg_doctor_findings{kind} gauge on /metrics;
#   - endpoints at U: a phone re-registering every second (sip_client.py)
#     -> endpoint_register_flooding about its AOR (critical, subject_type
#     endpoint), a phone registered once and t-ok's account not named;
#     t-fast's account (asks 20 s) named at U as well;
#   - a primary trunk (TCP to a closed port: refused at once) with a retry
#     delay of 120 s -> retry_delay_long, its backup not; 30 s clears it;
#   - `sipregctl reload` after editing D's file: a live key
#     (SS_SIP_USER_AGENT_RETRY_DELAY) applied and running, a restart-only
#     key ([core] workers) reported and not applied; a broken file: exit 1,
#     the error, the previous configuration kept; SIGHUP still reloads.
# Exit 77 (skip) with a message when a required tool is missing. Every port
# is ephemeral, every process is stopped by its PID, every wait is bounded.
set -u
build=${SIPREG_BUILD_ROOT:?run through meson test}
src=${SIPREG_SOURCE_ROOT:?run through meson test}
sipregd=$build/src/sipregd
ctl=$build/tools/sipregctl
for t in jq python3 timeout curl sipp; do
	command -v $t >/dev/null || { echo "SKIP: $t is not installed"; exit 77; }
done
for f in "$sipregd" "$ctl"; do
	[ -x "$f" ] || { echo "FAIL: $f is not built"; exit 1; }
done
py=$(python3 -c 'import sys; print(sys.executable)')

tmp=$(mktemp -d /tmp/sipreg-test-doctor.XXXXXX)
upid= dpid= sipp_pid=
cleanup() {
	e2e_kill "$sipp_pid" "${e2e_pids[@]}"
	rm -rf "$tmp"
}
trap cleanup EXIT
trap "exit 1" INT TERM
fails=0
. "$(dirname "$0")/e2e_lib.sh" # ok, bad, check, now_ms, free_port, e2e_start
die() {
	echo "FAIL: $*"
	echo "--- D log (tail)"; tail -25 "$tmp/d.log" 2>/dev/null
	exit 1
}

uport=$(free_port)
dport=$(free_port)
sport=$(free_port)

write_conf() { # write_conf NAME PORT
	mkdir -p "$tmp/$1-db"
	cat >"$tmp/$1.conf" <<CONF
[core]
listen = udp:127.0.0.1:$2 tcp:127.0.0.1:$2
workers = 2
shutdown_timeout = 5
[admin]
socket = $tmp/$1.sock
http = 127.0.0.1:0
[database]
path = $tmp/$1-db/sipreg.db
flush_interval = 100
[sip]
SS_SIP_USER_AGENT_RETRY_DELAY = 30
SS_ENDPOINT_EXPIRE = 600
SS_ENDPOINT_NAT_EXPIRE = 60
min_expire = 20
ENDPOINT_ADDRESS_RETRY = 10000
CONF
	# U suspends an account+address after one failure and drops it silently
	[ "$1" = u ] && printf 'SS_ENDPOINT_REGISTER_RETRY = 1\nSS_ENDPOINT_REGISTER_SUSPEND = 600\nsuspend_action = drop\n' >>"$tmp/$1.conf"
	return 0
}
uctl() { timeout 20 "$ctl" -s "$tmp/u.sock" "$@"; }
dctl() { timeout 20 "$ctl" -s "$tmp/d.sock" "$@"; }
start() { # start NAME: sets upid or dpid
	e2e_start "$tmp/$1.conf" "$tmp/$1.log" "$tmp/$1.sock" udp tcp || die "sipregd $1 did not start"
	eval "${1}pid=$e2e_pid"
}
tjson() { dctl trunk show "$1" --json 2>/dev/null; }
wait_trunk() { # wait_trunk NAME SECONDS JQ-CONDITION
	local end=$(($(now_ms) + $2 * 1000))
	while [ "$(now_ms)" -lt $end ]; do
		# "true" printed: jq 1.6 -e exits 0 on empty input (no trunk)
		tjson "$1" | jq "$3" 2>/dev/null | grep -qx true && return 0
		sleep 0.1
	done
	return 1
}
# finding KIND SUBJECT JQ-FIELD: a field of the finding of KIND about SUBJECT
finding() {
	jq -r --arg k "$1" --arg s "$2" \
		"[.findings[] | select(.kind == \$k and .subject == \$s)] | if length == 1 then .[0]$3 else \"(\(length) findings)\" end" \
		<<<"$doc"
}

# --- U with the accounts, D, and sipp's NAT scenario
write_conf u "$uport"
start u
{
	printf 'username,domain,password\nacct1,up.example,pw-1\nacct2,up.example,pw-2\nacct3,up.example,pw-3\nacct4,up.example,pw-4\n'
	for i in 1 2 3 4 5; do printf 'sync%d,up.example,pw-s\n' $i; done
} >"$tmp/subs.csv"
uctl subscriber import "$tmp/subs.csv" >/dev/null || die "U: import failed"
write_conf d "$dport"
start d
# not under timeout(1): sipp_pid must be sipp's own, for the kill in cleanup
# (killing a timeout(1) wrapper with -9 left sipp running)
sipp -sf "$src/tests/sipp/uas_register_nat.xml" -i 127.0.0.1 -p "$sport" -t u1 \
	-timeout 110s -trace_err -error_file "$tmp/sipp.err" </dev/null >"$tmp/sipp.out" 2>&1 &
sipp_pid=$!

# --- before any trunk: nothing to say
doc=$(dctl doctor --json) || die "doctor --json failed"
check "no trunk: no finding" 0 "$(jq '.findings | length' <<<"$doc")"
out=$(dctl doctor)
grep -q '^no findings (0 trunks checked): nothing to change$' <<<"$out" && ok "doctor: says there is nothing" ||
	bad "doctor (empty): $out"

# --- the trunks
dctl trunk add t-badpw --registrar "127.0.0.1:$uport" --user acct1 --password wrong \
	--domain up.example >/dev/null || bad "add t-badpw"
dctl trunk add t-fast --registrar "127.0.0.1:$uport" --user acct2 --password pw-2 \
	--domain up.example --expire 20 >/dev/null || bad "add t-fast"
dctl trunk add t-ok --registrar "127.0.0.1:$uport" --user acct3 --password pw-3 \
	--domain up.example --expire 600 >/dev/null || bad "add t-ok"
dctl trunk add t-nat --registrar "127.0.0.1:$sport" --user natuser \
	--domain nat.example >/dev/null || bad "add t-nat"
dctl trunk add t-block --registrar "127.0.0.1:$uport" --user acct4 --password wrong \
	--domain up.example >/dev/null || bad "add t-block"
t_block=$(now_ms)
wait_trunk t-badpw 10 '.state == "failed"' || bad "t-badpw not failed: $(tjson t-badpw)"
wait_trunk t-fast 10 '.state == "registered"' || bad "t-fast not registered: $(tjson t-fast)"
wait_trunk t-ok 10 '.state == "registered"' || bad "t-ok not registered: $(tjson t-ok)"
wait_trunk t-nat 10 '.state == "registered"' || bad "t-nat not registered: $(tjson t-nat)"
wait_trunk t-block 10 '.state == "failed"' || bad "t-block not failed: $(tjson t-block)"

doc=$(dctl doctor --json) || die "doctor --json failed"
echo "$doc" | jq -c '.findings[] | {kind, severity, subject}'
check "doctor: 5 trunks checked" 5 "$(jq .trunks_checked <<<"$doc")"
check "every finding has kind, severity, subject, evidence, advice" true \
	"$(jq '[.findings[] | has("kind") and has("severity") and has("subject") and has("evidence") and has("advice")] | all' <<<"$doc")"

# wrong password
check "t-badpw: credentials_rejected" warning "$(finding credentials_rejected t-badpw .severity)"
check "t-badpw: the setting is the password" "trunk password, auth_user, realm" \
	"$(finding credentials_rejected t-badpw .setting)"
check "t-badpw: evidence counts the 401 after credentials" 1 \
	"$(finding credentials_rejected t-badpw .data.auth_failures)"
ev=$(finding credentials_rejected t-badpw .evidence)
grep -q '"401 Unauthorized"' <<<"$ev" && ok "t-badpw: evidence quotes the 401" || bad "t-badpw evidence: $ev"
grep -q 'since 20[0-9-]*T[0-9:]*Z' <<<"$ev" && ok "t-badpw: evidence has the time" || bad "t-badpw evidence: $ev"
grep -q 'sipregctl trunk set t-badpw --password' <<<"$(finding credentials_rejected t-badpw .advice)" &&
	ok "t-badpw: advice names the command" || bad "t-badpw advice: $(finding credentials_rejected t-badpw .advice)"

# flooding
check "t-fast: register_flooding" warning "$(finding register_flooding t-fast .severity)"
check "t-fast: setting the trunk's expire" "trunk expire" "$(finding register_flooding t-fast .setting)"
check "t-fast: effective expiry 20 s" 20 "$(finding register_flooding t-fast .data.effective_expiry_s)"
check "t-fast: refresh every 10 s" 10 "$(finding register_flooding t-fast .data.refresh_interval_s)"

# NAT
check "t-nat: nat_expiry_too_long" warning "$(finding nat_expiry_too_long t-nat .severity)"
check "t-nat: the setting" SS_SIP_USER_AGENT_EXPIRE "$(finding nat_expiry_too_long t-nat .setting)"
check "t-nat: effective expiry 600 s" 600 "$(finding nat_expiry_too_long t-nat .data.effective_expiry_s)"
ev=$(finding nat_expiry_too_long t-nat .evidence)
grep -q "received=203.0.113.7;rport=40000 while we sent 127.0.0.1:$dport" <<<"$ev" &&
	ok "t-nat: evidence quotes the Via received/rport and our address" || bad "t-nat evidence: $ev"
grep -q -- '--expire 180' <<<"$(finding nat_expiry_too_long t-nat .advice)" && ok "t-nat: advice 180 s" ||
	bad "t-nat advice: $(finding nat_expiry_too_long t-nat .advice)"

# the healthy one, and nothing else
check "t-ok: no finding" 0 "$(jq '[.findings[] | select(.subject == "t-ok")] | length' <<<"$doc")"
check "t-block: credentials_rejected so far" warning "$(finding credentials_rejected t-block .severity)"
check "four findings in all" 4 "$(jq '.findings | length' <<<"$doc")"

# the human form
out=$(dctl doctor)
grep -q '^WARNING   credentials_rejected  trunk t-badpw$' <<<"$out" && ok "doctor: human table names t-badpw" ||
	bad "doctor human: $out"
grep -q '^  setting:  SS_SIP_USER_AGENT_EXPIRE$' <<<"$out" && ok "doctor: human names the setting" ||
	bad "doctor human: $out"
grep -q '^4 findings (5 trunks checked)$' <<<"$out" && ok "doctor: human summary" || bad "doctor human: $out"

# the metric
mport=$(sed -n 's/.*event=metrics_listening .*port=\([0-9]*\).*/\1/p' "$tmp/d.log" | head -1)
m=$(curl -s --max-time 5 "http://127.0.0.1:$mport/metrics")
grep -q '^sipreg_doctor_findings{kind="credentials_rejected"} 2$' <<<"$m" &&
	ok "metrics: sipreg_doctor_findings credentials_rejected 2" ||
	bad "metrics: $(grep doctor <<<"$m")"
grep -q '^sipreg_doctor_findings{kind="synchronised_refreshes"} 0$' <<<"$m" &&
	ok "metrics: a kind without finding is 0" || bad "metrics: $(grep doctor <<<"$m")"

# fixing the password clears the finding (U's suspension lifted first)
uctl guard clear acct1@up.example@127.0.0.1 >/dev/null || bad "U: guard clear acct1"
dctl trunk set t-badpw --password pw-1 >/dev/null || bad "trunk set t-badpw"
wait_trunk t-badpw 10 '.state == "registered"' || bad "t-badpw not registered after the fix: $(tjson t-badpw)"
doc=$(dctl doctor --json)
check "t-badpw fixed: its finding is gone" 0 \
	"$(jq '[.findings[] | select(.subject == "t-badpw")] | length' <<<"$doc")"

# --- five trunks refreshing together: names whose refresh spread (ua.c:
# FNV-1a of the name, times 2654435761, bits 16-31, as a fraction of a tenth
# of half the period) is within 2% of each other
sync_names=$("$py" - <<'PY'
def fnv(s):
    h = 2166136261
    for c in s.encode():
        h = ((h ^ c) * 16777619) & 0xffffffff
    return h
out = []
for n in range(10000):
    name = "sync-%d" % n
    if 0.50 <= (((fnv(name) * 2654435761) & 0xffffffff) >> 16) / 65536 < 0.52:
        out.append(name)
    if len(out) == 5:
        break
print(" ".join(out))
PY
)
i=0
for n in $sync_names; do
	i=$((i + 1))
	dctl trunk add "$n" --registrar "127.0.0.1:$uport" --user "sync$i" --password pw-s \
		--domain up.example --expire 20 >/dev/null || bad "add $n"
done
for n in $sync_names; do
	wait_trunk "$n" 10 '.state == "registered"' || bad "$n not registered: $(tjson "$n")"
done

# --- reload: a live key applied, a restart-only key reported
sed -i 's/^SS_SIP_USER_AGENT_RETRY_DELAY = 30$/SS_SIP_USER_AGENT_RETRY_DELAY = 45/; s/^workers = 2$/workers = 3/' "$tmp/d.conf"
r=$(dctl reload --json) || bad "reload --json failed"
check "reload: retry delay applied 30 -> 45" "30 45" \
	"$(jq -r '.applied[] | select(.key == "sip.SS_SIP_USER_AGENT_RETRY_DELAY") | "\(.old) \(.new)"' <<<"$r")"
check "reload: workers needs a restart (2 -> 3)" "2 3" \
	"$(jq -r '.restart_required[] | select(.key == "core.workers") | "\(.old) \(.new)"' <<<"$r")"
check "reload: nothing else changed" "1 1" "$(jq -r '"\(.applied | length) \(.restart_required | length)"' <<<"$r")"
check "running retry delay is 45" 45 "$(dctl config --json | jq -r '.sections.sip.SS_SIP_USER_AGENT_RETRY_DELAY')"
check "running workers still 2" 2 "$(dctl status --json | jq -r .workers)"
sed -i 's/^SS_SIP_USER_AGENT_RETRY_DELAY = 45$/SS_SIP_USER_AGENT_RETRY_DELAY = 60/' "$tmp/d.conf"
out=$(dctl reload)
grep -q "^reloaded $tmp/d.conf: 1 key applied, 1 needs a restart$" <<<"$out" && ok "reload: human summary" ||
	bad "reload human: $out"
grep -q '^  applied          sip.SS_SIP_USER_AGENT_RETRY_DELAY: 45 -> 60$' <<<"$out" && ok "reload: human applied line" ||
	bad "reload human: $out"
grep -q '^  needs a restart  core.workers: 2 -> 3 ' <<<"$out" && ok "reload: human restart line" ||
	bad "reload human: $out"

# a broken file: refused, the running configuration kept
echo "SS_SIP_USER_AGENT_RETRY_DELAY = 5" >>"$tmp/d.conf"
out=$(dctl reload 2>&1)
rc=$?
check "reload of a bad file: exit 1" 1 $rc
grep -q 'sipregd answered 422: .*SS_SIP_USER_AGENT_RETRY_DELAY' <<<"$out" && ok "reload: the error names the key" ||
	bad "reload bad: $out"
check "bad file: retry delay still 60" 60 "$(dctl config --json | jq -r '.sections.sip.SS_SIP_USER_AGENT_RETRY_DELAY')"
kill -0 "$dpid" && ok "D still runs" || bad "D died on a bad reload"
# SIGHUP is the same reload
sed -i '$d' "$tmp/d.conf"
sed -i 's/^SS_SIP_USER_AGENT_RETRY_DELAY = 60$/SS_SIP_USER_AGENT_RETRY_DELAY = 90/' "$tmp/d.conf"
kill -HUP "$dpid"
for _ in $(seq 50); do
	[ "$(dctl config --json | jq -r '.sections.sip.SS_SIP_USER_AGENT_RETRY_DELAY')" = 90 ] && break
	sleep 0.1
done
check "SIGHUP: retry delay 90" 90 "$(dctl config --json | jq -r '.sections.sip.SS_SIP_USER_AGENT_RETRY_DELAY')"
check "status counts the reloads (3 ok, 1 failed)" "3 1" \
	"$(dctl status --json | jq -r '"\(.counters.config_reloads) \(.counters.config_reload_failures)"')"

# --- endpoints, per AOR (issue 6 §3): U is the registrar of D's trunks and
# of two phones; the one re-registering every second is named with its
# AOR, the one that registered once (and t-ok's acct3, 600 s) is not
printf 'username,domain,password\nflood,up.example,pw-f\ncalm,up.example,pw-c\n' >"$tmp/eps.csv"
uctl subscriber import "$tmp/eps.csv" >/dev/null || bad "U: import the phones"
check "calm: registered for 600 s" "401 200" \
	"$(timeout 10 "$py" "$src/tests/sip_client.py" register udp "$uport" calm up.example pw-c 600 | head -1)"
for i in 1 2 3 4 5 6; do
	r=$(timeout 10 "$py" "$src/tests/sip_client.py" register udp "$uport" flood up.example pw-f 600 | head -1)
	[ "$r" = "401 200" ] || bad "flood: REGISTER $i answered '$r'"
	[ $i -lt 6 ] && sleep 1
done
udoc=$(uctl doctor --json) || bad "U: doctor --json failed"
# ufind AOR JQ-FIELD: a field of U's endpoint_register_flooding about AOR
ufind() {
	jq -r --arg s "$1" \
		"[.findings[] | select(.kind == \"endpoint_register_flooding\" and .subject == \$s)] | if length == 1 then .[0]$2 else \"(\(length) findings)\" end" \
		<<<"$udoc"
}
echo "$udoc" | jq -c '.findings[] | select(.subject_type == "endpoint") | {kind, severity, subject, data}'
check "flood@up.example: endpoint_register_flooding, critical" critical "$(ufind flood@up.example .severity)"
check "flood: subject type endpoint" endpoint "$(ufind flood@up.example .subject_type)"
check "flood: 6 REGISTERs counted" 6 "$(ufind flood@up.example .data.registers)"
check "flood: asked and granted 600 s" "600 600" "$(ufind flood@up.example '| "\(.data.asked_s) \(.data.granted_s)"')"
iv=$(ufind flood@up.example .data.interval_ms)
[ "$iv" -ge 900 ] 2>/dev/null && [ "$iv" -le 3000 ] && ok "flood: one REGISTER every $iv ms" ||
	bad "flood: interval_ms $iv"
ev=$(ufind flood@up.example .evidence)
grep -q 'from 127\.0\.0\.1:[0-9]*), one about every' <<<"$ev" && grep -q 'times more often than needed' <<<"$ev" &&
	ok "flood: evidence has the source and the ratio" || bad "flood evidence: $ev"
grep -q "phone's registration interval" <<<"$(ufind flood@up.example .setting)" &&
	ok "flood: the setting is the phone's" || bad "flood setting: $(ufind flood@up.example .setting)"
check "calm@up.example: not named" "(0 findings)" "$(ufind calm@up.example .severity)"
check "acct3@up.example (t-ok, 600 s): not named" "(0 findings)" "$(ufind acct3@up.example .severity)"
out=$(uctl doctor)
grep -q '^CRITICAL  endpoint_register_flooding  endpoint flood@up.example$' <<<"$out" &&
	ok "U doctor: human form names the AOR" || bad "U doctor human: $out"
umport=$(sed -n 's/.*event=metrics_listening .*port=\([0-9]*\).*/\1/p' "$tmp/u.log" | head -1)
n=$(curl -s --max-time 5 "http://127.0.0.1:$umport/metrics" |
	sed -n 's/^sipreg_doctor_findings{kind="endpoint_register_flooding"} \([0-9]*\)$/\1/p')
[ "${n:-0}" -ge 1 ] 2>/dev/null && ok "U metrics: endpoint_register_flooding $n" ||
	bad "U metrics: endpoint_register_flooding '$n'"

# --- blocked: the retry 30 s after the 401 is dropped by U; Timer F (32 s)
left=$(((t_block + 75000 - $(now_ms)) / 1000))
[ $left -lt 1 ] && left=1
wait_trunk t-block $left '.state == "failed" and .last_reason == "timeout"' ||
	bad "t-block: no timeout within 75 s of its start: $(tjson t-block)"
doc=$(dctl doctor --json)
check "t-block: upstream_blocking" critical "$(finding upstream_blocking t-block .severity)"
check "t-block: one timeout after the rejection" 1 "$(finding upstream_blocking t-block .data.timeouts_after_rejections)"
check "t-block: run of 2 (401, timeout)" "2 1 1" \
	"$(finding upstream_blocking t-block '| "\(.data.failures_in_a_row) \(.data.auth_failures) \(.data.timeouts)"')"
ev=$(finding upstream_blocking t-block .evidence)
grep -q "1 of the timeouts came after 127.0.0.1:$uport had answered with rejections" <<<"$ev" &&
	ok "t-block: evidence says it answered, then went silent" || bad "t-block evidence: $ev"
grep -q -- '--retry-delay 300' <<<"$(finding upstream_blocking t-block .advice)" && ok "t-block: advice slows the retries" ||
	bad "t-block advice: $(finding upstream_blocking t-block .advice)"
check "t-block: still credentials_rejected too" warning "$(finding credentials_rejected t-block .severity)"

# t-fast asks U for 20 s and refreshes every 10 s: by now U names its AOR
udoc=$(uctl doctor --json)
check "U: acct2@up.example (t-fast, asks 20 s) named" "warning 20" \
	"$(ufind acct2@up.example '| "\(.severity) \(.data.asked_s)"')"
grep -q 'near the 20 s minimum' <<<"$(ufind acct2@up.example .evidence)" &&
	ok "acct2: evidence says near the minimum" || bad "acct2 evidence: $(ufind acct2@up.example .evidence)"

# the five, still together after several refreshes (a refresh in flight
# takes a trunk out of the count for a moment: asked up to 5 times)
for _ in 1 2 3 4 5; do
	doc=$(dctl doctor --json)
	[ "$(finding synchronised_refreshes "127.0.0.1:$uport" .data.burst)" -ge 5 ] 2>/dev/null && break
	sleep 0.7
done
b=$(finding synchronised_refreshes "127.0.0.1:$uport" .data.burst)
[ "$b" -ge 5 ] 2>/dev/null && ok "synchronised_refreshes about U: a burst of $b" ||
	bad "synchronised_refreshes: $b; $(jq -c '[.findings[] | {kind, subject}]' <<<"$doc")"
check "synchronised_refreshes: subject type upstream" upstream \
	"$(finding synchronised_refreshes "127.0.0.1:$uport" .subject_type)"
ev=$(finding synchronised_refreshes "127.0.0.1:$uport" .evidence)
miss=
for n in $sync_names; do grep -q -- "$n" <<<"$ev" || miss="$miss $n"; done
check "synchronised_refreshes: the five trunks named" "" "$miss"
check "synchronised_refreshes: same effective expiry 20" 20 \
	"$(finding synchronised_refreshes "127.0.0.1:$uport" .data.effective_expiry_s)"

# --- a primary trunk slow to come back: TCP to a closed port fails at once
# (connection refused); with its own retry delay of 120 s it is named
# retry_delay_long, a backup failing the same way is not; 30 s clears it
cport=$(free_port)
dctl trunk add t-main --registrar "127.0.0.1:$cport" --transport tcp --user main \
	--retry-delay 120 --primary >/dev/null || bad "add t-main"
dctl trunk add t-backup --registrar "127.0.0.1:$cport" --transport tcp --user backup \
	--retry-delay 120 >/dev/null || bad "add t-backup"
wait_trunk t-main 10 '.state == "failed" and .primary' || bad "t-main not failed: $(tjson t-main)"
wait_trunk t-backup 10 '.state == "failed" and (.primary | not)' || bad "t-backup not failed: $(tjson t-backup)"
doc=$(dctl doctor --json)
check "t-main: retry_delay_long, a warning while it fails" warning "$(finding retry_delay_long t-main .severity)"
check "t-main: its own delay, one failure" "trunk retry_delay 120 1" \
	"$(finding retry_delay_long t-main '| "\(.setting) \(.data.retry_delay_s) \(.data.failures_in_a_row)"')"
grep -q 'sipregctl trunk set t-main --retry-delay 30' <<<"$(finding retry_delay_long t-main .advice)" &&
	ok "t-main: advice 30 s" || bad "t-main advice: $(finding retry_delay_long t-main .advice)"
grep -q "every 120 s (its own), so once 127.0.0.1:$cport answers again" <<<"$(finding retry_delay_long t-main .evidence)" &&
	ok "t-main: evidence has the delay and the upstream" || bad "t-main evidence: $(finding retry_delay_long t-main .evidence)"
check "t-backup (not primary): no retry_delay_long" "(0 findings)" "$(finding retry_delay_long t-backup .severity)"
out=$(dctl doctor)
grep -q '^WARNING   retry_delay_long  trunk t-main$' <<<"$out" && ok "doctor: human form names t-main" ||
	bad "doctor human: $out"
grep -q '^sipreg_doctor_findings{kind="retry_delay_long"} [0-9]*$' <<<"$(curl -s --max-time 5 "http://127.0.0.1:$mport/metrics")" &&
	ok "metrics: the retry_delay_long kind is exported" || bad "metrics: no retry_delay_long"
dctl trunk set t-main --retry-delay 30 >/dev/null || bad "trunk set t-main --retry-delay 30"
wait_trunk t-main 10 '.state == "failed" and .config.retry_delay == "30"' || bad "t-main: $(tjson t-main)"
doc=$(dctl doctor --json)
check "t-main at 30 s: no retry_delay_long" "(0 findings)" "$(finding retry_delay_long t-main .severity)"

# --- stop
kill -TERM "$dpid"
for _ in $(seq 150); do kill -0 "$dpid" 2>/dev/null || break; sleep 0.1; done
wait "$dpid"
check "D: graceful stop exits 0" 0 $?
dpid=
echo "$fails failure(s)"
[ $fails -eq 0 ]
