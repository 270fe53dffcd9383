// Package bootstraptoken owns bootstrap tokens, the credentials a machine
// joins the cluster with: their form ("abcdef.0123456789abcdef"), the Secrets
// in kube-system that hold them (type bootstrap.kubernetes.io/token, as
// kubeadm makes them), the authenticator that accepts them as bearer tokens,
// and berth's join token, which adds the hash of the cluster CA's public key
// so that a joining machine can trust the server before it sends the token.
// It must not decide what a bootstrapping machine may do: RBAC does, through
// the groups the authenticator gives.
package bootstraptoken

import (
	"crypto/rand"
	"crypto/sha256"
	"crypto/subtle"
	"crypto/x509"
	"encoding/hex"
	"fmt"
	"regexp"
	"slices"
	"strings"
	"time"

	corev1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
)

// The names upstream gives bootstrap tokens' Secrets and their keys.
const (
	SecretType        corev1.SecretType = "bootstrap.kubernetes.io/token"
	SecretPrefix                        = "bootstrap-token-"
	keyID                               = "token-id"
	keySecret                           = "token-secret"
	keyExpiration                       = "expiration"
	keyDescription                      = "description"
	keyAuthentication                   = "usage-bootstrap-authentication"
	keyExtraGroups                      = "auth-extra-groups"

	// UserPrefix and Group are whom a bootstrap token authenticates as:
	// user system:bootstrap:ID in group system:bootstrappers.
	UserPrefix = "system:bootstrap:"
	Group      = "system:bootstrappers"
	// NodeGroup is the extra group of the tokens berth makes for joining
	// nodes, as kubeadm's system:bootstrappers:kubeadm:default-node-token.
	NodeGroup = "system:bootstrappers:berth:default-node-token"
)

var tokenPattern = regexp.MustCompile(`^([a-z0-9]{6})\.([a-z0-9]{16})$`)

// Token is a bootstrap token: a public ID naming its Secret and a secret.
type Token struct {
	ID, Secret string
}

func (t Token) String() string { return t.ID + "." + t.Secret }

// SecretName is the name of the token's Secret in kube-system.
func (t Token) SecretName() string { return SecretPrefix + t.ID }

// Parse reads a token of the form "abcdef.0123456789abcdef".
func Parse(s string) (Token, error) {
	m := tokenPattern.FindStringSubmatch(s)
	if m == nil {
		return Token{}, fmt.Errorf("a bootstrap token has the form [a-z0-9]{6}.[a-z0-9]{16}")
	}
	return Token{ID: m[1], Secret: m[2]}, nil
}

// Generate makes a random token.
func Generate() (Token, error) {
	id, err := randomString(6)
	if err != nil {
		return Token{}, err
	}
	secret, err := randomString(16)
	if err != nil {
		return Token{}, err
	}
	return Token{ID: id, Secret: secret}, nil
}

func randomString(n int) (string, error) {
	const alphabet = "abcdefghijklmnopqrstuvwxyz0123456789"
	b := make([]byte, n)
	if _, err := rand.Read(b); err != nil {
		return "", fmt.Errorf("generating a bootstrap token: %w", err)
	}
	// 256 is not a multiple of 36: reject the top bytes for a uniform choice.
	for i := range b {
		for b[i] >= 252 {
			if _, err := rand.Read(b[i : i+1]); err != nil {
				return "", fmt.Errorf("generating a bootstrap token: %w", err)
			}
		}
		b[i] = alphabet[int(b[i])%len(alphabet)]
	}
	return string(b), nil
}

// Secret is the kube-system Secret that makes t a credential for
// authentication, in the extra groups given (each must start with
// "system:bootstrappers:"), until expires (never when zero).
func Secret(t Token, description string, groups []string, expires time.Time) *corev1.Secret {
	data := map[string][]byte{
		keyID:             []byte(t.ID),
		keySecret:         []byte(t.Secret),
		keyAuthentication: []byte("true"),
	}
	if description != "" {
		data[keyDescription] = []byte(description)
	}
	if len(groups) > 0 {
		data[keyExtraGroups] = []byte(strings.Join(groups, ","))
	}
	if !expires.IsZero() {
		data[keyExpiration] = []byte(expires.UTC().Format(time.RFC3339))
	}
	return &corev1.Secret{
		ObjectMeta: metav1.ObjectMeta{Name: t.SecretName(), Namespace: metav1.NamespaceSystem},
		Type:       SecretType,
		Data:       data,
	}
}

