// Package priority is the Priority admission plugin: it resolves a new pod's
// priorityClassName into spec.priority and spec.preemptionPolicy, from the named
// PriorityClass, from the global default class when none is named, or as 0 when
// there is no default; system-node-critical and system-cluster-critical resolve even
// before their objects exist. It also refuses a second global default class.
//
// It reads PriorityClasses and writes nothing but the pod being admitted; which pods
// a scheduler preempts is the scheduler's business.
package priority

import (
	"context"
	"fmt"

	corev1 "k8s.io/api/core/v1"
	schedulingv1 "k8s.io/api/scheduling/v1"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	"k8s.io/apimachinery/pkg/labels"
	"k8s.io/apimachinery/pkg/runtime/schema"
	"k8s.io/apiserver/pkg/admission"
	"k8s.io/client-go/informers"
	schedulinglisters "k8s.io/client-go/listers/scheduling/v1"
)

// PluginName is the name upstream gives this plugin.
const PluginName = "Priority"

// The priority classes every cluster has, and their values.
const (
	SystemNodeCritical    = "system-node-critical"
	SystemClusterCritical = "system-cluster-critical"
)

// systemClasses resolve by name whether or not their objects exist yet.
var systemClasses = map[string]int32{
	SystemNodeCritical:    2000001000,
	SystemClusterCritical: 2000000000,
}

var (
	podResource           = schema.GroupResource{Resource: "pods"}
	priorityClassResource = schedulingv1.Resource("priorityclasses")
)

// Plugin is the Priority admission plugin.
type Plugin struct {
	*admission.Handler
	lister schedulinglisters.PriorityClassLister
}

var (
	_ admission.MutationInterface   = (*Plugin)(nil)
	_ admission.ValidationInterface = (*Plugin)(nil)
)

// New returns the plugin, reading PriorityClasses from f's informer.
func New(f informers.SharedInformerFactory) *Plugin {
	informer := f.Scheduling().V1().PriorityClasses()
	p := &Plugin{Handler: admission.NewHandler(admission.Create, admission.Update), lister: informer.Lister()}
	p.SetReadyFunc(informer.Informer().HasSynced)
	return p
}

// Admit resolves the priority of new pods and keeps it on updates.
func (p *Plugin) Admit(_ context.Context, a admission.Attributes, _ admission.ObjectInterfaces) error {
	if a.GetResource().GroupResource() != podResource || a.GetSubresource() != "" {
		return nil
	}
	pod, ok := a.GetObject().(*corev1.Pod)
	if !ok {
		return apierrors.NewBadRequest("resource was marked with kind Pod but was unable to be converted")
	}
	if a.GetOperation() == admission.Update {
		// The priority was resolved at creation and cannot change: carry it over
		// for clients that send the pod without it.
		if old, ok := a.GetOldObject().(*corev1.Pod); ok {
			if pod.Spec.Priority == nil {
				pod.Spec.Priority = old.Spec.Priority
			}
			if pod.Spec.PreemptionPolicy == nil {
				pod.Spec.PreemptionPolicy = old.Spec.PreemptionPolicy
			}
		}
		return nil
	}
	if !p.WaitForReady() {
		return admission.NewForbidden(a, fmt.Errorf("not yet ready to handle request"))
	}
	name, value, policy, err := p.resolve(pod.Spec.PriorityClassName)
	if err != nil {
		if apierrors.IsNotFound(err) {
			return admission.NewForbidden(a, fmt.Errorf("no PriorityClass with name %v was found", pod.Spec.PriorityClassName))
		}
		return err
	}
	if pod.Spec.Priority != nil && *pod.Spec.Priority != value {
		return admission.NewForbidden(a, fmt.Errorf("the integer value of priority (%d) must not be provided in pod spec; priority admission controller computed %d from the given PriorityClass name", *pod.Spec.Priority, value))
	}
	if pod.Spec.PreemptionPolicy != nil && *pod.Spec.PreemptionPolicy != policy {
		return admission.NewForbidden(a, fmt.Errorf("the string value of PreemptionPolicy (%s) must not be provided in pod spec; priority admission controller computed %s from the given PriorityClass name", *pod.Spec.PreemptionPolicy, policy))
	}
	pod.Spec.PriorityClassName = name
	pod.Spec.Priority = &value
	pod.Spec.PreemptionPolicy = &policy
	return nil
}

// Validate refuses a PriorityClass that would be a second global default.
func (p *Plugin) Validate(_ context.Context, a admission.Attributes, _ admission.ObjectInterfaces) error {
	if a.GetResource().GroupResource() != priorityClassResource || a.GetSubresource() != "" {
		return nil
	}
	pc, ok := a.GetObject().(*schedulingv1.PriorityClass)
	if !ok {
		return apierrors.NewBadRequest("resource was marked with kind PriorityClass but was unable to be converted")
	}
	if !pc.GlobalDefault {
		return nil
	}
	if !p.WaitForReady() {
		return admission.NewForbidden(a, fmt.Errorf("not yet ready to handle request"))
	}
	current, err := p.globalDefault()
	if err != nil {
		return err
	}
	if current != nil && current.Name != pc.Name {
		return admission.NewForbidden(a, fmt.Errorf("PriorityClass %v is already marked as default. Only one default can exist", current.Name))
	}
	return nil
}

// resolve returns the class a pod ends up with, its value and preemption policy.
// An empty name resolves to the global default class or, without one, to no class
// with priority 0. A missing class is a NotFound error.
func (p *Plugin) resolve(name string) (string, int32, corev1.PreemptionPolicy, error) {
	if name == "" {
		pc, err := p.globalDefault()
		if err != nil || pc == nil {
			return "", 0, corev1.PreemptLowerPriority, err
		}
		return pc.Name, pc.Value, policyOf(pc), nil
	}
	pc, err := p.lister.Get(name)
	if apierrors.IsNotFound(err) {
		if value, ok := systemClasses[name]; ok {
			return name, value, corev1.PreemptLowerPriority, nil
		}
	}
	if err != nil {
		return "", 0, "", fmt.Errorf("getting PriorityClass %s: %w", name, err)
	}
	return pc.Name, pc.Value, policyOf(pc), nil
}

// globalDefault returns the global default class, the lowest one should a race
// have made several, or nil.
func (p *Plugin) globalDefault() (*schedulingv1.PriorityClass, error) {
	classes, err := p.lister.List(labels.Everything())
	if err != nil {
		return nil, fmt.Errorf("listing PriorityClasses: %w", err)
	}
	var found *schedulingv1.PriorityClass
	for _, pc := range classes {
		if pc.GlobalDefault && (found == nil || pc.Value < found.Value) {
			found = pc
		}
	}
	return found, nil
}

func policyOf(pc *schedulingv1.PriorityClass) corev1.PreemptionPolicy {
	if pc.PreemptionPolicy == nil {
		return corev1.PreemptLowerPriority
	}
	return *pc.PreemptionPolicy
}
