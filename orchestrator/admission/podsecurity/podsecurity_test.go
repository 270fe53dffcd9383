package podsecurity

import (
	"context"
	"slices"
	"testing"

	appsv1 "k8s.io/api/apps/v1"
	batchv1 "k8s.io/api/batch/v1"
	corev1 "k8s.io/api/core/v1"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/runtime"
	"k8s.io/apimachinery/pkg/runtime/schema"
	"k8s.io/apimachinery/pkg/types"
	"k8s.io/apiserver/pkg/admission"
	"k8s.io/apiserver/pkg/audit"
	"k8s.io/apiserver/pkg/authentication/user"
	"k8s.io/apiserver/pkg/warning"
	"k8s.io/client-go/informers"
	"k8s.io/client-go/kubernetes/fake"
	psconfig "k8s.io/pod-security-admission/admission/api"
	"k8s.io/utils/ptr"
)

func namespace(name string, labels ...string) *corev1.Namespace {
	ns := &corev1.Namespace{ObjectMeta: metav1.ObjectMeta{Name: name, Labels: map[string]string{}}}
	for i := 0; i < len(labels); i += 2 {
		ns.Labels["pod-security.kubernetes.io/"+labels[i]] = labels[i+1]
	}
	return ns
}

// podOption changes the pod a test admits.
type podOption func(*corev1.Pod)

// pod returns a pod with one container "c" and no security settings, changed by opts.
func pod(ns, name string, opts ...podOption) *corev1.Pod {
	p := &corev1.Pod{
		ObjectMeta: metav1.ObjectMeta{Name: name, Namespace: ns},
		Spec:       corev1.PodSpec{Containers: []corev1.Container{{Name: "c", Image: "busybox"}}},
	}
	for _, o := range opts {
		o(p)
	}
	return p
}

func hostNetwork(p *corev1.Pod) { p.Spec.HostNetwork = true }

func privileged(p *corev1.Pod) {
	p.Spec.Containers[0].SecurityContext = &corev1.SecurityContext{Privileged: ptr.To(true)}
}

// restricted sets everything the restricted level asks for.
func restricted(p *corev1.Pod) {
	p.Spec.SecurityContext = &corev1.PodSecurityContext{
		RunAsNonRoot:   ptr.To(true),
		SeccompProfile: &corev1.SeccompProfile{Type: corev1.SeccompProfileTypeRuntimeDefault},
	}
	p.Spec.Containers[0].SecurityContext = &corev1.SecurityContext{
		AllowPrivilegeEscalation: ptr.To(false),
		Capabilities:             &corev1.Capabilities{Drop: []corev1.Capability{"ALL"}},
	}
}

func runAsRoot(p *corev1.Pod) { p.Spec.Containers[0].SecurityContext.RunAsUser = ptr.To[int64](0) }

func image(name string) podOption {
	return func(p *corev1.Pod) { p.Spec.Containers[0].Image = name }
}

func label(k, v string) podOption {
	return func(p *corev1.Pod) { p.Labels = map[string]string{k: v} }
}

func ownedBy(uid string) podOption {
	return func(p *corev1.Pod) {
		p.OwnerReferences = []metav1.OwnerReference{{APIVersion: "apps/v1", Kind: "ReplicaSet", Name: "rs", UID: types.UID(uid), Controller: ptr.To(true)}}
	}
}

var (
	podsResource       = corev1.SchemeGroupVersion.WithResource("pods")
	namespacesResource = corev1.SchemeGroupVersion.WithResource("namespaces")
)

// request is a request as alice makes it; the API server gives a namespace's own
// name as its namespace.
func request(op admission.Operation, obj, old runtime.Object, resource schema.GroupVersionResource, kind, subresource string) admission.Attributes {
	m := obj.(metav1.Object)
	ns := m.GetNamespace()
	if resource == namespacesResource {
		ns = m.GetName()
	}
	return admission.NewAttributesRecord(obj, old, resource.GroupVersion().WithKind(kind), ns, m.GetName(), resource, subresource,
		op, nil, false, &user.DefaultInfo{Name: "alice"})
}

