package storage

import (
	"bytes"
	"compress/gzip"
	"context"
	"crypto/sha256"
	"encoding/base64"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"sort"
	"strconv"
	"time"

	"helm.sh/helm/v3/pkg/release"
	helmtime "helm.sh/helm/v3/pkg/time"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/apis/meta/v1/unstructured"
	"k8s.io/apimachinery/pkg/labels"
	"k8s.io/client-go/dynamic"
	"k8s.io/client-go/kubernetes/scheme"
	"k8s.io/client-go/metadata"
	"k8s.io/client-go/rest"
)

// ErrNotFound says a release or revision does not exist.
var ErrNotFound = errors.New("not found")

// Labels and annotations of a revision object: its index.
const (
	LabelRelease  = "berth.dev/release"
	LabelRevision = "berth.dev/revision"
	LabelStatus   = "berth.dev/status"
	labelOwner    = "owner"

	annotationChart       = "berth.dev/chart"
	annotationAppVersion  = "berth.dev/app-version"
	annotationUpdated     = "berth.dev/updated"
	annotationDescription = "berth.dev/description"
)

// maxInline is the largest encoded body kept in the revision object itself; a
// larger one goes into chunks of this size, well under the API server's request
// limit (3 MiB) and etcd's value limit (1.5 MiB).
const maxInline = 768 << 10

// Store keeps release revisions in the API server.
type Store struct {
	revisions dynamic.NamespaceableResourceInterface
	chunks    dynamic.NamespaceableResourceInterface
	metadata  metadata.Getter
	index     *index
	now       func() time.Time
}

// New returns a store in the API server of config.
func New(config *rest.Config) (*Store, error) {
	dyn, err := dynamic.NewForConfig(config)
	if err != nil {
		return nil, err
	}
	meta, err := metadata.NewForConfig(config)
	if err != nil {
		return nil, err
	}
	raw, err := rest.UnversionedRESTClientFor(withJSON(config))
	if err != nil {
		return nil, err
	}
	return &Store{
		revisions: dyn.Resource(revisionsResource),
		chunks:    dyn.Resource(chunksResource),
		metadata:  meta.Resource(revisionsResource),
		index:     &index{objects: dyn.Resource(indexesResource), raw: raw},
		now:       time.Now,
	}, nil
}

// withJSON is config for a client that reads raw JSON bodies.
func withJSON(config *rest.Config) *rest.Config {
	c := rest.CopyConfig(config)
	c.ContentType, c.AcceptContentTypes = "application/json", "application/json"
	c.NegotiatedSerializer = scheme.Codecs.WithoutConversion()
	return c
}

// Summary is what the index says of a revision, without its body.
type Summary struct {
	Name, Namespace string
	Revision        int
	Status          release.Status
	Chart           string // name-version
	AppVersion      string
	Description     string
	Updated         time.Time
}

// LastDeployed is the newest deployed revision of a history, nil if none.
func LastDeployed(history []Summary) *Summary {
	for i := len(history) - 1; i >= 0; i-- {
		if history[i].Status == release.StatusDeployed {
			return &history[i]
		}
	}
	return nil
}

func objectName(name string, revision int) string {
	return fmt.Sprintf("%s.v%d", name, revision)
}

// Create stores a new revision; it fails if the revision exists.
func (s *Store) Create(ctx context.Context, rel *release.Release) error {
	body, err := encode(rel)
	if err != nil {
		return fmt.Errorf("encoding release %s revision %d: %w", rel.Name, rel.Version, err)
	}
	obj := s.revisionObject(rel)
	if err := s.setBody(ctx, obj, rel, body, 0); err != nil {
		return err
	}
	if _, err := s.revisions.Namespace(rel.Namespace).Create(ctx, obj, metav1.CreateOptions{}); err != nil {
		if apierrors.IsAlreadyExists(err) {
			return fmt.Errorf("release %q revision %d already exists", rel.Name, rel.Version)
		}
		return fmt.Errorf("storing release %s revision %d: %w", rel.Name, rel.Version, err)
	}
	return s.index.put(ctx, summaryOf(obj))
}

