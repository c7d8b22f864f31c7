#!/usr/bin/env bash
# trace-off BENCH DURATION REPEAT NAME=SIPREGD...: OPTIONS through each sipregd
# (workers = 1, CPU 0; sipreg-bench on CPU 1, window 64, GSO), alternated
# REPEAT times; each daemon runs only during its own run. Prints rt/s and the
# worker thread's CPU per round trip.
set -euo pipefail
bench=$1; duration=$2; repeat=$3; shift 3
tmp=$(mktemp -d /tmp/sipreg-trace-off.XXXXXX)
spid=
cleanup() { [ -n "$spid" ] && kill "$spid" 2>/dev/null && wait "$spid" 2>/dev/null; rm -rf "$tmp"; }
trap cleanup EXIT
hz=$(getconf CLK_TCK)
wticks() { local s=0 t; for t in /proc/$spid/task/*; do case $(cat $t/comm) in sipreg-w*) s=$((s + $(awk '{print $14+$15}' $t/stat)));; esac; done; echo $s; }
echo "trace-off: $(date -u +%FT%TZ) load $(cut -d' ' -f1-3 /proc/loadavg), ${duration}s x $repeat"
for i in $(seq "$repeat"); do
	for nb in "$@"; do
		name=${nb%%=*} bin=${nb#*=}
		port=$(python3 -c 'import socket; s=socket.socket(socket.AF_INET, socket.SOCK_DGRAM); s.bind(("127.0.0.1", 0)); print(s.getsockname()[1])')
		printf '[core]\nlisten = udp:127.0.0.1:%s\nworkers = 1\nlog_level = warning\n[admin]\nsocket = %s/admin.sock\n[database]\npath = %s/sipreg.db\n' "$port" "$tmp" "$tmp" >"$tmp/c.conf"
		taskset -c 0 "$bin" -c "$tmp/c.conf" 2>>"$tmp/err" &
		spid=$!
		for _ in $(seq 50); do
			"$bench" --target "127.0.0.1:$port" --count 1 --window 1 --timeout-ms 200 --json 2>/dev/null | grep -q '"200":1[,}]' && break
			sleep 0.1
		done
		w0=$(wticks)
		taskset -c 1 "$bench" --target "127.0.0.1:$port" --window 64 --duration "$duration" --gso --json >"$tmp/r.json"
		w1=$(wticks)
		kill "$spid"; wait "$spid" 2>/dev/null || true; spid=
		rm -f "$tmp/sipreg.db"*
		jq -r --arg m "$name" --arg i "$i" --argjson w "$(( w1 - w0 ))" --argjson hz "$hz" \
			'"\($i) \($m | . + "        " | .[0:9]) \(.rps | floor) rt/s  worker \((($w / $hz) * 1e6 / .completed * 100 | round) / 100) us/rt  timeouts \(.timeouts)"' "$tmp/r.json"
	done
done
