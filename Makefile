# berth: `make demo` shows it at work, `make test` runs every test CI runs.
GO      ?= go
BIN     := bin/berth
VERSION ?= $(shell git describe --tags --always --dirty 2>/dev/null || echo dev)
LDFLAGS := -X berth.dev/berth/orchestrator/version.Berth=$(VERSION)

.PHONY: build test bench demo clean generate

build:
	$(GO) build -ldflags "$(LDFLAGS)" -o $(BIN) ./cmd/berth

# The end-to-end suite in cmd/berth runs on berth's embedded etcd; its API tests
# (not the release, restart and workload ones) run again on a separately started
# etcd process reached through --etcd-endpoints over TLS with a client certificate.
test:
	$(GO) vet ./...
	$(GO) test ./...
	BERTH_TEST_EXTERNAL_ETCD=1 $(GO) test -skip 'TestRestart|TestEncryptionAtRest|TestGitOps|TestRelease|TestWorkload|TestKubelet|TestImage|TestOCI|TestRepoIndex' ./cmd/berth

# API throughput and latency for 10,000 pods next to raw etcd on the same store;
# berth template and list next to the real Helm (built from the Go module proxy);
# scheduling, the kubelet, a ClusterIP next to the pod IP, and kube-proxy's
# rules for 1,000 Services x 10 endpoints (root); API latency with TLS and RBAC
# next to plain HTTP without RBAC on the same server; registry push and pull of
# a 200 MiB image next to Debian's docker-registry (Distribution 2.8).
bench: build
	BERTH=$(abspath $(BIN)) HELM=$$(./hack/build-helm.sh) \
	  $(GO) test -run '^$$' -bench 'BenchmarkAPI|BenchmarkCharts|BenchmarkScheduling|BenchmarkKubelet|BenchmarkServiceProxy|BenchmarkRelease|BenchmarkGitOps' -benchtime 1x -timeout 60m ./cmd/berth
	$(GO) test -run '^$$' -bench 'BenchmarkWriteAll|BenchmarkEndpointChange' -benchtime 10x ./orchestrator/proxy
	$(GO) test -run '^$$' -bench BenchmarkAuthOverhead -benchtime 1x ./orchestrator/apiserver
	$(GO) test -run '^$$' -bench BenchmarkAuthorize ./orchestrator/auth/rbac
	command -v docker-registry >/dev/null || apt-get install -y docker-registry
	$(GO) test -run '^$$' -bench BenchmarkRegistry -benchtime 1x ./registry/server

demo: build
	./hack/demo.sh $(BIN)

generate:
	./hack/update-openapi.sh

clean:
	rm -rf bin .demo