// setBody puts body into the revision object, inline or, written first so that a
// revision is visible only once all of its body is, in chunks; chunks an earlier
// body had beyond the new count are deleted.
func (s *Store) setBody(ctx context.Context, obj *unstructured.Unstructured, rel *release.Release, body string, oldChunks int) error {
	spec := obj.Object["spec"].(map[string]any)
	spec["bodyHash"] = hash(body)
	n := 0
	if len(body) <= maxInline {
		spec["body"] = body
		delete(spec, "chunks")
	} else {
		var err error
		if n, err = s.writeChunks(ctx, rel, body); err != nil {
			return err
		}
		spec["chunks"] = int64(n)
		delete(spec, "body")
	}
	for i := n; i < oldChunks; i++ {
		err := s.chunks.Namespace(rel.Namespace).Delete(ctx, chunkName(rel.Name, rel.Version, i), metav1.DeleteOptions{})
		if err != nil && !apierrors.IsNotFound(err) {
			return fmt.Errorf("deleting part %d of release %s revision %d: %w", i, rel.Name, rel.Version, err)
		}
	}
	return nil
}

func chunkName(name string, revision, i int) string {
	return fmt.Sprintf("%s.c%d", objectName(name, revision), i)
}

func hash(body string) string {
	sum := sha256.Sum256([]byte(body))
	return hex.EncodeToString(sum[:])
}

func (s *Store) writeChunks(ctx context.Context, rel *release.Release, body string) (int, error) {
	n := 0
	for start := 0; start < len(body); start += maxInline {
		end := min(start+maxInline, len(body))
		chunk := &unstructured.Unstructured{Object: map[string]any{
			"apiVersion": chunksResource.GroupVersion().String(),
			"kind":       "ReleaseRevisionChunk",
			"metadata": map[string]any{
				"name":      chunkName(rel.Name, rel.Version, n),
				"namespace": rel.Namespace,
				"labels": map[string]any{
					LabelRelease:  rel.Name,
					LabelRevision: strconv.Itoa(rel.Version),
				},
			},
			"spec": map[string]any{"index": int64(n), "data": body[start:end]},
		}}
		if err := s.putChunk(ctx, rel.Namespace, chunk); err != nil {
			return 0, fmt.Errorf("storing part %d of release %s revision %d: %w", n, rel.Name, rel.Version, err)
		}
		n++
	}
	return n, nil
}

// putChunk creates a chunk or replaces the one of the same name.
func (s *Store) putChunk(ctx context.Context, namespace string, chunk *unstructured.Unstructured) error {
	client := s.chunks.Namespace(namespace)
	_, err := client.Create(ctx, chunk, metav1.CreateOptions{})
	if !apierrors.IsAlreadyExists(err) {
		return err
	}
	current, err := client.Get(ctx, chunk.GetName(), metav1.GetOptions{})
	if err != nil {
		return err
	}
	chunk.SetResourceVersion(current.GetResourceVersion())
	_, err = client.Update(ctx, chunk, metav1.UpdateOptions{})
	return err
}

// revisionObject is a revision's object without its body. What can change during
// the revision's life (status, description, timestamps) lives here, not in the
// body, so that an update never rewrites a large body.
func (s *Store) revisionObject(rel *release.Release) *unstructured.Unstructured {
	chartName, appVersion := "", ""
	if rel.Chart != nil && rel.Chart.Metadata != nil {
		chartName = rel.Chart.Metadata.Name + "-" + rel.Chart.Metadata.Version
		appVersion = rel.Chart.Metadata.AppVersion
	}
	info := rel.Info
	if info == nil {
		info = &release.Info{}
	}
	updated := info.LastDeployed.Time
	if updated.IsZero() {
		updated = s.now()
	}
	spec := map[string]any{
		"release":     rel.Name,
		"revision":    int64(rel.Version),
		"status":      string(info.Status),
		"chart":       chartName,
		"appVersion":  appVersion,
		"description": info.Description,
	}
	for field, t := range map[string]helmtime.Time{"firstDeployed": info.FirstDeployed, "lastDeployed": info.LastDeployed, "deleted": info.Deleted} {
		if !t.IsZero() {
			spec[field] = t.UTC().Format(time.RFC3339Nano)
		}
	}
	return &unstructured.Unstructured{Object: map[string]any{
		"apiVersion": revisionsResource.GroupVersion().String(),
		"kind":       "ReleaseRevision",
		"metadata": map[string]any{
			"name":      objectName(rel.Name, rel.Version),
			"namespace": rel.Namespace,
			"labels": map[string]any{
				LabelRelease:  rel.Name,
				LabelRevision: strconv.Itoa(rel.Version),
				LabelStatus:   string(info.Status),
				labelOwner:    "berth",
			},
			"annotations": map[string]any{
				annotationChart:       chartName,
				annotationAppVersion:  appVersion,
				annotationUpdated:     updated.UTC().Format(time.RFC3339Nano),
				annotationDescription: info.Description,
			},
		},
		"spec": spec,
	}}
}

