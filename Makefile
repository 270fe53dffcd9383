# berth: `make demo` shows it at work, `make test` runs every test CI runs.
GO      ?= go
BIN     := bin/berth
VERSION ?= $(shell git describe --tags --always --dirty 2>/dev/null || echo dev)
LDFLAGS := -X berth.dev/berth/orchestrator/version.Berth=$(VERSION)

.PHONY: build test bench demo clean generate

build:
	$(GO) build -ldflags "$(LDFLAGS)" -o $(BIN) ./cmd/berth

# The end-to-end suite in cmd/berth runs twice: on berth's embedded etcd, then
# (apart from the restart tests, which bring their own) on a separately started
# etcd process reached through --etcd-endpoints.
test:
	$(GO) vet ./...
	$(GO) test ./...
	BERTH_TEST_EXTERNAL_ETCD=1 $(GO) test -skip 'TestRestart' ./cmd/berth

# API throughput and latency for 10,000 pods next to raw etcd on the same store.
bench:
	$(GO) test -run '^$$' -bench 'BenchmarkAPI' -benchtime 1x -timeout 30m ./cmd/berth

demo: build
	./hack/demo.sh $(BIN)

generate:
	./hack/update-openapi.sh

clean:
	rm -rf bin .demo
