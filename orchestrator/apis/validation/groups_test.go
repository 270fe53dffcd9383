package validation

import (
	"testing"

	autoscalingv2 "k8s.io/api/autoscaling/v2"
	certificatesv1 "k8s.io/api/certificates/v1"
	coordinationv1 "k8s.io/api/coordination/v1"
	corev1 "k8s.io/api/core/v1"
	discoveryv1 "k8s.io/api/discovery/v1"
	networkingv1 "k8s.io/api/networking/v1"
	policyv1 "k8s.io/api/policy/v1"
	rbacv1 "k8s.io/api/rbac/v1"
	schedulingv1 "k8s.io/api/scheduling/v1"
	storagev1 "k8s.io/api/storage/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/runtime"
	"k8s.io/apimachinery/pkg/util/intstr"
	"k8s.io/utils/ptr"
)

// checkUpdate updates old with mutate and checks the errors.
func checkUpdate[T runtime.Object](t *testing.T, old T, mutate func(T), want ...fieldErr) {
	t.Helper()
	obj := updated(old, mutate)
	any(obj).(metav1.Object).SetResourceVersion("2")
	expect(t, Update(obj, old), want...)
}

func TestIngress(t *testing.T) {
	ing := goodObjects(t)["ingress"].(*networkingv1.Ingress)
	exact, other := networkingv1.PathTypeExact, networkingv1.PathType("Regex")
	checkCreate(t, map[string]struct {
		obj  runtime.Object
		want []fieldErr
	}{
		"no rules nor default": {
			obj:  updated(ing, func(i *networkingv1.Ingress) { i.Spec.Rules = nil }),
			want: []fieldErr{invalid("spec", "either `defaultBackend` or `rules` must be specified")},
		},
		"default backend only": {
			obj: updated(ing, func(i *networkingv1.Ingress) {
				i.Spec.DefaultBackend, i.Spec.Rules = &i.Spec.Rules[0].HTTP.Paths[0].Backend, nil
			}),
		},
		"host is an IP": {
			obj:  updated(ing, func(i *networkingv1.Ingress) { i.Spec.Rules[0].Host = "10.0.0.1" }),
			want: []fieldErr{invalid("spec.rules[0].host", "must be a DNS name, not an IP address")},
		},
		"path type": {
			obj:  updated(ing, func(i *networkingv1.Ingress) { i.Spec.Rules[0].HTTP.Paths[0].PathType = &other }),
			want: []fieldErr{notSupported("spec.rules[0].http.paths[0].pathType")},
		},
		"path type required": {
			obj:  updated(ing, func(i *networkingv1.Ingress) { i.Spec.Rules[0].HTTP.Paths[0].PathType = nil }),
			want: []fieldErr{required("spec.rules[0].http.paths[0].pathType")},
		},
		"relative path": {
			obj: updated(ing, func(i *networkingv1.Ingress) {
				i.Spec.Rules[0].HTTP.Paths[0].PathType, i.Spec.Rules[0].HTTP.Paths[0].Path = &exact, "api"
			}),
			want: []fieldErr{invalid("spec.rules[0].http.paths[0].path", "must be an absolute path")},
		},
		"backend needs a port": {
			obj: updated(ing, func(i *networkingv1.Ingress) {
				i.Spec.Rules[0].HTTP.Paths[0].Backend.Service.Port = networkingv1.ServiceBackendPort{}
			}),
			want: []fieldErr{required("spec.rules[0].http.paths[0].backend")},
		},
		"backend needs a target": {
			obj: updated(ing, func(i *networkingv1.Ingress) {
				i.Spec.Rules[0].HTTP.Paths[0].Backend = networkingv1.IngressBackend{}
			}),
			want: []fieldErr{invalid("spec.rules[0].http.paths[0].backend", "resource or service backend is required")},
		},
		"resource backend": {
			obj: updated(ing, func(i *networkingv1.Ingress) {
				i.Spec.Rules[0].HTTP.Paths[0].Backend = networkingv1.IngressBackend{Resource: &corev1.TypedLocalObjectReference{
					APIGroup: ptr.To("k8s.example.com"), Kind: "StorageBucket", Name: "static-assets"}}
			}),
		},
		"class annotation disagrees": {
			obj: updated(ing, func(i *networkingv1.Ingress) {
				i.Annotations = map[string]string{"kubernetes.io/ingress.class": "traefik"}
			}),
			want: []fieldErr{invalid("annotations.kubernetes.io/ingress.class", "must match `ingressClassName` when both are specified")},
		},
	})
	ic := goodObjects(t)["ingress class"].(*networkingv1.IngressClass)
	expect(t, Create(updated(ic, func(c *networkingv1.IngressClass) { c.Spec.Controller = "nginx" })),
		invalid("spec.controller", "must be a domain-prefixed path"))
	checkUpdate(t, ic, func(c *networkingv1.IngressClass) { c.Spec.Controller = "example.com/other" },
		invalid("spec.controller", "field is immutable"))
}

