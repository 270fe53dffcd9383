package server

import (
	"bytes"
	"encoding/json"
	"fmt"
	"io"
	"log/slog"
	"mime"
	"net/http"
	"net/url"
	"path"
	"regexp"
	"strings"

	"github.com/distribution/distribution/v3/registry/api/errcode"
	storagedriver "github.com/distribution/distribution/v3/registry/storage/driver"
	"github.com/opencontainers/go-digest"
	v1 "github.com/opencontainers/image-spec/specs-go/v1"
)

// Media types of the manifests distribution stores.
const (
	mediaTypeDockerManifest     = "application/vnd.docker.distribution.manifest.v2+json"
	mediaTypeDockerManifestList = "application/vnd.docker.distribution.manifest.list.v2+json"
)

// maxManifestSize is the largest manifest distribution accepts.
const maxManifestSize = 4 << 20

// front is the registry's HTTP handler. It checks every repository path
// before distribution's router sees it (which would answer a bad name with a
// bare 404, or redirect dot segments away), serves the referrers API, and
// otherwise hands the request to distribution.
type front struct {
	app       http.Handler
	referrers *referrers
	driver    storagedriver.StorageDriver
	log       *slog.Logger
}

// endpoint is the kind of repository route a request is for.
type endpoint int

const (
	endpointManifest endpoint = iota
	endpointBlob
	endpointUpload
	endpointTags
	endpointReferrers
)

// route is a request path of the form /v2/<name>/<endpoint>[/<ref>].
type route struct {
	name     string
	endpoint endpoint
	// ref is the path's last segment, unescaped: a tag or digest, an
	// upload's id; "" for tag lists.
	ref string
}

func (f *front) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	rt, ok := parseRoute(r.URL.EscapedPath())
	if !ok {
		// /v2/, /v2/_catalog, and paths distribution has no route for.
		f.app.ServeHTTP(w, r)
		return
	}
	if err := rt.check(); err != nil {
		serveError(w, err)
		return
	}
	switch {
	case rt.endpoint == endpointReferrers:
		f.referrers.serve(w, r, rt)
		return
	case rt.endpoint == endpointManifest && (r.Method == http.MethodGet || r.Method == http.MethodHead):
		r = withManifestAccept(r)
	case rt.endpoint == endpointManifest && r.Method == http.MethodPut:
		w, r = announceSubject(w, r)
	case rt.endpoint == endpointUpload && r.Method == http.MethodPut && rt.ref != "":
		f.completeUpload(w, r, rt)
		return
	}
	f.app.ServeHTTP(w, r)
}

// completeUpload passes the request closing an upload to distribution and
// deletes the upload when its content did not match its digest. Distribution
// means to, but its cleanup fails on the writer it has just closed and leaves
// the rejected data behind until the purger's day has passed.
func (f *front) completeUpload(w http.ResponseWriter, r *http.Request, rt route) {
	// A missing or malformed digest is answered here, before distribution
	// sees it, so that a DIGEST_INVALID from distribution always means
	// content that did not match: the upload is spent then, not retryable.
	if _, err := digest.Parse(r.URL.Query().Get("digest")); err != nil {
		serveError(w, errcode.ErrorCodeDigestInvalid.WithDetail(fmt.Sprintf("digest parameter: %v", err)))
		return
	}
	rec := &errorRecorder{ResponseWriter: w}
	f.app.ServeHTTP(rec, r)
	if rec.status != http.StatusBadRequest || rec.code() != errcode.ErrorCodeDigestInvalid.String() || !uploadID.MatchString(rt.ref) {
		return
	}
	dir := path.Join(repositoriesPath, rt.name, "_uploads", rt.ref)
	if err := f.driver.Delete(r.Context(), dir); err != nil && !isNotFound(err) {
		f.log.Warn("registry: deleting rejected upload", "repository", rt.name, "upload", rt.ref, "err", err)
	}
}

// uploadID matches the upload ids distribution hands out (UUIDs).
var uploadID = regexp.MustCompile(`^[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}$`)

// errorRecorder passes a response through, keeping its status and, for an
// error, the start of its body.
type errorRecorder struct {
	http.ResponseWriter
	status int
	body   []byte
}

func (e *errorRecorder) WriteHeader(code int) {
	if e.status == 0 {
		e.status = code
	}
	e.ResponseWriter.WriteHeader(code)
}

func (e *errorRecorder) Write(b []byte) (int, error) {
	if e.status == 0 {
		e.status = http.StatusOK
	}
	if e.status >= 400 && len(e.body) < 4096 {
		e.body = append(e.body, b[:min(len(b), 4096-len(e.body))]...)
	}
	return e.ResponseWriter.Write(b)
}

func (e *errorRecorder) Unwrap() http.ResponseWriter { return e.ResponseWriter }

// code is the first error code of the recorded body, or "".
func (e *errorRecorder) code() string {
	var body struct {
		Errors []struct {
			Code string `json:"code"`
		} `json:"errors"`
	}
	if json.Unmarshal(e.body, &body) != nil || len(body.Errors) == 0 {
		return ""
	}
	return body.Errors[0].Code
}