func create(obj runtime.Object, resource schema.GroupVersionResource, kind string) admission.Attributes {
	return request(admission.Create, obj, nil, resource, kind, "")
}

func update(obj, old runtime.Object, resource schema.GroupVersionResource, kind, subresource string) admission.Attributes {
	return request(admission.Update, obj, old, resource, kind, subresource)
}

func createPod(p *corev1.Pod) admission.Attributes { return create(p, podsResource, "Pod") }

// warnings collects what the plugin tells the client.
type warnings []string

func (w *warnings) AddWarning(_, text string) { *w = append(*w, text) }

// outcome is what a request came to.
type outcome struct {
	err         string
	warnings    []string
	annotations map[string]string
}

func validate(t *testing.T, p *Plugin, a admission.Attributes) outcome {
	t.Helper()
	var w warnings
	ctx := warning.WithWarningRecorder(audit.WithAuditContext(context.Background()), &w)
	var o outcome
	if p.Handles(a.GetOperation()) {
		if err := p.Validate(ctx, a, nil); err != nil {
			o.err = err.Error()
		}
	}
	o.warnings = w
	o.annotations = audit.AuditContextFrom(ctx).GetEventAnnotations()
	return o
}

// newPlugin returns the plugin over informers synced from a fake API holding objs.
func newPlugin(t *testing.T, conf *psconfig.PodSecurityConfiguration, objs ...runtime.Object) *Plugin {
	t.Helper()
	client := fake.NewClientset(objs...)
	f := informers.NewSharedInformerFactory(client, 0)
	p, err := New(Config{Client: client, Informers: f, Configuration: conf})
	if err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithCancel(context.Background())
	t.Cleanup(cancel)
	f.Start(ctx.Done())
	f.WaitForCacheSync(ctx.Done())
	if !p.WaitForReady() {
		t.Fatal("plugin not ready after the informers synced")
	}
	return p
}

const (
	restrictedPlain = `pods "p" is forbidden: violates PodSecurity "restricted:latest": ` +
		`allowPrivilegeEscalation != false (container "c" must set securityContext.allowPrivilegeEscalation=false), ` +
		`unrestricted capabilities (container "c" must set securityContext.capabilities.drop=["ALL"]), ` +
		`runAsNonRoot != true (pod or container "c" must set securityContext.runAsNonRoot=true), ` +
		`seccompProfile (pod or container "c" must set securityContext.seccompProfile.type to "RuntimeDefault" or "Localhost")`
	restrictedPlainDetail = `allowPrivilegeEscalation != false (container "c" must set securityContext.allowPrivilegeEscalation=false), ` +
		`unrestricted capabilities (container "c" must set securityContext.capabilities.drop=["ALL"]), ` +
		`runAsNonRoot != true (pod or container "c" must set securityContext.runAsNonRoot=true), ` +
		`seccompProfile (pod or container "c" must set securityContext.seccompProfile.type to "RuntimeDefault" or "Localhost")`
	privilegedDetail = `privileged (container "c" must not set securityContext.privileged=true)`
)

