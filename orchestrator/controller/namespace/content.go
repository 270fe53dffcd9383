package namespace

import (
	"context"
	"fmt"
	"slices"
	"sort"
	"strings"

	corev1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/runtime/schema"
	"k8s.io/client-go/discovery"
	"k8s.io/client-go/metadata"
)

// contentDeleter deletes every namespaced object of a namespace, of every resource
// the API serves (custom resources included).
type contentDeleter struct {
	discovery discovery.DiscoveryInterface
	metadata  metadata.Interface
}

// deletion is what one pass over a namespace found.
type deletion struct {
	discoveryErr error
	// failed maps a resource to why its objects could not be deleted.
	failed map[string]string
	// remaining counts objects still present by resource; finalizers counts the
	// finalizers that hold them.
	remaining  map[string]int
	finalizers map[string]int
}

func (d deletion) done() bool {
	return d.discoveryErr == nil && len(d.failed) == 0 && len(d.remaining) == 0
}

func (d deletion) String() string {
	var parts []string
	if d.discoveryErr != nil {
		parts = append(parts, d.discoveryErr.Error())
	}
	for r, why := range d.failed {
		parts = append(parts, r+": "+why)
	}
	if len(d.remaining) > 0 {
		parts = append(parts, remainingMessage(d.remaining))
	}
	return strings.Join(parts, "; ")
}

func (c *contentDeleter) deleteAll(ctx context.Context, namespace string) deletion {
	out := deletion{failed: map[string]string{}, remaining: map[string]int{}, finalizers: map[string]int{}}
	lists, err := c.discovery.ServerPreferredNamespacedResources()
	if err != nil {
		// A partial answer still lets the rest be deleted; the namespace waits
		// for the failed groups.
		out.discoveryErr = err
	}
	for _, list := range lists {
		gv, err := schema.ParseGroupVersion(list.GroupVersion)
		if err != nil {
			continue
		}
		for _, r := range list.APIResources {
			if !slices.Contains(r.Verbs, "list") || !slices.Contains(r.Verbs, "delete") || strings.Contains(r.Name, "/") {
				continue
			}
			c.deleteResource(ctx, namespace, gv.WithResource(r.Name), slices.Contains(r.Verbs, "deletecollection"), &out)
		}
	}
	return out
}

func (c *contentDeleter) deleteResource(ctx context.Context, namespace string, gvr schema.GroupVersionResource, collection bool, out *deletion) {
	name := gvr.GroupResource().String()
	client := c.metadata.Resource(gvr).Namespace(namespace)
	background := metav1.DeletePropagationBackground
	opts := metav1.DeleteOptions{PropagationPolicy: &background}
	if collection {
		if err := client.DeleteCollection(ctx, opts, metav1.ListOptions{}); err != nil {
			out.failed[name] = err.Error()
			return
		}
	}
	list, err := client.List(ctx, metav1.ListOptions{})
	if err != nil {
		out.failed[name] = err.Error()
		return
	}
	for _, item := range list.Items {
		if !collection && item.DeletionTimestamp == nil {
			if err := client.Delete(ctx, item.Name, opts); err != nil {
				out.failed[name] = err.Error()
			}
		}
		out.remaining[name]++
		for _, f := range item.Finalizers {
			out.finalizers[f]++
		}
	}
}

// conditions reports the pass in the namespace's status, as upstream's controller
// does, so that `kubectl describe namespace` tells why deletion waits.
func (d deletion) conditions() []corev1.NamespaceCondition {
	now := metav1.Now()
	cond := func(t corev1.NamespaceConditionType, failed bool, reason, message string) corev1.NamespaceCondition {
		status := corev1.ConditionFalse
		if failed {
			status = corev1.ConditionTrue
		}
		return corev1.NamespaceCondition{Type: t, Status: status, Reason: reason, Message: message, LastTransitionTime: now}
	}
	discovery := cond(corev1.NamespaceDeletionDiscoveryFailure, false, "ResourcesDiscovered", "All resources successfully discovered")
	if d.discoveryErr != nil {
		discovery = cond(corev1.NamespaceDeletionDiscoveryFailure, true, "DiscoveryFailed", "Discovery failed for some groups, "+d.discoveryErr.Error())
	}
	content := cond(corev1.NamespaceDeletionContentFailure, false, "ContentDeleted", "All content successfully deleted, may be waiting on finalization")
	if len(d.failed) > 0 {
		var msgs []string
		for r, why := range d.failed {
			msgs = append(msgs, fmt.Sprintf("Failed to delete all resource types, %s: %s", r, why))
		}
		sort.Strings(msgs)
		content = cond(corev1.NamespaceDeletionContentFailure, true, "ContentDeletionFailed", strings.Join(msgs, ", "))
	}
	remaining := cond(corev1.NamespaceContentRemaining, false, "ContentRemoved", "All content successfully removed")
	if len(d.remaining) > 0 {
		remaining = cond(corev1.NamespaceContentRemaining, true, "SomeResourcesRemain", remainingMessage(d.remaining))
	}
	finalizers := cond(corev1.NamespaceFinalizersRemaining, false, "ContentHasNoFinalizers", "All content-preserving finalizers finished")
	if len(d.finalizers) > 0 {
		var parts []string
		for f, n := range d.finalizers {
			parts = append(parts, fmt.Sprintf("%s in %d resource instances", f, n))
		}
		sort.Strings(parts)
		finalizers = cond(corev1.NamespaceFinalizersRemaining, true, "SomeFinalizersRemain",
			"Some content in the namespace has finalizers remaining: "+strings.Join(parts, ", "))
	}
	return []corev1.NamespaceCondition{discovery, content, remaining, finalizers}
}

// remainingMessage is upstream's "Some resources are remaining: pods. has 2
// resource instances" wording.
func remainingMessage(counts map[string]int) string {
	var parts []string
	for r, n := range counts {
		parts = append(parts, fmt.Sprintf("%s has %d resource instances", r, n))
	}
	sort.Strings(parts)
	return "Some resources are remaining: " + strings.Join(parts, ", ")
}
