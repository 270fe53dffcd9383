package bootstraptoken

import (
	"context"
	"time"

	apierrors "k8s.io/apimachinery/pkg/api/errors"
	"k8s.io/apiserver/pkg/authentication/authenticator"
	"k8s.io/apiserver/pkg/authentication/user"
	corev1listers "k8s.io/client-go/listers/core/v1"
)

// Authenticator accepts bootstrap tokens whose Secrets in kube-system are
// valid for authentication, as user system:bootstrap:ID in group
// system:bootstrappers and the Secret's extra groups.
type Authenticator struct {
	secrets corev1listers.SecretNamespaceLister
	now     func() time.Time
}

// NewAuthenticator reads the tokens' Secrets through secrets, a lister of
// kube-system's Secrets.
func NewAuthenticator(secrets corev1listers.SecretNamespaceLister) *Authenticator {
	return &Authenticator{secrets: secrets, now: time.Now}
}

// AuthenticateToken does not say why a token failed: a holder of a bad token
// learns nothing about which tokens exist.
func (a *Authenticator) AuthenticateToken(ctx context.Context, value string) (*authenticator.Response, bool, error) {
	t, err := Parse(value)
	if err != nil {
		return nil, false, nil
	}
	s, err := a.secrets.Get(t.SecretName())
	if apierrors.IsNotFound(err) {
		return nil, false, nil
	}
	if err != nil {
		return nil, false, err
	}
	groups, ok := secretMatches(s, t, a.now())
	if !ok {
		return nil, false, nil
	}
	return &authenticator.Response{User: &user.DefaultInfo{
		Name:   UserPrefix + t.ID,
		Groups: append([]string{Group}, groups...),
	}}, true, nil
}
