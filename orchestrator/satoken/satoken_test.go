package satoken

import (
	"context"
	"crypto"
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/rsa"
	"encoding/base64"
	"encoding/json"
	"errors"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/golang-jwt/jwt/v5"
	"github.com/google/go-cmp/cmp"
	corev1 "k8s.io/api/core/v1"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/types"
	"k8s.io/apiserver/pkg/authentication/authenticator"
	clocktesting "k8s.io/utils/clock/testing"
)

var (
	rsaKeyOnce sync.Once
	rsaKey     *rsa.PrivateKey
)

// testRSAKey is one RSA key for every test: generating one takes a while.
func testRSAKey(t *testing.T) *rsa.PrivateKey {
	t.Helper()
	rsaKeyOnce.Do(func() {
		var err error
		if rsaKey, err = rsa.GenerateKey(rand.Reader, 2048); err != nil {
			t.Fatal(err)
		}
	})
	return rsaKey
}

func testECKey(t *testing.T) *ecdsa.PrivateKey {
	t.Helper()
	k, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	if err != nil {
		t.Fatal(err)
	}
	return k
}

// objects is an Objects over maps, keyed "namespace/name" (nodes by name).
type objects struct {
	accounts map[string]*corev1.ServiceAccount
	pods     map[string]*corev1.Pod
	secrets  map[string]*corev1.Secret
	nodes    map[string]*corev1.Node
	err      error // answered for everything when set
}

func lookup[T any](o *objects, m map[string]*T, resource, key string) (*T, error) {
	if o.err != nil {
		return nil, o.err
	}
	if v, ok := m[key]; ok {
		return v, nil
	}
	return nil, apierrors.NewNotFound(corev1.Resource(resource), key)
}

func (o *objects) ServiceAccount(_ context.Context, ns, name string) (*corev1.ServiceAccount, error) {
	return lookup(o, o.accounts, "serviceaccounts", ns+"/"+name)
}
func (o *objects) Pod(_ context.Context, ns, name string) (*corev1.Pod, error) {
	return lookup(o, o.pods, "pods", ns+"/"+name)
}
func (o *objects) Secret(_ context.Context, ns, name string) (*corev1.Secret, error) {
	return lookup(o, o.secrets, "secrets", ns+"/"+name)
}
func (o *objects) Node(_ context.Context, name string) (*corev1.Node, error) {
	return lookup(o, o.nodes, "nodes", name)
}

func meta(ns, name, uid string) metav1.ObjectMeta {
	return metav1.ObjectMeta{Namespace: ns, Name: name, UID: types.UID(uid)}
}

// fixture is an issuer and an authenticator sharing a key and a clock, and the
// objects tokens are checked against.
type fixture struct {
	clock   *clocktesting.FakePassiveClock
	objects *objects
	issuer  *Issuer
	authn   *Authenticator
	sa      *corev1.ServiceAccount
	pod     *corev1.Pod
	secret  *corev1.Secret
	node    *corev1.Node
}

func newFixture(t *testing.T, key crypto.Signer) *fixture {
	t.Helper()
	f := &fixture{
		clock:  clocktesting.NewFakePassiveClock(time.Date(2026, 3, 1, 12, 0, 0, 0, time.UTC)),
		sa:     &corev1.ServiceAccount{ObjectMeta: meta("shop", "builder", "sa-uid")},
		pod:    &corev1.Pod{ObjectMeta: meta("shop", "web-0", "pod-uid"), Spec: corev1.PodSpec{ServiceAccountName: "builder", NodeName: "n1"}},
		secret: &corev1.Secret{ObjectMeta: meta("shop", "builder-token", "secret-uid")},
		node:   &corev1.Node{ObjectMeta: meta("", "n1", "node-uid")},
	}
	f.objects = &objects{
		accounts: map[string]*corev1.ServiceAccount{"shop/builder": f.sa},
		pods:     map[string]*corev1.Pod{"shop/web-0": f.pod},
		secrets:  map[string]*corev1.Secret{"shop/builder-token": f.secret},
		nodes:    map[string]*corev1.Node{"n1": f.node},
	}
	cfg := Config{Key: key, Clock: f.clock}
	var err error
	if f.issuer, err = NewIssuer(cfg); err != nil {
		t.Fatal(err)
	}
	if f.authn, err = NewAuthenticator(cfg, f.objects); err != nil {
		t.Fatal(err)
	}
	return f
}

