package kube

import (
	"context"
	"errors"
	"fmt"
	"math"
	"strings"

	appsv1 "k8s.io/api/apps/v1"
	batchv1 "k8s.io/api/batch/v1"
	corev1 "k8s.io/api/core/v1"
	discoveryv1 "k8s.io/api/discovery/v1"
	apiextensionsv1 "k8s.io/apiextensions-apiserver/pkg/apis/apiextensions/v1"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/apis/meta/v1/unstructured"
	"k8s.io/apimachinery/pkg/labels"
	"k8s.io/apimachinery/pkg/runtime"
	"k8s.io/apimachinery/pkg/runtime/schema"
	"k8s.io/apimachinery/pkg/util/intstr"
)

// Status is how far an object is from what its manifest asks for, in the words
// of kstatus.
type Status string

const (
	// Current: the object exists and is ready (rolled out, bound, complete...).
	Current Status = "Current"
	// InProgress: the object is on its way (pods starting, rollout going on).
	InProgress Status = "InProgress"
	// Failed: the object will not get ready without someone changing something
	// (a failed Job or Pod, a Deployment past its progress deadline).
	Failed Status = "Failed"
	// NotFound: the object does not exist.
	NotFound Status = "NotFound"
	// Unknown: the object could not be read; Message says why.
	Unknown Status = "Unknown"
)

// ObjectStatus is the live status of one object.
type ObjectStatus struct {
	Object Object
	Status Status
	// Message says why on one line, naming the object and, for a workload not
	// ready, the pod that tells most: "Deployment web: 1 of 3 replicas
	// available; pod web-5d8f-x2x9q: waiting for image pull (ErrImagePull)",
	// "Pod x: not ready: container app: readiness probe not passing yet".
	Message string
	// pod is the pod Message names (the object itself if a Pod), for Wait to
	// diagnose should the object never get ready.
	pod *podFinding
}

// podFinding is a pod that tells why an object is not ready.
type podFinding struct {
	pod   *corev1.Pod
	state podState
	// lead is the object's message up to the pod's own: the pod's message can
	// be replaced with a better one once its events are read.
	lead string
}

func (s ObjectStatus) String() string { return s.Message }

// statusRules say what ready means. Status reports everything it knows; Wait
// follows Helm's --wait, where Jobs count only when asked for and kinds it has
// no rule for are ready on existence.
type statusRules struct {
	jobs    bool // a Job is ready when complete, not on existence
	generic bool // other kinds are judged by status.observedGeneration and conditions
}

var reportRules = statusRules{jobs: true, generic: true}

// Status reports each object's live status, in the given order. An object that
// could not be read has status Unknown, and the error says why (joined).
func (c *Client) Status(ctx context.Context, objs []Object) ([]ObjectStatus, error) {
	return c.statuses(ctx, objs, reportRules)
}

func (c *Client) statuses(ctx context.Context, objs []Object, rules statusRules) ([]ObjectStatus, error) {
	out := make([]ObjectStatus, len(objs))
	var errs []error
	for i, o := range objs {
		out[i] = c.status(ctx, o, rules)
		if out[i].Status == Unknown {
			errs = append(errs, errors.New(out[i].Message))
		}
	}
	return out, errors.Join(errs...)
}

// status reads one object and judges it.
func (c *Client) status(ctx context.Context, o Object, rules statusRules) ObjectStatus {
	live, err := c.get(ctx, o)
	if apierrors.IsNotFound(err) {
		return ObjectStatus{Object: o, Status: NotFound, Message: o.short() + ": not found"}
	}
	if err != nil {
		return ObjectStatus{Object: o, Status: Unknown, Message: oneLine(fmt.Sprintf("%s: reading: %v", o.short(), err))}
	}
	v, err := judge(ctx, o.gvk().GroupKind(), live, rules, clusterReader{c})
	if err != nil {
		return ObjectStatus{Object: o, Status: Unknown, Message: oneLine(fmt.Sprintf("%s: %v", o.short(), err))}
	}
	s := ObjectStatus{Object: o, Status: v.status, Message: oneLine(o.short() + ": " + v.message)}
	if v.pod != nil {
		found := *v.pod
		found.lead = o.short() + ": " + found.lead
		s.pod = &found
	}
	return s
}

