#!/usr/bin/env bash
# Makes sure the services the backend tests use are up: PostgreSQL on 127.0.0.1:5432 and Redis on
# 127.0.0.1:6379. Starts them with the machine's own packages when they are installed but down;
# prints what it did. Never fails by itself: the tests decide (under CI=true an unreachable
# service fails the run, locally the tests skip with a message).
set -u

pg_up() { pg_isready -q -h 127.0.0.1 -p 5432 >/dev/null 2>&1; }
redis_up() { redis-cli -h 127.0.0.1 -p 6379 ping >/dev/null 2>&1; }

if command -v pg_isready >/dev/null 2>&1 && ! pg_up; then
  if command -v pg_ctlcluster >/dev/null 2>&1 && [ -d /etc/postgresql ]; then
    echo "services: starting PostgreSQL"
    pg_ctlcluster --skip-systemctl-redirect "$(ls /etc/postgresql | head -n 1)" main start || true
    for _ in $(seq 1 30); do pg_up && break; sleep 1; done
  fi
fi

if command -v redis-server >/dev/null 2>&1 && ! redis_up; then
  echo "services: starting Redis"
  mkdir -p /var/lib/redis /var/log/redis 2>/dev/null || true
  redis-server --daemonize yes --bind 127.0.0.1 -::1 --port 6379 --save "" --appendonly no \
    --dir /var/lib/redis --logfile /var/log/redis/ci.log || true
  for _ in $(seq 1 30); do redis_up && break; sleep 1; done
fi

if pg_up; then echo "services: PostgreSQL up"; else echo "services: PostgreSQL NOT reachable"; fi
if redis_up; then echo "services: Redis up"; else echo "services: Redis NOT reachable"; fi
exit 0