func (f *fixture) issue(t *testing.T, r Request) (string, *Claims) {
	t.Helper()
	if r.ServiceAccount == nil {
		r.ServiceAccount = f.sa
	}
	if r.Audiences == nil {
		r.Audiences = []string{DefaultIssuer}
	}
	if r.Expiration == 0 {
		r.Expiration = DefaultExpiration
	}
	token, claims, err := f.issuer.Issue(r)
	if err != nil {
		t.Fatal(err)
	}
	return token, claims
}

// payload decodes the claims of a token as JSON, unverified.
func payload(t *testing.T, token string) map[string]any {
	t.Helper()
	parts := strings.Split(token, ".")
	if len(parts) != 3 {
		t.Fatalf("token has %d parts, want 3", len(parts))
	}
	raw, err := base64.RawURLEncoding.DecodeString(parts[1])
	if err != nil {
		t.Fatal(err)
	}
	var out map[string]any
	if err := json.Unmarshal(raw, &out); err != nil {
		t.Fatal(err)
	}
	return out
}

func TestIssuedClaims(t *testing.T) {
	f := newFixture(t, testRSAKey(t))
	now := f.clock.Now().Unix()
	token, _ := f.issue(t, Request{Pod: f.pod, Node: f.node, Audiences: []string{"vault", DefaultIssuer}, Expiration: 2 * time.Hour})
	got := payload(t, token)
	jti, _ := got["jti"].(string)
	if len(jti) != 36 {
		t.Errorf("jti = %q, want a UUID", got["jti"])
	}
	delete(got, "jti")
	want := map[string]any{
		"iss": DefaultIssuer,
		"sub": "system:serviceaccount:shop:builder",
		"aud": []any{"vault", DefaultIssuer},
		"iat": float64(now), "nbf": float64(now), "exp": float64(now + 7200),
		"kubernetes.io": map[string]any{
			"namespace":      "shop",
			"serviceaccount": map[string]any{"name": "builder", "uid": "sa-uid"},
			"pod":            map[string]any{"name": "web-0", "uid": "pod-uid"},
			"node":           map[string]any{"name": "n1", "uid": "node-uid"},
		},
	}
	if diff := cmp.Diff(want, got); diff != "" {
		t.Errorf("claims (-want +got):\n%s", diff)
	}
	header, _ := base64.RawURLEncoding.DecodeString(strings.Split(token, ".")[0])
	var h map[string]any
	if err := json.Unmarshal(header, &h); err != nil {
		t.Fatal(err)
	}
	if h["alg"] != "RS256" || h["kid"] == "" || h["kid"] == nil {
		t.Errorf("header = %v, want alg RS256 and a kid", h)
	}
}

func TestExtendedExpiration(t *testing.T) {
	f := newFixture(t, testRSAKey(t))
	now := f.clock.Now()
	cases := []struct {
		name          string
		req           Request
		wantExp       time.Duration
		wantWarnAfter bool
	}{
		{name: "a mounted pod token for the API server is extended",
			req: Request{Pod: f.pod, Expiration: WarnOnlyExpiration}, wantExp: ExtendedExpiration, wantWarnAfter: true},
		{name: "another audience is not extended",
			req: Request{Pod: f.pod, Expiration: WarnOnlyExpiration, Audiences: []string{"vault"}}, wantExp: WarnOnlyExpiration},
		{name: "a token bound to no pod is not extended",
			req: Request{Expiration: WarnOnlyExpiration}, wantExp: WarnOnlyExpiration},
		{name: "another lifetime is not extended",
			req: Request{Pod: f.pod, Expiration: 2 * time.Hour}, wantExp: 2 * time.Hour},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			_, claims := f.issue(t, c.req)
			if got := claims.ExpiresAt.Sub(now); got != c.wantExp {
				t.Errorf("token valid for %s, want %s", got, c.wantExp)
			}
			if (claims.Kubernetes.WarnAfter != nil) != c.wantWarnAfter {
				t.Errorf("warnafter = %v, want set: %v", claims.Kubernetes.WarnAfter, c.wantWarnAfter)
			}
			if got := claims.Expires().Sub(now); got != c.req.Expiration {
				t.Errorf("Expires in %s, want the %s asked for", got, c.req.Expiration)
			}
		})
	}
}

