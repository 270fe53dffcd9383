package admission

import (
	"context"
	"k8s.io/apiserver/pkg/authorization/authorizerfactory"
	"slices"
	"testing"

	appsv1 "k8s.io/api/apps/v1"
	corev1 "k8s.io/api/core/v1"
	"k8s.io/apimachinery/pkg/api/resource"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/runtime"
	"k8s.io/apiserver/pkg/admission"
	quotav1 "k8s.io/apiserver/pkg/quota/v1"
	"k8s.io/apiserver/pkg/warning"
	"k8s.io/client-go/informers"
	"k8s.io/client-go/kubernetes"
	"k8s.io/client-go/kubernetes/fake"
	"k8s.io/utils/ptr"

	"berth.dev/berth/orchestrator/quota"
)

func list(pairs ...string) corev1.ResourceList {
	l := corev1.ResourceList{}
	for i := 0; i < len(pairs); i += 2 {
		l[corev1.ResourceName(pairs[i])] = resource.MustParse(pairs[i+1])
	}
	return l
}

func namespace(name string, phase corev1.NamespacePhase) *corev1.Namespace {
	return &corev1.Namespace{ObjectMeta: metav1.ObjectMeta{Name: name}, Status: corev1.NamespaceStatus{Phase: phase}}
}

// withLabels labels ns, as a namespace's Pod Security levels are set.
func withLabels(ns *corev1.Namespace, labels map[string]string) *corev1.Namespace {
	ns.Labels = labels
	return ns
}

func resourceQuota(ns, name string, hard, used corev1.ResourceList) *corev1.ResourceQuota {
	return &corev1.ResourceQuota{
		ObjectMeta: metav1.ObjectMeta{Name: name, Namespace: ns, ResourceVersion: "1"},
		Spec:       corev1.ResourceQuotaSpec{Hard: hard},
		Status:     corev1.ResourceQuotaStatus{Hard: hard, Used: used},
	}
}

func limitRange(ns string, item corev1.LimitRangeItem) *corev1.LimitRange {
	return &corev1.LimitRange{
		ObjectMeta: metav1.ObjectMeta{Name: "limits", Namespace: ns},
		Spec:       corev1.LimitRangeSpec{Limits: []corev1.LimitRangeItem{item}},
	}
}

// replicaSetPod is a pod as a ReplicaSet creates it: a generated name, one container.
func replicaSetPod(ns string, requests, limits corev1.ResourceList) *corev1.Pod {
	return &corev1.Pod{
		ObjectMeta: metav1.ObjectMeta{GenerateName: "web-7d4b9c-", Namespace: ns},
		Spec: corev1.PodSpec{Containers: []corev1.Container{{
			Name: "app", Image: "nginx", Resources: corev1.ResourceRequirements{Requests: requests, Limits: limits},
		}}},
	}
}

// newChain returns the chain over informers synced from a fake API holding objs,
// and that API.
func newChain(t *testing.T, objs ...runtime.Object) (admission.Interface, kubernetes.Interface) {
	t.Helper()
	client := fake.NewClientset(objs...)
	f := informers.NewSharedInformerFactory(client, 0)
	ctx, cancel := context.WithCancel(context.Background())
	t.Cleanup(cancel)
	chain, err := New(Config{Client: client, Informers: f, Quota: quota.NewConfiguration(f), Stop: ctx.Done(), Authorizer: authorizerfactory.NewAlwaysAllowAuthorizer()})
	if err != nil {
		t.Fatal(err)
	}
	f.Start(ctx.Done())
	f.WaitForCacheSync(ctx.Done())
	return chain, client
}

// run admits a request as the API server does: mutation, then validation.
func run(chain admission.Interface, a admission.Attributes) error {
	_, err := admit(chain, a)
	return err
}

// admit is run, also returning the warnings the chain gave the client.
func admit(chain admission.Interface, a admission.Attributes) ([]string, error) {
	var w warnings
	ctx := warning.WithWarningRecorder(context.Background(), &w)
	if m, ok := chain.(admission.MutationInterface); ok && m.Handles(a.GetOperation()) {
		if err := m.Admit(ctx, a, nil); err != nil {
			return w, err
		}
	}
	if v, ok := chain.(admission.ValidationInterface); ok && v.Handles(a.GetOperation()) {
		return w, v.Validate(ctx, a, nil)
	}
	return w, nil
}

// warnings collects the warnings of a request.
type warnings []string

func (w *warnings) AddWarning(_, text string) { *w = append(*w, text) }

