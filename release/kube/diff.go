package kube

import (
	"context"
	"fmt"
	"strings"

	apierrors "k8s.io/apimachinery/pkg/api/errors"
	"k8s.io/apimachinery/pkg/apis/meta/v1/unstructured"
	"sigs.k8s.io/yaml"
)

// Diff shows what applying new for owner (and dropping the objects of old that
// new no longer has) would change in the cluster, as unified diffs of YAML, one
// per object, in the order of new and then of old:
//
//   - a changed object: the live object against the server's dry-run apply of
//     the new one, both without status, managedFields and the metadata the
//     server sets (resourceVersion, uid, generation, creationTimestamp);
//   - a new object: its manifest as it would be applied, against nothing;
//   - a dropped object: the live object against nothing (unless it is kept by
//     helm.sh/resource-policy: keep).
//
// Unchanged objects show nothing, so "" means no change. Like Apply, it fails
// with an *OwnershipError if new holds an object that exists outside the
// release. Nothing is changed.
func (c *Client) Diff(ctx context.Context, old, new []Object, owner Owner) (string, error) {
	return c.DiffWithOptions(ctx, old, new, owner, DiffOptions{})
}

// DiffOptions changes how DiffWithOptions compares objects.
type DiffOptions struct {
	// Ignore are fields left out of the comparison of changed objects.
	Ignore []IgnoreRule
}

// IgnoreRule leaves fields of the objects it matches out of a diff.
type IgnoreRule struct {
	// Kind and Name select the objects (by the manifest's kind and name);
	// empty matches any.
	Kind, Name string
	// Paths are JSON pointers (RFC 6901) to the fields, such as
	// /spec/replicas or /metadata/annotations/example.com~1note.
	Paths []string
}

// DiffWithOptions is Diff leaving out the fields opts ignores: they are
// removed from both the live object and the dry-run apply before they are
// compared. An object missing from the cluster, or to be dropped, is shown
// whole whatever the rules say: its absence is the difference. A rule path
// that is not a JSON pointer to a field is an error.
func (c *Client) DiffWithOptions(ctx context.Context, old, new []Object, owner Owner, opts DiffOptions) (string, error) {
	if err := owner.validate(); err != nil {
		return "", fmt.Errorf("diffing objects: %w", err)
	}
	ignore, err := parseIgnoreRules(opts.Ignore)
	if err != nil {
		return "", fmt.Errorf("diffing objects: %w", err)
	}
	if err := c.checkOwnership(ctx, new, owner); err != nil {
		return "", err
	}
	var out strings.Builder
	for _, o := range new {
		d, err := c.diffObject(ctx, o, owner, ignore.pointers(o))
		if err != nil {
			return "", fmt.Errorf("diffing %s%s: %w", o, inSource(o.Source), err)
		}
		out.WriteString(d)
	}
	for _, o := range dropped(old, new) {
		if keptByPolicy(o.Unstructured) {
			continue
		}
		live, err := c.get(ctx, o)
		if apierrors.IsNotFound(err) {
			continue
		}
		if err != nil {
			return "", fmt.Errorf("diffing %s: reading: %w", o, err)
		}
		if keptByPolicy(live) {
			continue
		}
		before, err := diffYAML(live)
		if err != nil {
			return "", fmt.Errorf("diffing %s: %w", o, err)
		}
		out.WriteString(unifiedDiff("live "+diffName(o), "/dev/null", before, ""))
	}
	return out.String(), nil
}

// diffObject diffs one object of the new manifest against the cluster,
// without the fields ignored points to.
func (c *Client) diffObject(ctx context.Context, o Object, owner Owner, ignored [][]string) (string, error) {
	live, err := c.get(ctx, o)
	if apierrors.IsNotFound(err) {
		after, err := diffYAML(applyBody(o, owner))
		if err != nil {
			return "", err
		}
		return unifiedDiff("/dev/null", "applied "+diffName(o), "", after), nil
	}
	if err != nil {
		return "", fmt.Errorf("reading: %w", err)
	}
	applied, err := c.apply(ctx, o, owner, ApplyOptions{DryRun: true})
	if err != nil {
		return "", fmt.Errorf("dry-run apply: %w", err)
	}
	// Both were just read from the server: they are ours to change.
	removePointers(live.Object, ignored)
	removePointers(applied.Object, ignored)
	before, err := diffYAML(live)
	if err != nil {
		return "", err
	}
	after, err := diffYAML(applied)
	if err != nil {
		return "", err
	}
	return unifiedDiff("live "+diffName(o), "applied "+diffName(o), before, after), nil
}

// ignoreRules are IgnoreRules with their paths parsed.
type ignoreRules []parsedIgnoreRule

type parsedIgnoreRule struct {
	kind, name string
	pointers   [][]string
}

func parseIgnoreRules(rules []IgnoreRule) (ignoreRules, error) {
	parsed := make(ignoreRules, len(rules))
	for i, r := range rules {
		parsed[i] = parsedIgnoreRule{kind: r.Kind, name: r.Name}
		for _, p := range r.Paths {
			tokens, err := ParsePointer(p)
			if err != nil {
				return nil, fmt.Errorf("ignore rule %d: %w", i, err)
			}
			if len(tokens) == 0 {
				return nil, fmt.Errorf("ignore rule %d: JSON pointer %q names the whole object, not a field", i, p)
			}
			parsed[i].pointers = append(parsed[i].pointers, tokens)
		}
	}
	return parsed, nil
}

// pointers are the paths the rules matching o leave out.
func (rules ignoreRules) pointers(o Object) [][]string {
	var out [][]string
	for _, r := range rules {
		if (r.kind == "" || r.kind == o.GetKind()) && (r.name == "" || r.name == o.GetName()) {
			out = append(out, r.pointers...)
		}
	}
	return out
}

// diffName names an object in diff headers: "apps/v1 Deployment shop/web".
func diffName(o Object) string {
	name := o.GetName()
	if o.GetNamespace() != "" {
		name = o.GetNamespace() + "/" + name
	}
	return o.gvk().GroupVersion().String() + " " + o.gvk().Kind + " " + name
}

// diffYAML renders an object for diffing: YAML with sorted keys, without what
// the server manages in metadata and without status, which an apply never
// changes and controllers rewrite at any moment.
func diffYAML(u *unstructured.Unstructured) (string, error) {
	u = u.DeepCopy()
	stripServerMetadata(u)
	unstructured.RemoveNestedField(u.Object, "status")
	b, err := yaml.Marshal(u.Object)
	if err != nil {
		return "", fmt.Errorf("encoding as YAML: %w", err)
	}
	return string(b), nil
}
