package bootstraptoken

import (
	"context"
	"slices"
	"strings"
	"testing"
	"time"

	corev1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	corev1listers "k8s.io/client-go/listers/core/v1"
	"k8s.io/client-go/tools/cache"
)

func TestParse(t *testing.T) {
	for _, s := range []string{"abcdef.0123456789abcdef", "a1b2c3.zzzzzzzzzzzzzzzz"} {
		if tok, err := Parse(s); err != nil || tok.String() != s {
			t.Errorf("Parse(%q) = %v, %v", s, tok, err)
		}
	}
	for _, s := range []string{"", "abcdef", "ABCDEF.0123456789abcdef", "abcde.0123456789abcdef", "abcdef.0123456789abcde", "abcdef:0123456789abcdef", " abcdef.0123456789abcdef"} {
		if _, err := Parse(s); err == nil {
			t.Errorf("Parse(%q) succeeded", s)
		}
	}
}

func TestGenerate(t *testing.T) {
	seen := map[string]bool{}
	for range 50 {
		tok, err := Generate()
		if err != nil {
			t.Fatal(err)
		}
		if _, err := Parse(tok.String()); err != nil {
			t.Fatalf("generated %q does not parse: %v", tok, err)
		}
		if seen[tok.String()] {
			t.Fatalf("generated %q twice", tok)
		}
		seen[tok.String()] = true
	}
}

func TestJoinToken(t *testing.T) {
	tok := Token{ID: "abcdef", Secret: "0123456789abcdef"}
	j := JoinToken{CAHash: "sha256:" + strings.Repeat("ab", 32), Token: tok}
	parsed, err := ParseJoinToken(j.String() + "\n")
	if err != nil || parsed != j {
		t.Fatalf("ParseJoinToken(%q) = %+v, %v", j, parsed, err)
	}
	for _, s := range []string{
		tok.String(), // no hash
		"K10" + strings.Repeat("ab", 31) + "::" + tok.String(), // short hash
		"K10" + strings.Repeat("zz", 32) + "::" + tok.String(), // not hex
		"K10" + strings.Repeat("ab", 32) + "::nope",
		"X10" + strings.Repeat("ab", 32) + "::" + tok.String(),
	} {
		if _, err := ParseJoinToken(s); err == nil {
			t.Errorf("ParseJoinToken(%q) succeeded", s)
		}
	}
}

func TestAuthenticator(t *testing.T) {
	now := time.Date(2026, 11, 24, 12, 0, 0, 0, time.UTC)
	good := Token{ID: "abcdef", Secret: "0123456789abcdef"}
	expired := Token{ID: "expire", Secret: "0123456789abcdef"}
	noAuth := Token{ID: "noauth", Secret: "0123456789abcdef"}
	wrongType := Token{ID: "wrongt", Secret: "0123456789abcdef"}
	escalate := Token{ID: "escala", Secret: "0123456789abcdef"}

	indexer := cache.NewIndexer(cache.MetaNamespaceKeyFunc, cache.Indexers{})
	add := func(s *corev1.Secret) {
		if err := indexer.Add(s); err != nil {
			t.Fatal(err)
		}
	}
	add(Secret(good, "join", []string{NodeGroup}, now.Add(time.Hour)))
	add(Secret(expired, "", nil, now.Add(-time.Second)))
	s := Secret(noAuth, "", nil, time.Time{})
	delete(s.Data, keyAuthentication)
	add(s)
	s = Secret(wrongType, "", nil, time.Time{})
	s.Type = corev1.SecretTypeOpaque
	add(s)
	add(Secret(escalate, "", []string{"system:masters", NodeGroup}, time.Time{}))
	s = Secret(Token{ID: "badexp", Secret: "0123456789abcdef"}, "", nil, time.Time{})
	s.Data[keyExpiration] = []byte("tomorrow")
	add(s)
	other := Secret(Token{ID: "othern", Secret: "0123456789abcdef"}, "", nil, time.Time{})
	other.Namespace = "default"
	add(other)

	a := NewAuthenticator(corev1listers.NewSecretLister(indexer).Secrets(metav1.NamespaceSystem))
	a.now = func() time.Time { return now }

	for _, tc := range []struct {
		token  string
		user   string
		groups []string
	}{
		{token: good.String(), user: "system:bootstrap:abcdef", groups: []string{Group, NodeGroup}},
		{token: "abcdef.0123456789abcdee"}, // wrong secret
		{token: expired.String()},
		{token: noAuth.String()},
		{token: wrongType.String()},
		{token: escalate.String(), user: "system:bootstrap:escala", groups: []string{Group, NodeGroup}},
		{token: "othern.0123456789abcdef"}, // not in kube-system
		{token: "badexp.0123456789abcdef"}, // an expiration that does not parse is no "never"
		{token: "unknow.0123456789abcdef"},
		{token: "not a token"},
	} {
		resp, ok, err := a.AuthenticateToken(context.Background(), tc.token)
		if err != nil {
			t.Errorf("%s: %v", tc.token, err)
			continue
		}
		if tc.user == "" {
			if ok {
				t.Errorf("%s authenticated as %v", tc.token, resp.User)
			}
			continue
		}
		if !ok {
			t.Errorf("%s not authenticated", tc.token)
			continue
		}
		if resp.User.GetName() != tc.user || !slices.Equal(resp.User.GetGroups(), tc.groups) {
			t.Errorf("%s authenticated as %s %v, want %s %v", tc.token, resp.User.GetName(), resp.User.GetGroups(), tc.user, tc.groups)
		}
	}
}

func TestFromSecret(t *testing.T) {
	tok := Token{ID: "abcdef", Secret: "0123456789abcdef"}
	expires := time.Date(2027, 1, 2, 3, 4, 5, 0, time.UTC)
	s := Secret(tok, "for worker-1", []string{NodeGroup}, expires)
	s.Data[keyExtraGroups] = []byte(NodeGroup + " , system:bootstrappers:extra")
	info, ok := FromSecret(s)
	if !ok || info.Token != tok || info.Description != "for worker-1" || !info.Expires.Equal(expires) ||
		!slices.Equal(info.Groups, []string{NodeGroup, "system:bootstrappers:extra"}) {
		t.Errorf("FromSecret = %+v, %v", info, ok)
	}
	for name, spoil := range map[string]func(*corev1.Secret){
		"another type":     func(s *corev1.Secret) { s.Type = corev1.SecretTypeOpaque },
		"another name":     func(s *corev1.Secret) { s.Name = "bootstrap-token-zzzzzz" },
		"a bad secret":     func(s *corev1.Secret) { s.Data[keySecret] = []byte("short") },
		"a bad expiration": func(s *corev1.Secret) { s.Data[keyExpiration] = []byte("soon") },
	} {
		bad := s.DeepCopy()
		spoil(bad)
		if info, ok := FromSecret(bad); ok {
			t.Errorf("%s: FromSecret = %+v, want no token", name, info)
		}
	}
}
