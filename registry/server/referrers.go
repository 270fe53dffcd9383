package server

import (
	"context"
	"encoding/json"
	"errors"
	"log/slog"
	"net/http"
	"slices"
	"strings"
	"sync"

	"github.com/distribution/distribution/v3"
	"github.com/distribution/distribution/v3/registry/api/errcode"
	"github.com/distribution/distribution/v3/registry/auth"
	storagedriver "github.com/distribution/distribution/v3/registry/storage/driver"
	"github.com/distribution/reference"
	"github.com/opencontainers/go-digest"
	"github.com/opencontainers/image-spec/specs-go"
	v1 "github.com/opencontainers/image-spec/specs-go/v1"
)

// referrers serves GET /v2/<name>/referrers/<digest>, which distribution
// v3.1 does not: the manifests of repository <name> whose subject is
// <digest>, as an image index, optionally only those of one artifactType.
//
// It keeps no index of its own: it lists the repository's manifests and
// reads each one's subject, caching what it read by digest (content at a
// digest never changes), so pushes and deletes need no bookkeeping and the
// answer always matches storage.
type referrers struct {
	ns     distribution.Namespace
	access auth.AccessController // nil: no auth
	cache  *summaryCache
	log    *slog.Logger
}

func (h *referrers) serve(w http.ResponseWriter, r *http.Request, rt route) {
	if r.Method != http.MethodGet {
		w.Header().Set("Allow", http.MethodGet)
		serveError(w, errcode.ErrorCodeUnsupported)
		return
	}
	ctx := r.Context()
	if h.access != nil {
		_, err := h.access.Authorized(r, auth.Access{Resource: auth.Resource{Type: "repository", Name: rt.name}, Action: "pull"})
		var ch auth.Challenge
		switch {
		case errors.As(err, &ch):
			ch.SetHeaders(r, w)
			serveError(w, errcode.ErrorCodeUnauthorized.WithDetail(rt.name))
			return
		case err != nil:
			h.log.Error("registry: checking authorization for referrers", "repository", rt.name, "err", err)
			serveError(w, errcode.ErrorCodeUnknown)
			return
		}
	}
	subject, err := digest.Parse(rt.ref)
	if err != nil {
		serveError(w, errcode.ErrorCodeDigestInvalid.WithDetail(err.Error()))
		return
	}
	artifactType := r.URL.Query().Get("artifactType")
	named, err := reference.WithName(rt.name)
	if err != nil { // checked by route.check already
		serveError(w, errcode.ErrorCodeNameInvalid.WithDetail(err.Error()))
		return
	}
	descs, err := h.list(ctx, named, subject, artifactType)
	if err != nil {
		h.log.Error("registry: listing referrers", "repository", rt.name, "subject", subject, "err", err)
		serveError(w, errcode.ErrorCodeUnknown)
		return
	}
	body, err := json.Marshal(v1.Index{
		Versioned: specs.Versioned{SchemaVersion: 2},
		MediaType: v1.MediaTypeImageIndex,
		Manifests: descs,
	})
	if err != nil {
		serveError(w, errcode.ErrorCodeUnknown.WithDetail(err.Error()))
		return
	}
	w.Header().Set("Docker-Distribution-API-Version", "registry/2.0")
	w.Header().Set("Content-Type", v1.MediaTypeImageIndex)
	if artifactType != "" {
		w.Header().Set("OCI-Filters-Applied", "artifactType")
	}
	w.WriteHeader(http.StatusOK)
	_, _ = w.Write(body)
}

