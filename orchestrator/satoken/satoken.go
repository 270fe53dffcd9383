// Package satoken owns service account tokens: the bound JWTs the API server
// issues through serviceaccounts/token and accepts as bearer tokens, with the
// claims upstream's bound tokens carry (iss, sub, aud, exp, iat, nbf, jti and
// the private "kubernetes.io" claim naming the namespace, the ServiceAccount
// and the Pod, Secret or Node the token is bound to).
//
// It signs and verifies; it does not keep keys (package pki does), serve HTTP
// or store objects: the objects a token names are read through Objects, so a
// token stops working when its ServiceAccount or bound object is deleted or
// replaced. It must not decide what an authenticated service account may do.
package satoken

import (
	"context"
	"crypto"
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rsa"
	"crypto/sha256"
	"crypto/x509"
	"encoding/base64"
	"errors"
	"fmt"
	"time"

	"github.com/golang-jwt/jwt/v5"
	corev1 "k8s.io/api/core/v1"
	"k8s.io/utils/clock"
)

// DefaultIssuer is the iss claim of berth's tokens, upstream's default
// --service-account-issuer; the API server's audience defaults to it.
const DefaultIssuer = "https://kubernetes.default.svc.cluster.local"

// Lifetimes of tokens, as upstream chooses them.
const (
	// MinExpiration is the shortest lifetime a TokenRequest may ask for.
	MinExpiration = 10 * time.Minute
	// DefaultExpiration is the lifetime of a TokenRequest that names none.
	DefaultExpiration = time.Hour
	// WarnOnlyExpiration is the lifetime of the tokens the ServiceAccount
	// admission plugin mounts into pods: 3607 seconds, an odd number by which
	// the API server recognises them. It issues such tokens, when bound to a
	// pod and meant for the API server, for ExtendedExpiration instead and
	// marks them to be warned about after this long, so that clients that never
	// reread their token file keep working.
	WarnOnlyExpiration = time.Hour + 7*time.Second
	// ExtendedExpiration is the real lifetime of those tokens: a year.
	ExtendedExpiration = 365 * 24 * time.Hour
)

// leeway is the clock skew tolerated on exp and nbf, go-jose's default that
// upstream relies on; objects deleted longer ago than this no longer
// authenticate tokens bound to them.
const leeway = time.Minute

// Config says who issues tokens, for whom, and with which key.
type Config struct {
	// Issuer is the iss claim: DefaultIssuer when empty.
	Issuer string
	// Audiences are the API server's own audiences: tokens that name none of
	// them are refused, and a TokenRequest without audiences gets them. Empty
	// means the issuer alone, as upstream.
	Audiences []string
	// Key signs tokens: RS256 with an RSA key, ES256 with an ECDSA P-256 key.
	Key crypto.Signer
	// Clock tells the time; nil is the real clock.
	Clock clock.PassiveClock
}

// keys is what both the issuer and the authenticator derive from a Config.
type keys struct {
	issuer    string
	audiences []string
	method    jwt.SigningMethod
	keyID     string
	key       crypto.Signer
	clock     clock.PassiveClock
}

func (c Config) complete() (*keys, error) {
	k := &keys{issuer: c.Issuer, audiences: c.Audiences, key: c.Key, clock: c.Clock}
	if k.issuer == "" {
		k.issuer = DefaultIssuer
	}
	if len(k.audiences) == 0 {
		k.audiences = []string{k.issuer}
	}
	if k.clock == nil {
		k.clock = clock.RealClock{}
	}
	switch key := c.Key.(type) {
	case *rsa.PrivateKey:
		k.method = jwt.SigningMethodRS256
	case *ecdsa.PrivateKey:
		if key.Curve != elliptic.P256() {
			return nil, fmt.Errorf("service account key: ECDSA on %s cannot sign ES256 tokens", key.Curve.Params().Name)
		}
		k.method = jwt.SigningMethodES256
	case nil:
		return nil, errors.New("no service account key")
	default:
		return nil, fmt.Errorf("service account key: a %T cannot sign tokens, want RSA or ECDSA P-256", c.Key)
	}
	der, err := x509.MarshalPKIXPublicKey(c.Key.Public())
	if err != nil {
		return nil, fmt.Errorf("service account key: %w", err)
	}
	// The key ID is the unpadded base64url SHA-256 of the public key, as
	// upstream derives it, so that verifiers can pick the key from a JWKS.
	sum := sha256.Sum256(der)
	k.keyID = base64.RawURLEncoding.EncodeToString(sum[:])
	return k, nil
}

// Claims are the claims of a service account token.
type Claims struct {
	jwt.RegisteredClaims
	Kubernetes Private `json:"kubernetes.io"`
}

// Private is the "kubernetes.io" claim: what the token is bound to.
type Private struct {
	Namespace      string `json:"namespace"`
	ServiceAccount Ref    `json:"serviceaccount"`
	Pod            *Ref   `json:"pod,omitempty"`
	Secret         *Ref   `json:"secret,omitempty"`
	Node           *Ref   `json:"node,omitempty"`
	// WarnAfter is when a token with an extended lifetime should have been
	// replaced.
	WarnAfter *jwt.NumericDate `json:"warnafter,omitempty"`
}

// Ref names an object and its UID.
type Ref struct {
	Name string `json:"name"`
	UID  string `json:"uid"`
}

// Objects reads the objects tokens name, as they are now.
type Objects interface {
	ServiceAccount(ctx context.Context, namespace, name string) (*corev1.ServiceAccount, error)
	Pod(ctx context.Context, namespace, name string) (*corev1.Pod, error)
	Secret(ctx context.Context, namespace, name string) (*corev1.Secret, error)
	Node(ctx context.Context, name string) (*corev1.Node, error)
}
