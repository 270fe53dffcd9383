package disruption

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"path"
	"strings"

	autoscalingv1 "k8s.io/api/autoscaling/v1"
	corev1 "k8s.io/api/core/v1"
	policyv1 "k8s.io/api/policy/v1"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/runtime/schema"
	"k8s.io/apimachinery/pkg/types"
)

// controllerRef is a pod's controller, as its owner reference names it.
type controllerRef = metav1.OwnerReference

// scaleOf is a controller's identity and desired replicas.
type scaleOf struct {
	uid      types.UID
	replicas int32
}

// expectedScale sums the scale of the controllers of the pods: the
// denominator of percentages. Pods without a controller are returned as
// unmanaged; a controller that cannot be found is an error.
func (c *Controller) expectedScale(ctx context.Context, pdb *policyv1.PodDisruptionBudget, pods []*corev1.Pod) (int32, []string, error) {
	scales := map[types.UID]int32{}
	seen := map[types.UID]bool{}
	var unmanaged []string
	for _, pod := range pods {
		ref := metav1.GetControllerOf(pod)
		if ref == nil {
			unmanaged = append(unmanaged, pod.Name)
			continue
		}
		if seen[ref.UID] {
			continue
		}
		seen[ref.UID] = true
		s, err := c.controllerScale(ctx, pod.Namespace, *ref)
		if err != nil {
			return 0, nil, err
		}
		if s == nil {
			return 0, nil, fmt.Errorf("found no controllers for pod %q", pod.Name)
		}
		scales[s.uid] = s.replicas
	}
	var sum int32
	for _, n := range scales {
		sum += n
	}
	return sum, unmanaged, nil
}

// controllerScale finds the controller a pod's reference names and its scale:
// a ReplicaSet owned by a Deployment counts as the Deployment; other kinds are
// read through their scale subresource. nil means not found.
func (c *Controller) controllerScale(ctx context.Context, ns string, ref controllerRef) (*scaleOf, error) {
	gv, err := schema.ParseGroupVersion(ref.APIVersion)
	if err != nil {
		return nil, err
	}
	switch {
	case ref.Kind == "ReplicationController" && gv.Group == "":
		rc, err := c.rcs.ReplicationControllers(ns).Get(ref.Name)
		if err != nil || rc.UID != ref.UID {
			return nil, nil
		}
		return &scaleOf{rc.UID, replicasOf(rc.Spec.Replicas)}, nil
	case ref.Kind == "ReplicaSet" && (gv.Group == "apps" || gv.Group == "extensions"):
		rs, err := c.replicaSets.ReplicaSets(ns).Get(ref.Name)
		if err != nil || rs.UID != ref.UID {
			return nil, nil
		}
		owner := metav1.GetControllerOf(rs)
		if owner == nil || owner.Kind != "Deployment" {
			return &scaleOf{rs.UID, replicasOf(rs.Spec.Replicas)}, nil
		}
		d, err := c.deployments.Deployments(ns).Get(owner.Name)
		if err != nil || d.UID != owner.UID {
			return nil, nil
		}
		return &scaleOf{d.UID, replicasOf(d.Spec.Replicas)}, nil
	case ref.Kind == "StatefulSet" && gv.Group == "apps":
		ss, err := c.statefulSets.StatefulSets(ns).Get(ref.Name)
		if err != nil || ss.UID != ref.UID {
			return nil, nil
		}
		return &scaleOf{ss.UID, replicasOf(ss.Spec.Replicas)}, nil
	}
	s, err := c.scale(ctx, ns, ref)
	if apierrors.IsNotFound(err) {
		return nil, nil
	}
	if err != nil {
		return nil, err
	}
	if s.uid != ref.UID {
		return nil, nil
	}
	return &s, nil
}

// readScale reads the scale subresource of any other controller kind (a
// custom resource with a scale subresource, say), found through discovery.
func (c *Controller) readScale(ctx context.Context, ns string, ref controllerRef) (scaleOf, error) {
	resources, err := c.client.Discovery().ServerResourcesForGroupVersion(ref.APIVersion)
	if err != nil {
		return scaleOf{}, fmt.Errorf("discovering %s: %w", ref.APIVersion, err)
	}
	var resource string
	var namespaced bool
	for _, r := range resources.APIResources {
		if r.Kind == ref.Kind && !strings.Contains(r.Name, "/") {
			resource, namespaced = r.Name, r.Namespaced
		}
	}
	hasScale := false
	for _, r := range resources.APIResources {
		hasScale = hasScale || r.Name == resource+"/scale"
	}
	if resource == "" || !hasScale {
		return scaleOf{}, fmt.Errorf("%s %s does not implement the scale subresource", ref.APIVersion, ref.Kind)
	}
	rest := c.client.Discovery().RESTClient()
	if rest == nil {
		return scaleOf{}, errors.New("no REST client to read scale subresources")
	}
	gv, _ := schema.ParseGroupVersion(ref.APIVersion)
	p := path.Join("/apis", gv.Group, gv.Version)
	if gv.Group == "" {
		p = path.Join("/api", gv.Version)
	}
	if namespaced {
		p = path.Join(p, "namespaces", ns)
	}
	raw, err := rest.Get().AbsPath(p, resource, ref.Name, "scale").DoRaw(ctx)
	if err != nil {
		return scaleOf{}, err
	}
	var s autoscalingv1.Scale
	if err := json.Unmarshal(raw, &s); err != nil {
		return scaleOf{}, fmt.Errorf("reading the scale of %s %s: %w", ref.Kind, ref.Name, err)
	}
	return scaleOf{s.UID, s.Spec.Replicas}, nil
}
