#!/usr/bin/env bash
# make demo: start a berth server with nothing but its embedded defaults, load the
# demo image into its registry, install the demo chart from oci://, show it
# serving, upgrade it, roll it back; then drive the cluster with the real kubectl;
# restart the server; stop, leaving nothing behind on the host.
set -euo pipefail
cd "$(dirname "$0")/.."
berth=${1:-bin/berth}
dir=$PWD/.demo
port=${DEMO_PORT:-16443}
registry=127.0.0.1:${DEMO_REGISTRY_PORT:-15000}
rm -rf "$dir" && mkdir -p "$dir"

step() { printf '\n\033[1m== %s\033[0m\n' "$*"; }
run() { printf '$ %s\n' "$*"; "$@"; }

# As root, the server's agent runs the pods as real containers on this machine.
# Otherwise three hollow nodes run them without containers.
real=
if [ "$(id -u)" = 0 ]; then
  real=1
  nodes=(--cgroup-root /berth-demo --kubelet-port 0 --ingress-http-port 18081 --ingress-https-port 18443)
  what="this machine as its node: pods run as real containers"
else
  nodes=(--hollow-nodes 3 --disable-agent)
  what="three hollow nodes (run as root for real containers)"
fi
# The busybox image of the kubectl part is made of the host's static busybox.
busybox=
[ -n "$real" ] && [ -x /bin/busybox ] && busybox=1
serve() { "$berth" server --data-dir "$dir" --port "$port" --etcd-client-port 0 --etcd-peer-port 0 --registry-port "${registry##*:}" "${nodes[@]}" >>"$dir/server.log" 2>&1 & }
stop() {
  kill -TERM $server 2>/dev/null; wait $server 2>/dev/null
  # Containers outlive the server by design; the demo ends them too.
  [ -z "$real" ] || "$berth" killall --data-dir "$dir" --cgroup-root /berth-demo
  echo; echo "(server log: .demo/server.log)"
}
# answer prints what the demo app answers through its Service's ClusterIP and
# through the node's Ingress controller.
answer() {
  ip=$(kubectl get service hello -n shop -o jsonpath='{.spec.clusterIP}')
  run curl -s "http://$ip/"
  run curl -s -H 'Host: hello.local' http://127.0.0.1:18081/
}

step "Starting berth server (embedded etcd, API on 127.0.0.1:$port, $what)"
serve
server=$!
trap stop EXIT
export KUBECONFIG=$dir/kubeconfig.yaml
for _ in $(seq 1 300); do
  if [ -f "$KUBECONFIG" ] && kubectl get --raw /readyz >/dev/null 2>&1; then break; fi
  kill -0 $server 2>/dev/null || { cat "$dir/server.log"; exit 1; }
  sleep 0.2
done
run kubectl version 2>/dev/null | grep -v WARNING || true
run kubectl get namespaces
run kubectl get service kubernetes
run kubectl get nodes -o wide

step "The demo image into berth's registry, the demo chart into it as oci://"
if [ -n "$real" ]; then
  mkdir -p "$dir/images" && go run ./kubelet/images/imagetest/mkimages -o "$dir/images" >/dev/null
  run "$berth" image push "$dir/images/hello.tar" "$registry/demo/hello:1" --plain-http
