#!/bin/sh
# SPDX-License-Identifier: MIT
# Integration test of tools/sipreg-parse: runs the built binary on messages
# written here (always) and on the corpus (skipped loudly when SIPREG_CORPUS
# is unset), and checks output, JSON fields and exit codes (0 valid, 1
# invalid, 2 unusable arguments).
#
#   sh tests/test_tool_parse.sh [PATH/TO/sipreg-parse]
# Without an argument the binary is $SIPREG_BUILD_ROOT/tools/sipreg-parse.
set -u

BIN=${1:-${SIPREG_BUILD_ROOT:-}/tools/sipreg-parse}
if [ ! -x "$BIN" ]; then
	echo "FAIL: sipreg-parse not found at '$BIN' (set SIPREG_BUILD_ROOT)" >&2
	exit 1
fi
command -v jq >/dev/null 2>&1 || { echo "FAIL: jq is needed" >&2; exit 1; }

T=$(mktemp -d "${TMPDIR:-/tmp}/sipreg-parse-test.XXXXXX") || exit 1
trap 'rm -rf "$T"' EXIT INT TERM
fails=0
checks=0

fail() {
	echo "FAIL: $*" >&2
	fails=$((fails + 1))
}

# run EXPECTED_RC ARGS... : output in $T/out, $T/err; checks the exit code.
run() {
	want=$1
	shift
	checks=$((checks + 1))
	"$BIN" "$@" >"$T/out" 2>"$T/err"
	rc=$?
	if [ "$rc" -ne "$want" ]; then
		fail "sipreg-parse $* exited $rc, want $want; stderr: $(head -c 400 "$T/err")"
		return 1
	fi
	return 0
}

# jqcheck NAME FILTER : the first JSON object of $T/out satisfies FILTER.
jqcheck() {
	checks=$((checks + 1))
	# "true" printed: jq 1.6 -e exits 0 on empty input
	if ! head -n 1 "$T/out" | jq "$2" 2>/dev/null | grep -qx true; then
		fail "$1: JSON check failed: $2 on $(head -c 600 "$T/out")"
	fi
}

# grepcheck NAME FILE PATTERN : fixed string present.
grepcheck() {
	checks=$((checks + 1))
	grep -qF -- "$3" "$2" || fail "$1: '$3' not in $(head -c 600 "$2")"
}

# crlf FILE : rewrite a LF file written by a here-document to CRLF.
crlf() {
	sed 's/$/\r/' "$1" >"$1.tmp" && mv "$1.tmp" "$1"
}

# ------------------------------------------------------------------ inputs

cat >"$T/reg.lf" <<'EOF'
REGISTER sip:registrar.example.com SIP/2.0
Via: SIP/2.0/UDP 192.0.2.10:5060;branch=z9hG4bKnashds7;rport
v: SIP/2.0/TCP proxy.example.net;branch=z9hG4bK77asjd;received=198.51.100.7;rport=5070
Max-Forwards: 70
From: "Alice \"A\" Smith" <sip:alice@example.com>;tag=a73kszlfl
To: <sip:alice@example.com>
Call-ID: 1j9FpLxk3uxtm8tn@192.0.2.10
CSeq: 42 REGISTER
Contact: <sip:alice@192.0.2.10:5060;transport=udp>;expires=3600;q=0.5;+sip.instance="<urn:uuid:00000000-0000-1000-8000-000A95A0E128>";reg-id=1
m: <sip:alice@[2001:db8::1]>;expires=0
Authorization: Digest username="alice", realm="example.com", nonce="dcd98b7102dd2f0e8b11d0f600bfb0c093", uri="sip:registrar.example.com", response="6629fae49393a05397450978507c4ef1", algorithm=MD5, cnonce="0a4f113b", qop=auth, nc=00000001
Expires: 600
Content-Length: 0

EOF
cp "$T/reg.lf" "$T/reg.sip"
crlf "$T/reg.sip"