func TestPods(t *testing.T) {
	p := newPlugin(t, nil,
		namespace("open"),
		namespace("privileged", "enforce", "privileged", "warn", "privileged", "audit", "privileged"),
		namespace("base", "enforce", "baseline"),
		namespace("strict", "enforce", "restricted"),
		namespace("pinned", "enforce", "restricted", "enforce-version", "v1.24"),
		namespace("warned", "warn", "restricted"),
		namespace("audited", "audit", "restricted"),
		namespace("mixed", "enforce", "baseline", "warn", "restricted", "audit", "restricted"),
		namespace("bad-label", "enforce", "strict-ish"),
	)
	tests := []struct {
		name  string
		attrs admission.Attributes
		want  outcome
	}{{
		name:  "an unlabelled namespace takes anything",
		attrs: createPod(pod("open", "p", hostNetwork, privileged)),
		want:  outcome{annotations: map[string]string{"pod-security.kubernetes.io/enforce-policy": "privileged:latest"}},
	}, {
		name:  "privileged takes anything",
		attrs: createPod(pod("privileged", "p", hostNetwork, privileged)),
		want:  outcome{annotations: map[string]string{"pod-security.kubernetes.io/enforce-policy": "privileged:latest"}},
	}, {
		name:  "baseline refuses host networking",
		attrs: createPod(pod("base", "p", hostNetwork)),
		want: outcome{
			err:         `pods "p" is forbidden: violates PodSecurity "baseline:latest": host namespaces (hostNetwork=true)`,
			annotations: map[string]string{"pod-security.kubernetes.io/enforce-policy": "baseline:latest"},
		},
	}, {
		name:  "baseline refuses privileged containers",
		attrs: createPod(pod("base", "p", privileged)),
		want: outcome{
			err:         `pods "p" is forbidden: violates PodSecurity "baseline:latest": ` + privilegedDetail,
			annotations: map[string]string{"pod-security.kubernetes.io/enforce-policy": "baseline:latest"},
		},
	}, {
		name:  "baseline takes a plain pod",
		attrs: createPod(pod("base", "p")),
		want:  outcome{annotations: map[string]string{"pod-security.kubernetes.io/enforce-policy": "baseline:latest"}},
	}, {
		name:  "restricted refuses a plain pod, naming every rule",
		attrs: createPod(pod("strict", "p")),
		want: outcome{
			err:         restrictedPlain,
			annotations: map[string]string{"pod-security.kubernetes.io/enforce-policy": "restricted:latest"},
		},
	}, {
		name:  "restricted refuses running as root",
		attrs: createPod(pod("strict", "p", restricted, runAsRoot)),
		want: outcome{
			err:         `pods "p" is forbidden: violates PodSecurity "restricted:latest": runAsUser=0 (container "c" must not set runAsUser=0)`,
			annotations: map[string]string{"pod-security.kubernetes.io/enforce-policy": "restricted:latest"},
		},
	}, {
		name:  "restricted takes a pod that sets what it asks for",
		attrs: createPod(pod("strict", "p", restricted)),
		want:  outcome{annotations: map[string]string{"pod-security.kubernetes.io/enforce-policy": "restricted:latest"}},
	}, {
		name:  "a pinned version names it",
		attrs: createPod(pod("pinned", "p", restricted, runAsRoot)),
		want: outcome{
			err:         `pods "p" is forbidden: violates PodSecurity "restricted:v1.24": runAsUser=0 (container "c" must not set runAsUser=0)`,
			annotations: map[string]string{"pod-security.kubernetes.io/enforce-policy": "restricted:v1.24"},
		},
	}, {
		name:  "warn only warns",
		attrs: createPod(pod("warned", "p")),
		want: outcome{
			warnings:    []string{`would violate PodSecurity "restricted:latest": ` + restrictedPlainDetail},
			annotations: map[string]string{"pod-security.kubernetes.io/enforce-policy": "privileged:latest"},
		},
	}, {
		name:  "audit only annotates",
		attrs: createPod(pod("audited", "p")),
		want: outcome{annotations: map[string]string{
			"pod-security.kubernetes.io/enforce-policy":   "privileged:latest",
			"pod-security.kubernetes.io/audit-violations": `would violate PodSecurity "restricted:latest": ` + restrictedPlainDetail,
		}},
	}, {
		name:  "enforce baseline, warn and audit restricted",
		attrs: createPod(pod("mixed", "p")),
		want: outcome{
			warnings: []string{`would violate PodSecurity "restricted:latest": ` + restrictedPlainDetail},
			annotations: map[string]string{
				"pod-security.kubernetes.io/enforce-policy":   "baseline:latest",
				"pod-security.kubernetes.io/audit-violations": `would violate PodSecurity "restricted:latest": ` + restrictedPlainDetail,
			},
		},
	}, {
		name:  "a refused pod gets no warnings on top",
		attrs: createPod(pod("mixed", "p", privileged)),
		want: outcome{
			err: `pods "p" is forbidden: violates PodSecurity "baseline:latest": ` + privilegedDetail,
			annotations: map[string]string{
				"pod-security.kubernetes.io/enforce-policy": "baseline:latest",
				"pod-security.kubernetes.io/audit-violations": `would violate PodSecurity "restricted:latest": ` +
					privilegedDetail + `, ` +
					`allowPrivilegeEscalation != false (container "c" must set securityContext.allowPrivilegeEscalation=false), ` +
					`unrestricted capabilities (container "c" must set securityContext.capabilities.drop=["ALL"]), ` +
					`runAsNonRoot != true (pod or container "c" must set securityContext.runAsNonRoot=true), ` +
					`seccompProfile (pod or container "c" must set securityContext.seccompProfile.type to "RuntimeDefault" or "Localhost")`,
			},
		},
	}, {
		name:  "an unparsable level is enforced as restricted",
		attrs: createPod(pod("bad-label", "p", restricted)),
		want: outcome{annotations: map[string]string{
			"pod-security.kubernetes.io/enforce-policy": "restricted:latest",
			"pod-security.kubernetes.io/error": `Failed to parse policy: metadata.labels[pod-security.kubernetes.io/enforce]: ` +
				`Invalid value: "strict-ish": must be one of privileged, baseline, restricted`,
		}},
	}, {
		name:  "a label-only update of a violating pod is not evaluated",
		attrs: update(pod("strict", "p", label("tier", "web")), pod("strict", "p"), podsResource, "Pod", ""),
		want:  outcome{},
	}, {
		name:  "a new image is evaluated",
		attrs: update(pod("strict", "p", image("busybox:2")), pod("strict", "p"), podsResource, "Pod", ""),
		want: outcome{
			err:         restrictedPlain,
			annotations: map[string]string{"pod-security.kubernetes.io/enforce-policy": "restricted:latest"},
		},
	}, {
		name:  "status updates are not evaluated",
		attrs: update(pod("strict", "p"), pod("strict", "p"), podsResource, "Pod", "status"),
		want:  outcome{},
	}, {
		name: "a privileged ephemeral container is evaluated",
		attrs: update(pod("base", "p", func(p *corev1.Pod) {
			p.Spec.EphemeralContainers = []corev1.EphemeralContainer{{EphemeralContainerCommon: corev1.EphemeralContainerCommon{
				Name: "debug", Image: "busybox", SecurityContext: &corev1.SecurityContext{Privileged: ptr.To(true)},
			}}}
		}), pod("base", "p"), podsResource, "Pod", "ephemeralcontainers"),
		want: outcome{
			err:         `pods "p" is forbidden: violates PodSecurity "baseline:latest": privileged (container "debug" must not set securityContext.privileged=true)`,
			annotations: map[string]string{"pod-security.kubernetes.io/enforce-policy": "baseline:latest"},
		},
	}}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			got := validate(t, p, tt.attrs)
			compare(t, got, tt.want)
		})
	}
}

