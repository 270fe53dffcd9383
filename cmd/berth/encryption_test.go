package main

import (
	"bytes"
	"context"
	"encoding/base64"
	"fmt"
	"math/rand/v2"
	"os"
	"os/exec"
	"path/filepath"
	"slices"
	"strconv"
	"strings"
	"syscall"
	"testing"
	"time"

	"go.etcd.io/etcd/api/v3/mvccpb"
	clientv3 "go.etcd.io/etcd/client/v3"
	"go.uber.org/zap"

	"berth.dev/berth/orchestrator/encryption"
)

// TestEncryptionAtRest runs one server of its own: objects stored before
// encryption was turned on stay readable, Secrets and release records are
// stored encrypted, and a key rotation, re-encryption and prune keep everything
// readable with only the new key.
func TestEncryptionAtRest(t *testing.T) {
	// Embedded etcd on a known port, so that the test reads what is stored.
	etcdPort, err := freePort()
	if err != nil {
		t.Fatal(err)
	}
	c, err := newCluster(clusterOptions{extraArgs: []string{"--etcd-client-port", strconv.Itoa(etcdPort), "--secrets-encryption=false"}})
	if err != nil {
		t.Fatal(err)
	}
	defer c.stop()
	ctx, cancel := context.WithTimeout(context.Background(), 2*time.Minute)
	defer cancel()
	stored := storedReader(t, ctx, etcdPort)
	keysDir := filepath.Join(c.dir, "encryption")
	secretsEncrypt := func(args ...string) string {
		t.Helper()
		return c.berth(t, append([]string{"secrets-encrypt", "--data-dir", c.dir}, args...)...)
	}
	unique := func(what string) string { return fmt.Sprintf("%s-%016x", what, rand.Uint64()) }

	// Written in plaintext, then encryption on (the server's default).
	ns := c.namespace(t)
	before := unique("before")
	c.kubectl(t, "create", "secret", "generic", "before", "-n", ns, "--from-literal=text="+before)
	if !storedContains(stored, before) {
		t.Fatal("a Secret written with --secrets-encryption=false is not stored in plaintext: the check below would prove nothing")
	}
	// What the server wrote itself with encryption off (the join token's
	// Secret) stays plaintext until reencrypt, like "before".
	plaintext := map[string]bool{}
	for _, kv := range stored("/registry/secrets/") {
		plaintext[string(kv.Key)] = true
	}
	c.args = slices.DeleteFunc(c.args, func(a string) bool { return a == "--secrets-encryption=false" })
	if err := c.restart(syscall.SIGTERM); err != nil {
		t.Fatal(err)
	}
	first, err := encryption.Status(keysDir)
	if err != nil {
		t.Fatal(err)
	}

	secret, value := unique("secret"), unique("value")
	c.kubectl(t, "create", "secret", "generic", "after", "-n", ns, "--from-literal=text="+secret)
	c.berth(t, "install", "app", testChart(t), "-n", ns, "--set", "deployment=false", "--set", "note="+value)
	readable := func(stage string) {
		t.Helper()
		for name, want := range map[string]string{"before": before, "after": secret} {
			got := c.kubectl(t, "get", "secret", name, "-n", ns, "-o", "jsonpath={.data.text}")
			if text, _ := base64.StdEncoding.DecodeString(got); string(text) != want {
				t.Errorf("%s: Secret %s holds %q, want %q", stage, name, text, want)
			}
		}
		if got := c.berth(t, "get", "values", "app", "-n", ns); !strings.Contains(got, value) {
			t.Errorf("%s: release values %q lack %q", stage, got, value)
		}
	}
	readable("encryption on")
	assertEncrypted(t, stored, first.Keys[0], ns, plaintext)
	if storedContains(stored, secret) {
		t.Errorf("the plaintext of a Secret written with encryption on is in etcd")
	}
	// The release body is gzip-compressed, so this shows little on its own; the
	// aesgcm prefix checked above is what shows it encrypted.
	if storedContains(stored, value) {
		t.Errorf("the plaintext of a release's values is in etcd")
	}

	// A new key, loaded now by a restart rather than by the server's reload
	// within a minute; reencrypt rewrites everything with it.
	secretsEncrypt("rotate")
	rotated, err := encryption.Status(keysDir)
	if err != nil {
		t.Fatal(err)
	}
	if len(rotated.Keys) != 2 || rotated.Keys[1] != first.Keys[0] {
		t.Fatalf("keys after rotate %v, want a new one before %s", rotated.Keys, first.Keys[0])
	}
	if err := c.restart(syscall.SIGTERM); err != nil {
		t.Fatal(err)
	}
	if out, stderr, err := c.berthResult("secrets-encrypt", "--data-dir", c.dir, "prune"); err == nil || !strings.Contains(stderr, "reencrypt") {
		t.Errorf("prune before reencrypt: %v\n%s%s; want a refusal that says to reencrypt", err, out, stderr)
	}
	if out := secretsEncrypt("reencrypt", "--timeout", "30s"); !strings.Contains(out, "secrets: ") {
		t.Errorf("reencrypt output lacks the Secrets' count:\n%s", out)
	}
	assertEncrypted(t, stored, rotated.Keys[0], ns, nil)
	if storedContains(stored, before) {
		t.Errorf("the Secret written before encryption is still plaintext after reencrypt")
	}

	// Only the new key left: a restart loads the pruned file.
	secretsEncrypt("prune")
	if out := secretsEncrypt("status"); strings.Contains(out, first.Keys[0]) || !strings.Contains(out, rotated.Keys[0]) || !strings.Contains(out, "active") {
		t.Errorf("status after prune:\n%s", out)
	}
	if err := c.restart(syscall.SIGTERM); err != nil {
		t.Fatal(err)
	}
	readable("after rotate, reencrypt and prune")

	// Turning encryption off would leave what it encrypted unreadable.
	c.server.signal(syscall.SIGTERM)
	off := exec.CommandContext(ctx, os.Args[0], append(slices.Clone(c.args), "--secrets-encryption=false")...)
	off.Env = c.berthCmd().Env
	if out, err := off.CombinedOutput(); err == nil || !bytes.Contains(out, []byte("--secrets-encryption=false")) {
		t.Errorf("server with --secrets-encryption=false over encrypted data: %v\n%s", err, out)
	}
}

