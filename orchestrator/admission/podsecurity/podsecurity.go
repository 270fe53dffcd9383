// Package podsecurity is the PodSecurity admission plugin: it holds pods to the
// Pod Security Standards (privileged, baseline, restricted) that their namespace's
// pod-security.kubernetes.io/{enforce,audit,warn}[-version] labels select, as
// kube-apiserver's plugin of that name does. Enforce refuses pods; audit adds audit
// annotations; warn returns warnings to the client. Workloads with a pod template
// (deployments, replicasets, statefulsets, daemonsets, jobs, cronjobs,
// replicationcontrollers, podtemplates) are only audited and warned about, never
// refused: their pods are. Namespace label changes are validated, and tightening
// the enforce level warns about the existing pods that would violate it.
//
// The policy itself (the checks, the label parsing, the messages) is upstream's
// library k8s.io/pod-security-admission; this package only adapts it to the API
// server's admission interface, its informers, warnings and audit annotations. It
// must not mutate the objects it admits, nor write anything through the API.
package podsecurity

import (
	"context"
	"errors"
	"fmt"

	admissionv1 "k8s.io/api/admission/v1"
	corev1 "k8s.io/api/core/v1"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/runtime"
	"k8s.io/apimachinery/pkg/runtime/schema"
	"k8s.io/apiserver/pkg/admission"
	"k8s.io/apiserver/pkg/audit"
	"k8s.io/apiserver/pkg/warning"
	"k8s.io/client-go/informers"
	"k8s.io/client-go/kubernetes"
	psadmission "k8s.io/pod-security-admission/admission"
	psconfig "k8s.io/pod-security-admission/admission/api"
	"k8s.io/pod-security-admission/admission/api/load"
	psapi "k8s.io/pod-security-admission/api"
	"k8s.io/pod-security-admission/metrics"
	"k8s.io/pod-security-admission/policy"
)

// PluginName is the name upstream gives this plugin.
const PluginName = "PodSecurity"

// Config is what the plugin needs.
type Config struct {
	// Client looks up namespaces the informer has not seen yet (one created an
	// instant ago).
	Client kubernetes.Interface
	// Informers is the factory namespaces and pods are read from. New registers
	// both informers; the caller starts the factory.
	Informers informers.SharedInformerFactory
	// Configuration holds the cluster-wide defaults and the exemptions, as
	// kube-apiserver reads them from its PodSecurityConfiguration file (see
	// k8s.io/pod-security-admission/admission/api/load). Nil means upstream's
	// defaults: privileged for every mode, no exemptions, so namespaces without
	// labels are not affected.
	Configuration *psconfig.PodSecurityConfiguration
	// Metrics counts evaluations, exemptions and errors; nil counts nothing. The
	// server may pass a metrics.PrometheusRecorder it registered once.
	Metrics metrics.Recorder
}

// Plugin is the PodSecurity admission plugin.
type Plugin struct {
	*admission.Handler
	delegate *psadmission.Admission
}

var _ admission.ValidationInterface = (*Plugin)(nil)

// New returns the plugin, or why the configuration cannot be used.
func New(cfg Config) (*Plugin, error) {
	switch {
	case cfg.Client == nil:
		return nil, errors.New("pod security: no client")
	case cfg.Informers == nil:
		return nil, errors.New("pod security: no informer factory")
	}
	conf := cfg.Configuration
	if conf == nil {
		var err error
		if conf, err = load.LoadFromData(nil); err != nil {
			return nil, fmt.Errorf("pod security: defaulting the configuration: %w", err)
		}
	}
	recorder := cfg.Metrics
	if recorder == nil {
		recorder = noMetrics{}
	}
	// No emulation version: berth evaluates "latest" as the newest policy the
	// library knows, as a kube-apiserver of the same minor does.
	evaluator, err := policy.NewEvaluator(policy.DefaultChecks(), nil)
	if err != nil {
		return nil, fmt.Errorf("pod security: building the policy checks: %w", err)
	}
	namespaces := cfg.Informers.Core().V1().Namespaces()
	pods := cfg.Informers.Core().V1().Pods()
	delegate := &psadmission.Admission{
		Configuration:    conf,
		Evaluator:        evaluator,
		Metrics:          recorder,
		PodSpecExtractor: psadmission.DefaultPodSpecExtractor{},
		NamespaceGetter:  psadmission.NamespaceGetterFromListerAndClient(namespaces.Lister(), cfg.Client),
		PodLister:        psadmission.PodListerFromInformer(pods.Lister()),
	}
	if err := delegate.CompleteConfiguration(); err != nil {
		return nil, fmt.Errorf("pod security: completing the configuration: %w", err)
	}
	if err := delegate.ValidateConfiguration(); err != nil {
		return nil, fmt.Errorf("pod security: invalid configuration: %w", err)
	}
	p := &Plugin{Handler: admission.NewHandler(admission.Create, admission.Update), delegate: delegate}
	p.SetReadyFunc(namespaces.Informer().HasSynced)
	return p, nil
}