// parseRoute splits an escaped /v2/ path into repository name, endpoint and
// last segment. Names may hold slashes, so the endpoint is found from the
// right, as distribution's router does.
func parseRoute(escaped string) (route, bool) {
	rest, ok := strings.CutPrefix(escaped, "/v2/")
	if !ok {
		return route{}, false
	}
	p := strings.Split(rest, "/")
	n := len(p)
	var rt route
	var nameLen int
	switch {
	case n >= 3 && p[n-2] == "tags" && p[n-1] == "list":
		rt.endpoint, nameLen = endpointTags, n-2
	case n >= 4 && p[n-3] == "blobs" && p[n-2] == "uploads":
		rt.endpoint, nameLen = endpointUpload, n-3
	case n >= 3 && p[n-2] == "blobs":
		rt.endpoint, nameLen = endpointBlob, n-2
	case n >= 3 && p[n-2] == "manifests":
		rt.endpoint, nameLen = endpointManifest, n-2
	case n >= 3 && p[n-2] == "referrers":
		rt.endpoint, nameLen = endpointReferrers, n-2
	default:
		return route{}, false
	}
	rt.name = strings.Join(p[:nameLen], "/")
	if rt.endpoint != endpointTags {
		ref, err := url.PathUnescape(p[n-1])
		if err != nil {
			ref = p[n-1] + "\x00" // not a valid reference either way
		}
		rt.ref = ref
	}
	return rt, true
}

// check refuses names outside the distribution spec's grammar, which leaves
// no room for dot segments, encoded characters or empty components; and
// references that would move the path once unescaped.
func (rt route) check() error {
	if err := checkName(rt.name); err != nil {
		return errcode.ErrorCodeNameInvalid.WithDetail(err.Error())
	}
	if rt.ref == "." || rt.ref == ".." || strings.ContainsAny(rt.ref, "/\\\x00") {
		switch rt.endpoint {
		case endpointManifest:
			return errcode.ErrorCodeManifestUnknown.WithDetail(rt.ref)
		case endpointUpload:
			return errcode.ErrorCodeBlobUploadUnknown.WithDetail(rt.ref)
		default:
			return errcode.ErrorCodeDigestInvalid.WithDetail(rt.ref)
		}
	}
	return nil
}

// nameRE is the distribution spec's grammar for repository names. It is
// stricter than distribution's router, which takes the first component for a
// registry host and so lets through uppercase and ports ("Library/app",
// "host:5000/app").
var nameRE = regexp.MustCompile(`^[a-z0-9]+((\.|_|__|-+)[a-z0-9]+)*(/[a-z0-9]+((\.|_|__|-+)[a-z0-9]+)*)*$`)

// maxNameLength is the longest repository name distribution stores.
const maxNameLength = 255

// checkName refuses a repository name outside the spec's grammar.
func checkName(name string) error {
	if len(name) > maxNameLength {
		return fmt.Errorf("repository name is %d characters long, longer than %d", len(name), maxNameLength)
	}
	if !nameRE.MatchString(name) {
		return fmt.Errorf("repository name %q is not lowercase letters and digits in components separated by '/', with '.', '_', '__' or dashes inside components", name)
	}
	return nil
}

// serveError answers with err in the spec's JSON error envelope.
func serveError(w http.ResponseWriter, err error) {
	w.Header().Set("Docker-Distribution-API-Version", "registry/2.0")
	_ = errcode.ServeJSON(w, err)
}

// withManifestAccept returns r accepting every manifest type when the client
// named none. Distribution answers MANIFEST_UNKNOWN for an OCI manifest the
// Accept header does not list, which would make a plain `curl` of a manifest
// that exists look like a miss.
func withManifestAccept(r *http.Request) *http.Request {
	for _, v := range r.Header.Values("Accept") {
		for t := range strings.SplitSeq(v, ",") {
			mt, _, err := mime.ParseMediaType(strings.TrimSpace(t))
			if err != nil {
				continue
			}
			switch mt {
			case v1.MediaTypeImageManifest, v1.MediaTypeImageIndex, mediaTypeDockerManifest, mediaTypeDockerManifestList:
				return r
			}
		}
	}
	r = r.Clone(r.Context())
	r.Header.Set("Accept", strings.Join([]string{v1.MediaTypeImageManifest, v1.MediaTypeImageIndex, mediaTypeDockerManifest, mediaTypeDockerManifestList}, ", "))
	return r
}

// announceSubject returns w and r set up to add OCI-Subject to the 201 of a
// manifest push whose manifest has a subject: the spec's signal that the
// registry indexed it for the referrers API, without which clients fall back
// to maintaining a referrers tag themselves. The manifest is read as
// distribution reads it, so nothing is read before distribution has
// authorized the request.
func announceSubject(w http.ResponseWriter, r *http.Request) (http.ResponseWriter, *http.Request) {
	body := &capturedBody{ReadCloser: r.Body}
	r = r.Clone(r.Context())
	r.Body = body
	return &subjectWriter{ResponseWriter: w, body: body}, r
}

// capturedBody keeps a copy of the first maxManifestSize bytes read.
type capturedBody struct {
	io.ReadCloser
	buf bytes.Buffer
}

func (c *capturedBody) Read(p []byte) (int, error) {
	n, err := c.ReadCloser.Read(p)
	if room := maxManifestSize - c.buf.Len(); room > 0 {
		c.buf.Write(p[:min(n, room)])
	}
	return n, err
}

// subjectWriter adds OCI-Subject to a successful manifest push.
type subjectWriter struct {
	http.ResponseWriter
	body *capturedBody
}

func (s *subjectWriter) WriteHeader(code int) {
	if code == http.StatusCreated {
		var m struct {
			Subject *struct {
				Digest digest.Digest `json:"digest"`
			} `json:"subject"`
		}
		if json.Unmarshal(s.body.buf.Bytes(), &m) == nil && m.Subject != nil && m.Subject.Digest != "" {
			s.Header().Set("OCI-Subject", m.Subject.Digest.String())
		}
	}
	s.ResponseWriter.WriteHeader(code)
}

func (s *subjectWriter) Unwrap() http.ResponseWriter { return s.ResponseWriter }
