#!/usr/bin/env bash
# What a refusal at the door costs the server, against the trivial endpoint.
# Starts a server whose door has one place (--max-http-in-flight 1), holds
# that place with a request whose body never finishes (--body-timeout 1h
# lets it wait), then runs wrk on `GET /health` (never refused) and on
# `GET /cities` (refused with 503), and prints both rates and the server's
# CPU for each.
#
#   crates/benches/wrk/refusals.sh [BINARY]
#
# BINARY defaults to target/release/boxoffice.
# Environment: ROUNDS (2), DURATION (4s), CONNECTIONS (64), PORT (18520).
# Needs wrk (Debian's package), curl and python3; loopback only.
set -euo pipefail
binary=${1:-target/release/boxoffice}
rounds=${ROUNDS:-2}
duration=${DURATION:-4s}
connections=${CONNECTIONS:-64}
port=${PORT:-18520}

rate() { awk '/Requests\/sec/ { print $2 }'; }
cpu_ms() { awk '{ print ($14 + $15) * 10 }' "/proc/$1/stat"; }

data=$(mktemp -d)
"$binary" serve --addr "127.0.0.1:$port" --data-dir "$data/store" --catalogue empty \
    --payments instant --admin-token bench --max-http-in-flight 1 --body-timeout 1h \
    >"$data/server.log" 2>&1 &
server=$!
stall=
trap 'kill $server $stall 2>/dev/null; rm -rf "$data"' EXIT
for _ in $(seq 100); do
    curl -sf "http://127.0.0.1:$port/health" >/dev/null && break
    sleep 0.1
done

# The stalled request: its head promises 100 bytes of body, a few come.
python3 - "$port" <<'PY' &
import socket, sys, time
stalled = socket.create_connection(("127.0.0.1", int(sys.argv[1])))
stalled.sendall(b"POST /cities HTTP/1.1\r\nHost: bench\r\nAuthorization: Bearer bench\r\n"
                b"Content-Type: application/json\r\nContent-Length: 100\r\n\r\n{\"name\":")
time.sleep(600)
PY
stall=$!
sleep 0.5
status=$(curl -s -o /dev/null -w "%{http_code}" "http://127.0.0.1:$port/cities")
[ "$status" = 503 ] || { echo "the door did not refuse (got $status)" >&2; exit 1; }

for round in $(seq "$rounds"); do
    before=$(cpu_ms $server)
    health=$(wrk -t1 -c"$connections" -d"$duration" "http://127.0.0.1:$port/health" | rate)
    between=$(cpu_ms $server)
    refused=$(wrk -t1 -c"$connections" -d"$duration" "http://127.0.0.1:$port/cities" | rate)
    after=$(cpu_ms $server)
    echo "round $round: health $health/s (server CPU $((between - before)) ms)," \
        "refused $refused/s (server CPU $((after - between)) ms)"
done