// oneLine puts a message on one line: waiting and termination messages are
// free text, and progress redraws a line per object.
func oneLine(s string) string {
	if !strings.ContainsAny(s, "\r\n\t") {
		return s
	}
	return strings.Join(strings.Fields(s), " ")
}

// cluster reads what a status needs beyond the object itself. Pods and
// ReplicaSets only add detail to a message, so failing to list them leaves
// them out rather than failing the status.
type cluster interface {
	// readyEndpoints counts the ready endpoints of a Service.
	readyEndpoints(ctx context.Context, namespace, service string) (int, error)
	pods(ctx context.Context, namespace string, selector labels.Selector) []corev1.Pod
	replicaSets(ctx context.Context, namespace string, selector labels.Selector) []appsv1.ReplicaSet
}

// verdict is the status of a live object, and why.
type verdict struct {
	status  Status
	message string
	// pod is the pod the message names, if it names one.
	pod *podFinding
}

var (
	deploymentKind  = schema.GroupKind{Group: "apps", Kind: "Deployment"}
	statefulSetKind = schema.GroupKind{Group: "apps", Kind: "StatefulSet"}
	daemonSetKind   = schema.GroupKind{Group: "apps", Kind: "DaemonSet"}
	replicaSetKind  = schema.GroupKind{Group: "apps", Kind: "ReplicaSet"}
	rcKind          = schema.GroupKind{Kind: "ReplicationController"}
	podKind         = schema.GroupKind{Kind: "Pod"}
	pvcKind         = schema.GroupKind{Kind: "PersistentVolumeClaim"}
	serviceKind     = schema.GroupKind{Kind: "Service"}
	namespaceKind   = schema.GroupKind{Kind: "Namespace"}
	jobKind         = schema.GroupKind{Group: "batch", Kind: "Job"}
	crdKind         = schema.GroupKind{Group: "apiextensions.k8s.io", Kind: "CustomResourceDefinition"}
)

// judge computes the status of a live object and a message saying why.
func judge(ctx context.Context, gk schema.GroupKind, live *unstructured.Unstructured, rules statusRules, cl cluster) (verdict, error) {
	if live.GetDeletionTimestamp() != nil {
		return verdict{status: InProgress, message: "being deleted"}, nil
	}
	switch gk {
	case deploymentKind:
		return judgeWorkload(ctx, live, deploymentStatus, deploymentPods, cl)
	case statefulSetKind:
		return judgeWorkload(ctx, live, statefulSetStatus, statefulSetPods, cl)
	case daemonSetKind:
		return judgeWorkload(ctx, live, daemonSetStatus, daemonSetPods, cl)
	case replicaSetKind:
		return judgeWorkload(ctx, live, replicaSetStatus, replicaSetPods, cl)
	case rcKind:
		return judgeWorkload(ctx, live, replicationControllerStatus, replicationControllerPods, cl)
	case podKind:
		var p corev1.Pod
		if err := decode(live, &p); err != nil {
			return verdict{}, err
		}
		ps := podCheck(&p)
		v := verdict{status: ps.status, message: ps.message}
		if ps.problem != podFine {
			v.pod = &podFinding{pod: &p, state: ps}
		}
		return v, nil
	case pvcKind:
		return asVerdict(judgeAs(live, pvcStatus))
	case namespaceKind:
		return asVerdict(judgeAs(live, namespaceStatus))
	case crdKind:
		return asVerdict(judgeAs(live, crdStatus))
	case jobKind:
		if !rules.jobs {
			return verdict{status: Current, message: "exists"}, nil
		}
		return judgeWorkload(ctx, live, jobStatus, jobPods, cl)
	case serviceKind:
		var svc corev1.Service
		if err := decode(live, &svc); err != nil {
			return verdict{}, err
		}
		return asVerdict(serviceStatus(ctx, &svc, cl))
	}
	if !rules.generic {
		return verdict{status: Current, message: "exists"}, nil
	}
	return asVerdict(genericStatus(live))
}

