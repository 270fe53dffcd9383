package podcontrol

import (
	"bytes"
	"cmp"
	"context"
	"encoding/json"
	"fmt"
	"hash/fnv"
	"maps"
	"slices"
	"strconv"

	appsv1 "k8s.io/api/apps/v1"
	corev1 "k8s.io/api/core/v1"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/runtime"
	"k8s.io/apimachinery/pkg/runtime/schema"
	"k8s.io/apimachinery/pkg/util/rand"
	"k8s.io/client-go/kubernetes"
)

// maxRevisionPrefix keeps a revision's name, "<owner>-<hash>", within the 253
// characters of an object name: a hash takes at most 10 and the dash one.
const maxRevisionPrefix = 223

// TemplatePatch is the strategic merge patch that sets an object's
// spec.template to template, replacing it whole. It is what a DaemonSet's or
// StatefulSet's ControllerRevision stores: kubectl rollout history shows it and
// kubectl rollout undo applies it to the object.
func TemplatePatch(template *corev1.PodTemplateSpec) ([]byte, error) {
	// Through a map, so that the keys come out sorted and the bytes, and so the
	// hash, depend on the template only.
	raw, err := json.Marshal(template)
	if err != nil {
		return nil, fmt.Errorf("encoding the pod template: %w", err)
	}
	var t map[string]any
	if err := json.Unmarshal(raw, &t); err != nil {
		return nil, fmt.Errorf("decoding the pod template: %w", err)
	}
	t["$patch"] = "replace"
	return json.Marshal(map[string]any{"spec": map[string]any{"template": t}})
}

// HashRevision hashes a revision's data, and collisionCount when not nil, into
// the short string that names it.
func HashRevision(rev *appsv1.ControllerRevision, collisionCount *int32) string {
	h := fnv.New32()
	h.Write(rev.Data.Raw)
	if collisionCount != nil {
		h.Write([]byte(strconv.FormatInt(int64(*collisionCount), 10)))
	}
	return rand.SafeEncodeString(strconv.FormatUint(uint64(h.Sum32()), 10))
}

// revisionName is the name of owner's revision with hash.
func revisionName(owner, hash string) string {
	if len(owner) > maxRevisionPrefix {
		owner = owner[:maxRevisionPrefix]
	}
	return owner + "-" + hash
}

// NewRevision returns revision number n of owner (of kind gvk), holding
// template as TemplatePatch, labeled like the template plus
// controller-revision-hash, and named for its hash with collisionCount.
func NewRevision(owner metav1.Object, gvk schema.GroupVersionKind, template *corev1.PodTemplateSpec, n int64, collisionCount *int32) (*appsv1.ControllerRevision, error) {
	patch, err := TemplatePatch(template)
	if err != nil {
		return nil, err
	}
	rev := &appsv1.ControllerRevision{
		ObjectMeta: metav1.ObjectMeta{
			Namespace:       owner.GetNamespace(),
			Labels:          maps.Clone(template.Labels),
			OwnerReferences: []metav1.OwnerReference{*metav1.NewControllerRef(owner, gvk)},
		},
		Data:     runtime.RawExtension{Raw: patch},
		Revision: n,
	}
	if rev.Labels == nil {
		rev.Labels = map[string]string{}
	}
	nameRevision(rev, owner.GetName(), collisionCount)
	return rev, nil
}

func nameRevision(rev *appsv1.ControllerRevision, owner string, collisionCount *int32) {
	hash := HashRevision(rev, collisionCount)
	rev.Name = revisionName(owner, hash)
	rev.Labels[appsv1.ControllerRevisionHashLabelKey] = hash
}

// CreateRevision creates rev, made by NewRevision for the owner named owner.
// When its name is taken by a revision with the same data, that one is
// returned: an earlier sync made it. When it is taken by a different revision,
// a hash collision, it increments *collisionCount, renames rev and tries
// again; the caller must then store the count in its object's status so that
// the names stay stable.
func CreateRevision(ctx context.Context, client kubernetes.Interface, owner string, rev *appsv1.ControllerRevision, collisionCount *int32) (*appsv1.ControllerRevision, error) {
	if collisionCount == nil {
		return nil, fmt.Errorf("creating revision of %s/%s: no collision count to update", rev.Namespace, owner)
	}
	revisions := client.AppsV1().ControllerRevisions(rev.Namespace)
	for {
		try := rev.DeepCopy()
		nameRevision(try, owner, collisionCount)
		created, err := revisions.Create(ctx, try, metav1.CreateOptions{})
		if !apierrors.IsAlreadyExists(err) {
			if err != nil {
				return nil, fmt.Errorf("creating revision %s/%s: %w", try.Namespace, try.Name, err)
			}
			return created, nil
		}
		existing, err := revisions.Get(ctx, try.Name, metav1.GetOptions{})
		if err != nil {
			return nil, fmt.Errorf("reading revision %s/%s: %w", try.Namespace, try.Name, err)
		}
		if bytes.Equal(existing.Data.Raw, try.Data.Raw) {
			return existing, nil
		}
		*collisionCount++
	}
}

// SetRevisionNumber renumbers rev to n, when an old revision becomes the
// newest again (a rollback), so that history lists it last.
func SetRevisionNumber(ctx context.Context, client kubernetes.Interface, rev *appsv1.ControllerRevision, n int64) (*appsv1.ControllerRevision, error) {
	if rev.Revision == n {
		return rev, nil
	}
	clone := rev.DeepCopy()
	clone.Revision = n
	updated, err := client.AppsV1().ControllerRevisions(rev.Namespace).Update(ctx, clone, metav1.UpdateOptions{})
	if err != nil {
		return nil, fmt.Errorf("renumbering revision %s/%s to %d: %w", rev.Namespace, rev.Name, n, err)
	}
	return updated, nil
}

// SortRevisions sorts revisions oldest first: by number, then creation, then
// name.
func SortRevisions(revisions []*appsv1.ControllerRevision) {
	slices.SortStableFunc(revisions, func(a, b *appsv1.ControllerRevision) int {
		return cmp.Or(
			cmp.Compare(a.Revision, b.Revision),
			a.CreationTimestamp.Time.Compare(b.CreationTimestamp.Time),
			cmp.Compare(a.Name, b.Name))
	})
}

// NextRevision is the number after the highest of revisions, 1 if none.
func NextRevision(revisions []*appsv1.ControllerRevision) int64 {
	var n int64
	for _, r := range revisions {
		n = max(n, r.Revision)
	}
	return n + 1
}
