#!/usr/bin/env bash
# Regenerates the golden files of `berth template` from the real Helm: builds
# helm v3.22.0 from the Go module proxy outside the repository with
# hack/build-helm.sh (nothing of Helm is committed), runs `helm template` for
# every case of testdata/charts/cases.txt from testdata/charts, and writes
# Helm's output to testdata/charts/CHART/golden/CASE.yaml, or, when Helm fails,
# its standard error to CASE.err. chart/golden_test.go runs the same cases
# through berth.
set -euo pipefail
cd "$(dirname "$0")/.."
root=$PWD

work=$(mktemp -d)
trap 'rm -rf "$work"' EXIT

# The real Helm, built as Helm's release Makefile does (its version, and the
# default Kubernetes version of `helm template`, v1.MINOR.0 of berth's
# client-go), into a cache outside the repository.
helm=$("$root/hack/build-helm.sh")

# Helm sees an empty home: no kubeconfig context, repositories or plugins.
mkdir -p "$work/home"
: >"$work/kubeconfig"
run_helm() {
  env -i PATH="$PATH" HOME="$work/home" KUBECONFIG="$work/kubeconfig" \
    HELM_CONFIG_HOME="$work/helm/config" HELM_CACHE_HOME="$work/helm/cache" \
    HELM_DATA_HOME="$work/helm/data" "$helm" "$@" </dev/null
}

cd "$root/testdata/charts"
rm -f ./*/golden/*.yaml ./*/golden/*.err
set -f # the arguments hold globs for --show-only: pass them as they are
count=0
while read -r name chart args; do
  [[ -z "$name" || "$name" == \#* ]] && continue
  mkdir -p "$chart/golden"
  # shellcheck disable=SC2086 # the arguments are split on whitespace, by design
  if run_helm template $args >"$work/stdout" 2>"$work/stderr"; then
    cp "$work/stdout" "$chart/golden/$name.yaml"
    if [[ -s "$work/stderr" ]]; then
      sed "s/^/  $name: /" "$work/stderr" >&2
    fi
  else
    cp "$work/stderr" "$chart/golden/$name.err"
  fi
  count=$((count + 1))
done <cases.txt
echo "wrote the goldens of ${count} cases"
