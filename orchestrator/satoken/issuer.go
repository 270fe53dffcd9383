package satoken

import (
	"errors"
	"fmt"
	"slices"
	"time"

	"github.com/golang-jwt/jwt/v5"
	corev1 "k8s.io/api/core/v1"
	"k8s.io/apimachinery/pkg/util/uuid"
	"k8s.io/apiserver/pkg/authentication/serviceaccount"
)

// Issuer signs service account tokens.
type Issuer struct {
	keys *keys
}

// NewIssuer returns an issuer signing with cfg.Key.
func NewIssuer(cfg Config) (*Issuer, error) {
	k, err := cfg.complete()
	if err != nil {
		return nil, err
	}
	return &Issuer{keys: k}, nil
}

// Audiences are the API server's audiences: those of a token requested
// without any.
func (i *Issuer) Audiences() []string { return slices.Clone(i.keys.audiences) }

// Request is what a token is issued for.
type Request struct {
	ServiceAccount *corev1.ServiceAccount
	// Pod, Secret or Node is the object the token is bound to, if any; Node
	// may come with Pod, naming the pod's node.
	Pod    *corev1.Pod
	Secret *corev1.Secret
	Node   *corev1.Node
	// Audiences are those of the token; at least one.
	Audiences []string
	// Expiration is how long the token is valid.
	Expiration time.Duration
}

// Issue signs a token for r and returns it with its claims. A token bound to a
// pod, meant for the API server only and asked for WarnOnlyExpiration (what
// the ServiceAccount admission plugin mounts) is valid for ExtendedExpiration
// but says when to warn about it, as upstream's API server extends them.
// Whichever, the claims' Expires is when the client should consider it
// expired.
func (i *Issuer) Issue(r Request) (string, *Claims, error) {
	sa := r.ServiceAccount
	switch {
	case sa == nil:
		return "", nil, errors.New("issuing a token: no service account")
	case len(r.Audiences) == 0:
		return "", nil, errors.New("issuing a token: no audience")
	case r.Expiration <= 0:
		return "", nil, fmt.Errorf("issuing a token: expiration %s is not positive", r.Expiration)
	case r.Pod != nil && r.Secret != nil, r.Secret != nil && r.Node != nil:
		return "", nil, errors.New("issuing a token: a token is bound to one object")
	}
	now := jwt.NewNumericDate(i.keys.clock.Now())
	lifetime := r.Expiration
	var warnAfter *jwt.NumericDate
	if r.Pod != nil && r.Expiration == WarnOnlyExpiration && i.forAPIServer(r.Audiences) {
		warnAfter = jwt.NewNumericDate(now.Add(r.Expiration))
		lifetime = ExtendedExpiration
	}
	claims := &Claims{
		RegisteredClaims: jwt.RegisteredClaims{
			Issuer:    i.keys.issuer,
			Subject:   serviceaccount.MakeUsername(sa.Namespace, sa.Name),
			Audience:  slices.Clone(r.Audiences),
			ExpiresAt: jwt.NewNumericDate(now.Add(lifetime)),
			NotBefore: now,
			IssuedAt:  now,
			ID:        string(uuid.NewUUID()),
		},
		Kubernetes: Private{
			Namespace:      sa.Namespace,
			ServiceAccount: Ref{Name: sa.Name, UID: string(sa.UID)},
			WarnAfter:      warnAfter,
		},
	}
	if r.Pod != nil {
		claims.Kubernetes.Pod = &Ref{Name: r.Pod.Name, UID: string(r.Pod.UID)}
	}
	if r.Secret != nil {
		claims.Kubernetes.Secret = &Ref{Name: r.Secret.Name, UID: string(r.Secret.UID)}
	}
	if r.Node != nil {
		claims.Kubernetes.Node = &Ref{Name: r.Node.Name, UID: string(r.Node.UID)}
	}
	token := jwt.NewWithClaims(i.keys.method, claims)
	token.Header["kid"] = i.keys.keyID
	signed, err := token.SignedString(i.keys.key)
	if err != nil {
		return "", nil, fmt.Errorf("signing a token for service account %s/%s: %w", sa.Namespace, sa.Name, err)
	}
	return signed, claims, nil
}

// Expires is when the client should consider the token expired: the
// expiration it asked for, even when the token is valid for longer.
func (c *Claims) Expires() time.Time {
	if c.Kubernetes.WarnAfter != nil {
		return c.Kubernetes.WarnAfter.Time
	}
	return c.ExpiresAt.Time
}

// forAPIServer reports whether every audience is one of the API server's.
func (i *Issuer) forAPIServer(audiences []string) bool {
	for _, a := range audiences {
		if !slices.Contains(i.keys.audiences, a) {
			return false
		}
	}
	return true
}
