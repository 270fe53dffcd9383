package ingress

import (
	"context"
	"crypto/tls"
	"fmt"
	"net/http"
	"slices"
	"sort"
	"sync"
	"testing"

	corev1 "k8s.io/api/core/v1"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/runtime"
	"k8s.io/apimachinery/pkg/watch"
	"k8s.io/client-go/kubernetes/fake"
	k8stesting "k8s.io/client-go/testing"
)

// nodeRights makes client answer reads of Secrets as the API server answers
// a node's: one Secret at a time (a get, or a list or watch in a namespace
// with a metadata.name field selector) and only those named in allowed
// (namespace/name). It returns the requests it refused.
func nodeRights(client *fake.Clientset, allowed ...string) func() []string {
	var mu sync.Mutex
	var refused []string
	check := func(a k8stesting.Action, name string) error {
		if a.GetNamespace() != "" && name != "" && slices.Contains(allowed, a.GetNamespace()+"/"+name) {
			return nil
		}
		mu.Lock()
		refused = append(refused, fmt.Sprintf("%s %s/%s", a.GetVerb(), a.GetNamespace(), name))
		mu.Unlock()
		return apierrors.NewForbidden(corev1.Resource("secrets"), name, fmt.Errorf("no relationship found"))
	}
	client.PrependReactor("get", "secrets", func(a k8stesting.Action) (bool, runtime.Object, error) {
		err := check(a, a.(k8stesting.GetAction).GetName())
		return err != nil, nil, err
	})
	client.PrependReactor("list", "secrets", func(a k8stesting.Action) (bool, runtime.Object, error) {
		name, _ := a.(k8stesting.ListAction).GetListRestrictions().Fields.RequiresExactMatch(metav1.ObjectNameField)
		err := check(a, name)
		return err != nil, nil, err
	})
	client.PrependWatchReactor("secrets", func(a k8stesting.Action) (bool, watch.Interface, error) {
		name, _ := a.(k8stesting.WatchAction).GetWatchRestrictions().Fields.RequiresExactMatch(metav1.ObjectNameField)
		err := check(a, name)
		return err != nil, nil, err
	})
	return func() []string {
		mu.Lock()
		defer mu.Unlock()
		return slices.Clone(refused)
	}
}

// watchedSecrets lists the Secrets the controller watches, sorted.
func watchedSecrets(s *started) []string {
	var out []string
	for _, key := range s.builder.secrets.watching() {
		out = append(out, key.String())
	}
	sort.Strings(out)
	return out
}

func TestTLSSecretsReadOneByOne(t *testing.T) {
	ca := newCA(t)
	var refused func() []string
	objs := append(serviceWith("web", newBackend(t, "web")),
		ca.secret(t, "default", "secure-tls", "secure.example.com"),
		ca.secret(t, "default", "next-tls", "secure.example.com"),
		ca.secret(t, "default", "theirs-tls", "theirs.example.com"),
		ca.secret(t, "default", "unrelated", "unrelated.example.com"),
		ingress("secure",
			withTLS("secure-tls", "secure.example.com"),
			withRule("secure.example.com", prefix("/", "web"))),
		// Another controller's Ingress: its Secret is not this one's to read.
		ingress("theirs", withClass("other"),
			withTLS("theirs-tls", "theirs.example.com"),
			withRule("theirs.example.com", prefix("/", "web"))),
	)
	s := start(t, func(c *Config) {
		refused = nodeRights(c.Client.(*fake.Clientset), "default/secure-tls", "default/next-tls", "default/theirs-tls")
	}, objs...)
	ctx := context.Background()

	c := client(t, &tls.Config{RootCAs: ca.pool, ServerName: "secure.example.com"})
	if r := s.do(t, c, http.MethodGet, "https", "secure.example.com", "/", ""); r.status != http.StatusOK || r.backend != "web" {
		t.Fatalf("status %d from %q, want 200 from web", r.status, r.backend)
	}
	eventually(t, "the served Ingress's Secret watched, alone", func() error {
		if got := watchedSecrets(s); !slices.Equal(got, []string{"default/secure-tls"}) {
			return fmt.Errorf("watching %v", got)
		}
		return nil
	})

	// Another Secret for the same host: the old one's watch ends.
	ing, err := s.client.NetworkingV1().Ingresses("default").Get(ctx, "secure", metav1.GetOptions{})
	if err != nil {
		t.Fatal(err)
	}
	ing.Spec.TLS[0].SecretName = "next-tls"
	if _, err := s.client.NetworkingV1().Ingresses("default").Update(ctx, ing, metav1.UpdateOptions{}); err != nil {
		t.Fatal(err)
	}
	eventually(t, "the new Secret watched instead", func() error {
		if got := watchedSecrets(s); !slices.Equal(got, []string{"default/next-tls"}) {
			return fmt.Errorf("watching %v", got)
		}
		return nil
	})
	// The new Secret's certificate is served, and follows its changes.
	ca2 := newCA(t)
	if _, err := s.client.CoreV1().Secrets("default").Update(ctx, ca2.secret(t, "default", "next-tls", "secure.example.com"), metav1.UpdateOptions{}); err != nil {
		t.Fatal(err)
	}
	eventually(t, "the updated certificate", func() error {
		conn, err := tls.Dial("tcp", s.HTTPSAddr().String(), &tls.Config{ServerName: "secure.example.com", RootCAs: ca2.pool})
		if err != nil {
			return err
		}
		return conn.Close()
	})

	if err := s.client.NetworkingV1().Ingresses("default").Delete(ctx, "secure", metav1.DeleteOptions{}); err != nil {
		t.Fatal(err)
	}
	eventually(t, "no Secret watched", func() error {
		if got := watchedSecrets(s); len(got) != 0 {
			return fmt.Errorf("watching %v", got)
		}
		return nil
	})
	if r := refused(); len(r) != 0 {
		t.Errorf("requests a node may not make: %v", r)
	}
}
