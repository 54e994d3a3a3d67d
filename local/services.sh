#!/usr/bin/env bash
# Makes sure the local backing services run on this machine, installing or
# starting them when they are not, then writes .local-state/env and (unless
# --no-setup) runs `chat-local setup` (migrations + DynamoDB table).
#
#   PostgreSQL  127.0.0.1:5432   user postgres / password postgres, database chat
#   Redis       127.0.0.1:6379
#   moto server 127.0.0.1:4566   (MOTO_PORT overrides), from the project venv .venv/
#
# Idempotent; used by local/dev, local/test and CI. Works from any directory.
set -euo pipefail

usage() {
    cat <<'EOF'
usage: local/services.sh [--no-setup]

Ensures PostgreSQL (127.0.0.1:5432), Redis (127.0.0.1:6379) and a moto server
(127.0.0.1:${MOTO_PORT:-4566}) are running, writes .local-state/env, then runs
`cargo run -p chat-local -- setup` unless --no-setup is given.
EOF
}

RUN_SETUP=1
for arg in "$@"; do
    case "$arg" in
        --no-setup) RUN_SETUP=0 ;;
        -h | --help) usage; exit 0 ;;
        *) echo "services.sh: unknown argument: $arg" >&2; usage >&2; exit 2 ;;
    esac
done

ROOT="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
STATE="$ROOT/.local-state"
VENV="$ROOT/.venv"
MOTO_PORT="${MOTO_PORT:-4566}"
MOTO_PIP_SPEC='moto[server]>=5.1,<6'
PG_HOST=127.0.0.1
PG_PORT=5432
REDIS_PORT=6379

export DEBIAN_FRONTEND=noninteractive
export PGCONNECT_TIMEOUT=5

mkdir -p "$STATE"

# Serialise concurrent runs (e.g. local/dev and local/test started together).
# Every long-lived process started below gets `9>&-` so it does not keep the lock.
exec 9>"$STATE/services.lock"
if ! flock -w 900 9; then
    echo "services.sh: another run holds $STATE/services.lock" >&2
    exit 1
fi

die() {
    echo "services.sh: error: $*" >&2
    exit 1
}

# Run a command as root (we normally are root; sudo otherwise).
as_root() {
    if [ "$(id -u)" -eq 0 ]; then "$@"; else sudo "$@"; fi
}

APT_UPDATED=0
apt_install() {
    if [ "$APT_UPDATED" -eq 0 ]; then
        as_root apt-get update -qq 9>&- >/dev/null || die "apt-get update failed"
        APT_UPDATED=1
    fi
    as_root env DEBIAN_FRONTEND=noninteractive apt-get install -y -qq "$@" 9>&- >/dev/null \
        || die "apt-get install $* failed"
}

# wait_until SECONDS COMMAND...: poll COMMAND every 0.2 s until it succeeds.
wait_until() {
    local seconds=$1
    shift
    local tries=$((seconds * 5))
    while ! "$@" >/dev/null 2>&1; do
        tries=$((tries - 1))
        [ "$tries" -gt 0 ] || return 1
        sleep 0.2
    done
}

join_notes() {
    local out=$1 note
    shift
    for note in "$@"; do out+=", $note"; done
    echo "$out"
}

# --------------------------------------------------------------- PostgreSQL
pg_ready() { pg_isready -q -h "$PG_HOST" -p "$PG_PORT"; }

# As the postgres OS user over the local socket (works before any password is set).
psql_as_postgres() {
    (cd / && as_root runuser -u postgres -- psql -X -q -v ON_ERROR_STOP=1 "$@")
}

# As the postgres role over TCP with the dev password: what the backend does.
psql_tcp() {
    PGPASSWORD=postgres psql -X -q -v ON_ERROR_STOP=1 -h "$PG_HOST" -p "$PG_PORT" -U postgres "$@"
}

