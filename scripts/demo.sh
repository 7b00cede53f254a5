#!/usr/bin/env bash
# The main job: build, start kubesim (the simulated cluster) and the operator, apply the CRDs and
# three example FlowRuns, and show them in a table until one has Succeeded, one has Crashed with
# its diagnosis and one was Cancelled. Then worker mode: prefectsim (the simulated Prefect API)
# with a work pool and a deployment, a WorkPool, and two flow runs, one run to COMPLETED and one
# cancelled from the Prefect side. The cluster keeps running afterwards so that you can look
# around with kubectl; `scripts/demo.sh stop` stops it.
set -euo pipefail
cd "$(dirname "${BASH_SOURCE[0]}")/.."
root=$PWD
state=$root/.flowrun-demo
build=$root/build

stop_demo() {
  for name in operator prefectsim kubesim; do
    if [[ -f $state/$name.pid ]]; then
      pid=$(cat "$state/$name.pid")
      if kill "$pid" 2>/dev/null; then
        for _ in $(seq 50); do kill -0 "$pid" 2>/dev/null || break; sleep 0.1; done
      fi
      rm -f "$state/$name.pid"
    fi
  done
}

if [[ ${1:-} == stop ]]; then
  stop_demo
  echo "demo stopped"
  exit 0
fi

bash scripts/setup.sh
echo "== building (first time: a few minutes)"
cmake -S . -B "$build" -DCMAKE_BUILD_TYPE=RelWithDebInfo >/dev/null
cmake --build "$build" -j "$(nproc)" --target flowrun-operator kubesim prefectsim >/dev/null

stop_demo
rm -rf "$state"
mkdir -p "$state"
export KUBECONFIG=$state/kubeconfig
k() { kubectl --cache-dir "$state/kubectl-cache" "$@"; }

echo "== starting kubesim (time scale 0.5: simulated containers run twice as fast)"
"$build/test/kubesim/kubesim" --port 0 --kubeconfig-out "$KUBECONFIG" --time-scale 0.5 \
  >"$state/kubesim.log" 2>&1 &
echo $! >"$state/kubesim.pid"
for _ in $(seq 100); do
  grep -q "listening on" "$state/kubesim.log" 2>/dev/null && [[ -s $KUBECONFIG ]] && break
  sleep 0.1
done
grep "listening on" "$state/kubesim.log" || { cat "$state/kubesim.log"; exit 1; }

echo "== applying the CRDs and the operator's namespace"
k apply -f crds/ >/dev/null
k wait --for condition=established --timeout 30s crd/flowruns.prefect.io crd/clusteridentities.prefect.io \
  crd/workpools.prefect.io >/dev/null
k create namespace flowrun-operator >/dev/null

echo "== starting flowrun-operator (logs: $state/operator.log)"
"$build/operator/flowrun-operator" --kubeconfig "$KUBECONFIG" --operator-namespace flowrun-operator \
  --metrics-bind-address 127.0.0.1:0 --health-probe-bind-address 127.0.0.1:0 --log-format console \
  --enable-workpools \
  >"$state/operator.log" 2>&1 &
echo $! >"$state/operator.pid"

k wait --for=jsonpath='{.status.uid}' --timeout 30s clusteridentity/cluster >/dev/null 2>&1 || true
echo "== cluster identity: $(k get clusteridentity cluster -o jsonpath='{.status.uid} (source {.status.source})')"

echo "== applying three FlowRuns: one succeeds, one cannot be scheduled, one is cancelled"
k apply -f examples/flowrun-succeeded.yaml -f examples/flowrun-crashed-unschedulable.yaml \
  -f examples/flowrun-cancel.yaml >/dev/null

cancelled=no
table() {
  k get flowruns -o custom-columns='NAME:.metadata.name,PHASE:.status.phase,REASON:.status.reason,EXIT:.status.exitCode,JOB:.status.jobName,MESSAGE:.status.message' 2>&1 |
    cut -c1-160
}
interactive=no
[[ -t 1 ]] && interactive=yes
last=""
deadline=$((SECONDS + 120))
while ((SECONDS < deadline)); do
  out=$(table)
  if [[ $interactive == yes ]]; then
    printf '\033[H\033[2J== FlowRuns (updating; %ss)\n%s\n' "$SECONDS" "$out"
  elif [[ $out != "$last" ]]; then
    printf '\n%s\n' "$out"
  fi
  last=$out
  phase_cancel=$(k get flowrun flowrun-cancel -o jsonpath='{.status.phase}' 2>/dev/null || true)
  if [[ $cancelled == no && $phase_cancel == Running ]]; then
    k patch flowrun flowrun-cancel --type merge --patch-file examples/cancel-patch.json >/dev/null
    cancelled=yes
    [[ $interactive == yes ]] || echo "-- flowrun-cancel is Running: cancelling it with kubectl patch"
  fi
  phases=$(k get flowruns -o jsonpath='{range .items[*]}{.status.phase}{" "}{end}')
  if [[ $phases == *Succeeded* && $phases == *Crashed* && $phases == *Cancelled* ]]; then
    break
  fi
  sleep 1
