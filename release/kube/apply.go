package kube

import (
	"context"
	"errors"
	"fmt"
	"maps"
	"strings"

	apierrors "k8s.io/apimachinery/pkg/api/errors"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/apis/meta/v1/unstructured"
	"k8s.io/apimachinery/pkg/types"
	"k8s.io/utils/ptr"
)

// Owner is the release objects are applied for.
type Owner struct {
	ReleaseName, ReleaseNamespace string
}

func (o Owner) validate() error {
	if o.ReleaseName == "" || o.ReleaseNamespace == "" {
		return fmt.Errorf("owner needs a release name and namespace, got %q in %q", o.ReleaseName, o.ReleaseNamespace)
	}
	return nil
}

// ApplyOptions changes how Apply works.
type ApplyOptions struct {
	// DryRun asks the server to validate and compute every change without
	// storing any (server-side dry run).
	DryRun bool
	// Force replaces an object whose update the server refuses as invalid (a
	// changed immutable field, such as a Job's template or a Service's
	// clusterIP): it is deleted, gone, and created again, as helm --force.
	Force bool
}

// ErrNotOwned is matched (errors.Is) by the error Apply returns when an object
// exists in the cluster without belonging to the release.
var ErrNotOwned = errors.New("object exists and is not owned by the release")

// OwnershipError says why an existing object cannot be taken over by a release.
// Its message is Helm's, word for word.
type OwnershipError struct {
	Kind, Name, Namespace string
	// Problems are the ownership metadata that are missing or wrong, as Helm
	// words them (`annotation validation error: key ... must equal ...`).
	Problems []string
}

func (e *OwnershipError) Error() string {
	return fmt.Sprintf("%s %q in namespace %q exists and cannot be imported into the current release: invalid ownership metadata; %s",
		e.Kind, e.Name, e.Namespace, strings.Join(e.Problems, "; "))
}

// Is makes errors.Is(err, ErrNotOwned) true.
func (e *OwnershipError) Is(target error) bool { return target == ErrNotOwned }

// Apply creates or updates objects, in the given order, by server-side apply
// as the client's field manager with force: berth owns what the manifest says,
// fields the manifest no longer sets are removed if berth set them, and fields
// set by others survive. Each object gets Helm's ownership metadata (label
// app.kubernetes.io/managed-by=Helm, annotations meta.helm.sh/release-name and
// meta.helm.sh/release-namespace).
//
// Before changing anything it reads every object: if one exists without that
// metadata, or with another release's, Apply returns an *OwnershipError for each
// such object (joined) and changes nothing. Callers sort objects in Helm's
// install order.
func (c *Client) Apply(ctx context.Context, objs []Object, owner Owner, opts ApplyOptions) error {
	if err := owner.validate(); err != nil {
		return fmt.Errorf("applying objects: %w", err)
	}
	if err := c.checkOwnership(ctx, objs, owner); err != nil {
		return err
	}
	for _, o := range objs {
		if _, err := c.apply(ctx, o, owner, opts); err != nil {
			return fmt.Errorf("applying %s%s: %w", o, inSource(o.Source), err)
		}
	}
	return nil
}

// checkOwnership reads each object and fails, with every problem found, if one
// exists without belonging to owner.
func (c *Client) checkOwnership(ctx context.Context, objs []Object, owner Owner) error {
	var errs []error
	for _, o := range objs {
		live, err := c.get(ctx, o)
		if apierrors.IsNotFound(err) {
			continue
		}
		if err != nil {
			return fmt.Errorf("reading %s: %w", o, err)
		}
		if problems := ownershipProblems(live, owner); len(problems) > 0 {
			errs = append(errs, &OwnershipError{
				Kind: o.gvk().Kind, Name: o.GetName(), Namespace: o.GetNamespace(), Problems: problems,
			})
		}
	}
	return errors.Join(errs...)
}

// ownershipProblems lists how an object's metadata fails to say it belongs to
// owner, as Helm words it.
func ownershipProblems(u *unstructured.Unstructured, owner Owner) []string {
	var problems []string
	if p := requireValue(u.GetLabels(), ManagedByLabel, ManagedByHelm); p != "" {
		problems = append(problems, "label validation error: "+p)
	}
	annotations := u.GetAnnotations()
	if p := requireValue(annotations, ReleaseNameAnnotation, owner.ReleaseName); p != "" {
		problems = append(problems, "annotation validation error: "+p)
	}
	if p := requireValue(annotations, ReleaseNamespaceAnnotation, owner.ReleaseNamespace); p != "" {
		problems = append(problems, "annotation validation error: "+p)
	}
	return problems
}

func requireValue(m map[string]string, key, want string) string {
	got, ok := m[key]
	switch {
	case !ok:
		return fmt.Sprintf("missing key %q: must be set to %q", key, want)
	case got != want:
		return fmt.Sprintf("key %q must equal %q: current value is %q", key, want, got)
	}
	return ""
}

// apply server-side applies one object and returns what the server stored (or
// would store, in a dry run).
func (c *Client) apply(ctx context.Context, o Object, owner Owner, opts ApplyOptions) (*unstructured.Unstructured, error) {
	body, err := applyBody(o, owner).MarshalJSON()
	if err != nil {
		return nil, fmt.Errorf("encoding: %w", err)
	}
	po := metav1.PatchOptions{FieldManager: c.fieldManager, Force: ptr.To(true)}
	if opts.DryRun {
		po.DryRun = []string{metav1.DryRunAll}
	}
	out, err := c.resource(o).Patch(ctx, o.GetName(), types.ApplyPatchType, body, po)
	if err == nil || !opts.Force || !apierrors.IsInvalid(err) {
		return out, err
	}
	if opts.DryRun {
		c.log.InfoContext(ctx, "dry run: object would be replaced", "object", o.String(), "reason", err)
		return c.get(ctx, o)
	}
	c.log.InfoContext(ctx, "replacing object the server refuses to update", "object", o.String(), "reason", err)
	if err := c.deleteAndWait(ctx, o); err != nil {
		return nil, fmt.Errorf("replacing: %w", err)
	}
	out, err = c.resource(o).Patch(ctx, o.GetName(), types.ApplyPatchType, body, po)
	if err != nil {
		return nil, fmt.Errorf("creating again after deleting: %w", err)
	}
	return out, nil
}

// applyBody is what berth applies for an object: its manifest without
// server-set metadata, plus the release's ownership metadata.
func applyBody(o Object, owner Owner) *unstructured.Unstructured {
	u := o.DeepCopy()
	u.SetAPIVersion(o.gvk().GroupVersion().String())
	stripServerMetadata(u)
	labels := maps.Clone(u.GetLabels())
	if labels == nil {
		labels = map[string]string{}
	}
	labels[ManagedByLabel] = ManagedByHelm
	u.SetLabels(labels)
	annotations := maps.Clone(u.GetAnnotations())
	if annotations == nil {
		annotations = map[string]string{}
	}
	annotations[ReleaseNameAnnotation] = owner.ReleaseName
	annotations[ReleaseNamespaceAnnotation] = owner.ReleaseNamespace
	u.SetAnnotations(annotations)
	return u
}

// stripServerMetadata removes the metadata the server sets and owns.
func stripServerMetadata(u *unstructured.Unstructured) {
	u.SetManagedFields(nil)
	u.SetResourceVersion("")
	u.SetUID("")
	u.SetGeneration(0)
	u.SetSelfLink("")
	unstructured.RemoveNestedField(u.Object, "metadata", "creationTimestamp")
}
