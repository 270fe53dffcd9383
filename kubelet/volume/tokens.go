package volume

import (
	"context"
	"fmt"
	"sync"
	"time"

	authenticationv1 "k8s.io/api/authentication/v1"
	corev1 "k8s.io/api/core/v1"
	"k8s.io/apimachinery/pkg/types"
	"k8s.io/utils/clock"
)

// TokenRequester requests ServiceAccount tokens (the serviceaccounts/token
// subresource); client-go's ServiceAccounts(ns).CreateToken is one.
type TokenRequester interface {
	CreateToken(ctx context.Context, namespace, serviceAccount string, req *authenticationv1.TokenRequest) (*authenticationv1.TokenRequest, error)
}

// maxTokenAge is how long a token is used at most, whatever its expiry, as the
// upstream kubelet's token manager.
const maxTokenAge = 24 * time.Hour

type tokenKey struct {
	pod        types.UID
	account    string
	audience   string
	expiration int64
}

// tokenCache keeps the tokens of projected volumes and requests new ones when
// 80% of their lifetime (or 24 hours) has passed.
type tokenCache struct {
	requester TokenRequester
	clock     clock.PassiveClock

	mu     sync.Mutex
	tokens map[tokenKey]*authenticationv1.TokenRequest
}

func (m *Manager) token(ctx context.Context, pod *corev1.Pod, src *corev1.ServiceAccountTokenProjection) (string, error) {
	c := &m.tokens
	if c.requester == nil {
		return "", fmt.Errorf("cannot request a token for service account of pod %s/%s: this kubelet has no token requester", pod.Namespace, pod.Name)
	}
	account := pod.Spec.ServiceAccountName
	if account == "" {
		account = "default"
	}
	var exp int64
	if src.ExpirationSeconds != nil {
		exp = *src.ExpirationSeconds
	}
	key := tokenKey{pod: pod.UID, account: account, audience: src.Audience, expiration: exp}
	c.mu.Lock()
	tr, ok := c.tokens[key]
	c.mu.Unlock()
	if ok && !c.needsRefresh(tr) {
		return tr.Status.Token, nil
	}
	tr, err := c.requester.CreateToken(ctx, pod.Namespace, account, tokenRequest(pod, src))
	if err != nil {
		return "", fmt.Errorf("failed to fetch token: %w", err)
	}
	c.mu.Lock()
	c.tokens[key] = tr
	c.mu.Unlock()
	return tr.Status.Token, nil
}

func (c *tokenCache) needsRefresh(tr *authenticationv1.TokenRequest) bool {
	if tr.Spec.ExpirationSeconds == nil {
		return true
	}
	ttl := time.Duration(*tr.Spec.ExpirationSeconds) * time.Second
	exp := tr.Status.ExpirationTimestamp.Time
	issued := exp.Add(-ttl)
	now := c.clock.Now()
	return now.After(issued.Add(maxTokenAge)) || now.After(exp.Add(-ttl/5))
}

// forget drops the tokens of a pod.
func (c *tokenCache) forget(uid types.UID) {
	c.mu.Lock()
	defer c.mu.Unlock()
	for k := range c.tokens {
		if k.pod == uid {
			delete(c.tokens, k)
		}
	}
}