cat >"$T/401.sip" <<'EOF'
SIP/2.0 401 Unauthorized
Via: SIP/2.0/UDP 192.0.2.10:5060;branch=z9hG4bKnashds7;rport=5060;received=203.0.113.9
From: <sip:alice@example.com>;tag=a73kszlfl
To: <sip:alice@example.com>;tag=1410948204
Call-ID: 1j9FpLxk3uxtm8tn@192.0.2.10
CSeq: 41 REGISTER
WWW-Authenticate: Digest realm="example.com", nonce="ea9c8e88df84f1cec4341ae6cbe5a359", opaque="", qop="auth,auth-int", algorithm=SHA-256, stale=TRUE
Content-Length: 0

EOF
crlf "$T/401.sip"

# the same REGISTER without CSeq: sip_msg_validate must refuse it
grep -v '^CSeq' "$T/reg.sip" >"$T/nocseq.sip"
# cut inside the headers: a datagram that ends early
head -c 200 "$T/reg.sip" >"$T/trunc.sip"
# a body shorter than Content-Length says
sed 's/^Content-Length: 0/Content-Length: 50/' "$T/reg.sip" >"$T/shortbody.sip"
printf 'abc' >>"$T/shortbody.sip"
# octets beyond Content-Length in a datagram are discarded (RFC 3261 §18.3)
cp "$T/reg.sip" "$T/trailing.sip"
printf 'xyz' >>"$T/trailing.sip"
# a bad Contact expires value
sed 's/;expires=0/;expires=banana/' "$T/reg.sip" >"$T/badexp.sip"
: >"$T/empty.sip"
printf '\000\377\r\n\r\n\001SIP/2.0\r\n' >"$T/binary.sip"

# ------------------------------------------------------------------ valid

run 0 --json "$T/reg.sip" && {
	jqcheck reg '.kind == "request" and .method == "REGISTER"'
	jqcheck reg '.request_uri.host == "registrar.example.com" and .request_uri.scheme == "sip"'
	jqcheck reg '.via | length == 2'
	jqcheck reg '.via[0].transport == "UDP" and .via[0].host == "192.0.2.10" and .via[0].port == 5060'
	jqcheck reg '.via[0].branch == "z9hG4bKnashds7" and .via[0].rport == true and .via[0].received == null'
	jqcheck reg '.via[1].transport == "TCP" and .via[1].port == null and .via[1].rport == 5070'
	jqcheck reg '.via[1].received == "198.51.100.7" and .via[1].branch == "z9hG4bK77asjd"'
	jqcheck reg '.from.tag == "a73kszlfl" and .from.display == "Alice \"A\" Smith"'
	jqcheck reg '.from.uri.user == "alice" and .from.uri.host == "example.com"'
	jqcheck reg '.to.tag == null and .to.uri.raw == "sip:alice@example.com"'
	jqcheck reg '.call_id == "1j9FpLxk3uxtm8tn@192.0.2.10"'
	jqcheck reg '.cseq.num == 42 and .cseq.method == "REGISTER"'
	jqcheck reg '.contacts | length == 2'
	jqcheck reg '.contacts[0].expires == 3600 and .contacts[0].q == 0.5 and .contacts[0].reg_id == 1'
	jqcheck reg '.contacts[0].instance == "<urn:uuid:00000000-0000-1000-8000-000A95A0E128>"'
	jqcheck reg '.contacts[0].uri.transport == "udp" and .contacts[0].uri.port == 5060'
	jqcheck reg '.contacts[1].expires == 0 and .contacts[1].q == 1 and .contacts[1].reg_id == null'
	jqcheck reg '.contacts[1].uri.host == "2001:db8::1" and .contacts[1].uri.host_type == "ipv6"'
	jqcheck reg '.expires == 600 and .max_forwards == 70 and .content_length == 0'
	jqcheck reg '.auth | length == 1'
	jqcheck reg '.auth[0].header == "Authorization" and .auth[0].scheme == "Digest"'
	jqcheck reg '.auth[0].username == "alice" and .auth[0].realm == "example.com"'
	jqcheck reg '.auth[0].nonce == "dcd98b7102dd2f0e8b11d0f600bfb0c093"'
	jqcheck reg '.auth[0].uri == "sip:registrar.example.com" and .auth[0].algorithm == "MD5"'
	jqcheck reg '.auth[0].response == "6629fae49393a05397450978507c4ef1"'
	jqcheck reg '.auth[0].cnonce == "0a4f113b" and .auth[0].qop == "auth" and .auth[0].nc == "00000001"'
	jqcheck reg '.trailing_bytes == 0 and .body_len == 0'
	checks=$((checks + 1))
	[ "$(wc -l <"$T/out")" -eq 1 ] || fail "reg: want one JSON line, got $(wc -l <"$T/out")"
	[ -s "$T/err" ] && fail "reg: stderr not empty: $(cat "$T/err")"
}