func compare(t *testing.T, got, want outcome) {
	t.Helper()
	if got.err != want.err {
		t.Errorf("error\ngot  %q\nwant %q", got.err, want.err)
	}
	if !slices.Equal(got.warnings, want.warnings) {
		t.Errorf("warnings\ngot  %q\nwant %q", got.warnings, want.warnings)
	}
	if len(got.annotations) != len(want.annotations) {
		t.Errorf("annotations\ngot  %q\nwant %q", got.annotations, want.annotations)
		return
	}
	for k, v := range want.annotations {
		if got.annotations[k] != v {
			t.Errorf("annotation %s\ngot  %q\nwant %q", k, got.annotations[k], v)
		}
	}
}

func TestRefusalIsForbidden(t *testing.T) {
	p := newPlugin(t, nil, namespace("base", "enforce", "baseline"))
	err := p.Validate(context.Background(), createPod(pod("base", "p", privileged)), nil)
	if !apierrors.IsForbidden(err) {
		t.Fatalf("got %v, want a Forbidden status", err)
	}
	details := err.(apierrors.APIStatus).Status().Details
	if details == nil || details.Name != "p" || details.Kind != "pods" {
		t.Errorf("details %+v, want pods p", details)
	}
}

func TestWorkloadsAreWarnedNotRefused(t *testing.T) {
	p := newPlugin(t, nil,
		namespace("base", "enforce", "baseline"),
		namespace("open"),
	)
	template := corev1.PodTemplateSpec{Spec: pod("", "", privileged).Spec}
	meta := metav1.ObjectMeta{Name: "w", Namespace: "base"}
	warned := outcome{warnings: []string{`would violate PodSecurity "baseline:latest": ` + privilegedDetail}}
	tests := []struct {
		name     string
		obj      runtime.Object
		resource schema.GroupVersionResource
		kind     string
	}{
		{"deployment", &appsv1.Deployment{ObjectMeta: meta, Spec: appsv1.DeploymentSpec{Template: template}}, appsv1.SchemeGroupVersion.WithResource("deployments"), "Deployment"},
		{"replicaset", &appsv1.ReplicaSet{ObjectMeta: meta, Spec: appsv1.ReplicaSetSpec{Template: template}}, appsv1.SchemeGroupVersion.WithResource("replicasets"), "ReplicaSet"},
		{"statefulset", &appsv1.StatefulSet{ObjectMeta: meta, Spec: appsv1.StatefulSetSpec{Template: template}}, appsv1.SchemeGroupVersion.WithResource("statefulsets"), "StatefulSet"},
		{"daemonset", &appsv1.DaemonSet{ObjectMeta: meta, Spec: appsv1.DaemonSetSpec{Template: template}}, appsv1.SchemeGroupVersion.WithResource("daemonsets"), "DaemonSet"},
		{"job", &batchv1.Job{ObjectMeta: meta, Spec: batchv1.JobSpec{Template: template}}, batchv1.SchemeGroupVersion.WithResource("jobs"), "Job"},
		{"cronjob", &batchv1.CronJob{ObjectMeta: meta, Spec: batchv1.CronJobSpec{JobTemplate: batchv1.JobTemplateSpec{Spec: batchv1.JobSpec{Template: template}}}}, batchv1.SchemeGroupVersion.WithResource("cronjobs"), "CronJob"},
		{"replicationcontroller", &corev1.ReplicationController{ObjectMeta: meta, Spec: corev1.ReplicationControllerSpec{Template: &template}}, corev1.SchemeGroupVersion.WithResource("replicationcontrollers"), "ReplicationController"},
		{"podtemplate", &corev1.PodTemplate{ObjectMeta: meta, Template: template}, corev1.SchemeGroupVersion.WithResource("podtemplates"), "PodTemplate"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			compare(t, validate(t, p, create(tt.obj, tt.resource, tt.kind)), warned)
		})
	}
	t.Run("in an unlabelled namespace", func(t *testing.T) {
		d := &appsv1.Deployment{ObjectMeta: metav1.ObjectMeta{Name: "w", Namespace: "open"}, Spec: appsv1.DeploymentSpec{Template: template}}
		compare(t, validate(t, p, create(d, appsv1.SchemeGroupVersion.WithResource("deployments"), "Deployment")), outcome{})
	})
	t.Run("scale is not evaluated", func(t *testing.T) {
		d := &appsv1.Deployment{ObjectMeta: meta, Spec: appsv1.DeploymentSpec{Template: template}}
		compare(t, validate(t, p, update(d, d, appsv1.SchemeGroupVersion.WithResource("deployments"), "Deployment", "scale")), outcome{})
	})
	t.Run("other resources are not evaluated", func(t *testing.T) {
		cm := &corev1.ConfigMap{ObjectMeta: meta}
		compare(t, validate(t, p, create(cm, corev1.SchemeGroupVersion.WithResource("configmaps"), "ConfigMap")), outcome{})
	})
}

