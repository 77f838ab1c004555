#!/usr/bin/env bash
# The MariaDB database and user the load-test baseline (crates/loadtest/src/baseline)
# and its tests (crates/loadtest/tests/baseline.rs) use. Idempotent: starts MariaDB
# if it is down, waits for it (bounded), then creates what is missing.
set -euo pipefail

if ! mariadb-admin -uroot ping >/dev/null 2>&1; then
    echo "baseline-db-setup: starting MariaDB"
    start-stop-daemon --start --oknodo --background --exec /usr/sbin/mariadbd
fi

for _ in $(seq 1 60); do
    if mariadb-admin -uroot ping >/dev/null 2>&1; then
        break
    fi
    sleep 0.5
done
if ! mariadb-admin -uroot ping >/dev/null 2>&1; then
    echo "baseline-db-setup: MariaDB did not answer within 30 s" >&2
    exit 1
fi

mariadb -uroot -e "CREATE DATABASE IF NOT EXISTS boxoffice_baseline; CREATE USER IF NOT EXISTS 'boxoffice'@'127.0.0.1' IDENTIFIED BY 'boxoffice'; CREATE USER IF NOT EXISTS 'boxoffice'@'localhost' IDENTIFIED BY 'boxoffice'; GRANT ALL ON boxoffice_baseline.* TO 'boxoffice'@'127.0.0.1'; GRANT ALL ON boxoffice_baseline.* TO 'boxoffice'@'localhost';"

# A fair baseline keeps its tickets in memory: Debian's default buffer pool is
# 128 MiB, about what a stadium scaled tenfold takes with its indexes, and the
# baseline warns below 1 GiB. Resized online; a restarted MariaDB is back to
# its own setting until this script runs again.
pool=$(mariadb -uroot -N -e "SELECT @@innodb_buffer_pool_size")
if [ "$pool" -lt $((1 << 30)) ]; then
    mariadb -uroot -e "SET GLOBAL innodb_buffer_pool_size = $((1 << 30))"
    echo "baseline-db-setup: innodb_buffer_pool_size raised to 1 GiB (was $((pool >> 20)) MiB)"
fi
echo "baseline-db-setup: database boxoffice_baseline ready"