run 0 "$T/reg.sip" && {
	grepcheck human "$T/out" "request REGISTER sip:registrar.example.com"
	grepcheck human "$T/out" "Via[0]: UDP 192.0.2.10:5060 branch=z9hG4bKnashds7 rport"
	grepcheck human "$T/out" "Via[1]: TCP proxy.example.net branch=z9hG4bK77asjd rport=5070 received=198.51.100.7"
	grepcheck human "$T/out" "From: \"Alice \"A\" Smith\" <sip:alice@example.com> tag=a73kszlfl"
	grepcheck human "$T/out" "Call-ID: 1j9FpLxk3uxtm8tn@192.0.2.10"
	grepcheck human "$T/out" "CSeq: 42 REGISTER"
	grepcheck human "$T/out" "expires=3600 q=0.500 instance=<urn:uuid:00000000-0000-1000-8000-000A95A0E128> reg-id=1"
	grepcheck human "$T/out" "Contact[1]: <sip:alice@[2001:db8::1]>"
	grepcheck human "$T/out" "Expires: 600"
	grepcheck human "$T/out" "nc=00000001"
}

run 0 --json "$T/401.sip" && {
	jqcheck 401 '.kind == "response" and .status == 401 and .reason == "Unauthorized"'
	jqcheck 401 'has("method") | not'
	jqcheck 401 '.via[0].rport == 5060 and .via[0].received == "203.0.113.9"'
	jqcheck 401 '.to.tag == "1410948204" and .cseq.num == 41'
	jqcheck 401 '.auth[0].header == "WWW-Authenticate" and .auth[0].realm == "example.com"'
	jqcheck 401 '.auth[0].stale == true and .auth[0].algorithm == "SHA-256"'
	jqcheck 401 '.auth[0].qop == "auth,auth-int" and .auth[0].opaque == ""'
	jqcheck 401 '.contacts == [] and .expires == null'
}

# standard input
checks=$((checks + 1))
"$BIN" --json - <"$T/reg.sip" >"$T/out" 2>"$T/err"
rc=$?
[ "$rc" -eq 0 ] || fail "stdin: exit $rc"
jqcheck stdin '.file == "<stdin>" and .cseq.num == 42'

# datagram with octets after the body: accepted, reported
run 0 --json "$T/trailing.sip" && jqcheck trailing '.trailing_bytes == 3'

# ------------------------------------------------------------------ LF

run 1 "$T/reg.lf" && {
	grepcheck lf "$T/err" "$T/reg.lf: error: "
	grepcheck lf "$T/err" "--lf"
	checks=$((checks + 1))
	[ -s "$T/out" ] && fail "lf: stdout not empty on error"
}
run 0 --lf --json "$T/reg.lf" && {
	jqcheck lf '.call_id == "1j9FpLxk3uxtm8tn@192.0.2.10" and (.via | length == 2)'
	jqcheck lf '.contacts[0].reg_id == 1 and .auth[0].nc == "00000001"'
}
# --lf still takes CRLF
run 0 --lf "$T/reg.sip"

# ------------------------------------------------------------------ invalid

for f in nocseq trunc shortbody badexp empty binary; do
	if run 1 "$T/$f.sip"; then
		checks=$((checks + 1))
		grep -q "^$T/$f.sip: error: ..*" "$T/err" ||
			fail "$f: no 'FILE: error: REASON' line: $(cat "$T/err")"
		grep -qF -- "--lf" "$T/err" && fail "$f: a CRLF file must not be told to use --lf"
	fi
done
run 1 "$T/nocseq.sip" && grepcheck nocseq "$T/err" "CSeq"

