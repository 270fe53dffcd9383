package gitops

import (
	"context"
	"encoding/json"
	"fmt"
	"slices"

	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/apis/meta/v1/unstructured"
	"k8s.io/apimachinery/pkg/labels"
	"k8s.io/apimachinery/pkg/types"
	"k8s.io/client-go/dynamic"
	"k8s.io/utils/ptr"
)

// Finalizer keeps a Release until its release is uninstalled.
const Finalizer = "berth.dev/uninstall"

// Store reads and writes Release objects through the API server.
type Store struct {
	client       dynamic.Interface
	fieldManager string
}

// NewStore returns a Store applying Releases as fieldManager.
func NewStore(client dynamic.Interface, fieldManager string) *Store {
	return &Store{client: client, fieldManager: fieldManager}
}

// Apply server-side applies rel's metadata (labels, annotations, the
// finalizer) and spec, and returns the stored Release.
func (s *Store) Apply(ctx context.Context, rel *Release) (*Release, error) {
	body := &Release{
		TypeMeta:   metav1.TypeMeta{APIVersion: "berth.dev/v1", Kind: "Release"},
		ObjectMeta: metav1.ObjectMeta{Name: rel.Name, Namespace: rel.Namespace, Labels: rel.Labels, Annotations: rel.Annotations, Finalizers: []string{Finalizer}},
		Spec:       rel.Spec,
	}
	u, err := ToUnstructured(body)
	if err != nil {
		return nil, err
	}
	unstructured.RemoveNestedField(u.Object, "status")
	unstructured.RemoveNestedField(u.Object, "metadata", "creationTimestamp")
	data, err := json.Marshal(u.Object)
	if err != nil {
		return nil, fmt.Errorf("encoding Release %s/%s: %w", rel.Namespace, rel.Name, err)
	}
	out, err := s.client.Resource(ReleasesResource()).Namespace(rel.Namespace).Patch(ctx, rel.Name, types.ApplyPatchType, data,
		metav1.PatchOptions{FieldManager: s.fieldManager, Force: ptr.To(true)})
	if err != nil {
		return nil, fmt.Errorf("applying Release %s/%s: %w", rel.Namespace, rel.Name, err)
	}
	return decode(out)
}

// List returns the Releases of namespace ("" for all) that selector selects.
func (s *Store) List(ctx context.Context, namespace string, selector labels.Selector) ([]*Release, error) {
	list, err := s.client.Resource(ReleasesResource()).Namespace(namespace).List(ctx, metav1.ListOptions{LabelSelector: selector.String()})
	if err != nil {
		return nil, fmt.Errorf("listing Releases: %w", err)
	}
	out := make([]*Release, 0, len(list.Items))
	for i := range list.Items {
		rel, err := decode(&list.Items[i])
		if err != nil {
			return nil, err
		}
		out = append(out, rel)
	}
	return out, nil
}

// Get reads a Release.
func (s *Store) Get(ctx context.Context, namespace, name string) (*Release, error) {
	u, err := s.client.Resource(ReleasesResource()).Namespace(namespace).Get(ctx, name, metav1.GetOptions{})
	if err != nil {
		return nil, err
	}
	return decode(u)
}

// UpdateStatus writes rel's status.
func (s *Store) UpdateStatus(ctx context.Context, rel *Release) (*Release, error) {
	u, err := ToUnstructured(rel)
	if err != nil {
		return nil, err
	}
	u.SetAPIVersion("berth.dev/v1")
	u.SetKind("Release")
	out, err := s.client.Resource(ReleasesResource()).Namespace(rel.Namespace).UpdateStatus(ctx, u, metav1.UpdateOptions{FieldManager: s.fieldManager})
	if err != nil {
		return nil, fmt.Errorf("writing the status of Release %s/%s: %w", rel.Namespace, rel.Name, err)
	}
	return decode(out)
}

// Delete deletes a Release; its finalizer holds it until DropFinalizer.
func (s *Store) Delete(ctx context.Context, rel *Release) error {
	err := s.client.Resource(ReleasesResource()).Namespace(rel.Namespace).Delete(ctx, rel.Name, metav1.DeleteOptions{Preconditions: &metav1.Preconditions{UID: &rel.UID}})
	if err != nil {
		return fmt.Errorf("deleting Release %s/%s: %w", rel.Namespace, rel.Name, err)
	}
	return nil
}

// AddFinalizer makes a Release wait for its release's uninstall when it is
// deleted.
func (s *Store) AddFinalizer(ctx context.Context, rel *Release) error {
	return s.setFinalizers(ctx, rel, append(slices.Clone(rel.Finalizers), Finalizer))
}

// DropFinalizer lets a Release whose release is uninstalled go.
func (s *Store) DropFinalizer(ctx context.Context, rel *Release) error {
	if !slices.Contains(rel.Finalizers, Finalizer) {
		return nil
	}
	return s.setFinalizers(ctx, rel, slices.DeleteFunc(slices.Clone(rel.Finalizers), func(f string) bool { return f == Finalizer }))
}

// setFinalizers writes a Release's finalizers, if it was not changed since
// it was read.
func (s *Store) setFinalizers(ctx context.Context, rel *Release, finalizers []string) error {
	patch, err := json.Marshal(map[string]any{"metadata": map[string]any{"finalizers": finalizers, "resourceVersion": rel.ResourceVersion}})
	if err != nil {
		return err
	}
	_, err = s.client.Resource(ReleasesResource()).Namespace(rel.Namespace).Patch(ctx, rel.Name, types.MergePatchType, patch, metav1.PatchOptions{})
	if err != nil {
		return fmt.Errorf("writing the finalizers of Release %s/%s: %w", rel.Namespace, rel.Name, err)
	}
	return nil
}

func decode(u *unstructured.Unstructured) (*Release, error) {
	rel := &Release{}
	if err := FromUnstructured(u, rel); err != nil {
		return nil, fmt.Errorf("decoding Release %s/%s: %w", u.GetNamespace(), u.GetName(), err)
	}
	return rel, nil
}