// Update records what changed of a stored revision. Status, description and
// timestamps live in the revision object; the body is rewritten only if the rest
// changed (hooks record when they last ran).
func (s *Store) Update(ctx context.Context, rel *release.Release) error {
	client := s.revisions.Namespace(rel.Namespace)
	name := objectName(rel.Name, rel.Version)
	current, err := client.Get(ctx, name, metav1.GetOptions{})
	if apierrors.IsNotFound(err) {
		return fmt.Errorf("release %q revision %d: %w", rel.Name, rel.Version, ErrNotFound)
	}
	if err != nil {
		return fmt.Errorf("reading release %s revision %d: %w", rel.Name, rel.Version, err)
	}
	body, err := encode(rel)
	if err != nil {
		return fmt.Errorf("encoding release %s revision %d: %w", rel.Name, rel.Version, err)
	}
	want := s.revisionObject(rel)
	spec := want.Object["spec"].(map[string]any)
	oldSpec, _, _ := unstructured.NestedMap(current.Object, "spec")
	oldChunks, _, _ := unstructured.NestedInt64(current.Object, "spec", "chunks")
	if oldSpec["bodyHash"] == hash(body) {
		for _, field := range []string{"body", "chunks", "bodyHash"} {
			if v, ok := oldSpec[field]; ok {
				spec[field] = v
			}
		}
	} else if err := s.setBody(ctx, want, rel, body, int(oldChunks)); err != nil {
		return err
	}
	current.Object["spec"] = spec
	current.SetLabels(want.GetLabels())
	current.SetAnnotations(want.GetAnnotations())
	if _, err := client.Update(ctx, current, metav1.UpdateOptions{}); err != nil {
		return fmt.Errorf("updating release %s revision %d: %w", rel.Name, rel.Version, err)
	}
	return s.index.put(ctx, summaryOf(want))
}

// Get reads one revision, body and all.
func (s *Store) Get(ctx context.Context, namespace, name string, revision int) (*release.Release, error) {
	obj, err := s.revisions.Namespace(namespace).Get(ctx, objectName(name, revision), metav1.GetOptions{})
	if apierrors.IsNotFound(err) {
		return nil, fmt.Errorf("release %q revision %d: %w", name, revision, ErrNotFound)
	}
	if err != nil {
		return nil, fmt.Errorf("reading release %s revision %d: %w", name, revision, err)
	}
	body, _, _ := unstructured.NestedString(obj.Object, "spec", "body")
	if n, ok, _ := unstructured.NestedInt64(obj.Object, "spec", "chunks"); ok && n > 0 {
		if body, err = s.readChunks(ctx, namespace, name, revision, int(n)); err != nil {
			return nil, err
		}
	}
	rel, err := decode(body)
	if err != nil {
		return nil, fmt.Errorf("decoding release %s revision %d: %w", name, revision, err)
	}
	applyIndex(rel, obj)
	return rel, nil
}

func (s *Store) readChunks(ctx context.Context, namespace, name string, revision, n int) (string, error) {
	var body bytes.Buffer
	for i := 0; i < n; i++ {
		chunk, err := s.chunks.Namespace(namespace).Get(ctx, chunkName(name, revision, i), metav1.GetOptions{})
		if err != nil {
			return "", fmt.Errorf("reading part %d of release %s revision %d: %w", i, name, revision, err)
		}
		data, _, _ := unstructured.NestedString(chunk.Object, "spec", "data")
		body.WriteString(data)
	}
	return body.String(), nil
}

// applyIndex sets on rel what lives in the revision object rather than the body.
func applyIndex(rel *release.Release, obj *unstructured.Unstructured) {
	if rel.Info == nil {
		rel.Info = &release.Info{}
	}
	spec, _, _ := unstructured.NestedMap(obj.Object, "spec")
	if status, ok := spec["status"].(string); ok {
		rel.Info.Status = release.Status(status)
	}
	if d, ok := spec["description"].(string); ok {
		rel.Info.Description = d
	}
	for field, dst := range map[string]*helmtime.Time{"firstDeployed": &rel.Info.FirstDeployed, "lastDeployed": &rel.Info.LastDeployed, "deleted": &rel.Info.Deleted} {
		if v, ok := spec[field].(string); ok {
			if t, err := time.Parse(time.RFC3339Nano, v); err == nil {
				*dst = helmtime.Time{Time: t}
			}
		}
	}
}