ensure_postgres() {
    local notes=()
    if command -v pg_isready >/dev/null 2>&1 && pg_ready; then
        notes+=("already running")
    else
        if ! compgen -G '/usr/lib/postgresql/*/bin/postgres' >/dev/null; then
            apt_install postgresql
            notes+=("installed")
        fi
        if ! pg_ready; then
            local ver
            # Newest cluster version under /etc/postgresql; create one if there is none.
            ver="$(find /etc/postgresql -mindepth 1 -maxdepth 1 -printf '%f\n' 2>/dev/null | sort -V | tail -n 1)"
            if [ -z "$ver" ]; then
                ver="$(find /usr/lib/postgresql -mindepth 1 -maxdepth 1 -printf '%f\n' | sort -V | tail -n 1)"
                as_root pg_createcluster "$ver" main 9>&- >/dev/null || die "pg_createcluster $ver main failed"
            fi
            local out
            # Fails harmlessly with "already running" when the cluster is still starting up.
            out="$(as_root pg_ctlcluster --skip-systemctl-redirect "$ver" main start 9>&- 2>&1)" || true
            if ! wait_until 30 pg_ready; then
                [ -z "$out" ] || echo "$out" >&2
                as_root pg_lsclusters >&2 || true
                die "PostgreSQL is not accepting connections on $PG_HOST:$PG_PORT after 30 s (log: /var/log/postgresql/)"
            fi
            notes+=("started")
        fi
    fi

    # The role must log in over TCP with password 'postgres' (trust auth: always true).
    local has_chat
    if ! has_chat="$(psql_tcp -d postgres -tAc "SELECT count(*) FROM pg_database WHERE datname = 'chat'" 2>/dev/null)"; then
        psql_as_postgres -c "ALTER USER postgres PASSWORD 'postgres'" >/dev/null \
            || die "could not set the password of the postgres role"
        notes+=("password set")
        has_chat="$(psql_tcp -d postgres -tAc "SELECT count(*) FROM pg_database WHERE datname = 'chat'")" \
            || die "role postgres cannot log in over TCP on $PG_HOST:$PG_PORT with password 'postgres' (check pg_hba.conf)"
    fi
    if [ "$has_chat" != 1 ]; then
        psql_tcp -d postgres -c 'CREATE DATABASE chat' >/dev/null || die "CREATE DATABASE chat failed"
        notes+=("database chat created")
    fi
    echo "PostgreSQL: $(join_notes "${notes[@]}") on $PG_HOST:$PG_PORT"
}

# -------------------------------------------------------------------- Redis
redis_ready() { [ "$(timeout 3 redis-cli -h 127.0.0.1 -p "$REDIS_PORT" ping 2>/dev/null)" = PONG ]; }

ensure_redis() {
    local notes=()
    if command -v redis-cli >/dev/null 2>&1 && redis_ready; then
        echo "Redis: already running on 127.0.0.1:$REDIS_PORT"
        return
    fi
    if ! command -v redis-server >/dev/null 2>&1 || ! command -v redis-cli >/dev/null 2>&1; then
        apt_install redis-server
        notes+=("installed")
    fi
    # The package's own service may have started it already.
    if ! redis_ready; then
        as_root mkdir -p /var/lib/redis /var/log/redis
        as_root redis-server --daemonize yes --bind 127.0.0.1 -::1 --port "$REDIS_PORT" \
            --save "" --appendonly no --dir /var/lib/redis --logfile /var/log/redis/ci.log 9>&- >/dev/null \
            || die "redis-server failed to start (log: /var/log/redis/ci.log)"
        wait_until 15 redis_ready \
            || die "Redis does not answer PING on 127.0.0.1:$REDIS_PORT after 15 s (log: /var/log/redis/ci.log)"
        notes+=("started")
    fi
    echo "Redis: $(join_notes "${notes[@]}") on 127.0.0.1:$REDIS_PORT"
}

# --------------------------------------------------------------------- moto
moto_answers() {
    local code
    code="$(curl -s -o /dev/null -w '%{http_code}' --max-time 2 "http://127.0.0.1:$MOTO_PORT/" 2>/dev/null)" || true
    [ -n "$code" ] && [ "$code" != 000 ]
}