done
[[ $interactive == yes ]] && printf '\n'

echo
echo "== final state"
table
echo
k get jobs,pods 2>/dev/null || true
echo
phases=$(k get flowruns -o jsonpath='{range .items[*]}{.status.phase}{" "}{end}')
if [[ $phases == *Succeeded* && $phases == *Crashed* && $phases == *Cancelled* ]]; then
  echo "Done: one FlowRun Succeeded, one Crashed with its diagnosis, one was Cancelled."
  status=0
else
  echo "The FlowRuns did not reach the expected phases in time ($phases); see $state/operator.log"
  status=1
fi

worker_mode() {
  echo
  echo "== worker mode: prefectsim (the simulated Prefect API) with a work pool and a deployment"
  "$build/test/prefectsim/prefectsim" --port 0 --seed-demo >"$state/prefectsim.log" 2>&1 &
  echo $! >"$state/prefectsim.pid"
  for _ in $(seq 100); do grep -q "listening on" "$state/prefectsim.log" && break; sleep 0.1; done
  api=$(sed -n 's/^prefectsim listening on //p' "$state/prefectsim.log")
  deployment=$(sed -n 's/.*deployment \([0-9a-f-]*\).*/\1/p' "$state/prefectsim.log")
  [[ -n $api && -n $deployment ]] || { cat "$state/prefectsim.log"; return 1; }
  echo "   Prefect API $api, work pool demo-pool"
  k create namespace prefect >/dev/null
  k apply -f - >/dev/null <<YAML
apiVersion: prefect.io/v1alpha1
kind: WorkPool
metadata: {name: demo-pool, namespace: prefect}
spec: {apiUrl: "$api", queryIntervalSeconds: 2}
YAML
  run() {
    curl -sf -X POST -H 'Content-Type: application/json' \
      -d "{\"job_variables\": {\"image\": \"$1\"}}" "$api/deployments/$deployment/create_flow_run" |
      jq -r .id
  }
  ok_run=$(run kubesim/run:2s)
  cancel_run=$(run kubesim/run:10m)
  echo "   two flow runs scheduled in Prefect; the second is cancelled from Prefect once it runs"
  state_of() { curl -sf "$api/flow_runs/$1" | jq -r '.state.type // "?"'; }
  wtable() {
    printf '%-40s %-11s %-11s %s\n' "PREFECT FLOW RUN" "PREFECT" "FLOWRUN" "REASON"
    for id in "$ok_run" "$cancel_run"; do
      printf '%-40s %-11s %-11s %s\n' "$id" "$(state_of "$id")" \
        "$(k get fr -n prefect "fr-$id" -o jsonpath='{.status.phase}' 2>/dev/null || true)" \
        "$(k get fr -n prefect "fr-$id" -o jsonpath='{.status.reason}' 2>/dev/null || true)"
    done
  }
  local last="" asked=no deadline=$((SECONDS + 120))
  while ((SECONDS < deadline)); do
    out=$(wtable)
    [[ $out != "$last" ]] && printf '\n%s\n' "$out"
    last=$out
    if [[ $asked == no && $(state_of "$cancel_run") == RUNNING ]]; then
      curl -sf -X POST -H 'Content-Type: application/json' \
        -d '{"state": {"type": "CANCELLING", "name": "Cancelling"}}' \
        "$api/flow_runs/$cancel_run/set_state" >/dev/null
      asked=yes
      echo "-- the second run is Running: set to CANCELLING in Prefect (as the UI does)"
    fi
    [[ $(state_of "$ok_run") == COMPLETED && $(state_of "$cancel_run") == CANCELLED ]] && return 0
    sleep 1
  done
  return 1
}
if worker_mode; then
  echo "Done: worker mode ran one flow run to COMPLETED and cancelled one from Prefect."
else
  echo "Worker mode did not reach COMPLETED and CANCELLED in time; see $state/operator.log"
  status=1
fi

cat <<MSG

The simulated cluster and the operator keep running. Look around with kubectl:
  export KUBECONFIG=$KUBECONFIG
  kubectl get prefect                      # FlowRuns and the ClusterIdentity
  kubectl describe flowrun flowrun-crashed # the diagnosis and the Events
  kubectl get wp,fr -n prefect             # the WorkPool and the FlowRuns of its flow runs
  PATH=\$PATH:$root/scripts kubectl flowrun status flowrun-cancel
Stop it with: scripts/demo.sh stop
MSG
exit $status
