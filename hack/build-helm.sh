#!/usr/bin/env bash
# Builds the real Helm from the Go module proxy, as Helm's release Makefile does,
# into a cache directory outside the repository (nothing of Helm is committed), and
# prints the binary's path. Used to refresh golden files and by make bench.
set -euo pipefail
cd "$(dirname "$0")/.."

HELM_VERSION=${HELM_VERSION:-v3.22.0}
dir=${BERTH_HELM_DIR:-${XDG_CACHE_HOME:-$HOME/.cache}/berth/helm-${HELM_VERSION}}
helm=$dir/bin/helm
if [[ -x "$helm" ]]; then
  echo "$helm"
  exit 0
fi
mkdir -p "$dir"
# Helm's version, and the default Kubernetes version of `helm template` (v1.MINOR.0
# of the client-go it is built with). berth's chart.DefaultKubeVersion derives the
# same from the client-go in berth's go.mod, so both default alike.
kube_minor=$(go list -m -f '{{.Version}}' k8s.io/client-go | cut -d. -f2)
ldflags="-X helm.sh/helm/v3/internal/version.version=${HELM_VERSION}"
ldflags+=" -X helm.sh/helm/v3/internal/version.gitTreeState=clean"
for pkg in helm.sh/helm/v3/pkg/chartutil helm.sh/helm/v3/pkg/lint/rules; do
  ldflags+=" -X ${pkg}.k8sVersionMajor=1 -X ${pkg}.k8sVersionMinor=${kube_minor}"
done
echo "building helm ${HELM_VERSION} (Kubernetes v1.${kube_minor}.0 by default) in ${dir}" >&2
(cd "$dir" && GOBIN="$dir/bin" GOFLAGS=-buildvcs=false go install -ldflags "$ldflags" "helm.sh/helm/v3/cmd/helm@${HELM_VERSION}")
echo "$helm"
