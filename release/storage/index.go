package storage

import (
	"context"
	"encoding/json"
	"fmt"
	"hash/fnv"
	"sort"
	"strconv"
	"time"

	"helm.sh/helm/v3/pkg/release"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/apis/meta/v1/unstructured"
	"k8s.io/apimachinery/pkg/types"
	"k8s.io/client-go/dynamic"
	"k8s.io/client-go/rest"
)

// indexShards is how many ReleaseIndex objects a namespace's index is spread
// over, by a hash of the release name: each stays far below an object's size
// limit for tens of thousands of releases, and writers of different releases
// seldom contend for the same one.
const indexShards = 64

// index keeps, per namespace, the summary of every release's newest revision,
// so that listing releases reads a few objects, not one per revision. The
// revisions are the truth; the index follows each write of one.
type index struct {
	objects dynamic.NamespaceableResourceInterface
	// raw reads the index as JSON into typed entries: decoding it into
	// unstructured maps would cost more than the rest of a list.
	raw rest.Interface
}

func shardOf(name string) string {
	h := fnv.New32a()
	h.Write([]byte(name))
	return "releases-" + strconv.Itoa(int(h.Sum32()%indexShards))
}

// put records s as its release's newest revision. The entry is merged into its
// shard by a JSON merge patch, which the API server applies to whatever version
// is stored: writers of different releases never conflict, and those of one
// release are serialised by its lock.
func (x *index) put(ctx context.Context, s Summary) error {
	entry := map[string]any{
		"revision":    int64(s.Revision),
		"status":      string(s.Status),
		"chart":       s.Chart,
		"appVersion":  s.AppVersion,
		"description": s.Description,
		"updated":     s.Updated.UTC().Format(time.RFC3339Nano),
	}
	return x.merge(ctx, s.Namespace, s.Name, entry)
}

// remove forgets a release.
func (x *index) remove(ctx context.Context, namespace, name string) error {
	return x.merge(ctx, namespace, name, nil)
}

// merge sets (or, for nil, deletes) the entry of name in its shard, creating
// the shard on first use.
func (x *index) merge(ctx context.Context, namespace, name string, entry map[string]any) error {
	client := x.objects.Namespace(namespace)
	shard := shardOf(name)
	patch, err := json.Marshal(map[string]any{"spec": map[string]any{"releases": map[string]any{name: entry}}})
	if err != nil {
		return err
	}
	for attempt := 0; attempt < 2; attempt++ {
		_, err = client.Patch(ctx, shard, types.MergePatchType, patch, metav1.PatchOptions{})
		if !apierrors.IsNotFound(err) {
			break
		}
		if entry == nil {
			return nil // nothing to forget
		}
		obj := &unstructured.Unstructured{Object: map[string]any{
			"apiVersion": indexesResource.GroupVersion().String(),
			"kind":       "ReleaseIndex",
			"metadata":   map[string]any{"name": shard, "namespace": namespace, "labels": map[string]any{labelOwner: "berth"}},
			"spec":       map[string]any{"releases": map[string]any{name: entry}},
		}}
		_, err = client.Create(ctx, obj, metav1.CreateOptions{})
		if !apierrors.IsAlreadyExists(err) {
			break // created, or failed; if another writer created it first, patch it
		}
	}
	if err != nil {
		return fmt.Errorf("updating the release index of namespace %s: %w", namespace, err)
	}
	return nil
}

// indexList is the part of a ReleaseIndexList that listing reads.
type indexList struct {
	Items []struct {
		Metadata struct {
			Namespace string `json:"namespace"`
		} `json:"metadata"`
		Spec struct {
			Releases map[string]indexEntry `json:"releases"`
		} `json:"spec"`
	} `json:"items"`
}

type indexEntry struct {
	Revision    int       `json:"revision"`
	Status      string    `json:"status"`
	Chart       string    `json:"chart"`
	AppVersion  string    `json:"appVersion"`
	Description string    `json:"description"`
	Updated     time.Time `json:"updated"`
}

// heads lists the index entries of namespace ("" for every namespace).
func (x *index) heads(ctx context.Context, namespace string) ([]Summary, error) {
	path := "/apis/" + indexesResource.GroupVersion().String() + "/" + indexesResource.Resource
	if namespace != "" {
		path = "/apis/" + indexesResource.GroupVersion().String() + "/namespaces/" + namespace + "/" + indexesResource.Resource
	}
	body, err := x.raw.Get().AbsPath(path).DoRaw(ctx)
	if apierrors.IsNotFound(err) {
		return nil, nil // nothing was ever stored: the resource is not even defined
	}
	if err != nil {
		return nil, fmt.Errorf("listing releases: %w", err)
	}
	var list indexList
	if err := json.Unmarshal(body, &list); err != nil {
		return nil, fmt.Errorf("reading the release index: %w", err)
	}
	var out []Summary
	for _, item := range list.Items {
		for name, e := range item.Spec.Releases {
			out = append(out, Summary{
				Name: name, Namespace: item.Metadata.Namespace, Revision: e.Revision,
				Status: release.Status(e.Status), Chart: e.Chart, AppVersion: e.AppVersion,
				Description: e.Description, Updated: e.Updated,
			})
		}
	}
	sort.Slice(out, func(i, j int) bool {
		if out[i].Namespace != out[j].Namespace {
			return out[i].Namespace < out[j].Namespace
		}
		return out[i].Name < out[j].Name
	})
	return out, nil
}

// summaryOf is the index entry of a revision object.
func summaryOf(obj *unstructured.Unstructured) Summary {
	s, _ := summaryFromMeta(obj.GetNamespace(), obj.GetLabels(), obj.GetAnnotations())
	return s
}

// summaryFromMeta reads a revision's summary from its labels and annotations.
func summaryFromMeta(namespace string, labels, annotations map[string]string) (Summary, bool) {
	revision, err := strconv.Atoi(labels[LabelRevision])
	if err != nil {
		return Summary{}, false // not a revision berth wrote
	}
	updated, _ := time.Parse(time.RFC3339Nano, annotations[annotationUpdated])
	return Summary{
		Name:        labels[LabelRelease],
		Namespace:   namespace,
		Revision:    revision,
		Status:      release.Status(labels[LabelStatus]),
		Chart:       annotations[annotationChart],
		AppVersion:  annotations[annotationAppVersion],
		Description: annotations[annotationDescription],
		Updated:     updated,
	}, true
}