func decode(live *unstructured.Unstructured, into any) error {
	if err := runtime.DefaultUnstructuredConverter.FromUnstructured(live.Object, into); err != nil {
		return fmt.Errorf("decoding: %w", err)
	}
	return nil
}

// judgeAs decodes a live object into its API type and judges it.
func judgeAs[T any](live *unstructured.Unstructured, judge func(*T) (Status, string)) (Status, string, error) {
	var typed T
	if err := decode(live, &typed); err != nil {
		return Unknown, "", err
	}
	st, msg := judge(&typed)
	return st, msg, nil
}

func asVerdict(st Status, msg string, err error) (verdict, error) {
	return verdict{status: st, message: msg}, err
}

// judgeWorkload judges an object that runs pods and, when it is not ready,
// names the pod in the worst state and what that pod waits for. A pod whose
// container can never start (an invalid image name) fails the workload, since
// no rollout finishes without changing it.
func judgeWorkload[T any](ctx context.Context, live *unstructured.Unstructured, judge func(*T) (Status, string), pods func(context.Context, *T, cluster) []corev1.Pod, cl cluster) (verdict, error) {
	var typed T
	if err := decode(live, &typed); err != nil {
		return verdict{}, err
	}
	st, msg := judge(&typed)
	v := verdict{status: st, message: msg}
	if st == Current {
		return v, nil
	}
	p, ps, ok := mostTelling(pods(ctx, &typed, cl))
	if !ok {
		return v, nil
	}
	lead := fmt.Sprintf("%s; pod %s: ", msg, p.Name)
	v.message = lead + ps.message
	v.pod = &podFinding{pod: p, state: ps, lead: lead}
	if st == InProgress && ps.status == Failed && ps.problem == podWaiting {
		v.status = Failed
	}
	return v, nil
}

func replicasOf(p *int32) int32 {
	if p == nil {
		return 1
	}
	return *p
}

func observed(generation, observedGeneration int64) (Status, string, bool) {
	if observedGeneration < generation {
		return InProgress, fmt.Sprintf("waiting for the controller to observe generation %d", generation), false
	}
	return "", "", true
}

func deploymentStatus(d *appsv1.Deployment) (Status, string) {
	if d.Spec.Paused {
		return Current, "paused"
	}
	if st, msg, ok := observed(d.Generation, d.Status.ObservedGeneration); !ok {
		return st, msg
	}
	for _, c := range d.Status.Conditions {
		if c.Type == appsv1.DeploymentProgressing && c.Status == corev1.ConditionFalse && c.Reason == "ProgressDeadlineExceeded" {
			return Failed, "progress deadline exceeded: " + c.Message
		}
	}
	want := replicasOf(d.Spec.Replicas)
	s := d.Status
	if s.UpdatedReplicas < want {
		return InProgress, fmt.Sprintf("%d of %d replicas updated", s.UpdatedReplicas, want)
	}
	if s.Replicas > s.UpdatedReplicas {
		return InProgress, fmt.Sprintf("%d old replicas pending termination", s.Replicas-s.UpdatedReplicas)
	}
	if need := want - deploymentMaxUnavailable(d); s.AvailableReplicas < need {
		return InProgress, fmt.Sprintf("%d of %d replicas available", s.AvailableReplicas, want)
	}
	return Current, fmt.Sprintf("%d of %d replicas available", s.AvailableReplicas, want)
}

