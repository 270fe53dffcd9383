#!/usr/bin/env bash
# Regenerates the OpenAPI definitions of every served type from the k8s.io/api,
# apimachinery, apiextensions and metrics (metrics.k8s.io) packages in go.mod (run by `make generate`).
set -euo pipefail
cd "$(dirname "$0")/.."
api=$(go list -m -f '{{.Dir}}' k8s.io/api)
pkgs=(
  k8s.io/apimachinery/pkg/apis/meta/v1
  k8s.io/apimachinery/pkg/runtime
  k8s.io/apimachinery/pkg/util/intstr
  k8s.io/apimachinery/pkg/api/resource
  k8s.io/apimachinery/pkg/version
  k8s.io/apiextensions-apiserver/pkg/apis/apiextensions/v1
  k8s.io/metrics/pkg/apis/metrics/v1beta1
)
# Every k8s.io/api package that asks for OpenAPI: served types refer to others.
for doc in $(grep -l '+k8s:openapi-gen=true' "$api"/*/*/doc.go); do
  rel=${doc#"$api"/}
  pkgs+=("k8s.io/api/${rel%/doc.go}")
done
go tool openapi-gen \
  --output-dir orchestrator/apiserver/openapi \
  --output-pkg berth.dev/berth/orchestrator/apiserver/openapi \
  --output-file zz_generated.openapi.go \
  --go-header-file hack/boilerplate.go.txt \
  -r /dev/null \
  "${pkgs[@]}"