func TestNetworkPolicy(t *testing.T) {
	np := goodObjects(t)["network policy"].(*networkingv1.NetworkPolicy)
	checkCreate(t, map[string]struct {
		obj  runtime.Object
		want []fieldErr
	}{
		"peer required": {
			obj:  updated(np, func(n *networkingv1.NetworkPolicy) { n.Spec.Ingress[0].From[0] = networkingv1.NetworkPolicyPeer{} }),
			want: []fieldErr{required("spec.ingress[0].from[0]")},
		},
		"except outside the block": {
			obj: updated(np, func(n *networkingv1.NetworkPolicy) {
				n.Spec.Ingress[0].From[0].IPBlock.Except = []string{"192.168.0.0/16"}
			}),
			want: []fieldErr{invalid("spec.ingress[0].from[0].ipBlock.except[0]", "must be a strict subset of `cidr`")},
		},
		"end port below port": {
			obj:  updated(np, func(n *networkingv1.NetworkPolicy) { n.Spec.Ingress[0].Ports[0].EndPort = ptr.To[int32](100) }),
			want: []fieldErr{invalid("spec.ingress[0].ports[0].endPort", "must be greater than or equal to `port`")},
		},
		"policy type": {
			obj:  updated(np, func(n *networkingv1.NetworkPolicy) { n.Spec.PolicyTypes = []networkingv1.PolicyType{"Both"} }),
			want: []fieldErr{notSupported("spec.policyTypes[0]")},
		},
	})
}

func TestRBAC(t *testing.T) {
	objs := goodObjects(t)
	role := objs["role"].(*rbacv1.Role)
	binding := objs["role binding"].(*rbacv1.RoleBinding)
	crb := objs["cluster role binding"].(*rbacv1.ClusterRoleBinding)
	checkCreate(t, map[string]struct {
		obj  runtime.Object
		want []fieldErr
	}{
		"verbs": {
			obj:  updated(role, func(r *rbacv1.Role) { r.Rules[0].Verbs = nil }),
			want: []fieldErr{required("rules[0].verbs")},
		},
		"api groups": {
			obj:  updated(role, func(r *rbacv1.Role) { r.Rules[0].APIGroups = nil }),
			want: []fieldErr{required("rules[0].apiGroups")},
		},
		"non-resource URLs in a role": {
			obj: updated(role, func(r *rbacv1.Role) {
				r.Rules = []rbacv1.PolicyRule{{NonResourceURLs: []string{"/healthz"}, Verbs: []string{"get"}}}
			}),
			want: []fieldErr{invalid("rules[0].nonResourceURLs", "namespaced rules cannot apply to non-resource URLs")},
		},
		"role ref required": {
			obj: updated(binding, func(b *rbacv1.RoleBinding) { b.RoleRef = rbacv1.RoleRef{} }),
			want: []fieldErr{
				notSupported("roleRef.apiGroup"), notSupported("roleRef.kind"), required("roleRef.name"),
			},
		},
		"cluster binding of a role": {
			obj:  updated(crb, func(b *rbacv1.ClusterRoleBinding) { b.RoleRef.Kind = "Role" }),
			want: []fieldErr{notSupported("roleRef.kind")},
		},
		"subject kind": {
			obj:  updated(binding, func(b *rbacv1.RoleBinding) { b.Subjects[0].Kind = "Robot" }),
			want: []fieldErr{notSupported("subjects[0].kind")},
		},
		"service account in a cluster binding needs a namespace": {
			obj: updated(crb, func(b *rbacv1.ClusterRoleBinding) {
				b.Subjects = []rbacv1.Subject{{Kind: rbacv1.ServiceAccountKind, Name: "default"}}
			}),
			want: []fieldErr{required("subjects[0].namespace")},
		},
		"user API group": {
			obj:  updated(binding, func(b *rbacv1.RoleBinding) { b.Subjects[0].APIGroup = "" }),
			want: []fieldErr{notSupported("subjects[0].apiGroup")},
		},
	})
	checkUpdate(t, binding, func(b *rbacv1.RoleBinding) { b.RoleRef.Name = "admin" },
		invalid("roleRef", "cannot change roleRef"))
	checkUpdate(t, binding, func(b *rbacv1.RoleBinding) { b.Subjects = b.Subjects[:1] })
}

