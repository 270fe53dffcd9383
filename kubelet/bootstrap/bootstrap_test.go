package bootstrap

import (
	"context"
	"crypto/tls"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	authenticationv1 "k8s.io/api/authentication/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/client-go/informers"
	"k8s.io/client-go/kubernetes"

	"berth.dev/berth/orchestrator/apiserver/apiservertest"
	"berth.dev/berth/orchestrator/auth/bootstraptoken"
	"berth.dev/berth/orchestrator/controller/certificates/approver"
	"berth.dev/berth/orchestrator/controller/certificates/signer"
)

// TestJoin joins a real API server, whose approver and signer run here: the
// server's identity is checked before the token is sent, a wrong token is
// refused, and the identity kept on disk is used again, and renewed from
// where Join keeps it, without asking the server again.
func TestJoin(t *testing.T) {
	s := apiservertest.Start(t)
	ctx, cancel := context.WithCancel(context.Background())
	t.Cleanup(cancel)
	factory := informers.NewSharedInformerFactory(s.Client, 0)
	sign, err := signer.New(s.Client, factory, signer.Config{Authority: s.CA})
	if err != nil {
		t.Fatal(err)
	}
	approve := approver.New(s.Client, factory)
	factory.Start(ctx.Done())
	go sign.Run(ctx, 1)
	go approve.Run(ctx, 1)

	token, err := bootstraptoken.Generate()
	if err != nil {
		t.Fatal(err)
	}
	if _, err := s.Client.CoreV1().Secrets(metav1.NamespaceSystem).Create(ctx,
		bootstraptoken.Secret(token, "test", []string{bootstraptoken.NodeGroup}, time.Time{}), metav1.CreateOptions{}); err != nil {
		t.Fatal(err)
	}
	requests := func() int {
		t.Helper()
		list, err := s.Client.CertificatesV1().CertificateSigningRequests().List(ctx, metav1.ListOptions{})
		if err != nil {
			t.Fatal(err)
		}
		return len(list.Items)
	}
	good := Config{Server: s.Config.Host, CAHash: bootstraptoken.CAHash(s.CA.Cert), Token: token.String(), NodeName: "n1", Timeout: time.Minute}

	for _, tc := range []struct {
		name   string
		change func(*Config)
		want   string
	}{
		{"another cluster's CA", func(c *Config) { c.CAHash = "sha256:" + strings.Repeat("0", 64) }, "holds no CA with key hash"},
		{"a wrong token", func(c *Config) { c.Token = "abcdef.0123456789abcdef" }, "the server refused the join token"},
		{"not https", func(c *Config) { c.Server = strings.Replace(c.Server, "https://", "http://", 1) }, "give the API server's URL, https://HOST:PORT"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			cfg := good
			cfg.Dir = t.TempDir()
			tc.change(&cfg)
			if _, err := Join(ctx, cfg); err == nil || !strings.Contains(err.Error(), tc.want) {
				t.Fatalf("Join: %v, want %q", err, tc.want)
			}
			if n := requests(); n != 0 {
				t.Errorf("a refused join left %d certificate signing requests", n)
			}
		})
	}

	cfg := good
	cfg.Dir = t.TempDir()
	config, err := Join(ctx, cfg)
	if err != nil {
		t.Fatal(err)
	}
	node, err := kubernetes.NewForConfig(config)
	if err != nil {
		t.Fatal(err)
	}
	review, err := node.AuthenticationV1().SelfSubjectReviews().Create(ctx, &authenticationv1.SelfSubjectReview{}, metav1.CreateOptions{})
	if err != nil {
		t.Fatal(err)
	}
	if u := review.Status.UserInfo; u.Username != "system:node:n1" || !strings.Contains(strings.Join(u.Groups, ","), "system:nodes") {
		t.Errorf("the joined node is %s %v, want system:node:n1 in system:nodes", u.Username, u.Groups)
	}
	if n := requests(); n != 1 {
		t.Fatalf("%d certificate signing requests after joining, want 1", n)
	}

	// A restart: the kept identity, no new request, even with a token that
	// has since been revoked.
	cfg.Token = "revoke.0123456789abcdef"
	again, err := Join(ctx, cfg)
	if err != nil {
		t.Fatal(err)
	}
	if again.CertFile != config.CertFile {
		t.Errorf("the second join uses %s, want the kept %s", again.CertFile, config.CertFile)
	}
	pair, err := tls.LoadX509KeyPair(config.CertFile, config.KeyFile)
	if err != nil {
		t.Fatal(err)
	}
	if got := pair.Leaf.Subject.CommonName; got != "system:node:n1" {
		t.Errorf("kept certificate for %q", got)
	}
	if info, err := os.Stat(filepath.Join(cfg.Dir, "kubelet-client-current.pem")); err != nil || info.Mode().Perm()&0o077 != 0 {
		t.Errorf("the node's key is not kept private: %v %v", info, err)
	}

	// The renewer reads the store Join wrote: it finds the certificate there
	// and so does not ask for another until that one nears its end.
	store, err := clientStore(cfg.Dir)
	if err != nil {
		t.Fatal(err)
	}
	current, err := store.Current()
	if err != nil || !current.Leaf.Equal(pair.Leaf) {
		t.Fatalf("the certificate store holds %v (%v), want the joined certificate", current, err)
	}
	renewCtx, stopRenewing := context.WithCancel(ctx)
	defer stopRenewing()
	if err := RenewClientCertificate(renewCtx, node, "n1", cfg.Dir); err != nil {
		t.Fatal(err)
	}
}