// applicable are the resources the plugin looks at besides those with a pod
// template.
var applicable = map[schema.GroupResource]bool{
	corev1.Resource("pods"):       true,
	corev1.Resource("namespaces"): true,
}

// Validate refuses pods that violate their namespace's enforce level and invalid
// namespace labels; it adds the warnings and audit annotations of the warn and
// audit levels to the request.
func (p *Plugin) Validate(ctx context.Context, a admission.Attributes, _ admission.ObjectInterfaces) error {
	gr := a.GetResource().GroupResource()
	if !applicable[gr] && !p.delegate.PodSpecExtractor.HasPodSpec(gr) {
		return nil
	}
	result := p.delegate.Validate(ctx, attributes{a})
	for _, w := range result.Warnings {
		warning.AddWarning(ctx, "", w)
	}
	annotations := make([]string, 0, 2*len(result.AuditAnnotations))
	for k, v := range result.AuditAnnotations {
		annotations = append(annotations, psapi.AuditAnnotationPrefix+k, v)
	}
	audit.AddAuditAnnotations(ctx, annotations...)
	if result.Allowed {
		return nil
	}
	return refusal(a, result.Result)
}

// refusal is the error for a refused request: the library's status (a Forbidden
// naming the violated policy, an Invalid naming the bad label) over a generic
// Forbidden, which also supplies what the library left out.
func refusal(a admission.Attributes, status *metav1.Status) error {
	err := admission.NewForbidden(a, errors.New("Not allowed by PodSecurity"))
	var refused *apierrors.StatusError
	if status == nil || !errors.As(err, &refused) {
		return err
	}
	if status.Message != "" {
		refused.ErrStatus.Message = status.Message
	}
	if status.Reason != "" {
		refused.ErrStatus.Reason = status.Reason
	}
	if status.Details != nil {
		refused.ErrStatus.Details = status.Details
	}
	if status.Code != 0 {
		refused.ErrStatus.Code = status.Code
	}
	return refused
}

// attributes presents the API server's admission attributes as the library
// wants them. berth's API server admits the k8s.io/api (v1) types themselves,
// so unlike kube-apiserver there is nothing to convert.
type attributes struct {
	admission.Attributes
}

func (a attributes) GetObject() (runtime.Object, error) { return a.Attributes.GetObject(), nil }

func (a attributes) GetOldObject() (runtime.Object, error) { return a.Attributes.GetOldObject(), nil }

func (a attributes) GetOperation() admissionv1.Operation {
	return admissionv1.Operation(a.Attributes.GetOperation())
}

func (a attributes) GetUserName() string {
	if u := a.GetUserInfo(); u != nil {
		return u.GetName()
	}
	return ""
}

// noMetrics records nothing, for servers that export no PodSecurity metrics.
type noMetrics struct{}

func (noMetrics) RecordEvaluation(metrics.Decision, psapi.LevelVersion, metrics.Mode, psapi.Attributes) {
}
func (noMetrics) RecordExemption(psapi.Attributes)   {}
func (noMetrics) RecordError(bool, psapi.Attributes) {}