func TestPodDisruptionBudget(t *testing.T) {
	pdb := goodObjects(t)["pod disruption budget"].(*policyv1.PodDisruptionBudget)
	checkCreate(t, map[string]struct {
		obj  runtime.Object
		want []fieldErr
	}{
		"both": {
			obj:  updated(pdb, func(p *policyv1.PodDisruptionBudget) { p.Spec.MaxUnavailable = ptr.To(intstr.FromInt32(1)) }),
			want: []fieldErr{invalid("spec", "minAvailable and maxUnavailable cannot be both set")},
		},
		"max unavailable only": {
			obj: updated(pdb, func(p *policyv1.PodDisruptionBudget) {
				p.Spec.MinAvailable, p.Spec.MaxUnavailable = nil, ptr.To(intstr.FromString("10%"))
			}),
		},
		"negative": {
			obj:  updated(pdb, func(p *policyv1.PodDisruptionBudget) { p.Spec.MinAvailable = ptr.To(intstr.FromInt32(-1)) }),
			want: []fieldErr{invalid("spec.minAvailable", "must be greater than or equal to 0")},
		},
		"above 100%": {
			obj:  updated(pdb, func(p *policyv1.PodDisruptionBudget) { p.Spec.MinAvailable = ptr.To(intstr.FromString("120%")) }),
			want: []fieldErr{invalid("spec.minAvailable", "must not be greater than 100%")},
		},
	})
}

func TestHorizontalPodAutoscaler(t *testing.T) {
	hpa := goodObjects(t)["horizontal pod autoscaler"].(*autoscalingv2.HorizontalPodAutoscaler)
	checkCreate(t, map[string]struct {
		obj  runtime.Object
		want []fieldErr
	}{
		"min above max": {
			obj:  updated(hpa, func(h *autoscalingv2.HorizontalPodAutoscaler) { h.Spec.MinReplicas = ptr.To[int32](10) }),
			want: []fieldErr{invalid("spec.maxReplicas", "must be greater than or equal to `minReplicas`")},
		},
		"max": {
			obj:  updated(hpa, func(h *autoscalingv2.HorizontalPodAutoscaler) { h.Spec.MaxReplicas, h.Spec.MinReplicas = 0, nil }),
			want: []fieldErr{invalid("spec.maxReplicas", "must be greater than 0")},
		},
		"target": {
			obj: updated(hpa, func(h *autoscalingv2.HorizontalPodAutoscaler) {
				h.Spec.ScaleTargetRef = autoscalingv2.CrossVersionObjectReference{}
			}),
			want: []fieldErr{required("spec.scaleTargetRef.kind"), required("spec.scaleTargetRef.name")},
		},
		"metric source missing": {
			obj: updated(hpa, func(h *autoscalingv2.HorizontalPodAutoscaler) {
				h.Spec.Metrics[0].Type = autoscalingv2.PodsMetricSourceType
			}),
			want: []fieldErr{
				required("spec.metrics[0].pods"),
				forbidden("spec.metrics[0].resource", "must populate the given metric source only"),
			},
		},
		"utilization": {
			obj: updated(hpa, func(h *autoscalingv2.HorizontalPodAutoscaler) {
				h.Spec.Metrics[0].Resource.Target.AverageUtilization = ptr.To[int32](0)
			}),
			want: []fieldErr{invalid("spec.metrics[0].resource.target.averageUtilization", "must be greater than 0")},
		},
	})
}

func TestStorageClass(t *testing.T) {
	sc := goodObjects(t)["storage class"].(*storagev1.StorageClass)
	expect(t, Create(updated(sc, func(s *storagev1.StorageClass) { s.Provisioner = "" })), required("provisioner"))
	expect(t, Create(updated(sc, func(s *storagev1.StorageClass) { s.ReclaimPolicy = ptr.To(corev1.PersistentVolumeReclaimRecycle) })),
		notSupported("reclaimPolicy"))
	checkUpdate(t, sc, func(s *storagev1.StorageClass) { s.Parameters = map[string]string{"type": "ssd"} },
		forbidden("parameters", "updates to parameters are forbidden."))
	checkUpdate(t, sc, func(s *storagev1.StorageClass) { s.AllowVolumeExpansion = ptr.To(true) })
}