ensure_moto() {
    local notes=()
    command -v curl >/dev/null 2>&1 || apt_install curl

    # Always the project venv: never a moto that happens to be installed globally.
    if [ ! -x "$VENV/bin/moto_server" ]; then
        if [ ! -x "$VENV/bin/python" ] || ! "$VENV/bin/python" -c '' 2>/dev/null; then
            rm -rf "$VENV"
            command -v python3 >/dev/null 2>&1 || apt_install python3
            if ! python3 -m venv "$VENV" >/dev/null 2>&1; then
                # Debian's python3 lacks ensurepip until python3-venv is installed.
                rm -rf "$VENV"
                apt_install python3-venv
                python3 -m venv "$VENV" || die "python3 -m venv $VENV failed"
            fi
        fi
        "$VENV/bin/python" -m pip install --quiet --disable-pip-version-check "$MOTO_PIP_SPEC" \
            || die "pip install '$MOTO_PIP_SPEC' into $VENV failed"
        [ -x "$VENV/bin/moto_server" ] || die "$VENV/bin/moto_server missing after pip install"
        notes+=("installed into .venv")
    fi

    if moto_answers; then
        notes+=("already running")
    else
        local log="$STATE/moto.log" pidfile="$STATE/moto.pid" pid
        # Not a process-group leader here, so setsid execs in place and $! is moto's pid.
        nohup setsid "$VENV/bin/moto_server" -H 127.0.0.1 -p "$MOTO_PORT" \
            </dev/null >"$log" 2>&1 9>&- &
        pid=$!
        echo "$pid" >"$pidfile"
        local tries=150
        while ! moto_answers; do
            if ! kill -0 "$pid" 2>/dev/null; then
                tail -n 20 "$log" >&2 || true
                die "moto server exited at start (log: $log)"
            fi
            tries=$((tries - 1))
            [ "$tries" -gt 0 ] || die "moto server does not answer on 127.0.0.1:$MOTO_PORT after 30 s (log: $log)"
            sleep 0.2
        done
        notes+=("started as pid $pid (log .local-state/moto.log)")
    fi
    echo "moto: $(join_notes "${notes[@]}") on 127.0.0.1:$MOTO_PORT"
}

# ---------------------------------------------------------------- env file
# Each line keeps a value already set in the environment of whoever sources the
# file (caller's values win) and otherwise falls back to the local dev default.
write_env() {
    local tmp="$STATE/env.tmp.$$"
    cat >"$tmp" <<EOF
# Written by local/services.sh; sourced by local/dev and local/test. Bash syntax.
# A variable already set in the environment keeps its value.
export DATABASE_URL="\${DATABASE_URL:-postgres://postgres:postgres@127.0.0.1:$PG_PORT/chat}"
export REDIS_URL="\${REDIS_URL:-redis://127.0.0.1:$REDIS_PORT}"
export AWS_ENDPOINT_URL="\${AWS_ENDPOINT_URL:-http://127.0.0.1:$MOTO_PORT}"
export AWS_REGION="\${AWS_REGION:-us-east-1}"
export AWS_ACCESS_KEY_ID="\${AWS_ACCESS_KEY_ID:-test}"
export AWS_SECRET_ACCESS_KEY="\${AWS_SECRET_ACCESS_KEY:-test}"
export CONNECTIONS_TABLE="\${CONNECTIONS_TABLE:-Connections}"
export JWT_SECRET="\${JWT_SECRET:-local-dev-secret-change-me}"
EOF
    mv -f "$tmp" "$STATE/env"
}

ensure_postgres
ensure_redis
ensure_moto
write_env
# shellcheck source=/dev/null
. "$STATE/env"
echo "env: .local-state/env"

if [ "$RUN_SETUP" -eq 1 ]; then
    echo "setup: cargo run -p chat-local -- setup"
    (cd "$ROOT" && cargo run --quiet -p chat-local -- setup) 9>&- \
        || die "chat-local setup failed"
fi