func TestNamespaceLabels(t *testing.T) {
	existing := []runtime.Object{
		namespace("busy"),
		pod("busy", "good", restricted),
		pod("busy", "priv", privileged),
		pod("busy", "web-1", hostNetwork, ownedBy("web")),
		pod("busy", "web-2", hostNetwork, ownedBy("web")),
		pod("busy", "web-3", hostNetwork, ownedBy("web")),
	}
	p := newPlugin(t, nil, existing...)
	relabel := func(old *corev1.Namespace, labels ...string) admission.Attributes {
		return update(namespace(old.Name, labels...), old, namespacesResource, "Namespace", "")
	}
	tests := []struct {
		name  string
		attrs admission.Attributes
		want  outcome
	}{{
		name:  "a valid level",
		attrs: create(namespace("new", "enforce", "restricted"), namespacesResource, "Namespace"),
	}, {
		name:  "an invalid level is refused",
		attrs: create(namespace("new", "enforce", "strict"), namespacesResource, "Namespace"),
		want: outcome{err: `Namespace "new" is invalid: metadata.labels[pod-security.kubernetes.io/enforce]: ` +
			`Invalid value: "strict": must be one of privileged, baseline, restricted`},
	}, {
		name:  "an invalid version is refused",
		attrs: relabel(namespace("busy"), "warn", "baseline", "warn-version", "1.30"),
		want: outcome{err: `Namespace "busy" is invalid: metadata.labels[pod-security.kubernetes.io/warn-version]: ` +
			`Invalid value: "1.30": must be "latest" or "v1.x"`},
	}, {
		name:  "an invalid label already there does not block other changes",
		attrs: update(namespace("busy", "audit", "nope", "warn", "baseline"), namespace("busy", "audit", "nope"), namespacesResource, "Namespace", ""),
	}, {
		name:  "tightening enforce warns about the pods that violate it",
		attrs: relabel(namespace("busy"), "enforce", "baseline"),
		// Existing pods are named with the reasons only, one line per reason,
		// pods of one controller counted together.
		want: outcome{warnings: []string{
			`existing pods in namespace "busy" violate the new PodSecurity enforce level "baseline:latest"`,
			`priv: privileged`,
			`web-1 (and 2 other pods): host namespaces`,
		}},
	}, {
		name:  "relaxing enforce checks nothing",
		attrs: relabel(namespace("busy", "enforce", "restricted"), "enforce", "baseline"),
	}, {
		name:  "enforcing privileged checks nothing",
		attrs: relabel(namespace("busy", "enforce", "baseline"), "enforce", "privileged"),
	}, {
		name:  "changing warn checks no pods",
		attrs: relabel(namespace("busy"), "warn", "restricted"),
	}}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			compare(t, validate(t, p, tt.attrs), tt.want)
		})
	}
}