func TestAuthenticate(t *testing.T) {
	for _, alg := range []struct {
		name string
		key  func(*testing.T) crypto.Signer
	}{
		{"RS256", func(t *testing.T) crypto.Signer { return testRSAKey(t) }},
		{"ES256", func(t *testing.T) crypto.Signer { return testECKey(t) }},
	} {
		t.Run(alg.name, func(t *testing.T) {
			f := newFixture(t, alg.key(t))
			token, claims := f.issue(t, Request{Pod: f.pod, Node: f.node})
			resp, ok, err := f.authn.AuthenticateToken(context.Background(), token)
			if !ok || err != nil {
				t.Fatalf("AuthenticateToken = %v, %v", ok, err)
			}
			u := resp.User
			if u.GetName() != "system:serviceaccount:shop:builder" || u.GetUID() != "sa-uid" {
				t.Errorf("user %q uid %q, want system:serviceaccount:shop:builder sa-uid", u.GetName(), u.GetUID())
			}
			if diff := cmp.Diff([]string{"system:serviceaccounts", "system:serviceaccounts:shop"}, u.GetGroups()); diff != "" {
				t.Errorf("groups (-want +got):\n%s", diff)
			}
			wantExtra := map[string][]string{
				"authentication.kubernetes.io/pod-name":      {"web-0"},
				"authentication.kubernetes.io/pod-uid":       {"pod-uid"},
				"authentication.kubernetes.io/node-name":     {"n1"},
				"authentication.kubernetes.io/node-uid":      {"node-uid"},
				"authentication.kubernetes.io/credential-id": {"JTI=" + claims.ID},
			}
			if diff := cmp.Diff(wantExtra, u.GetExtra()); diff != "" {
				t.Errorf("extra (-want +got):\n%s", diff)
			}
			if diff := cmp.Diff(authenticator.Audiences{DefaultIssuer}, resp.Audiences); diff != "" {
				t.Errorf("audiences (-want +got):\n%s", diff)
			}
		})
	}
}

