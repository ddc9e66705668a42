# shellcheck shell=bash
# System packages for CI: Chromium + ChromeDriver (browser tests), wrk
# (benchmarks), the PostgreSQL client when psql is missing. Installs only what
# is missing; runs no apt-get update when nothing is.
#   bash .ci/deps.sh      or source it and call ci_install_system_deps

_ci_deps_lib="$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)/lib.sh"
# shellcheck source=SCRIPTDIR/lib.sh
source "$_ci_deps_lib"

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
}

if [[ ${BASH_SOURCE[0]} == "$0" ]]; then
  set -euo pipefail
  ci_install_system_deps
fi
