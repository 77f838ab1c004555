#!/usr/bin/env bash
# Durable reserve over HTTP against the trivial endpoint, with wrk as the
# client: lighter than the criterion bench's reqwest, so nearer the server's
# own ceiling. Each round starts a fresh server on a fresh data dir, sets up
# a stadium, runs wrk on `GET /health`, then on reserves of one ticket, and
# prints both rates and their ratio.
#
#   crates/benches/wrk/ratio.sh [BINARY [BASELINE_BINARY]]
#
# BINARY defaults to target/release/boxoffice. With a BASELINE_BINARY, the
# rounds alternate between the two builds, so both see the same machine.
# Environment: ROUNDS (3), DURATION (5s), CONNECTIONS (64), PORT (18480).
# Needs wrk (Debian's package), curl and python3; loopback only.
set -euo pipefail
here=$(cd "$(dirname "$0")" && pwd)
binary=${1:-target/release/boxoffice}
baseline=${2:-}
rounds=${ROUNDS:-3}
duration=${DURATION:-5s}
connections=${CONNECTIONS:-64}
port=${PORT:-18480}

rate() { awk '/Requests\/sec/ { print $2 }'; }

round() {
    local binary=$1 data pid health reserve
    data=$(mktemp -d)
    "$binary" serve --addr "127.0.0.1:$port" --data-dir "$data/store" --catalogue empty \
        --payments instant --admin-token bench --hold-ttl 1h >"$data/server.log" 2>&1 &
    pid=$!
    trap 'kill $pid 2>/dev/null; rm -rf "$data"' RETURN
    for _ in $(seq 100); do
        curl -sf "http://127.0.0.1:$port/health" >/dev/null && break
        sleep 0.1
    done

    # 1,000 buyers over 5 stadiums: 500k reserves before any buyer's limit.
    python3 "$here/world.py" "$port" bench 1000 5 "$data/reserve.lua"
    health=$(wrk -t1 -c"$connections" -d"$duration" "http://127.0.0.1:$port/health" | rate)
    wrk -t1 -c"$connections" -d"$duration" -s "$data/reserve.lua" "http://127.0.0.1:$port/" \
        >"$data/reserve.txt"
    reserve=$(rate <"$data/reserve.txt")
    grep '^status' "$data/reserve.txt" | grep -v 'status 201' | sed 's/^/    not reserved: /' || true
    awk -v b="$binary" -v h="$health" -v r="$reserve" \
        'BEGIN { printf "%-40s health %9.0f/s  reserve %9.0f/s  ratio %.3f\n", b, h, r, r / h }'
}

for _ in $(seq "$rounds"); do
    [ -n "$baseline" ] && round "$baseline"
    round "$binary"
done