# with --json an error is also a JSON object on stdout
run 1 --json "$T/nocseq.sip" && jqcheck json-error '.file and (.error | length > 0)'

# valid and invalid together: exit 1, the valid one still printed, in order
run 1 --json "$T/reg.sip" "$T/trunc.sip" "$T/401.sip" && {
	checks=$((checks + 1))
	jq -s -e 'length == 3 and .[0].cseq.num == 42 and (.[1].error | length > 0)
		and .[2].status == 401' "$T/out" >/dev/null ||
		fail "mixed: bad JSON stream: $(cat "$T/out")"
}

# ------------------------------------------------------------------ usage

run 2 && grepcheck noargs "$T/err" "usage:"
run 2 --bogus "$T/reg.sip" && grepcheck badopt "$T/err" "usage:"
run 2 "$T/does-not-exist.sip" && grepcheck nofile "$T/err" "usage:"
run 2 --json && grepcheck onlyopt "$T/err" "usage:"
# an unreadable file among good ones: the good ones are still parsed
run 2 --json "$T/reg.sip" "$T/does-not-exist.sip" &&
	jqcheck unreadable '.cseq.num == 42'
# "--" ends the options: a file named like an option
cp "$T/reg.sip" "$T/--json"
run 0 -- "$T/--json" && grepcheck dashdash "$T/out" "CSeq: 42 REGISTER"

# ------------------------------------------------------------------ corpus

if [ -z "${SIPREG_CORPUS:-}" ] || [ ! -d "$SIPREG_CORPUS" ]; then
	echo "SKIPPED corpus part: SIPREG_CORPUS is not set or not a directory" >&2
else
	# Every message the manifests call 'accept' parses, gives one JSON
	# object with the key fields; every 'reject' is refused with a reason;
	# 'reject-or-lenient' is either, never a crash or a usage error.
	ncorpus=0
	for man in "$SIPREG_CORPUS"/rfc4475/manifest.csv "$SIPREG_CORPUS"/rfc5118/manifest.csv; do
		[ -f "$man" ] || continue
		dir=$(dirname "$man")
		python3 -c 'import csv, sys
for r in csv.DictReader(open(sys.argv[1])):
    print(r["file"], r["parse_expectation"])' "$man" >"$T/man" || {
			fail "cannot read $man"
			continue
		}
		while read -r file expect; do
			ncorpus=$((ncorpus + 1))
			case $expect in
			accept)
				run 0 --json "$dir/$file" &&
					jqcheck "$file" '(.kind == "request" or .kind == "response")
					and (.call_id | length > 0) and (.via | length > 0)'
				;;
			reject)
				run 1 "$dir/$file" && grepcheck "$file" "$T/err" "$dir/$file: error: "
				;;
			*)
				checks=$((checks + 1))
				"$BIN" "$dir/$file" >/dev/null 2>&1
				rc=$?
				[ "$rc" -le 1 ] || fail "$file ($expect): exit $rc"
				;;
			esac
		done <"$T/man"
	done
	for f in "$SIPREG_CORPUS"/real/*.sip; do
		[ -f "$f" ] || continue
		ncorpus=$((ncorpus + 1))
		run 0 --json "$f" && jqcheck "$(basename "$f")" \
			'(.call_id | length > 0) and (.via | length > 0) and .cseq.num >= 0
			and (.from.uri.raw | length > 0) and (.to.uri.raw | length > 0)'
	done
	if [ "$ncorpus" -eq 0 ]; then
		fail "SIPREG_CORPUS=$SIPREG_CORPUS holds no manifest or .sip file"
	fi
	# all real messages in one run: one JSON line each, all valid JSON
	set -- "$SIPREG_CORPUS"/real/*.sip
	if [ -f "$1" ]; then
		checks=$((checks + 1))
		"$BIN" --json "$@" >"$T/out" 2>"$T/err"
		[ "$?" -eq 0 ] || fail "all real: exit non-zero: $(head -c 400 "$T/err")"
		n=$(jq -s 'length' "$T/out" 2>/dev/null)
		[ "$n" = "$#" ] || fail "all real: $n JSON objects for $# files"
	fi
fi

echo "sipreg-parse: $checks checks, $fails failed"
[ "$fails" -eq 0 ]
