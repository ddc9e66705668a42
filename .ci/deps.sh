# shellcheck shell=bash
# System packages for CI: Chromium + ChromeDriver (browser tests), wrk
# (benchmarks), the PostgreSQL client when psql is missing, and the real peers
# of the signals tests: Prometheus, Alertmanager, node_exporter and NATS (whose
# own services are never started: the tests run their own processes on free
# loopback ports). Installs only what is missing; runs no apt-get update when
# nothing is.
#   bash .ci/deps.sh      or source it and call ci_install_system_deps

_ci_deps_lib="$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)/lib.sh"
# shellcheck source=SCRIPTDIR/lib.sh
source "$_ci_deps_lib"

# The peers' binaries, as the tests find them (AURORA_PROMETHEUS and friends).
CI_PEER_BINARIES=(/usr/bin/prometheus /usr/bin/prometheus-alertmanager
  /usr/bin/prometheus-node-exporter /usr/sbin/nats-server)

# ci_apt_install_no_start PKG...: ci_apt_install, with the packages' daemons
# kept from starting (a policy-rc.d that denies, for the length of the install)
# and, on a systemd host, their units stopped and disabled.
ci_apt_install_no_start() {
  local policy=/usr/sbin/policy-rc.d added="" rc=0
  if [[ ! -e $policy ]]; then
    ci_as_root sh -c "printf '#!/bin/sh\\nexit 101\\n' >$policy && chmod 755 $policy"
    added=1
  fi
  ci_apt_install "$@" || rc=$?
  [[ -z $added ]] || ci_as_root rm -f "$policy"
  ((rc == 0)) || return "$rc"
  if [[ -d /run/systemd/system ]]; then
    ci_as_root systemctl disable --now --quiet prometheus prometheus-alertmanager \
      prometheus-node-exporter nats-server >/dev/null 2>&1 || true
  fi
}

ci_install_peers() {
  ci_apt_install_no_start prometheus prometheus-alertmanager prometheus-node-exporter nats-server
  local b
  for b in "${CI_PEER_BINARIES[@]}"; do
    [[ -x $b ]] || ci_die "$b missing after install"
  done
  ci_log "$(/usr/bin/prometheus --version 2>&1 | head -n1)"
  ci_log "$(/usr/bin/prometheus-alertmanager --version 2>&1 | head -n1)"
  ci_log "$(/usr/bin/prometheus-node-exporter --version 2>&1 | head -n1)"
  ci_log "$(/usr/sbin/nats-server --version 2>&1 | head -n1)"
}

ci_install_system_deps() {
  local pkgs=(chromium chromium-driver wrk)
  command -v psql >/dev/null 2>&1 || pkgs+=(postgresql-client)
  ci_apt_install "${pkgs[@]}"
  local b
  for b in /usr/bin/chromium /usr/bin/chromedriver /usr/bin/wrk psql; do
    command -v "$b" >/dev/null 2>&1 || ci_die "$b missing after install"
  done
  ci_log "$(/usr/bin/chromium --version 2>/dev/null || echo 'chromium: no version')"
  ci_log "$(/usr/bin/chromedriver --version 2>/dev/null || echo 'chromedriver: no version')"
  ci_log "$(psql --version)"
  ci_install_peers
}

if [[ ${BASH_SOURCE[0]} == "$0" ]]; then
  set -euo pipefail
  ci_install_system_deps
fi
