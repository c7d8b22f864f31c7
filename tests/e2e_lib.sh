# tests/e2e_lib.sh - shell helpers shared by the integration scripts
# (sourced: `. "$(dirname "$0")/e2e_lib.sh"`). The script sets fails=0.

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