// storedReader returns what etcd holds under a prefix, connecting for each
// read so that the server's restarts, which stop the embedded etcd, leave no
// client retrying in the background.
func storedReader(t *testing.T, ctx context.Context, etcdPort int) func(prefix string) []*mvccpb.KeyValue {
	return func(prefix string) []*mvccpb.KeyValue {
		t.Helper()
		etcd, err := clientv3.New(clientv3.Config{Endpoints: []string{fmt.Sprintf("http://127.0.0.1:%d", etcdPort)}, Logger: zap.NewNop()})
		if err != nil {
			t.Fatal(err)
		}
		defer etcd.Close()
		resp, err := etcd.Get(ctx, prefix, clientv3.WithPrefix())
		if err != nil {
			t.Fatal(err)
		}
		return resp.Kvs
	}
}

// assertEncrypted checks that etcd holds every Secret and release record
// encrypted with key, except the keys in plaintext, and that namespace ns
// has some of each.
func assertEncrypted(t *testing.T, stored func(string) []*mvccpb.KeyValue, key, ns string, plaintext map[string]bool) {
	t.Helper()
	want := []byte("k8s:enc:aesgcm:v1:" + key + ":")
	found := map[string]int{}
	for _, prefix := range []string{"/registry/secrets/", "/registry/berth.dev/releaserevisions/", "/registry/berth.dev/releaserevisionchunks/"} {
		for _, kv := range stored(prefix) {
			name := string(kv.Key)
			if strings.HasPrefix(name, prefix+ns+"/") {
				found[prefix]++
			}
			if plaintext[name] {
				continue
			}
			if !bytes.HasPrefix(kv.Value, want) {
				t.Errorf("%s is stored as %.40q, want it encrypted with %s", name, kv.Value, key)
			}
		}
	}
	if found["/registry/secrets/"] == 0 || found["/registry/berth.dev/releaserevisions/"] == 0 {
		t.Fatalf("no Secret or release revision of namespace %s in etcd (%v): the layout changed and the check proves nothing", ns, found)
	}
}

// storedContains says whether any value under /registry holds text.
func storedContains(stored func(string) []*mvccpb.KeyValue, text string) bool {
	for _, kv := range stored("/registry/") {
		if bytes.Contains(kv.Value, []byte(text)) {
			return true
		}
	}
	return false
}
