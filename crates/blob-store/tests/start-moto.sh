#!/usr/bin/env bash
# Starts a throwaway S3-compatible server (moto) on 127.0.0.1 for the `s3` feature's tests and
# prints its endpoint on the last line. Idempotent: the venv is created once under
# ${TUNERY_CACHE_DIR:-$HOME/.cache/tunery}/moto-venv (moto[server] from PyPI), and a server this
# script started that still answers is reused. Stop it with `kill "$(cat "$MOTO_PID_FILE")"`,
# where the pid file is <cache>/moto.pid (its port in <cache>/moto.port).
set -euo pipefail
cache="${TUNERY_CACHE_DIR:-$HOME/.cache/tunery}"
venv="$cache/moto-venv"
pid_file="$cache/moto.pid"
port_file="$cache/moto.port"
log="$cache/moto.log"
mkdir -p "$cache"

answers() { python3 - "$1" <<'PY'
import sys, urllib.request, urllib.error
try:
    urllib.request.urlopen(f"http://127.0.0.1:{sys.argv[1]}/", timeout=1)
except urllib.error.HTTPError:
    pass  # any HTTP answer will do
except Exception:
    sys.exit(1)
PY
}

if [ -f "$pid_file" ] && [ -f "$port_file" ] && kill -0 "$(cat "$pid_file")" 2>/dev/null && answers "$(cat "$port_file")"; then
  echo "http://127.0.0.1:$(cat "$port_file")"
  exit 0
fi

if [ ! -x "$venv/bin/moto_server" ]; then
  echo "== installing moto[server] into $venv" >&2
  python3 -m venv "$venv" >&2
  "$venv/bin/pip" install --quiet --disable-pip-version-check "moto[server]==5.*" >&2
fi

port=$(python3 -c 'import socket; s = socket.socket(); s.bind(("127.0.0.1", 0)); print(s.getsockname()[1]); s.close()')
nohup "$venv/bin/moto_server" -H 127.0.0.1 -p "$port" >"$log" 2>&1 &
echo $! >"$pid_file"
echo "$port" >"$port_file"
for _ in $(seq 1 100); do
  if answers "$port"; then
    echo "http://127.0.0.1:$port"
    exit 0
  fi
  if ! kill -0 "$(cat "$pid_file")" 2>/dev/null; then break; fi
  sleep 0.2
done
echo "moto_server did not answer on 127.0.0.1:$port; its log ($log):" >&2
tail -n 30 "$log" >&2 || true
exit 1