// list returns the descriptors of the manifests in repository name whose
// subject is subject, sorted by digest. A repository that does not exist
// has none: the spec forbids a 404 here.
func (h *referrers) list(ctx context.Context, name reference.Named, subject digest.Digest, artifactType string) ([]v1.Descriptor, error) {
	repo, err := h.ns.Repository(ctx, name)
	if err != nil {
		return nil, err
	}
	ms, err := repo.Manifests(ctx)
	if err != nil {
		return nil, err
	}
	enum, ok := ms.(distribution.ManifestEnumerator)
	if !ok {
		return nil, errors.New("storage cannot list manifests")
	}
	descs := []v1.Descriptor{}
	err = enum.Enumerate(ctx, func(d digest.Digest) error {
		s, err := h.cache.get(ctx, ms, d)
		if err != nil {
			// Deleted since it was listed, or unreadable: not a referrer
			// anyone can fetch either.
			h.log.Debug("registry: skipping manifest for referrers", "repository", name.Name(), "digest", d, "err", err)
			return nil
		}
		if s.subject != subject || (artifactType != "" && s.artifactType != artifactType) {
			return nil
		}
		descs = append(descs, v1.Descriptor{
			MediaType:    s.mediaType,
			Digest:       d,
			Size:         s.size,
			ArtifactType: s.artifactType,
			Annotations:  s.annotations,
		})
		return nil
	})
	var notFound storagedriver.PathNotFoundError
	if err != nil && !errors.As(err, &notFound) {
		return nil, err
	}
	slices.SortFunc(descs, func(a, b v1.Descriptor) int { return strings.Compare(string(a.Digest), string(b.Digest)) })
	return descs, nil
}

// manifestSummary is what the referrers API and gc need of a manifest.
type manifestSummary struct {
	mediaType    string
	size         int64
	subject      digest.Digest
	artifactType string
	annotations  map[string]string
}

// summarize reads the fields of a manifest payload the referrers API
// reports. The artifact type of an image manifest without one is its
// config's media type, as the spec says.
func summarize(mediaType string, payload []byte) manifestSummary {
	var m struct {
		MediaType    string `json:"mediaType"`
		ArtifactType string `json:"artifactType"`
		Config       *struct {
			MediaType string `json:"mediaType"`
		} `json:"config"`
		Subject *struct {
			Digest digest.Digest `json:"digest"`
		} `json:"subject"`
		Annotations map[string]string `json:"annotations"`
	}
	s := manifestSummary{mediaType: mediaType, size: int64(len(payload))}
	if json.Unmarshal(payload, &m) != nil {
		return s
	}
	if s.mediaType == "" {
		s.mediaType = m.MediaType
	}
	s.artifactType = m.ArtifactType
	if s.artifactType == "" && s.mediaType == v1.MediaTypeImageManifest && m.Config != nil {
		s.artifactType = m.Config.MediaType
	}
	if m.Subject != nil {
		s.subject = m.Subject.Digest
	}
	s.annotations = m.Annotations
	return s
}

// maxSummaries bounds the cache: about 200 bytes each, a few MiB at most.
const maxSummaries = 16384

// summaryCache remembers manifest summaries by digest.
type summaryCache struct {
	mu sync.Mutex
	m  map[digest.Digest]manifestSummary
}

func newSummaryCache() *summaryCache {
	return &summaryCache{m: make(map[digest.Digest]manifestSummary)}
}

// get returns the summary of manifest d, reading it from ms on a miss.
func (c *summaryCache) get(ctx context.Context, ms distribution.ManifestService, d digest.Digest) (manifestSummary, error) {
	c.mu.Lock()
	s, ok := c.m[d]
	c.mu.Unlock()
	if ok {
		return s, nil
	}
	m, err := ms.Get(ctx, d)
	if err != nil {
		return manifestSummary{}, err
	}
	mt, payload, err := m.Payload()
	if err != nil {
		return manifestSummary{}, err
	}
	s = summarize(mt, payload)
	c.mu.Lock()
	if len(c.m) >= maxSummaries {
		// Forget an arbitrary entry: a miss costs one small read.
		for k := range c.m {
			delete(c.m, k)
			break
		}
	}
	c.m[d] = s
	c.mu.Unlock()
	return s, nil
}
