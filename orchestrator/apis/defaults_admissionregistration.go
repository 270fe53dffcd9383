package apis

import (
	admissionregistrationv1 "k8s.io/api/admissionregistration/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
)

func defaultValidatingWebhookConfiguration(c *admissionregistrationv1.ValidatingWebhookConfiguration) {
	for i := range c.Webhooks {
		w := &c.Webhooks[i]
		defaultWebhook(&w.FailurePolicy, &w.MatchPolicy, &w.NamespaceSelector, &w.ObjectSelector, &w.TimeoutSeconds)
		defaultWebhookClient(&w.ClientConfig)
		defaultRules(w.Rules)
	}
}

func defaultMutatingWebhookConfiguration(c *admissionregistrationv1.MutatingWebhookConfiguration) {
	for i := range c.Webhooks {
		w := &c.Webhooks[i]
		defaultWebhook(&w.FailurePolicy, &w.MatchPolicy, &w.NamespaceSelector, &w.ObjectSelector, &w.TimeoutSeconds)
		defaultPointer(&w.ReinvocationPolicy, admissionregistrationv1.NeverReinvocationPolicy)
		defaultWebhookClient(&w.ClientConfig)
		defaultRules(w.Rules)
	}
}

// defaultWebhook defaults what validating and mutating webhooks share: they fail
// closed, match equivalent requests, select every object and time out after 10s.
func defaultWebhook(failure **admissionregistrationv1.FailurePolicyType, match **admissionregistrationv1.MatchPolicyType,
	namespaces, objects **metav1.LabelSelector, timeout **int32) {
	defaultPointer(failure, admissionregistrationv1.Fail)
	defaultPointer(match, admissionregistrationv1.Equivalent)
	defaultPointer(namespaces, metav1.LabelSelector{})
	defaultPointer(objects, metav1.LabelSelector{})
	defaultPointer(timeout, 10)
}

func defaultWebhookClient(c *admissionregistrationv1.WebhookClientConfig) {
	if c.Service != nil {
		defaultPointer(&c.Service.Port, 443)
	}
}

func defaultRules(rules []admissionregistrationv1.RuleWithOperations) {
	for i := range rules {
		defaultPointer(&rules[i].Scope, admissionregistrationv1.AllScopes)
	}
}

func defaultValidatingAdmissionPolicy(p *admissionregistrationv1.ValidatingAdmissionPolicy) {
	defaultPointer(&p.Spec.FailurePolicy, admissionregistrationv1.Fail)
	defaultMatchResources(p.Spec.MatchConstraints)
}

func defaultValidatingAdmissionPolicyBinding(b *admissionregistrationv1.ValidatingAdmissionPolicyBinding) {
	defaultMatchResources(b.Spec.MatchResources)
}

func defaultMutatingAdmissionPolicy(p *admissionregistrationv1.MutatingAdmissionPolicy) {
	defaultPointer(&p.Spec.FailurePolicy, admissionregistrationv1.Fail)
	defaultMatchResources(p.Spec.MatchConstraints)
}

func defaultMutatingAdmissionPolicyBinding(b *admissionregistrationv1.MutatingAdmissionPolicyBinding) {
	defaultMatchResources(b.Spec.MatchResources)
}

// defaultMatchResources makes the match criteria of a policy or binding, when it
// has some, match equivalent requests in every namespace and for every object.
func defaultMatchResources(m *admissionregistrationv1.MatchResources) {
	if m == nil {
		return
	}
	defaultPointer(&m.MatchPolicy, admissionregistrationv1.Equivalent)
	defaultPointer(&m.NamespaceSelector, metav1.LabelSelector{})
	defaultPointer(&m.ObjectSelector, metav1.LabelSelector{})
	for _, rules := range [][]admissionregistrationv1.NamedRuleWithOperations{m.ResourceRules, m.ExcludeResourceRules} {
		for i := range rules {
			defaultPointer(&rules[i].Scope, admissionregistrationv1.AllScopes)
		}
	}
}