// deploymentMaxUnavailable is how many replicas a rolling update may leave
// unavailable, as the deployment controller computes it: maxUnavailable rounds
// down and maxSurge up, and if both come to 0 one replica may be unavailable.
// With 3 replicas and the defaults (25% each): unavailable floor(0.75) = 0,
// surge ceil(0.75) = 1, so all 3 must be available.
func deploymentMaxUnavailable(d *appsv1.Deployment) int32 {
	want := replicasOf(d.Spec.Replicas)
	if d.Spec.Strategy.Type == appsv1.RecreateDeploymentStrategyType || want == 0 {
		return 0
	}
	quarter := intstr.FromString("25%")
	unavailable, surge := &quarter, &quarter
	if ru := d.Spec.Strategy.RollingUpdate; ru != nil {
		if ru.MaxUnavailable != nil {
			unavailable = ru.MaxUnavailable
		}
		if ru.MaxSurge != nil {
			surge = ru.MaxSurge
		}
	}
	u, err := intstr.GetScaledValueFromIntOrPercent(unavailable, int(want), false)
	if err != nil {
		return 0
	}
	s, err := intstr.GetScaledValueFromIntOrPercent(surge, int(want), true)
	if err != nil {
		return 0
	}
	if u == 0 && s == 0 {
		u = 1
	}
	return int32(min(u, int(want)))
}

func statefulSetStatus(s *appsv1.StatefulSet) (Status, string) {
	if st, msg, ok := observed(s.Generation, s.Status.ObservedGeneration); !ok {
		return st, msg
	}
	want := replicasOf(s.Spec.Replicas)
	if s.Spec.UpdateStrategy.Type == appsv1.OnDeleteStatefulSetStrategyType {
		return Current, fmt.Sprintf("%d of %d replicas ready (updated on delete)", s.Status.ReadyReplicas, want)
	}
	var partition int32
	if ru := s.Spec.UpdateStrategy.RollingUpdate; ru != nil && ru.Partition != nil {
		partition = *ru.Partition
	}
	if updated := max(want-partition, 0); s.Status.UpdatedReplicas < updated {
		return InProgress, fmt.Sprintf("%d of %d replicas updated", s.Status.UpdatedReplicas, updated)
	}
	if s.Status.ReadyReplicas < want {
		return InProgress, fmt.Sprintf("%d of %d replicas ready", s.Status.ReadyReplicas, want)
	}
	if partition == 0 && s.Status.CurrentRevision != s.Status.UpdateRevision {
		return InProgress, fmt.Sprintf("rolling out revision %s", s.Status.UpdateRevision)
	}
	return Current, fmt.Sprintf("%d of %d replicas ready", s.Status.ReadyReplicas, want)
}

func daemonSetStatus(d *appsv1.DaemonSet) (Status, string) {
	if st, msg, ok := observed(d.Generation, d.Status.ObservedGeneration); !ok {
		return st, msg
	}
	s := d.Status
	if d.Spec.UpdateStrategy.Type == appsv1.OnDeleteDaemonSetStrategyType {
		return Current, fmt.Sprintf("%d of %d pods available (updated on delete)", s.NumberAvailable, s.DesiredNumberScheduled)
	}
	if s.UpdatedNumberScheduled < s.DesiredNumberScheduled {
		return InProgress, fmt.Sprintf("%d of %d pods updated", s.UpdatedNumberScheduled, s.DesiredNumberScheduled)
	}
	maxUnavailable := intstr.FromInt32(1)
	if ru := d.Spec.UpdateStrategy.RollingUpdate; ru != nil && ru.MaxUnavailable != nil {
		maxUnavailable = *ru.MaxUnavailable
	}
	u, err := intstr.GetScaledValueFromIntOrPercent(&maxUnavailable, int(s.DesiredNumberScheduled), true)
	if err != nil {
		u = int(s.DesiredNumberScheduled)
	}
	if need := s.DesiredNumberScheduled - int32(min(u, math.MaxInt32)); s.NumberAvailable < need {
		return InProgress, fmt.Sprintf("%d of %d pods available", s.NumberAvailable, s.DesiredNumberScheduled)
	}
	return Current, fmt.Sprintf("%d of %d pods available", s.NumberAvailable, s.DesiredNumberScheduled)
}

