#!/usr/bin/env bash
# tests/test_service.sh - running as a service (issue 6 §4): `meson install
# --destdir` into a temporary directory installs sipregd, sipregctl,
# sipreg-parse, the systemd unit (paths substituted, Type=notify, hardening),
# its sysusers.d entry and the example configuration (which the installed
# sipregd accepts); `systemd-analyze verify` finds nothing to say about the
# unit (skipped loudly without systemd-analyze); sipregd started with
# NOTIFY_SOCKET tells the service manager READY=1 once it serves and
# STOPPING=1 at SIGTERM (skipped loudly when sipregd was built without
# libsystemd). Loopback and ephemeral ports only; processes stopped by PID.
set -u
build=${SIPREG_BUILD_ROOT:?}
command -v python3 >/dev/null || { echo "SKIP: python3 is not installed"; exit 77; }
tmp=$(mktemp -d /tmp/sipreg-test-service.XXXXXX)
pid=
lpid=
cleanup() {
	[ -n "$pid" ] && kill -9 "$pid" 2>/dev/null && wait "$pid" 2>/dev/null
	[ -n "$lpid" ] && kill "$lpid" 2>/dev/null && wait "$lpid" 2>/dev/null
	rm -rf "$tmp"
}
trap cleanup EXIT
fails=0
ok() { echo "ok: $*"; }
bad() { echo "FAIL: $*"; fails=$((fails + 1)); }

dest=$tmp/root
if ! meson install -C "$build" --destdir "$dest" --no-rebuild --quiet >"$tmp/install.log" 2>&1; then
	cat "$tmp/install.log"
	echo "FAIL: meson install"
	exit 1
fi
(cd "$dest" && find . -type f | sort) >"$tmp/files"
echo "installed:"; sed 's/^/  /' "$tmp/files"
prefix=$(meson introspect "$build" --buildoptions | python3 -c \
	'import json,sys; print([o["value"] for o in json.load(sys.stdin) if o["name"]=="prefix"][0])')
for f in bin/sipregd bin/sipregctl bin/sipreg-parse etc/sipreg/sipreg.conf share/doc/sipreg/OPERATIONS.md; do
	grep -qx "\.$prefix/$f" "$tmp/files" && ok "installed $prefix/$f" || bad "$prefix/$f not installed"
done
unit=$(grep '/systemd/system/sipreg.service$' "$tmp/files" | head -1)
users=$(grep '/sysusers.d/sipreg.conf$' "$tmp/files" | head -1)
[ -n "$unit" ] && ok "unit installed: ${unit#.}" || { bad "no sipreg.service installed"; exit 1; }
[ -n "$users" ] && ok "sysusers.d entry: ${users#.}" || bad "no sysusers.d/sipreg.conf"
unit=$dest/${unit#./}
grep -q '^u sipreg ' "$dest/${users#./}" 2>/dev/null || bad "sysusers entry does not create user sipreg"

"$dest$prefix/bin/sipregd" --check-config -c "$dest$prefix/etc/sipreg/sipreg.conf" >/dev/null &&
	ok "the installed example configuration passes --check-config" ||
	bad "installed example configuration refused"
grep -q '@' "$unit" && bad "unsubstituted @VAR@ in the unit: $(grep '@' "$unit")"
for line in "Type=notify" "Restart=on-failure" "NoNewPrivileges=yes" "ProtectSystem=strict" \
	"User=sipreg" "StateDirectory=sipreg" "RuntimeDirectory=sipreg" \
	"ExecStart=$prefix/bin/sipregd -c $prefix/etc/sipreg/sipreg.conf" \
	"ExecReload=/bin/kill -HUP \$MAINPID"; do
	grep -qxF "$line" "$unit" && ok "unit: $line" || bad "unit lacks: $line"
done

if command -v systemd-analyze >/dev/null; then
	# verify checks that ExecStart's programs exist: point them at the copy
	mkdir -p "$tmp/verify"
	sed "s|$prefix/bin/|$dest$prefix/bin/|g" "$unit" >"$tmp/verify/sipreg.service"
	out=$(systemd-analyze verify "$tmp/verify/sipreg.service" 2>&1)
	rc=$?
	if [ $rc -eq 0 ] && [ -z "$out" ]; then
		ok "systemd-analyze verify: nothing to say"
	else
		bad "systemd-analyze verify (rc $rc): $out"
	fi
else
	echo "SKIP (loudly): systemd-analyze is not installed: the unit is not verified"
fi

# sd_notify: READY=1 after start-up, STOPPING=1 at SIGTERM
if ! nm -D "$build/src/sipregd" 2>/dev/null | grep -q ' U sd_notify'; then
	echo "SKIP (loudly): sipregd was built without libsystemd (libsystemd-dev): sd_notify is a no-op"
else
	python3 - "$tmp/notify.sock" >"$tmp/notify.out" 2>&1 <<'PY' &
import socket, sys
s = socket.socket(socket.AF_UNIX, socket.SOCK_DGRAM)
s.bind(sys.argv[1])
s.settimeout(20)
try:
    while True:
        msg = s.recv(4096).decode()
        for line in msg.split("\n"):
            print(line, flush=True)
        if "STOPPING=1" in msg:
            break
except socket.timeout:
    print("timeout", flush=True)
PY
	lpid=$!
	for _ in $(seq 50); do [ -S "$tmp/notify.sock" ] && break; sleep 0.1; done
	cat >"$tmp/sipreg.conf" <<CONF
[core]
listen = udp:127.0.0.1:0
workers = 1
[admin]
socket = $tmp/admin.sock
[database]
path = $tmp/sipreg.db
CONF
	NOTIFY_SOCKET=$tmp/notify.sock "$build/src/sipregd" -c "$tmp/sipreg.conf" >"$tmp/sipregd.log" 2>&1 &
	pid=$!
	for _ in $(seq 50); do grep -q 'READY=1' "$tmp/notify.out" && break; sleep 0.1; done
	if grep -q 'READY=1' "$tmp/notify.out"; then
		grep -q 'event=started' "$tmp/sipregd.log" && ok "READY=1 sent once started" ||
			bad "READY=1 before the started line"
	else
		bad "no READY=1: $(cat "$tmp/notify.out")"
	fi
	grep -q 'STOPPING=1' "$tmp/notify.out" && bad "STOPPING=1 before any signal"
	kill -TERM "$pid"
	rc=0
	wait "$pid" || rc=$?
	pid=
	[ $rc -eq 0 ] && ok "sipregd stopped, exit 0" || bad "sipregd exit status $rc"
	wait "$lpid" 2>/dev/null
	lpid=
	grep -q 'STOPPING=1' "$tmp/notify.out" && ok "STOPPING=1 sent at SIGTERM" ||
		bad "no STOPPING=1: $(cat "$tmp/notify.out")"
fi

echo "service: $fails failure(s)"
[ $fails -eq 0 ]
