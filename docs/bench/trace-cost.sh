#!/usr/bin/env bash
# trace-cost BUILD [DURATION] [REPEAT]: the SIP trace's cost in sipregd
# (workers = 1, CPU 0) under sipreg-bench OPTIONS (CPU 1, window 64, GSO), one
# daemon for all modes, alternated each repeat: off | pcap (every message, to
# a file) | nomatch (a --user filter no message matches: parse + filter only)
# | hep (every message, HEPv3 to a bound loopback socket nobody reads).
set -euo pipefail
build=$1; duration=${2:-4}; repeat=${3:-3}
sipregd=$build/src/sipregd ctl=$build/tools/sipregctl bench=$build/bench/sipreg-bench
tmp=$(mktemp -d /tmp/sipreg-trace-cost.XXXXXX)
pids=()
cleanup() { for p in "${pids[@]}"; do kill "$p" 2>/dev/null; wait "$p" 2>/dev/null; done; rm -rf "$tmp"; }
trap cleanup EXIT
port=$(python3 -c 'import socket; s=socket.socket(socket.AF_INET, socket.SOCK_DGRAM); s.bind(("127.0.0.1", 0)); print(s.getsockname()[1])')
cat >"$tmp/sipreg.conf" <<CONF
[core]
listen = udp:127.0.0.1:$port
workers = 1
log_level = warning
[admin]
socket = $tmp/admin.sock
[database]
path = $tmp/sipreg.db
CONF
taskset -c 0 "$sipregd" -c "$tmp/sipreg.conf" 2>"$tmp/sipregd.err" &
spid=$!; pids+=("$spid")
for _ in $(seq 50); do
	"$bench" --target "127.0.0.1:$port" --count 1 --window 1 --timeout-ms 200 --json 2>/dev/null | grep -q '"200":1[,}]' && break
	sleep 0.1
done
python3 -c 'import socket,time,sys; s=socket.socket(socket.AF_INET, socket.SOCK_DGRAM); s.bind(("127.0.0.1",0)); print(s.getsockname()[1], flush=True); time.sleep(3600)' >"$tmp/hep.port" &
pids+=("$!")
for _ in $(seq 50); do hport=$(head -1 "$tmp/hep.port" 2>/dev/null || true); [ -n "$hport" ] && break; sleep 0.1; done
wticks() { local s=0 t; for t in /proc/$spid/task/*; do case $(cat $t/comm) in sipreg-w*) s=$((s + $(awk '{print $14+$15}' $t/stat)));; esac; done; echo $s; }
hz=$(getconf CLK_TCK)
echo "trace-cost: $(date -u +%FT%TZ) $(git -C "$(dirname "$0")" rev-parse --short HEAD 2>/dev/null) load $(cut -d' ' -f1-3 /proc/loadavg), ${duration}s x $repeat"
for i in $(seq "$repeat"); do
	for mode in off pcap nomatch hep; do
		rm -f "$tmp/t.pcap"
		case $mode in
		pcap) "$ctl" -s "$tmp/admin.sock" trace start --file "$tmp/t.pcap" --max-bytes 17179869184 --max-packets 100000000 >/dev/null ;;
		nomatch) "$ctl" -s "$tmp/admin.sock" trace start --file "$tmp/t.pcap" --user nobody-at-all >/dev/null ;;
		hep) "$ctl" -s "$tmp/admin.sock" trace start --hep "127.0.0.1:$hport" --max-packets 100000000 >/dev/null ;;
		esac
		w0=$(wticks)
		taskset -c 1 "$bench" --target "127.0.0.1:$port" --window 64 --duration "$duration" --gso --json >"$tmp/r.json"
		w1=$(wticks)
		st=
		[ $mode = off ] || st=$("$ctl" -s "$tmp/admin.sock" trace stop --json)
		jq -r --arg m "$mode" --arg i "$i" --argjson w "$(( w1 - w0 ))" --argjson hz "$hz" --arg st "${st:-{\}}" \
			'($st | fromjson) as $s | "\($i) \($m | . + "       " | .[0:8]) \(.rps | floor) rt/s  worker \((($w / $hz) * 1e6 / .completed * 100 | round) / 100) us/rt  timeouts \(.timeouts)  written \($s.written // 0) hep \($s.hep_sent // 0) dropped \($s.dropped // 0) MB \((($s.bytes // 0) / 1e6) | floor)"' "$tmp/r.json"
	done
done