func TestPriorityClass(t *testing.T) {
	pc := goodObjects(t)["priority class"].(*schedulingv1.PriorityClass)
	expect(t, Create(updated(pc, func(p *schedulingv1.PriorityClass) { p.Value = 2000000000 })),
		forbidden("value", "maximum allowed value of a user defined priority is 1000000000"))
	expect(t, Create(updated(pc, func(p *schedulingv1.PriorityClass) { p.Name = "system-important" })),
		forbidden("metadata.name", "priority class names with 'system-' prefix are reserved for system use only"))
	checkUpdate(t, pc, func(p *schedulingv1.PriorityClass) { p.Value = 10 },
		forbidden("value", "may not be changed in an update."))
	checkUpdate(t, pc, func(p *schedulingv1.PriorityClass) { p.Description = "for the backend" })
}

func TestEndpointSlice(t *testing.T) {
	s := goodObjects(t)["endpoint slice"].(*discoveryv1.EndpointSlice)
	checkCreate(t, map[string]struct {
		obj  runtime.Object
		want []fieldErr
	}{
		"address type": {
			obj:  updated(s, func(e *discoveryv1.EndpointSlice) { e.AddressType = "IPX" }),
			want: []fieldErr{notSupported("addressType")},
		},
		"address of the wrong family": {
			obj:  updated(s, func(e *discoveryv1.EndpointSlice) { e.Endpoints[0].Addresses = []string{"fd00::5"} }),
			want: []fieldErr{invalid("endpoints[0].addresses[0]", "must be an IPv4 address")},
		},
		"no address": {
			obj:  updated(s, func(e *discoveryv1.EndpointSlice) { e.Endpoints[0].Addresses = nil }),
			want: []fieldErr{required("endpoints[0].addresses")},
		},
		"protocol": {
			obj:  updated(s, func(e *discoveryv1.EndpointSlice) { e.Ports[0].Protocol = nil }),
			want: []fieldErr{required("ports[0].protocol")},
		},
	})
	checkUpdate(t, s, func(e *discoveryv1.EndpointSlice) {
		e.AddressType = discoveryv1.AddressTypeIPv6
		e.Endpoints[0].Addresses = []string{"fd00::5"}
	},
		invalid("addressType", "field is immutable"))
}

func TestLease(t *testing.T) {
	l := goodObjects(t)["lease"].(*coordinationv1.Lease)
	expect(t, Create(updated(l, func(l *coordinationv1.Lease) { l.Spec.LeaseDurationSeconds = ptr.To[int32](0) })),
		invalid("spec.leaseDurationSeconds", "must be greater than 0"))
	checkUpdate(t, l, func(l *coordinationv1.Lease) { l.Spec.RenewTime = ptr.To(metav1.NowMicro()) })
}

func TestCertificateSigningRequest(t *testing.T) {
	csr := goodObjects(t)["certificate signing request"].(*certificatesv1.CertificateSigningRequest)
	checkCreate(t, map[string]struct {
		obj  runtime.Object
		want []fieldErr
	}{
		"request": {
			obj:  updated(csr, func(c *certificatesv1.CertificateSigningRequest) { c.Spec.Request = []byte("not a request") }),
			want: []fieldErr{invalid("spec.request", "PEM block type must be CERTIFICATE REQUEST")},
		},
		"usages": {
			obj:  updated(csr, func(c *certificatesv1.CertificateSigningRequest) { c.Spec.Usages = nil }),
			want: []fieldErr{required("spec.usages")},
		},
		"signer": {
			obj:  updated(csr, func(c *certificatesv1.CertificateSigningRequest) { c.Spec.SignerName = "" }),
			want: []fieldErr{required("spec.signerName")},
		},
		"short expiration": {
			obj:  updated(csr, func(c *certificatesv1.CertificateSigningRequest) { c.Spec.ExpirationSeconds = ptr.To[int32](60) }),
			want: []fieldErr{invalid("spec.expirationSeconds", "may not specify a duration less than 600 seconds (10 minutes)")},
		},
	})
	approved := func(c *certificatesv1.CertificateSigningRequest) {
		c.Status.Conditions = []certificatesv1.CertificateSigningRequestCondition{{
			Type: certificatesv1.CertificateApproved, Status: corev1.ConditionTrue, Reason: "KubectlApprove"}}
	}
	checkUpdate(t, csr, approved, forbidden("status.conditions", `updates may not add a condition of type "Approved"`))
	signed := updated(csr, approved)
	obj := updated(signed, func(c *certificatesv1.CertificateSigningRequest) { c.Status.Certificate = []byte("cert") })
	expect(t, StatusUpdate(obj, signed))
	again := updated(obj, func(c *certificatesv1.CertificateSigningRequest) { c.Status.Certificate = []byte("other") })
	expect(t, StatusUpdate(again, obj), forbidden("status.certificate", "updates may not modify existing certificate content"))
}