func createPod(pod *corev1.Pod) admission.Attributes {
	return admission.NewAttributesRecord(pod, nil, corev1.SchemeGroupVersion.WithKind("Pod"), pod.Namespace, pod.Name,
		corev1.SchemeGroupVersion.WithResource("pods"), "", admission.Create, &metav1.CreateOptions{}, false, nil)
}

func TestChain(t *testing.T) {
	cluster := []runtime.Object{
		namespace("default", corev1.NamespaceActive),
		namespace("kube-system", corev1.NamespaceActive),
		namespace("work", corev1.NamespaceActive),
		namespace("gone", corev1.NamespaceTerminating),
		namespace("limited", corev1.NamespaceActive),
		namespace("full", corev1.NamespaceActive),
		namespace("compute", corev1.NamespaceActive),
		withLabels(namespace("secure", corev1.NamespaceActive), map[string]string{"pod-security.kubernetes.io/enforce": "restricted"}),
		limitRange("limited", corev1.LimitRangeItem{Type: corev1.LimitTypeContainer, Max: list("memory", "100Mi")}),
		resourceQuota("full", "compute-resources", list("pods", "1"), list("pods", "1")),
		resourceQuota("compute", "compute-resources", list("requests.memory", "1Gi", "limits.cpu", "2"),
			list("requests.memory", "0", "limits.cpu", "0")),
	}
	tests := []struct {
		name  string
		attrs admission.Attributes
		want  string
	}{{
		name: "deleting kube-system is refused",
		attrs: admission.NewAttributesRecord(nil, namespace("kube-system", corev1.NamespaceActive),
			corev1.SchemeGroupVersion.WithKind("Namespace"), "", "kube-system",
			corev1.SchemeGroupVersion.WithResource("namespaces"), "", admission.Delete, &metav1.DeleteOptions{}, false, nil),
		want: `namespaces "kube-system" is forbidden: this namespace may not be deleted`,
	}, {
		name:  "creating in a missing namespace",
		attrs: createPod(replicaSetPod("nowhere", nil, nil)),
		want:  `namespaces "nowhere" not found`,
	}, {
		name:  "creating in a terminating namespace",
		attrs: createPod(replicaSetPod("gone", nil, nil)),
		want:  `pods "web-7d4b9c-" is forbidden: unable to create new content in namespace gone because it is being terminated`,
	}, {
		name:  "a LimitRange maximum",
		attrs: createPod(replicaSetPod("limited", nil, list("memory", "5Gi"))),
		want:  `pods "web-7d4b9c-" is forbidden: maximum memory usage per Container is 100Mi, but limit is 5Gi`,
	}, {
		name:  "a quota used up",
		attrs: createPod(replicaSetPod("full", nil, nil)),
		want:  `pods "web-7d4b9c-" is forbidden: exceeded quota: compute-resources, requested: pods=1, used: pods=1, limited: pods=1`,
	}, {
		name:  "a quota on compute needs containers to state it",
		attrs: createPod(replicaSetPod("compute", nil, nil)),
		want:  `pods "web-7d4b9c-" is forbidden: failed quota: compute-resources: must specify limits.cpu for: app; requests.memory for: app`,
	}, {
		name: "a pod breaking its namespace's Pod Security level",
		attrs: createPod(func() *corev1.Pod {
			p := replicaSetPod("secure", nil, nil)
			p.Name = "web-7d4b9c-x2x9z"
			return p
		}()),
		want: `pods "web-7d4b9c-x2x9z" is forbidden: violates PodSecurity "restricted:latest": ` +
			`allowPrivilegeEscalation != false (container "app" must set securityContext.allowPrivilegeEscalation=false), ` +
			`unrestricted capabilities (container "app" must set securityContext.capabilities.drop=["ALL"]), ` +
			`runAsNonRoot != true (pod or container "app" must set securityContext.runAsNonRoot=true), ` +
			`seccompProfile (pod or container "app" must set securityContext.seccompProfile.type to "RuntimeDefault" or "Localhost")`,
	}, {
		name:  "an ordinary pod is admitted",
		attrs: createPod(replicaSetPod("work", nil, nil)),
	}}
	chain, _ := newChain(t, cluster...)
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			err := run(chain, tt.attrs)
			got := ""
			if err != nil {
				got = err.Error()
			}
			if got != tt.want {
				t.Errorf("got  %q\nwant %q", got, tt.want)
			}
		})
	}
}