fi
run "$berth" package testdata/releases/hello -d "$dir"
run "$berth" push "$dir/hello-0.1.0.tgz" "oci://$registry/charts" --plain-http
chart=(oci://$registry/charts/hello --version 0.1.0 --plain-http)

step "Installing it from oci:// and waiting until it serves"
[ -z "$real" ] || kubectl wait node --all --for=condition=Ready --timeout=60s >/dev/null
run "$berth" install hello "${chart[@]}" -n shop --create-namespace --wait \
  --set image.repository=$registry/demo/hello --set ingress.enabled=true
run kubectl get pods,services,ingresses -n shop
[ -z "$real" ] || answer

step "Upgrading it (no request is dropped while pods are replaced), rolling it back"
run "$berth" upgrade hello "${chart[@]}" -n shop --wait --reuse-values --set message='bonjour from berth'
[ -z "$real" ] || answer
run "$berth" rollback hello 1 -n shop --wait
[ -z "$real" ] || answer
run "$berth" history hello -n shop
run "$berth" status hello -n shop

if [ -n "$busybox" ]; then
  step "Importing busybox into the node's image store (offline)"
  run "$berth" image import --data-dir "$dir" --name docker.io/library/busybox:1.36 "$dir/images/busybox.tar"
  run "$berth" image import --data-dir "$dir" --name docker.io/library/busybox:1.37 "$dir/images/busybox.tar"
  run "$berth" image ls --data-dir "$dir"
fi
# The kubectl part runs busybox pods: real ones when the host has busybox-static,
# hollow ones otherwise.
if [ -z "$real" ] || [ -n "$busybox" ]; then
step "Applying testdata/manifests/demo.yaml"
run kubectl apply -f testdata/manifests/demo.yaml
run kubectl rollout status deployment/hello -n demo --timeout=60s
run kubectl get all -n demo -o wide
run kubectl logs deployment/hello -n demo --tail 2
run kubectl exec deployment/hello -n demo -- hostname
if [ -n "$busybox" ]; then
  # busybox httpd serves the container's own files: its /etc/hostname.
  kubectl port-forward -n demo deployment/hello 18080:8080 >/dev/null &
  forward=$!
  sleep 1
  run curl -s http://127.0.0.1:18080/etc/hostname
  kill $forward
  run kubectl describe pod -n demo -l app=hello | sed -n '/^Events:/,$p' | head -8
  # The Service by name, from inside a pod: cluster DNS, then kube-proxy.
  run kubectl exec deployment/hello -n demo -- wget -qO- http://hello.demo.svc.cluster.local/etc/hostname
  # And from outside, through the node's built-in Ingress controller.
  run kubectl create ingress hello -n demo --rule 'hello.demo.local/*=hello:80'
  for _ in $(seq 1 50); do
    curl -sf -H 'Host: hello.demo.local' http://127.0.0.1:18081/etc/hostname >/dev/null && break
    sleep 0.1
  done
  run curl -s -H 'Host: hello.demo.local' http://127.0.0.1:18081/etc/hostname
  run kubectl get ingress -n demo
fi

step "Rolling it: scale, new image, history, undo"
run kubectl scale deployment hello -n demo --replicas 3
run kubectl set image deployment/hello -n demo hello=docker.io/library/busybox:1.37
run kubectl rollout status deployment/hello -n demo --timeout=60s
run kubectl rollout history deployment/hello -n demo
run kubectl rollout undo deployment/hello -n demo
run kubectl rollout status deployment/hello -n demo --timeout=60s
run kubectl get replicasets,endpoints -n demo -o wide
run kubectl label deployment hello -n demo tier=web
run kubectl patch service hello -n demo -p '{"spec":{"sessionAffinity":"ClientIP"}}'
run kubectl get deployment hello -n demo -L tier

step "The API refuses what Kubernetes refuses"
run kubectl delete namespace kube-system || true
printf 'apiVersion: v1\nkind: Pod\nmetadata: {name: bad, namespace: demo}\nspec:\n  containers: [{name: c}]\n' | run kubectl apply -f - || true

step "Deleting the namespace removes everything in it"
run kubectl delete namespace demo
run kubectl get all -n demo

fi

step "berth refuses to take over what it does not own"
run kubectl create configmap taken-config -n shop --from-literal=owner=someone-else
run "$berth" install taken testdata/releases/app --namespace shop || true
run "$berth" template hello testdata/releases/app --set message=hi --show-only templates/config.yaml

step "Restarting the server: state lives in etcd under $dir"
kill -TERM $server; wait $server || true
serve
server=$!
for _ in $(seq 1 300); do kubectl get --raw /readyz >/dev/null 2>&1 && break; sleep 0.2; done
run kubectl get namespaces
run "$berth" list --all-namespaces
run kubectl get pods -n shop
if [ -n "$real" ]; then
  kubectl wait node --all --for=condition=Ready --timeout=60s >/dev/null
  answer
fi

step "Uninstalling: it returns once every object and pod of the release is gone"
run "$berth" uninstall hello -n shop --wait
run kubectl get all -n shop
