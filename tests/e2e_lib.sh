# tests/e2e_lib.sh - shell helpers shared by the integration scripts
# (sourced: `. "$(dirname "$0")/e2e_lib.sh"`). The script sets fails=0, and
# $sipregd and $ctl for e2e_start and e2e_status.

ok() { echo "ok: $*"; }
bad() { echo "FAIL: $*"; fails=$((fails + 1)); }
check() { # check DESCRIPTION WANT GOT
	if [ "$2" = "$3" ]; then ok "$1"; else bad "$1: want '$2', got '$3'"; fi
}
now_ms() { echo $(($(date +%s%N) / 1000000)); }

# A port free for both UDP and TCP on 127.0.0.1 (with $py when the script
# set it: the interpreter itself starts faster than a pyenv shim).
free_port() {
	"${py:-python3}" - <<'PY'
import socket
for _ in range(100):
    t = socket.socket(); t.bind(("127.0.0.1", 0)); p = t.getsockname()[1]
    u = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
    try:
        u.bind(("127.0.0.1", p))
    except OSError:
        continue
    print(p)
    break
PY
}

e2e_pids=() # every daemon e2e_start started, for the script's cleanup

# e2e_status SOCK: sipregd's status as JSON through its admin socket SOCK
# (5 s at most; $ctl is sipregctl).
e2e_status() { timeout 5 "$ctl" -s "$1" status --json 2>/dev/null; }

# e2e_port STATUS PROTO: the port of the first bound PROTO (udp, tcp) socket
# in a status, or nothing.
e2e_port() {
	jq -r --arg p "$2:" 'first(.sip.bound[]? | select(startswith($p))) // empty' \
		<<<"$1" 2>/dev/null | sed 's/.*://'
}

# e2e_start CONF LOG SOCK [PROTO...]: start $sipregd on CONF, its output
# appended to LOG, and wait (10 s at most) until its admin socket SOCK
# reports a bound socket of each PROTO (udp when none is named). Sets e2e_pid
# (also appended to e2e_pids, for the cleanup), e2e_udp and e2e_tcp. Returns
# 1, with the tail of LOG, when the daemon exits or does not come up.
e2e_start() {
	local conf=$1 log=$2 sock=$3 st p ready
	shift 3
	[ $# -gt 0 ] || set -- udp
	"$sipregd" -c "$conf" </dev/null >>"$log" 2>&1 &
	e2e_pid=$!
	e2e_pids+=("$e2e_pid")
	for _ in $(seq 100); do
		if st=$(e2e_status "$sock"); then
			e2e_udp=$(e2e_port "$st" udp)
			e2e_tcp=$(e2e_port "$st" tcp)
			ready=yes
			for p; do
				case $p in
				udp) [ -n "$e2e_udp" ] || ready= ;;
				tcp) [ -n "$e2e_tcp" ] || ready= ;;
				esac
			done
			[ -n "$ready" ] && return 0
		fi
		kill -0 "$e2e_pid" 2>/dev/null || break
		sleep 0.1
	done
	echo "sipregd ($conf) did not start:"
	tail -n 20 "$log"
	return 1
}

# e2e_kill PID...: SIGKILL and reap each PID given (empty ones skipped), for
# the cleanups; a PID already reaped is skipped by kill's failure.
e2e_kill() {
	local p
	for p; do
		[ -n "$p" ] && kill -9 "$p" 2>/dev/null && wait "$p" 2>/dev/null
	done
	return 0
}