func TestAuthenticateRejects(t *testing.T) {
	otherKey := testECKey(t)
	cases := []struct {
		name string
		// token makes the token presented, after which change alters the
		// world before it is.
		token  func(t *testing.T, f *fixture) string
		change func(f *fixture)
		ctx    context.Context
		// notOurs: the token is left to other authenticators (no error).
		notOurs         bool
		wantErr         string
		wantInvalidated bool
	}{
		{
			name: "expired",
			token: func(t *testing.T, f *fixture) string {
				tok, _ := f.issue(t, Request{Expiration: MinExpiration})
				return tok
			},
			change:  func(f *fixture) { f.clock.SetTime(f.clock.Now().Add(MinExpiration + leeway + time.Second)) },
			wantErr: "service account token has expired",
		},
		{
			name:    "not valid yet",
			token:   func(t *testing.T, f *fixture) string { tok, _ := f.issue(t, Request{}); return tok },
			change:  func(f *fixture) { f.clock.SetTime(f.clock.Now().Add(-leeway - time.Second)) },
			wantErr: "not valid yet",
		},
		{
			name: "for another audience",
			token: func(t *testing.T, f *fixture) string {
				tok, _ := f.issue(t, Request{Audiences: []string{"vault"}})
				return tok
			},
			wantErr: "audiences",
		},
		{
			name:    "for the API server when the request is for another audience",
			token:   func(t *testing.T, f *fixture) string { tok, _ := f.issue(t, Request{}); return tok },
			ctx:     authenticator.WithAudiences(context.Background(), authenticator.Audiences{"vault"}),
			wantErr: "audiences",
		},
		{
			name: "of another issuer",
			token: func(t *testing.T, f *fixture) string {
				other, err := NewIssuer(Config{Issuer: "https://elsewhere", Key: testRSAKey(t), Clock: f.clock})
				if err != nil {
					t.Fatal(err)
				}
				tok, _, err := other.Issue(Request{ServiceAccount: f.sa, Audiences: []string{DefaultIssuer}, Expiration: time.Hour})
				if err != nil {
					t.Fatal(err)
				}
				return tok
			},
			notOurs: true,
		},
		{
			name:    "not a JWT",
			token:   func(*testing.T, *fixture) string { return "31ada4fd-adec-460c-809a-9e56ceb75269" },
			notOurs: true,
		},
		{
			name: "signed with another key",
			token: func(t *testing.T, f *fixture) string {
				forged, err := NewIssuer(Config{Key: otherKey, Clock: f.clock})
				if err != nil {
					t.Fatal(err)
				}
				tok, _, err := forged.Issue(Request{ServiceAccount: f.sa, Audiences: []string{DefaultIssuer}, Expiration: time.Hour})
				if err != nil {
					t.Fatal(err)
				}
				return tok
			},
			wantErr: "invalid service account token",
		},
		{
			name: "with claims changed after signing",
			token: func(t *testing.T, f *fixture) string {
				tok, _ := f.issue(t, Request{})
				parts := strings.Split(tok, ".")
				claims := payload(t, tok)
				claims["sub"] = "system:serviceaccount:kube-system:admin"
				raw, _ := json.Marshal(claims)
				return parts[0] + "." + base64.RawURLEncoding.EncodeToString(raw) + "." + parts[2]
			},
			wantErr: "invalid service account token",
		},
		{
			name: "unsigned",
			token: func(t *testing.T, f *fixture) string {
				_, claims := f.issue(t, Request{})
				tok, err := jwt.NewWithClaims(jwt.SigningMethodNone, claims).SignedString(jwt.UnsafeAllowNoneSignatureType)
				if err != nil {
					t.Fatal(err)
				}
				return tok
			},
			wantErr: "invalid service account token",
		},
		{
			name:            "whose service account was deleted",
			token:           func(t *testing.T, f *fixture) string { tok, _ := f.issue(t, Request{}); return tok },
			change:          func(f *fixture) { delete(f.objects.accounts, "shop/builder") },
			wantInvalidated: true,
		},
		{
			name:  "whose service account was recreated",
			token: func(t *testing.T, f *fixture) string { tok, _ := f.issue(t, Request{}); return tok },
			change: func(f *fixture) {
				f.objects.accounts["shop/builder"] = &corev1.ServiceAccount{ObjectMeta: meta("shop", "builder", "sa-uid-2")}
			},
			wantInvalidated: true,
		},
		{
			name:            "bound to a pod that was deleted",
			token:           func(t *testing.T, f *fixture) string { tok, _ := f.issue(t, Request{Pod: f.pod}); return tok },
			change:          func(f *fixture) { delete(f.objects.pods, "shop/web-0") },
			wantInvalidated: true,
		},
		{
			name:  "bound to a pod whose UID changed",
			token: func(t *testing.T, f *fixture) string { tok, _ := f.issue(t, Request{Pod: f.pod}); return tok },
			change: func(f *fixture) {
				f.objects.pods["shop/web-0"] = &corev1.Pod{ObjectMeta: meta("shop", "web-0", "pod-uid-2")}
			},
			wantErr:         "pod UID (pod-uid-2) does not match the claim (pod-uid)",
			wantInvalidated: true,
		},
		{
			name:  "bound to a pod deleted more than a minute ago",
			token: func(t *testing.T, f *fixture) string { tok, _ := f.issue(t, Request{Pod: f.pod}); return tok },
			change: func(f *fixture) {
				f.pod.DeletionTimestamp = &metav1.Time{Time: f.clock.Now().Add(-leeway - time.Second)}
			},
			wantInvalidated: true,
		},
		{
			name:            "bound to a secret that was deleted",
			token:           func(t *testing.T, f *fixture) string { tok, _ := f.issue(t, Request{Secret: f.secret}); return tok },
			change:          func(f *fixture) { delete(f.objects.secrets, "shop/builder-token") },
			wantInvalidated: true,
		},
		{
			name:  "bound to a node that was recreated",
			token: func(t *testing.T, f *fixture) string { tok, _ := f.issue(t, Request{Node: f.node}); return tok },
			change: func(f *fixture) {
				f.objects.nodes["n1"] = &corev1.Node{ObjectMeta: meta("", "n1", "node-uid-2")}
			},
			wantInvalidated: true,
		},
		{
			name:    "when the objects cannot be read",
			token:   func(t *testing.T, f *fixture) string { tok, _ := f.issue(t, Request{}); return tok },
			change:  func(f *fixture) { f.objects.err = apierrors.NewServiceUnavailable("etcd is away") },
			wantErr: "etcd is away",
		},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			f := newFixture(t, testRSAKey(t))
			token := c.token(t, f)
			if c.change != nil {
				c.change(f)
			}
			ctx := c.ctx
			if ctx == nil {
				ctx = context.Background()
			}
			resp, ok, err := f.authn.AuthenticateToken(ctx, token)
			if ok || resp != nil {
				t.Fatalf("AuthenticateToken authenticated %v", resp.User)
			}
			if c.notOurs {
				if err != nil {
					t.Errorf("a token that is not ours gave error %v, want none so that other authenticators try it", err)
				}
				return
			}
			if err == nil {
				t.Fatal("AuthenticateToken gave no error")
			}
			if !strings.Contains(err.Error(), c.wantErr) {
				t.Errorf("error %q, want it to say %q", err, c.wantErr)
			}
			if errors.Is(err, ErrInvalidated) != c.wantInvalidated {
				t.Errorf("error %q: invalidated %v, want %v", err, errors.Is(err, ErrInvalidated), c.wantInvalidated)
			}
		})
	}
}