func replicaSetStatus(r *appsv1.ReplicaSet) (Status, string) {
	if st, msg, ok := observed(r.Generation, r.Status.ObservedGeneration); !ok {
		return st, msg
	}
	return replicasReady(r.Status.ReadyReplicas, replicasOf(r.Spec.Replicas))
}

func replicationControllerStatus(r *corev1.ReplicationController) (Status, string) {
	if st, msg, ok := observed(r.Generation, r.Status.ObservedGeneration); !ok {
		return st, msg
	}
	return replicasReady(r.Status.ReadyReplicas, replicasOf(r.Spec.Replicas))
}

func replicasReady(ready, want int32) (Status, string) {
	msg := fmt.Sprintf("%d of %d replicas ready", ready, want)
	if ready < want {
		return InProgress, msg
	}
	return Current, msg
}

// reasonSuffix formats a reason and message as ": Reason (message)", or
// nothing when both are empty.
func reasonSuffix(reason, message string) string {
	switch {
	case reason != "" && message != "":
		return fmt.Sprintf(": %s (%s)", reason, message)
	case reason != "":
		return ": " + reason
	case message != "":
		return ": " + message
	}
	return ""
}

func pvcStatus(c *corev1.PersistentVolumeClaim) (Status, string) {
	switch c.Status.Phase {
	case corev1.ClaimBound:
		return Current, "bound"
	case corev1.ClaimLost:
		return Failed, "lost its volume"
	case "":
		return InProgress, "not bound yet"
	}
	return InProgress, strings.ToLower(string(c.Status.Phase))
}

func namespaceStatus(n *corev1.Namespace) (Status, string) {
	if n.Status.Phase == corev1.NamespaceTerminating {
		return InProgress, "terminating"
	}
	return Current, "active"
}

func crdStatus(c *apiextensionsv1.CustomResourceDefinition) (Status, string) {
	for _, cond := range c.Status.Conditions {
		switch {
		case cond.Type == apiextensionsv1.Established && cond.Status == apiextensionsv1.ConditionTrue:
			return Current, "established"
		case cond.Type == apiextensionsv1.NamesAccepted && cond.Status == apiextensionsv1.ConditionFalse:
			return Failed, "names not accepted" + reasonSuffix(cond.Reason, cond.Message)
		}
	}
	return InProgress, "not established yet"
}

func jobStatus(j *batchv1.Job) (Status, string) {
	for _, c := range j.Status.Conditions {
		if c.Status != corev1.ConditionTrue {
			continue
		}
		switch c.Type {
		case batchv1.JobComplete:
			return Current, "complete"
		case batchv1.JobFailed:
			return Failed, "failed" + reasonSuffix(c.Reason, c.Message)
		}
	}
	completions := int32(1)
	if j.Spec.Completions != nil {
		completions = *j.Spec.Completions
		if j.Status.Succeeded >= completions {
			return Current, "complete"
		}
	}
	return InProgress, fmt.Sprintf("%d of %d completions succeeded, %d active, %d failed",
		j.Status.Succeeded, completions, j.Status.Active, j.Status.Failed)
}

func serviceStatus(ctx context.Context, s *corev1.Service, eps cluster) (Status, string, error) {
	if s.Spec.Type == corev1.ServiceTypeExternalName {
		return Current, "external name " + s.Spec.ExternalName, nil
	}
	if s.Spec.ClusterIP == "" {
		return InProgress, "no cluster IP yet", nil
	}
	if s.Spec.Type == corev1.ServiceTypeLoadBalancer && len(s.Spec.ExternalIPs) == 0 && len(s.Status.LoadBalancer.Ingress) == 0 {
		return InProgress, "waiting for a load balancer ingress", nil
	}
	if len(s.Spec.Selector) == 0 {
		return Current, "ready", nil
	}
	n, err := eps.readyEndpoints(ctx, s.Namespace, s.Name)
	if err != nil {
		return Unknown, "", fmt.Errorf("reading endpoints: %w", err)
	}
	if n == 0 {
		return InProgress, "no endpoints", nil
	}
	return Current, fmt.Sprintf("%d ready endpoints", n), nil
}