func TestConfiguration(t *testing.T) {
	conf := &psconfig.PodSecurityConfiguration{
		Defaults: psconfig.PodSecurityDefaults{
			Enforce: "baseline", EnforceVersion: "latest",
			Audit: "privileged", AuditVersion: "latest",
			Warn: "privileged", WarnVersion: "latest",
		},
		Exemptions: psconfig.PodSecurityExemptions{Namespaces: []string{"tools"}, Usernames: []string{"operator"}},
	}
	p := newPlugin(t, conf, namespace("open"), namespace("tools"), namespace("loose", "enforce", "privileged"))
	asOperator := admission.NewAttributesRecord(pod("open", "p", hostNetwork), nil, corev1.SchemeGroupVersion.WithKind("Pod"),
		"open", "p", podsResource, "", admission.Create, nil, false, &user.DefaultInfo{Name: "operator"})
	tests := []struct {
		name  string
		attrs admission.Attributes
		want  outcome
	}{{
		name:  "the cluster default applies to unlabelled namespaces",
		attrs: createPod(pod("open", "p", hostNetwork)),
		want: outcome{
			err:         `pods "p" is forbidden: violates PodSecurity "baseline:latest": host namespaces (hostNetwork=true)`,
			annotations: map[string]string{"pod-security.kubernetes.io/enforce-policy": "baseline:latest"},
		},
	}, {
		name:  "labels override the default",
		attrs: createPod(pod("loose", "p", hostNetwork)),
		want:  outcome{annotations: map[string]string{"pod-security.kubernetes.io/enforce-policy": "privileged:latest"}},
	}, {
		name:  "an exempt namespace",
		attrs: createPod(pod("tools", "p", hostNetwork)),
		want:  outcome{annotations: map[string]string{"pod-security.kubernetes.io/exempt": "namespace"}},
	}, {
		name:  "an exempt user",
		attrs: asOperator,
		want:  outcome{annotations: map[string]string{"pod-security.kubernetes.io/exempt": "user"}},
	}, {
		name:  "labelling an exempt namespace is allowed with a warning",
		attrs: update(namespace("tools", "enforce", "restricted"), namespace("tools"), namespacesResource, "Namespace", ""),
		want: outcome{warnings: []string{
			`namespace "tools" is exempt from Pod Security, and the policy (enforce=restricted:latest) will be ignored`,
		}},
	}}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			compare(t, validate(t, p, tt.attrs), tt.want)
		})
	}
}

