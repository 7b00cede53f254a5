#!/usr/bin/env bash
# Runs the image built by scripts/build-image.sh the way manifests/base/deployment.yaml runs it:
# user 65532:65532, read-only root file system, no capabilities, no privilege escalation, against
# kubesim on the host network with a kubeconfig placed in the root. There is no container engine
# here, so the script is the runtime: it unpacks the OCI archive's layer into a temporary root and
# starts the image's Entrypoint in a private mount namespace with that root (unshare --root), so only
# the image's own loader, libraries, CA bundle and passwd are used. Checks: --version, /healthz 200,
# the process's uid/capabilities/no_new_privs, and examples/flowrun-succeeded.yaml reaching Succeeded.
#   scripts/test-image.sh ARCHIVE [KUBESIM_BINARY]
set -euo pipefail
cd "$(dirname "${BASH_SOURCE[0]}")/.."
archive=${1:?usage: test-image.sh ARCHIVE [KUBESIM_BINARY]}
kubesim=${2:-build/test/kubesim/kubesim}

if [[ $(id -u) != 0 ]] || ! unshare --mount true 2>/dev/null; then
  echo "SKIPPED: test-image.sh needs root and mount namespaces (unshare --mount) to run the image's" \
    "root file system as a container would; this machine has neither"
  exit 0
fi