// genericStatus judges a kind it has no rule for by the conventions kstatus
// reads: status.observedGeneration, and the conditions Stalled, Reconciling and
// Ready.
func genericStatus(u *unstructured.Unstructured) (Status, string, error) {
	if og, found, _ := unstructured.NestedInt64(u.Object, "status", "observedGeneration"); found {
		if st, msg, ok := observed(u.GetGeneration(), og); !ok {
			return st, msg, nil
		}
	}
	conditions, _, _ := unstructured.NestedSlice(u.Object, "status", "conditions")
	for _, c := range conditions {
		cond, ok := c.(map[string]any)
		if !ok {
			continue
		}
		typ, _ := cond["type"].(string)
		status, _ := cond["status"].(string)
		reason, _ := cond["reason"].(string)
		message, _ := cond["message"].(string)
		switch {
		case typ == "Stalled" && status == "True":
			return Failed, "stalled" + reasonSuffix(reason, message), nil
		case typ == "Reconciling" && status == "True":
			return InProgress, "reconciling" + reasonSuffix(reason, message), nil
		case typ == "Ready" && status == "False":
			return InProgress, "not ready" + reasonSuffix(reason, message), nil
		}
	}
	return Current, "exists", nil
}

var (
	endpointSlicesResource = schema.GroupVersionResource{Group: "discovery.k8s.io", Version: "v1", Resource: "endpointslices"}
	endpointsResource      = schema.GroupVersionResource{Version: "v1", Resource: "endpoints"}
)

// clusterReader reads through a Client.
type clusterReader struct{ c *Client }

func (r clusterReader) pods(ctx context.Context, namespace string, selector labels.Selector) []corev1.Pod {
	list, err := r.c.typed.CoreV1().Pods(namespace).List(ctx, metav1.ListOptions{LabelSelector: selector.String()})
	if err != nil {
		r.c.log.DebugContext(ctx, "listing pods for a status", "namespace", namespace, "selector", selector.String(), "err", err)
		return nil
	}
	return list.Items
}

func (r clusterReader) replicaSets(ctx context.Context, namespace string, selector labels.Selector) []appsv1.ReplicaSet {
	list, err := r.c.typed.AppsV1().ReplicaSets(namespace).List(ctx, metav1.ListOptions{LabelSelector: selector.String()})
	if err != nil {
		r.c.log.DebugContext(ctx, "listing ReplicaSets for a status", "namespace", namespace, "selector", selector.String(), "err", err)
		return nil
	}
	return list.Items
}

// readyEndpoints counts a Service's ready endpoints in its EndpointSlices and,
// if they have none, in its Endpoints.
func (r clusterReader) readyEndpoints(ctx context.Context, namespace, service string) (int, error) {
	slices, err := r.c.dynamic.Resource(endpointSlicesResource).Namespace(namespace).List(ctx, metav1.ListOptions{
		LabelSelector: discoveryv1.LabelServiceName + "=" + service,
	})
	if err != nil && !apierrors.IsNotFound(err) {
		return 0, err
	}
	ready := 0
	if slices != nil {
		for _, item := range slices.Items {
			var s discoveryv1.EndpointSlice
			if err := runtime.DefaultUnstructuredConverter.FromUnstructured(item.Object, &s); err != nil {
				return 0, fmt.Errorf("decoding EndpointSlice %s: %w", item.GetName(), err)
			}
			for _, e := range s.Endpoints {
				if e.Conditions.Ready == nil || *e.Conditions.Ready {
					ready += len(e.Addresses)
				}
			}
		}
	}
	if ready > 0 {
		return ready, nil
	}
	// Endpoints is what older controllers still write.
	eps, err := r.c.typed.CoreV1().Endpoints(namespace).Get(ctx, service, getOptions) //nolint:staticcheck
	if apierrors.IsNotFound(err) {
		return 0, nil
	}
	if err != nil {
		return 0, err
	}
	for _, s := range eps.Subsets {
		ready += len(s.Addresses)
	}
	return ready, nil
}