// A namespace created an instant ago may not be in the informer yet: the plugin
// asks the API rather than failing the pod.
func TestNamespaceNotYetInformed(t *testing.T) {
	client := fake.NewClientset(namespace("base", "enforce", "baseline"))
	p, err := New(Config{Client: client, Informers: informers.NewSharedInformerFactory(client, 0)})
	if err != nil {
		t.Fatal(err)
	}
	got := validate(t, p, createPod(pod("base", "p", hostNetwork)))
	compare(t, got, outcome{
		err:         `pods "p" is forbidden: violates PodSecurity "baseline:latest": host namespaces (hostNetwork=true)`,
		annotations: map[string]string{"pod-security.kubernetes.io/enforce-policy": "baseline:latest"},
	})
	// NamespaceLifecycle refuses such a pod first in the chain; alone, the
	// plugin fails closed as upstream's does.
	got = validate(t, p, createPod(pod("missing", "p")))
	compare(t, got, outcome{
		err: `Internal error occurred: failed to lookup namespace "missing"`,
		annotations: map[string]string{
			"pod-security.kubernetes.io/error": `Internal error occurred: failed to lookup namespace "missing": namespaces "missing" not found`,
		},
	})
}

func TestNew(t *testing.T) {
	client := fake.NewClientset()
	f := informers.NewSharedInformerFactory(client, 0)
	tests := []struct {
		name string
		cfg  Config
		want string
	}{
		{"no client", Config{Informers: f}, "pod security: no client"},
		{"no informers", Config{Client: client}, "pod security: no informer factory"},
		{"an invalid default level", Config{Client: client, Informers: f, Configuration: &psconfig.PodSecurityConfiguration{
			Defaults: psconfig.PodSecurityDefaults{Enforce: "strict", EnforceVersion: "latest", Audit: "privileged", AuditVersion: "latest", Warn: "privileged", WarnVersion: "latest"},
		}}, "pod security: completing the configuration: enforce: must be one of privileged, baseline, restricted"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			if _, err := New(tt.cfg); err == nil || err.Error() != tt.want {
				t.Errorf("got %v, want %q", err, tt.want)
			}
		})
	}
	p, err := New(Config{Client: client, Informers: f})
	if err != nil {
		t.Fatal(err)
	}
	if p.Handles(admission.Delete) || p.Handles(admission.Connect) || !p.Handles(admission.Create) || !p.Handles(admission.Update) {
		t.Error("the plugin handles creates and updates only")
	}
}