// Info is what a token's Secret says of it.
type Info struct {
	Token       Token
	Description string
	// Expires is when it stops working; zero is never.
	Expires time.Time
	// Groups are the extra groups it authenticates in.
	Groups []string
}

// FromSecret reads the token s holds, if it is a well-formed bootstrap
// token's Secret (an expiration that does not parse makes it none).
func FromSecret(s *corev1.Secret) (Info, bool) {
	if s.Type != SecretType || s.Name != SecretPrefix+string(s.Data[keyID]) {
		return Info{}, false
	}
	t, err := Parse(string(s.Data[keyID]) + "." + string(s.Data[keySecret]))
	if err != nil {
		return Info{}, false
	}
	info := Info{Token: t, Description: string(s.Data[keyDescription])}
	if exp := string(s.Data[keyExpiration]); exp != "" {
		if info.Expires, err = time.Parse(time.RFC3339, exp); err != nil {
			return Info{}, false
		}
	}
	for _, g := range strings.Split(string(s.Data[keyExtraGroups]), ",") {
		if g = strings.TrimSpace(g); g != "" {
			info.Groups = append(info.Groups, g)
		}
	}
	return info, true
}

// secretMatches reports whether s is t's Secret and makes it valid for
// authentication at now; the extra groups it grants come back with it.
func secretMatches(s *corev1.Secret, t Token, now time.Time) ([]string, bool) {
	info, ok := FromSecret(s)
	if !ok || s.DeletionTimestamp != nil || string(s.Data[keyAuthentication]) != "true" || info.Token.ID != t.ID {
		return nil, false
	}
	if subtle.ConstantTimeCompare([]byte(info.Token.Secret), []byte(t.Secret)) != 1 {
		return nil, false
	}
	if !info.Expires.IsZero() && !now.Before(info.Expires) {
		return nil, false
	}
	// Only groups under system:bootstrappers: a token's Secret must not
	// make its holder a cluster administrator.
	return slices.DeleteFunc(info.Groups, func(g string) bool { return !strings.HasPrefix(g, Group+":") }), true
}

// joinPrefix starts berth's join tokens, as k3s's "K10" does: the CA's key
// hash, then the bootstrap token.
const joinPrefix = "K10"

// JoinToken is what `berth agent --token` takes: a bootstrap token and the
// hash of the cluster CA's public key, which the agent checks the server's
// certificate chain against before it sends the token.
type JoinToken struct {
	// CAHash is "sha256:" and the hex SHA-256 of the CA certificate's
	// SubjectPublicKeyInfo, kubeadm's --discovery-token-ca-cert-hash.
	CAHash string
	Token  Token
}

func (j JoinToken) String() string {
	return joinPrefix + strings.TrimPrefix(j.CAHash, "sha256:") + "::" + j.Token.String()
}

// ParseJoinToken reads a join token, "K10<hex sha256>::<id>.<secret>".
func ParseJoinToken(s string) (JoinToken, error) {
	hash, token, ok := strings.Cut(strings.TrimSpace(s), "::")
	if !ok || !strings.HasPrefix(hash, joinPrefix) {
		return JoinToken{}, fmt.Errorf("a join token has the form K10<CA hash>::<id>.<secret>, as berth server prints it and writes it to DATA-DIR/node-token")
	}
	hash = strings.TrimPrefix(hash, joinPrefix)
	if b, err := hex.DecodeString(hash); err != nil || len(b) != sha256.Size {
		return JoinToken{}, fmt.Errorf("the join token's CA hash %q is not a hex SHA-256", hash)
	}
	t, err := Parse(token)
	if err != nil {
		return JoinToken{}, fmt.Errorf("the join token's bootstrap token: %w", err)
	}
	return JoinToken{CAHash: "sha256:" + hash, Token: t}, nil
}

// CAHash is the hash of cert's public key in kubeadm's form, "sha256:<hex>".
func CAHash(cert *x509.Certificate) string {
	sum := sha256.Sum256(cert.RawSubjectPublicKeyInfo)
	return "sha256:" + hex.EncodeToString(sum[:])
}
