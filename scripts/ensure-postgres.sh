#!/usr/bin/env bash
# Make a PostgreSQL server answer on 127.0.0.1:5432 with trust auth and a `test` database.
# Uses the running one when there is one; otherwise installs Debian's packages and starts it.
set -euo pipefail

ready() { pg_isready -h 127.0.0.1 -p 5432 -q 2>/dev/null; }

if ! command -v pg_isready >/dev/null 2>&1 || ! ready; then
  if ! command -v pg_ctlcluster >/dev/null 2>&1; then
    echo "PostgreSQL is absent: installing it from Debian's packages"
    export DEBIAN_FRONTEND=noninteractive
    apt-get update -qq
    apt-get install -y -qq postgresql >/dev/null
  fi
  version=$(ls /etc/postgresql | sort -V | tail -n 1)
  if [ -z "$version" ]; then
    echo "no PostgreSQL cluster found" >&2
    exit 1
  fi
  conf=/etc/postgresql/$version/main
  # Trust on loopback only: this server exists for the test suite.
  if ! grep -q "rempart-test" "$conf/pg_hba.conf"; then
    sed -i '1i host all all 127.0.0.1/32 trust # rempart-test\nhost all all ::1/128 trust # rempart-test\nlocal all all trust # rempart-test' "$conf/pg_hba.conf"
  fi
  pg_ctlcluster --skip-systemctl-redirect "$version" main start || pg_ctlcluster "$version" main restart
  for _ in $(seq 1 30); do ready && break; sleep 1; done
fi
ready || { echo "PostgreSQL did not start" >&2; exit 1; }
psql -h 127.0.0.1 -U postgres -tAc "SELECT 1 FROM pg_database WHERE datname='test'" | grep -q 1 \
  || psql -h 127.0.0.1 -U postgres -c "CREATE DATABASE test"
echo "PostgreSQL is ready on 127.0.0.1:5432"
