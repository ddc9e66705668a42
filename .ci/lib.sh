# shellcheck shell=bash
# Small helpers shared by the .ci scripts. Source it; do not execute it.

[[ -n ${_CI_LIB_LOADED:-} ]] && return 0
_CI_LIB_LOADED=1

# Log to stderr so stdout stays clean for values callers may capture.
ci_log() { printf '%s\n' "$*" >&2; }
ci_die() { printf 'error: %s\n' "$*" >&2; exit 1; }

ci_now() { date +%s.%N; }
ci_elapsed() { awk -v a="$1" -v b="$(ci_now)" 'BEGIN { printf "%.1f", b - a }'; }

# Timings of finished steps, printed by ci_summary.
CI_TIMINGS=()
CI_STEP_NAME=""
CI_STEP_START=""

# ci_step NAME CMD...: banner, run CMD in this shell (so `set -e` stays in force
# inside it and what it exports stays exported), print the time it took.
# A failing step ends the script; ci_step_failed (call it from an EXIT trap)
# then reports which step failed and after how long.
ci_step() {
  CI_STEP_NAME=$1; shift
  ci_log ""
  ci_log "== $CI_STEP_NAME =="
  CI_STEP_START=$(ci_now)
  "$@"
  local took; took=$(ci_elapsed "$CI_STEP_START")
  ci_log "== $CI_STEP_NAME: ok in ${took}s =="
  CI_TIMINGS+=("$(printf '%8ss  %s' "$took" "$CI_STEP_NAME")")
  CI_STEP_NAME=""
}

ci_step_failed() {
  [[ -n $CI_STEP_NAME ]] || return 0
  local took; took=$(ci_elapsed "$CI_STEP_START")
  ci_log "== $CI_STEP_NAME: FAILED after ${took}s =="
  CI_TIMINGS+=("$(printf '%8ss  %s (FAILED)' "$took" "$CI_STEP_NAME")")
  CI_STEP_NAME=""
}

ci_summary() {
  ((${#CI_TIMINGS[@]})) || return 0
  ci_log ""
  ci_log "== timings =="
  printf '%s\n' "${CI_TIMINGS[@]}" >&2
}

# ci_as_root CMD...: run as root (directly, or through passwordless sudo).
ci_as_root() {
  if [[ $EUID -eq 0 ]]; then
    "$@"
  elif command -v sudo >/dev/null 2>&1 && sudo -n true 2>/dev/null; then
    sudo -n "$@"
  else
    ci_die "needs root (or passwordless sudo) to run: $*"
  fi
}

# ci_deb_installed PKG: true when the Debian package is installed.
ci_deb_installed() {
  [[ "$(dpkg-query -W -f='${Status}' "$1" 2>/dev/null)" == "install ok installed" ]]
}

# ci_apt_install PKG...: install the packages not yet installed; no-op (and no
# apt-get update) when all are present.
ci_apt_install() {
  local missing=() p
  for p in "$@"; do ci_deb_installed "$p" || missing+=("$p"); done
  if ((${#missing[@]} == 0)); then
    ci_log "apt: already installed: $*"
    return 0
  fi
  ci_log "apt: installing ${missing[*]}"
  local apt_opts=(-o DPkg::Lock::Timeout=600 -o Dpkg::Use-Pty=0)
  ci_as_root env DEBIAN_FRONTEND=noninteractive apt-get "${apt_opts[@]}" update -qq
  ci_as_root env DEBIAN_FRONTEND=noninteractive apt-get "${apt_opts[@]}" \
    install -y -qq --no-install-recommends "${missing[@]}" </dev/null >/dev/null
}
