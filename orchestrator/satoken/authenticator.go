package satoken

import (
	"context"
	"errors"
	"fmt"
	"time"

	"github.com/golang-jwt/jwt/v5"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apiserver/pkg/authentication/authenticator"
	"k8s.io/apiserver/pkg/authentication/serviceaccount"
	tokenjwt "k8s.io/apiserver/pkg/authentication/token/jwt"
)

// ErrInvalidated is the error of a token whose ServiceAccount or bound object
// is gone or was replaced since it was issued.
var ErrInvalidated = errors.New("service account token has been invalidated")

// Authenticator authenticates requests bearing tokens an Issuer with the same
// Config signed, as the service account they were issued for.
type Authenticator struct {
	keys    *keys
	objects Objects
	parser  *jwt.Parser
}

var _ authenticator.Token = (*Authenticator)(nil)

// NewAuthenticator returns an authenticator of the tokens signed with
// cfg.Key, which reads the objects they name through objects.
func NewAuthenticator(cfg Config, objects Objects) (*Authenticator, error) {
	k, err := cfg.complete()
	if err != nil {
		return nil, err
	}
	if objects == nil {
		return nil, errors.New("service account token authenticator: no objects to check tokens against")
	}
	parser := jwt.NewParser(
		jwt.WithValidMethods([]string{k.method.Alg()}),
		jwt.WithIssuer(k.issuer),
		jwt.WithExpirationRequired(),
		jwt.WithLeeway(leeway),
		jwt.WithTimeFunc(k.clock.Now),
	)
	return &Authenticator{keys: k, objects: objects, parser: parser}, nil
}

// AuthenticateToken answers whether token is one of ours and, if it is and it
// holds, whom it authenticates: system:serviceaccount:NS:NAME with the
// ServiceAccount's UID, its groups, and the pod, node and token ID as extra.
// A token of another issuer, or no JWT at all, is left to other
// authenticators (false, no error).
func (a *Authenticator) AuthenticateToken(ctx context.Context, token string) (*authenticator.Response, bool, error) {
	var peek jwt.RegisteredClaims
	if _, _, err := a.parser.ParseUnverified(token, &peek); err != nil || peek.Issuer != a.keys.issuer {
		return nil, false, nil
	}
	claims := &Claims{}
	_, err := a.parser.ParseWithClaims(token, claims, func(*jwt.Token) (any, error) { return a.keys.key.Public(), nil })
	switch {
	case errors.Is(err, jwt.ErrTokenExpired):
		return nil, false, errors.New("service account token has expired")
	case errors.Is(err, jwt.ErrTokenNotValidYet):
		return nil, false, errors.New("service account token is not valid yet")
	case err != nil:
		return nil, false, fmt.Errorf("invalid service account token: %w", err)
	}

	// The audiences the request is for: the API server's unless the caller
	// (a TokenReview, say) asks for others.
	wanted, ok := authenticator.AudiencesFrom(ctx)
	if !ok {
		wanted = a.keys.audiences
	}
	audiences := wanted.Intersect(authenticator.Audiences(claims.Audience))
	if len(audiences) == 0 {
		return nil, false, fmt.Errorf("service account token audiences %q are invalid for the target audiences %q", []string(claims.Audience), []string(wanted))
	}

	info, err := a.validate(ctx, claims)
	if err != nil {
		return nil, false, err
	}
	return &authenticator.Response{User: info.UserInfo(), Audiences: audiences}, true, nil
}

// validate checks that what the token names still exists as it was when the
// token was issued.
func (a *Authenticator) validate(ctx context.Context, c *Claims) (*serviceaccount.ServiceAccountInfo, error) {
	k := c.Kubernetes
	ns := k.Namespace
	if ns == "" || k.ServiceAccount.Name == "" || c.Subject != serviceaccount.MakeUsername(ns, k.ServiceAccount.Name) {
		return nil, errors.New("service account token names no service account")
	}
	// Objects deleted longer ago than the leeway no longer vouch for tokens.
	deletedBefore := a.keys.clock.Now().Add(-leeway)

	sa, err := a.objects.ServiceAccount(ctx, ns, k.ServiceAccount.Name)
	if err := current("service account", ns+"/"+k.ServiceAccount.Name, k.ServiceAccount.UID, sa, err, deletedBefore); err != nil {
		return nil, err
	}
	info := &serviceaccount.ServiceAccountInfo{Namespace: ns, Name: sa.Name, UID: string(sa.UID)}
	if c.ID != "" {
		info.CredentialID = tokenjwt.CredentialIDForJTI(c.ID)
	}
	if ref := k.Secret; ref != nil {
		secret, err := a.objects.Secret(ctx, ns, ref.Name)
		if err := current("secret", ns+"/"+ref.Name, ref.UID, secret, err, deletedBefore); err != nil {
			return nil, err
		}
	}
	if ref := k.Pod; ref != nil {
		pod, err := a.objects.Pod(ctx, ns, ref.Name)
		if err := current("pod", ns+"/"+ref.Name, ref.UID, pod, err, deletedBefore); err != nil {
			return nil, err
		}
		info.PodName, info.PodUID = ref.Name, ref.UID
	}
	if ref := k.Node; ref != nil {
		// A pod-bound token names its pod's node for information; a token
		// bound to the node itself holds only while the node does.
		if k.Pod == nil {
			node, err := a.objects.Node(ctx, ref.Name)
			if err := current("node", ref.Name, ref.UID, node, err, deletedBefore); err != nil {
				return nil, err
			}
		}
		info.NodeName, info.NodeUID = ref.Name, ref.UID
	}
	return info, nil
}

// current checks the object a token names, as read (obj, err): it must exist,
// not have been deleted before deletedBefore, and have the UID of the claim.
func current[T metav1.Object](kind, name, uid string, obj T, err error, deletedBefore time.Time) error {
	switch {
	case apierrors.IsNotFound(err):
		return fmt.Errorf("%s %s no longer exists: %w", kind, name, ErrInvalidated)
	case err != nil:
		return fmt.Errorf("reading %s %s of a service account token: %w", kind, name, err)
	}
	if t := obj.GetDeletionTimestamp(); t != nil && t.Time.Before(deletedBefore) {
		return fmt.Errorf("%s %s has been deleted: %w", kind, name, ErrInvalidated)
	}
	if got := string(obj.GetUID()); got != uid {
		return fmt.Errorf("%s UID (%s) does not match the claim (%s): %w", kind, got, uid, ErrInvalidated)
	}
	return nil
}
