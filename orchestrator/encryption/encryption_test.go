package encryption

import (
	"context"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"testing"

	"k8s.io/apiserver/pkg/server/options/encryptionconfig"
)

var testResources = []string{"secrets", "widgets.example.com"}

func TestEncryptionEnsureCreatesOneKey(t *testing.T) {
	dir := filepath.Join(t.TempDir(), "encryption")
	path, err := Ensure(dir, testResources)
	if err != nil {
		t.Fatal(err)
	}
	if path != filepath.Join(dir, FileName) {
		t.Errorf("path %s, want %s", path, filepath.Join(dir, FileName))
	}
	for name, want := range map[string]os.FileMode{dir: 0o700 | os.ModeDir, path: 0o600} {
		info, err := os.Stat(name)
		if err != nil {
			t.Fatal(err)
		}
		if info.Mode() != want {
			t.Errorf("%s: mode %v, want %v", name, info.Mode(), want)
		}
	}
	state, err := Status(dir)
	if err != nil {
		t.Fatal(err)
	}
	if len(state.Keys) != 1 || !strings.HasPrefix(state.Keys[0], "key-") {
		t.Errorf("keys %v, want one key-<time>", state.Keys)
	}
	if !slices.Equal(state.Resources, testResources) || state.Reencrypted != "" {
		t.Errorf("status %+v", state)
	}

	// A second start keeps the key.
	if _, err := Ensure(dir, testResources); err != nil {
		t.Fatal(err)
	}
	if again, err := Status(dir); err != nil || !slices.Equal(again.Keys, state.Keys) || again.Hash != state.Hash {
		t.Errorf("after a second Ensure: %+v, %v; want %+v", again, err, state)
	}
}

// TestEncryptionConfigLoadsInAPIServer has the API server's own loader read the
// files the package writes, with the checks it applies on automatic reload.
func TestEncryptionConfigLoadsInAPIServer(t *testing.T) {
	dir := t.TempDir()
	path, err := Ensure(dir, testResources)
	if err != nil {
		t.Fatal(err)
	}
	load := func(stage string) {
		t.Helper()
		ctx, cancel := context.WithCancel(context.Background())
		defer cancel()
		config, err := encryptionconfig.LoadEncryptionConfig(ctx, path, true, "test")
		if err != nil {
			t.Fatalf("%s: the API server refuses %s: %v", stage, path, err)
		}
		if len(config.Transformers) != len(testResources) {
			t.Errorf("%s: transformers for %d resources, want %d", stage, len(config.Transformers), len(testResources))
		}
	}
	load("created")
	if _, err := Rotate(dir); err != nil {
		t.Fatal(err)
	}
	load("rotated")
}

func TestEncryptionRotateAndPrune(t *testing.T) {
	dir := t.TempDir()
	if _, err := Ensure(dir, testResources); err != nil {
		t.Fatal(err)
	}
	first, err := Status(dir)
	if err != nil {
		t.Fatal(err)
	}
	// Two rotations within a second still make distinct keys.
	var added []string
	for range 2 {
		key, err := Rotate(dir)
		if err != nil {
			t.Fatal(err)
		}
		added = append(added, key)
	}
	state, err := Status(dir)
	if err != nil {
		t.Fatal(err)
	}
	if want := []string{added[1], added[0], first.Keys[0]}; !slices.Equal(state.Keys, want) {
		t.Fatalf("keys after two rotations %v, want %v", state.Keys, want)
	}
	if state.Hash == first.Hash {
		t.Errorf("hash unchanged by a rotation: %s", state.Hash)
	}
	if info, err := os.Stat(state.File); err != nil || info.Mode() != 0o600 {
		t.Errorf("after rotation: %v, %v; want mode 0600", info.Mode(), err)
	}

	t.Run("refused before a reencrypt with the active key", func(t *testing.T) {
		if err := MarkReencrypted(dir, added[0]); err != nil {
			t.Fatal(err)
		}
		if _, err := Prune(dir); err == nil || !strings.Contains(err.Error(), "reencrypt") {
			t.Fatalf("Prune: %v, want a refusal that says to reencrypt", err)
		}
		if after, _ := Status(dir); len(after.Keys) != 3 {
			t.Errorf("a refused prune changed the keys: %v", after.Keys)
		}
	})
	t.Run("drops the old keys after", func(t *testing.T) {
		if err := MarkReencrypted(dir, added[1]); err != nil {
			t.Fatal(err)
		}
		dropped, err := Prune(dir)
		if err != nil {
			t.Fatal(err)
		}
		if want := []string{added[0], first.Keys[0]}; !slices.Equal(dropped, want) {
			t.Errorf("dropped %v, want %v", dropped, want)
		}
		after, err := Status(dir)
		if err != nil {
			t.Fatal(err)
		}
		if !slices.Equal(after.Keys, []string{added[1]}) || after.Reencrypted != added[1] {
			t.Errorf("after prune %+v", after)
		}
		if dropped, err := Prune(dir); err != nil || len(dropped) != 0 {
			t.Errorf("second prune: %v, %v; want nothing to drop", dropped, err)
		}
	})
}

func TestEncryptionConfigMalformed(t *testing.T) {
	for name, content := range map[string]string{
		"not yaml":     "resources: [",
		"unknown kind": "apiVersion: v1\nkind: ConfigMap\n",
		"no aesgcm first": `apiVersion: apiserver.config.k8s.io/v1
kind: EncryptionConfiguration
resources:
- resources: [secrets]
  providers:
  - identity: {}
`,
		"unknown field": `apiVersion: apiserver.config.k8s.io/v1
kind: EncryptionConfiguration
resources:
- resources: [secrets]
  provders: []
`,
	} {
		t.Run(name, func(t *testing.T) {
			dir := t.TempDir()
			path := filepath.Join(dir, FileName)
			if err := os.WriteFile(path, []byte(content), 0o600); err != nil {
				t.Fatal(err)
			}
			for op, f := range map[string]func() error{
				"Ensure": func() error { _, err := Ensure(dir, testResources); return err },
				"Rotate": func() error { _, err := Rotate(dir); return err },
				"Prune":  func() error { _, err := Prune(dir); return err },
				"Status": func() error { _, err := Status(dir); return err },
			} {
				if err := f(); err == nil || !strings.Contains(err.Error(), path) {
					t.Errorf("%s: %v, want an error naming %s", op, err, path)
				}
			}
			if got, _ := os.ReadFile(path); string(got) != content {
				t.Errorf("the malformed file was changed:\n%s", got)
			}
		})
	}
}
