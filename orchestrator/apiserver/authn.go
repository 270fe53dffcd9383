package apiserver

import (
	"crypto/sha256"
	"net/http"
	"time"

	"k8s.io/apiserver/pkg/authentication/authenticator"
	"k8s.io/utils/lru"
)

// certCache remembers for a few seconds whom a client certificate chain
// authenticated as. The TLS handshake has verified the chain already; verifying
// it again on every request of a kept-alive connection costs more CPU than the
// rest of a typical GET.
type certCache struct {
	next  authenticator.Request
	cache *lru.Cache
	ttl   time.Duration
	now   func() time.Time
}

type certCacheEntry struct {
	response authenticator.Response
	expires  time.Time
}

func newCertCache(next authenticator.Request) *certCache {
	return &certCache{next: next, cache: lru.New(4096), ttl: 10 * time.Second, now: time.Now}
}

func (c *certCache) AuthenticateRequest(req *http.Request) (*authenticator.Response, bool, error) {
	if req.TLS == nil || len(req.TLS.PeerCertificates) == 0 {
		return c.next.AuthenticateRequest(req)
	}
	h := sha256.New()
	for _, cert := range req.TLS.PeerCertificates {
		h.Write(cert.Raw)
	}
	key := string(h.Sum(nil))
	if v, ok := c.cache.Get(key); ok {
		if e := v.(certCacheEntry); c.now().Before(e.expires) {
			resp := e.response
			return &resp, true, nil
		}
	}
	resp, ok, err := c.next.AuthenticateRequest(req)
	if ok && err == nil {
		c.cache.Add(key, certCacheEntry{response: *resp, expires: c.now().Add(c.ttl)})
	}
	return resp, ok, err
}