// History lists the revisions of a release from the index, oldest first.
func (s *Store) History(ctx context.Context, namespace, name string) ([]Summary, error) {
	all, err := s.list(ctx, namespace, labels.Set{LabelRelease: name}.AsSelector())
	if err != nil {
		return nil, err
	}
	if len(all) == 0 {
		return nil, fmt.Errorf("release %q: %w", name, ErrNotFound)
	}
	return all, nil
}

// Heads lists the newest revision of every release in namespace ("" for all)
// from the namespace's release index, ordered by namespace and name: it reads a
// few small objects however many releases and revisions there are.
func (s *Store) Heads(ctx context.Context, namespace string) ([]Summary, error) {
	return s.index.heads(ctx, namespace)
}

func (s *Store) list(ctx context.Context, namespace string, selector labels.Selector) ([]Summary, error) {
	list, err := s.metadata.Namespace(namespace).List(ctx, metav1.ListOptions{LabelSelector: selector.String()})
	if apierrors.IsNotFound(err) {
		return nil, nil // nothing was ever stored: the resource is not even defined
	}
	if err != nil {
		return nil, fmt.Errorf("listing releases: %w", err)
	}
	out := make([]Summary, 0, len(list.Items))
	for _, item := range list.Items {
		if sum, ok := summaryFromMeta(item.Namespace, item.Labels, item.Annotations); ok {
			out = append(out, sum)
		}
	}
	sort.Slice(out, func(i, j int) bool {
		a, b := out[i], out[j]
		if a.Namespace != b.Namespace {
			return a.Namespace < b.Namespace
		}
		if a.Name != b.Name {
			return a.Name < b.Name
		}
		return a.Revision < b.Revision
	})
	return out, nil
}

// Delete removes a revision and its chunks.
func (s *Store) Delete(ctx context.Context, namespace, name string, revision int) error {
	if err := s.deleteRevision(ctx, namespace, name, revision); err != nil {
		return err
	}
	// The index follows: the newest remaining revision, or none.
	rest, err := s.list(ctx, namespace, labels.Set{LabelRelease: name}.AsSelector())
	if err != nil {
		return err
	}
	if len(rest) == 0 {
		return s.index.remove(ctx, namespace, name)
	}
	return s.index.put(ctx, rest[len(rest)-1])
}

func (s *Store) deleteRevision(ctx context.Context, namespace, name string, revision int) error {
	err := s.revisions.Namespace(namespace).Delete(ctx, objectName(name, revision), metav1.DeleteOptions{})
	if err != nil && !apierrors.IsNotFound(err) {
		return fmt.Errorf("deleting release %s revision %d: %w", name, revision, err)
	}
	selector := labels.Set{LabelRelease: name, LabelRevision: strconv.Itoa(revision)}.AsSelector().String()
	if err := s.chunks.Namespace(namespace).DeleteCollection(ctx, metav1.DeleteOptions{}, metav1.ListOptions{LabelSelector: selector}); err != nil && !apierrors.IsNotFound(err) {
		return fmt.Errorf("deleting the parts of release %s revision %d: %w", name, revision, err)
	}
	return nil
}

// encode is the release as Helm serialises it (JSON), gzip-compressed and
// base64-encoded, without what the revision object keeps (status, description,
// timestamps), so that the body changes only when the release's content does.
func encode(rel *release.Release) (string, error) {
	body := *rel
	if rel.Info != nil {
		body.Info = &release.Info{Notes: rel.Info.Notes, Resources: rel.Info.Resources}
	}
	raw, err := json.Marshal(&body)
	if err != nil {
		return "", err
	}
	var buf bytes.Buffer
	zw := gzip.NewWriter(&buf)
	if _, err := zw.Write(raw); err != nil {
		return "", err
	}
	if err := zw.Close(); err != nil {
		return "", err
	}
	return base64.StdEncoding.EncodeToString(buf.Bytes()), nil
}

func decode(body string) (*release.Release, error) {
	raw, err := base64.StdEncoding.DecodeString(body)
	if err != nil {
		return nil, err
	}
	zr, err := gzip.NewReader(bytes.NewReader(raw))
	if err != nil {
		return nil, err
	}
	data, err := io.ReadAll(zr)
	if err != nil {
		return nil, err
	}
	var rel release.Release
	if err := json.Unmarshal(data, &rel); err != nil {
		return nil, err
	}
	return &rel, nil
}
