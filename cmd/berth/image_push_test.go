package main

import (
	"path/filepath"
	"strings"
	"testing"

	"berth.dev/berth/chart"
	"berth.dev/berth/registry/server/servertest"
)

// TestImagePush pushes a layout, pulls it back into a node's store (the
// loopback registry needs no registries.yaml), and pushes it on from there.
func TestImagePush(t *testing.T) {
	t.Setenv(chart.EnvRegistryConfig, filepath.Join(t.TempDir(), "config.json"))
	host := servertest.Start(t, "")
	dataDir := t.TempDir()
	layout := imageLayout(t, "berth.test/push:v1", "push me")

	out := mustBerthImage(t, dataDir, "push", layout, host+"/app:1", "--plain-http")
	if !strings.HasPrefix(out, "pushed "+host+"/app:1 (sha256:") {
		t.Fatalf("push printed %q", out)
	}
	digest := strings.TrimSuffix(strings.TrimPrefix(strings.TrimSpace(out), "pushed "+host+"/app:1 ("), ")")

	mustBerthImage(t, dataDir, "pull", host+"/app:1")
	pulled := getImage(t, openImageStore(t, dataDir), host+"/app:1")
	if pulled.Target.Digest.String() != digest {
		t.Errorf("pulled %s, pushed %s", pulled.Target.Digest, digest)
	}

	out = mustBerthImage(t, dataDir, "push", host+"/app:1", host+"/app:2", "--plain-http")
	if out != "pushed "+host+"/app:2 ("+digest+")\n" {
		t.Errorf("push from the store printed %q, want digest %s", out, digest)
	}
	if out, err := berthImage(t, nil, dataDir, "push", "no/such:image", host+"/app:3", "--plain-http"); err == nil {
		t.Errorf("push of an unknown image succeeded: %s", out)
	}
}