// Workloads are warned about, never refused, by the Pod Security level of their
// namespace: their pods are refused.
func TestChainWarnsAboutWorkloads(t *testing.T) {
	chain, _ := newChain(t, withLabels(namespace("base", corev1.NamespaceActive), map[string]string{"pod-security.kubernetes.io/enforce": "baseline"}))
	template := corev1.PodTemplateSpec{Spec: corev1.PodSpec{
		HostNetwork: true,
		Containers:  []corev1.Container{{Name: "app", Image: "nginx"}},
	}}
	d := &appsv1.Deployment{ObjectMeta: metav1.ObjectMeta{Name: "web", Namespace: "base"}, Spec: appsv1.DeploymentSpec{Template: template}}
	a := admission.NewAttributesRecord(d, nil, appsv1.SchemeGroupVersion.WithKind("Deployment"), "base", "web",
		appsv1.SchemeGroupVersion.WithResource("deployments"), "", admission.Create, &metav1.CreateOptions{}, false, nil)
	got, err := admit(chain, a)
	if err != nil {
		t.Fatalf("the deployment was refused: %v", err)
	}
	want := []string{`would violate PodSecurity "baseline:latest": host namespaces (hostNetwork=true)`}
	if !slices.Equal(got, want) {
		t.Errorf("warnings %q, want %q", got, want)
	}
}

func TestChainDefaultsPods(t *testing.T) {
	chain, _ := newChain(t, namespace("work", corev1.NamespaceActive))
	pod := replicaSetPod("work", nil, nil)
	if err := run(chain, createPod(pod)); err != nil {
		t.Fatal(err)
	}
	s := pod.Spec
	if s.ServiceAccountName != "default" || s.DeprecatedServiceAccount != "default" {
		t.Errorf("service account %q/%q, want default", s.ServiceAccountName, s.DeprecatedServiceAccount)
	}
	if ptr.Deref(s.Priority, -1) != 0 || ptr.Deref(s.PreemptionPolicy, "") != corev1.PreemptLowerPriority {
		t.Errorf("priority %v, policy %v; want 0, PreemptLowerPriority", s.Priority, s.PreemptionPolicy)
	}
	var keys []string
	for _, tol := range s.Tolerations {
		keys = append(keys, tol.Key)
	}
	if len(keys) != 2 || keys[0] != corev1.TaintNodeNotReady || keys[1] != corev1.TaintNodeUnreachable {
		t.Errorf("tolerations for %v, want not-ready and unreachable", keys)
	}
}

func TestChainChargesQuota(t *testing.T) {
	chain, client := newChain(t,
		namespace("work", corev1.NamespaceActive),
		resourceQuota("work", "compute-resources", list("pods", "2", "requests.cpu", "1"), list("pods", "0", "requests.cpu", "0")),
	)
	pod := replicaSetPod("work", list("cpu", "300m"), nil)
	if err := run(chain, createPod(pod)); err != nil {
		t.Fatal(err)
	}
	rq, err := client.CoreV1().ResourceQuotas("work").Get(context.Background(), "compute-resources", metav1.GetOptions{})
	if err != nil {
		t.Fatal(err)
	}
	if want := list("pods", "1", "requests.cpu", "300m"); !quotav1.Equals(rq.Status.Used, want) {
		t.Errorf("used = %v, want %v", rq.Status.Used, want)
	}
}

func TestNewRefusesIncompleteConfig(t *testing.T) {
	client := fake.NewClientset()
	f := informers.NewSharedInformerFactory(client, 0)
	stop := make(chan struct{})
	defer close(stop)
	complete := Config{Client: client, Informers: f, Quota: quota.NewConfiguration(f), Stop: stop, Authorizer: authorizerfactory.NewAlwaysAllowAuthorizer()}
	tests := []struct {
		name  string
		spoil func(*Config)
		want  string
	}{
		{"no client", func(c *Config) { c.Client = nil }, "admission: no client"},
		{"no informers", func(c *Config) { c.Informers = nil }, "admission: no informer factory"},
		{"no quota configuration", func(c *Config) { c.Quota = nil }, "admission: no quota configuration"},
		{"no stop channel", func(c *Config) { c.Stop = nil }, "admission: no stop channel"},
		{"no authorizer", func(c *Config) { c.Authorizer = nil }, "admission: no authorizer"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			cfg := complete
			tt.spoil(&cfg)
			if _, err := New(cfg); err == nil || err.Error() != tt.want {
				t.Errorf("got %v, want %q", err, tt.want)
			}
		})
	}
}