func TestAuthenticateTolerates(t *testing.T) {
	cases := []struct {
		name   string
		req    func(f *fixture) Request
		change func(f *fixture)
	}{
		{
			name:   "a token used within a minute after it expired",
			req:    func(*fixture) Request { return Request{Expiration: MinExpiration} },
			change: func(f *fixture) { f.clock.SetTime(f.clock.Now().Add(MinExpiration + leeway - time.Second)) },
		},
		{
			name:   "a token bound to a pod that is terminating",
			req:    func(f *fixture) Request { return Request{Pod: f.pod} },
			change: func(f *fixture) { f.pod.DeletionTimestamp = &metav1.Time{Time: f.clock.Now().Add(30 * time.Second)} },
		},
		{
			name:   "a pod-bound token whose pod's node is gone",
			req:    func(f *fixture) Request { return Request{Pod: f.pod, Node: f.node} },
			change: func(f *fixture) { delete(f.objects.nodes, "n1") },
		},
		{
			name: "a token for the API server and others",
			req:  func(*fixture) Request { return Request{Audiences: []string{"vault", DefaultIssuer}} },
		},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			f := newFixture(t, testRSAKey(t))
			token, _ := f.issue(t, c.req(f))
			if c.change != nil {
				c.change(f)
			}
			if _, ok, err := f.authn.AuthenticateToken(context.Background(), token); !ok || err != nil {
				t.Errorf("AuthenticateToken = %v, %v; want authenticated", ok, err)
			}
		})
	}
}

func TestIssueRefuses(t *testing.T) {
	f := newFixture(t, testECKey(t))
	cases := []struct {
		name string
		req  Request
	}{
		{"no service account", Request{Audiences: []string{"a"}, Expiration: time.Hour}},
		{"no audience", Request{ServiceAccount: f.sa, Expiration: time.Hour}},
		{"no expiration", Request{ServiceAccount: f.sa, Audiences: []string{"a"}}},
		{"bound to a pod and a secret", Request{ServiceAccount: f.sa, Audiences: []string{"a"}, Expiration: time.Hour, Pod: f.pod, Secret: f.secret}},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			if tok, _, err := f.issuer.Issue(c.req); err == nil {
				t.Errorf("Issue gave token %q, want an error", tok)
			}
		})
	}
}

func TestConfigRefusesKeys(t *testing.T) {
	p384, err := ecdsa.GenerateKey(elliptic.P384(), rand.Reader)
	if err != nil {
		t.Fatal(err)
	}
	for name, key := range map[string]crypto.Signer{"none": nil, "P-384": p384} {
		t.Run(name, func(t *testing.T) {
			if _, err := NewIssuer(Config{Key: key}); err == nil {
				t.Error("NewIssuer accepted the key")
			}
			if _, err := NewAuthenticator(Config{Key: key}, &objects{}); err == nil {
				t.Error("NewAuthenticator accepted the key")
			}
		})
	}
}