tmp=$(mktemp -d)
pids=()
cleanup() {
  for p in "${pids[@]}"; do kill "$p" 2>/dev/null || true; done
  for p in "${pids[@]}"; do wait "$p" 2>/dev/null || true; done
  rm -rf "$tmp"
}
trap cleanup EXIT
fail() {
  echo "FAIL: $*" >&2
  for f in "$tmp"/*.log; do [[ -f $f ]] && { echo "--- $f" >&2; tail -20 "$f" >&2; }; done
  exit 1
}
wait_for() { # SECONDS DESCRIPTION COMMAND...
  local deadline=$((SECONDS + $1)) what=$2
  shift 2
  until "$@" >/dev/null 2>&1; do
    ((SECONDS < deadline)) || fail "timed out after waiting for $what"
    sleep 0.2
  done
}

echo "== unpacking $archive"
mkdir -p "$tmp/layout" "$tmp/root"
tar -xf "$archive" -C "$tmp/layout"
manifest=$(jq -r '.manifests[0].digest | sub("sha256:"; "")' "$tmp/layout/index.json")
m=$tmp/layout/blobs/sha256/$manifest
[[ $(sha256sum "$m" | cut -d' ' -f1) == "$manifest" ]] || fail "manifest digest mismatch"
config=$tmp/layout/blobs/sha256/$(jq -r '.config.digest | sub("sha256:"; "")' "$m")
user=$(jq -r .config.User "$config")
entrypoint=$(jq -r '.config.Entrypoint[0]' "$config")
[[ $user == 65532:65532 ]] || fail "image User is '$user', want 65532:65532"
for layer in $(jq -r '.layers[].digest | sub("sha256:"; "")' "$m"); do
  [[ $(sha256sum "$tmp/layout/blobs/sha256/$layer" | cut -d' ' -f1) == "$layer" ]] || fail "layer digest"
  tar -xzf "$tmp/layout/blobs/sha256/$layer" -C "$tmp/root"
done
[[ ! -e $tmp/root/bin/sh ]] || fail "the image has a shell"
# What a container runtime adds: mount points for /proc and the kubeconfig the Pod would mount.
mkdir -p "$tmp/root/proc" "$tmp/root/var/run/kubeconfig"

# run_image ARGS...: Entrypoint in the image root, as the Deployment's securityContext asks.
run_image() {
  exec unshare --mount --propagation private -- sh -c '
    root=$1; shift
    mount --bind "$root" "$root"
    mount -t proc proc "$root/proc"
    mount --bind "$KUBEDIR" "$root/var/run/kubeconfig"
    mount -o remount,bind,ro "$root/var/run/kubeconfig"
    mount -o remount,bind,ro "$root"
    exec setpriv --no-new-privs --inh-caps=-all --bounding-set=-all,+sys_chroot,+setuid,+setgid \
      unshare --root="$root" --setuid 65532 --setgid 65532 -- "$@"' sh "$tmp/root" "$@"
}
export KUBEDIR=$tmp/kube
mkdir -p "$KUBEDIR"

echo "== --version"
version=$(run_image "$entrypoint" --version) || fail "--version failed in the image root"
want=$(sed -n 's/^project(flowrun-operator VERSION \([0-9.]*\).*/\1/p' CMakeLists.txt)
[[ $version == *"$want"* ]] || fail "--version printed '$version', want $want"
echo "$version"

echo "== kubesim on the host"
"$kubesim" --port 0 --kubeconfig-out "$KUBEDIR/config" --time-scale 0.5 >"$tmp/kubesim.log" 2>&1 &
pids+=($!)
wait_for 30 "kubesim to listen" bash -c "grep -q 'listening on' '$tmp/kubesim.log' && test -s '$KUBEDIR/config'"
chmod 0644 "$KUBEDIR/config"
export KUBECONFIG=$KUBEDIR/config
k() { kubectl --cache-dir "$tmp/kubectl-cache" "$@"; }
k apply -f crds/ >/dev/null
k wait --for condition=established --timeout 30s crd/flowruns.prefect.io >/dev/null
k create namespace flowrun-operator >/dev/null

echo "== operator from the image (uid 65532, read-only root, no capabilities)"
run_image "$entrypoint" --kubeconfig /var/run/kubeconfig/config --operator-namespace flowrun-operator \
  --metrics-bind-address 127.0.0.1:0 --health-probe-bind-address 127.0.0.1:0 --log-format console \
  >"$tmp/operator.log" 2>&1 &
op=$!
pids+=("$op")
wait_for 30 "the operator to serve probes" grep -q "serving probes" "$tmp/operator.log"
port=$(grep -o 'healthPort[=": ]*[0-9]*' "$tmp/operator.log" | grep -o '[0-9]*$' | head -1)
[[ -n $port ]] || fail "no healthPort in the operator log"
code=$(curl -s -o /dev/null -w '%{http_code}' "http://127.0.0.1:$port/healthz")
[[ $code == 200 ]] || fail "/healthz answered $code"
echo "/healthz 200 on port $port"

status=/proc/$op/status
[[ $(awk '/^Uid:/ {print $2 $3 $4 $5}' "$status") == 65532655326553265532 ]] || fail "uid: $(grep Uid "$status")"
[[ $(awk '/^Gid:/ {print $2 $3 $4 $5}' "$status") == 65532655326553265532 ]] || fail "gid: $(grep Gid "$status")"
[[ $(awk '/^Groups:/ {print $2}' "$status") == "" ]] || fail "supplementary groups: $(grep Groups "$status")"
for c in CapInh CapPrm CapEff CapAmb; do
  [[ $(awk -v c="$c:" '$1 == c {print $2}' "$status") == 0000000000000000 ]] || fail "$c: $(grep "$c" "$status")"
done
[[ $(awk '/^NoNewPrivs:/ {print $2}' "$status") == 1 ]] || fail "no_new_privs not set"
[[ $(readlink "/proc/$op/root") == "$tmp/root" ]] || fail "operator root is $(readlink "/proc/$op/root")"
rootopts=$(awk '$5 == "/" {print $6}' "/proc/$op/mountinfo" | tail -1)
[[ $rootopts == ro,* ]] || fail "root mounted '$rootopts', want read-only"
[[ -s $tmp/root/etc/ssl/certs/ca-certificates.crt ]] || fail "no CA bundle in the image"
echo "process: uid/gid 65532, no groups, no capabilities, no_new_privs, root $tmp/root (read-only)"

echo "== FlowRun to Succeeded"
k apply -f examples/flowrun-succeeded.yaml >/dev/null
k wait --for=jsonpath='{.status.phase}'=Succeeded --timeout 90s flowrun/flowrun-succeeded >/dev/null ||
  fail "flowrun-succeeded: $(k get flowrun flowrun-succeeded -o jsonpath='{.status}')"
echo "flowrun-succeeded: Succeeded"
echo "PASSED: the image runs as the Deployment runs it"
