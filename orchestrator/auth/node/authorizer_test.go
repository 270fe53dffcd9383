package node

import (
	"context"
	"strings"
	"testing"

	corev1 "k8s.io/api/core/v1"
	networkingv1 "k8s.io/api/networking/v1"
	rbacv1 "k8s.io/api/rbac/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/types"
	"k8s.io/apiserver/pkg/authentication/user"
	"k8s.io/apiserver/pkg/authorization/authorizer"
	"k8s.io/client-go/informers"
	"k8s.io/client-go/kubernetes/fake"
)

// fixture is an authorizer over informers that are never started: tests put
// objects into their indexers by hand.
type fixture struct {
	authz   *Authorizer
	factory informers.SharedInformerFactory
}

func newFixture(t *testing.T, cfg Config) *fixture {
	t.Helper()
	cfg.Informers = informers.NewSharedInformerFactory(fake.NewClientset(), 0)
	a, err := New(cfg)
	if err != nil {
		t.Fatal(err)
	}
	return &fixture{authz: a, factory: cfg.Informers}
}

func (f *fixture) addPod(t *testing.T, pod *corev1.Pod) {
	t.Helper()
	if err := f.factory.Core().V1().Pods().Informer().GetIndexer().Update(pod); err != nil {
		t.Fatal(err)
	}
}

func (f *fixture) deletePod(t *testing.T, pod *corev1.Pod) {
	t.Helper()
	if err := f.factory.Core().V1().Pods().Informer().GetIndexer().Delete(pod); err != nil {
		t.Fatal(err)
	}
}

func (f *fixture) addVolume(t *testing.T, pv *corev1.PersistentVolume) {
	t.Helper()
	if err := f.factory.Core().V1().PersistentVolumes().Informer().GetIndexer().Add(pv); err != nil {
		t.Fatal(err)
	}
}

func (f *fixture) addIngress(t *testing.T, ing *networkingv1.Ingress) {
	t.Helper()
	if err := f.factory.Networking().V1().Ingresses().Informer().GetIndexer().Add(ing); err != nil {
		t.Fatal(err)
	}
}

func nodeUser(name string) user.Info {
	return &user.DefaultInfo{Name: UserPrefix + name, Groups: []string{user.NodesGroup, user.AllAuthenticated}}
}

// request is a resource request of the core group.
type request struct {
	user                                 user.Info
	verb, namespace, resource, sub, name string
}

func (r request) attributes() authorizer.Attributes {
	return authorizer.AttributesRecord{
		User: r.user, Verb: r.verb, Namespace: r.namespace, Resource: r.resource, Subresource: r.sub, Name: r.name,
		APIVersion: "v1", ResourceRequest: true,
	}
}

func (f *fixture) check(t *testing.T, r request, want authorizer.Decision, wantReason string) {
	t.Helper()
	got, reason, err := f.authz.Authorize(context.Background(), r.attributes())
	if err != nil {
		t.Fatal(err)
	}
	if got != want {
		t.Errorf("%s %s %s/%s: decision %v (%q), want %v", r.verb, r.resource, r.namespace, r.name, got, reason, want)
	}
	if !strings.Contains(reason, wantReason) {
		t.Errorf("%s %s %s/%s: reason %q, want it to contain %q", r.verb, r.resource, r.namespace, r.name, reason, wantReason)
	}
}

func secretVolume(name string) corev1.Volume {
	return corev1.Volume{Name: name, VolumeSource: corev1.VolumeSource{Secret: &corev1.SecretVolumeSource{SecretName: name}}}
}

func claimVolume(name string) corev1.Volume {
	return corev1.Volume{Name: name, VolumeSource: corev1.VolumeSource{
		PersistentVolumeClaim: &corev1.PersistentVolumeClaimVolumeSource{ClaimName: name}}}
}

func TestAuthorize(t *testing.T) {
	f := newFixture(t, Config{NodeConfigMaps: []types.NamespacedName{{Namespace: "kube-system", Name: "berth-config"}}})
	// web runs on node a, other on node b; pending is not bound yet.
	f.addPod(t, &corev1.Pod{
		ObjectMeta: metav1.ObjectMeta{Name: "web", Namespace: "work", UID: "web-1"},
		Spec: corev1.PodSpec{
			NodeName:           "a",
			ServiceAccountName: "builder",
			ImagePullSecrets:   []corev1.LocalObjectReference{{Name: "pull-secret"}},
			Volumes: []corev1.Volume{
				secretVolume("vol-secret"),
				claimVolume("data"),
				{Name: "scratch", VolumeSource: corev1.VolumeSource{Ephemeral: &corev1.EphemeralVolumeSource{}}},
				{Name: "token", VolumeSource: corev1.VolumeSource{Projected: &corev1.ProjectedVolumeSource{Sources: []corev1.VolumeProjection{
					{ConfigMap: &corev1.ConfigMapProjection{LocalObjectReference: corev1.LocalObjectReference{Name: "kube-root-ca.crt"}}},
					{Secret: &corev1.SecretProjection{LocalObjectReference: corev1.LocalObjectReference{Name: "proj-secret"}}},
				}}}},
			},
			Containers: []corev1.Container{{
				Name: "app",
				Env: []corev1.EnvVar{{Name: "PASSWORD", ValueFrom: &corev1.EnvVarSource{SecretKeyRef: &corev1.SecretKeySelector{
					LocalObjectReference: corev1.LocalObjectReference{Name: "env-secret"}, Key: "password"}}}},
				EnvFrom: []corev1.EnvFromSource{
					{SecretRef: &corev1.SecretEnvSource{LocalObjectReference: corev1.LocalObjectReference{Name: "envfrom-secret"}}},
					{ConfigMapRef: &corev1.ConfigMapEnvSource{LocalObjectReference: corev1.LocalObjectReference{Name: "settings"}}},
				},
			}},
		},
	})
	f.addPod(t, &corev1.Pod{
		ObjectMeta: metav1.ObjectMeta{Name: "other", Namespace: "work", UID: "other-1"},
		Spec: corev1.PodSpec{NodeName: "b", Volumes: []corev1.Volume{secretVolume("b-secret"), claimVolume("b-data"),
			{Name: "cm", VolumeSource: corev1.VolumeSource{ConfigMap: &corev1.ConfigMapVolumeSource{LocalObjectReference: corev1.LocalObjectReference{Name: "b-settings"}}}}}},
	})
	f.addPod(t, &corev1.Pod{
		ObjectMeta: metav1.ObjectMeta{Name: "pending", Namespace: "work", UID: "pending-1"},
		Spec:       corev1.PodSpec{Volumes: []corev1.Volume{secretVolume("pending-secret")}},
	})
	f.addVolume(t, &corev1.PersistentVolume{ObjectMeta: metav1.ObjectMeta{Name: "pv-data"},
		Spec: corev1.PersistentVolumeSpec{ClaimRef: &corev1.ObjectReference{Namespace: "work", Name: "data"}}})
	f.addVolume(t, &corev1.PersistentVolume{ObjectMeta: metav1.ObjectMeta{Name: "pv-b"},
		Spec: corev1.PersistentVolumeSpec{ClaimRef: &corev1.ObjectReference{Namespace: "work", Name: "b-data"}}})
	f.addVolume(t, &corev1.PersistentVolume{ObjectMeta: metav1.ObjectMeta{Name: "pv-free"}})
	f.addIngress(t, &networkingv1.Ingress{ObjectMeta: metav1.ObjectMeta{Name: "site", Namespace: "web"},
		Spec: networkingv1.IngressSpec{TLS: []networkingv1.IngressTLS{{Hosts: []string{"example.com"}, SecretName: "site-tls"}, {Hosts: []string{"example.org"}}}}})

	a, b := nodeUser("a"), nodeUser("b")
	const noRelation = "no relationship found between node 'a' and this object"
	tests := []struct {
		name   string
		req    request
		want   authorizer.Decision
		reason string
	}{
		{name: "secret of a volume", req: request{user: a, verb: "get", namespace: "work", resource: "secrets", name: "vol-secret"}, want: authorizer.DecisionAllow},
		{name: "secret of an env var", req: request{user: a, verb: "get", namespace: "work", resource: "secrets", name: "env-secret"}, want: authorizer.DecisionAllow},
		{name: "secret of envFrom", req: request{user: a, verb: "get", namespace: "work", resource: "secrets", name: "envfrom-secret"}, want: authorizer.DecisionAllow},
		{name: "secret of a projected volume", req: request{user: a, verb: "get", namespace: "work", resource: "secrets", name: "proj-secret"}, want: authorizer.DecisionAllow},
		{name: "image pull secret", req: request{user: a, verb: "get", namespace: "work", resource: "secrets", name: "pull-secret"}, want: authorizer.DecisionAllow},
		{name: "list of one secret by field selector", req: request{user: a, verb: "list", namespace: "work", resource: "secrets", name: "vol-secret"}, want: authorizer.DecisionAllow},
		{name: "watch of one secret by field selector", req: request{user: a, verb: "watch", namespace: "work", resource: "secrets", name: "vol-secret"}, want: authorizer.DecisionAllow},
		{name: "another node's pod's secret", req: request{user: a, verb: "get", namespace: "work", resource: "secrets", name: "b-secret"}, want: authorizer.DecisionDeny, reason: noRelation},
		{name: "the other node reads its own", req: request{user: b, verb: "get", namespace: "work", resource: "secrets", name: "b-secret"}, want: authorizer.DecisionAllow},
		{name: "the other node cannot read node a's", req: request{user: b, verb: "get", namespace: "work", resource: "secrets", name: "vol-secret"}, want: authorizer.DecisionDeny,
			reason: "no relationship found between node 'b' and this object"},
		{name: "an unreferenced secret", req: request{user: a, verb: "get", namespace: "work", resource: "secrets", name: "nothing"}, want: authorizer.DecisionDeny, reason: noRelation},
		{name: "a secret of the same name in another namespace", req: request{user: a, verb: "get", namespace: "elsewhere", resource: "secrets", name: "vol-secret"}, want: authorizer.DecisionDeny, reason: noRelation},
		{name: "an unbound pod's secret", req: request{user: a, verb: "get", namespace: "work", resource: "secrets", name: "pending-secret"}, want: authorizer.DecisionDeny, reason: noRelation},
		{name: "listing a namespace's secrets", req: request{user: a, verb: "list", namespace: "work", resource: "secrets"}, want: authorizer.DecisionDeny, reason: "can only read individual secrets"},
		{name: "watching every secret", req: request{user: a, verb: "watch", resource: "secrets"}, want: authorizer.DecisionDeny, reason: "of one namespace"},
		{name: "an Ingress's TLS secret", req: request{user: a, verb: "get", namespace: "web", resource: "secrets", name: "site-tls"}, want: authorizer.DecisionAllow},
		{name: "an Ingress's TLS secret, watched by name", req: request{user: b, verb: "watch", namespace: "web", resource: "secrets", name: "site-tls"}, want: authorizer.DecisionAllow},
		{name: "a TLS secret name in another namespace", req: request{user: a, verb: "get", namespace: "work", resource: "secrets", name: "site-tls"}, want: authorizer.DecisionDeny, reason: noRelation},
		{name: "writing a secret is RBAC's", req: request{user: a, verb: "update", namespace: "work", resource: "secrets", name: "vol-secret"}, want: authorizer.DecisionNoOpinion},

		{name: "configmap of envFrom", req: request{user: a, verb: "get", namespace: "work", resource: "configmaps", name: "settings"}, want: authorizer.DecisionAllow},
		{name: "kube-root-ca.crt through the projected volume", req: request{user: a, verb: "get", namespace: "work", resource: "configmaps", name: "kube-root-ca.crt"}, want: authorizer.DecisionAllow},
		{name: "kube-root-ca.crt of a namespace without pods on the node", req: request{user: a, verb: "get", namespace: "web", resource: "configmaps", name: "kube-root-ca.crt"}, want: authorizer.DecisionDeny, reason: noRelation},
		{name: "another node's pod's configmap", req: request{user: a, verb: "get", namespace: "work", resource: "configmaps", name: "b-settings"}, want: authorizer.DecisionDeny, reason: noRelation},
		{name: "the cluster configuration every node reads", req: request{user: a, verb: "get", namespace: "kube-system", resource: "configmaps", name: "berth-config"}, want: authorizer.DecisionAllow},
		{name: "listing configmaps", req: request{user: a, verb: "list", namespace: "kube-system", resource: "configmaps"}, want: authorizer.DecisionDeny, reason: "can only read individual configmaps"},

		{name: "the pod's claim", req: request{user: a, verb: "get", namespace: "work", resource: "persistentvolumeclaims", name: "data"}, want: authorizer.DecisionAllow},
		{name: "the pod's ephemeral claim", req: request{user: a, verb: "get", namespace: "work", resource: "persistentvolumeclaims", name: "web-scratch"}, want: authorizer.DecisionAllow},
		{name: "another node's pod's claim", req: request{user: a, verb: "get", namespace: "work", resource: "persistentvolumeclaims", name: "b-data"}, want: authorizer.DecisionDeny, reason: noRelation},
		{name: "listing claims is RBAC's", req: request{user: a, verb: "list", namespace: "work", resource: "persistentvolumeclaims"}, want: authorizer.DecisionNoOpinion},
		{name: "the volume bound to the pod's claim", req: request{user: a, verb: "get", resource: "persistentvolumes", name: "pv-data"}, want: authorizer.DecisionAllow},
		{name: "the volume of another node's claim", req: request{user: a, verb: "get", resource: "persistentvolumes", name: "pv-b"}, want: authorizer.DecisionDeny, reason: noRelation},
		{name: "an unbound volume", req: request{user: a, verb: "get", resource: "persistentvolumes", name: "pv-free"}, want: authorizer.DecisionDeny, reason: noRelation},
		{name: "a volume that does not exist", req: request{user: a, verb: "get", resource: "persistentvolumes", name: "pv-none"}, want: authorizer.DecisionDeny, reason: noRelation},
		{name: "creating volumes is RBAC's", req: request{user: a, verb: "create", resource: "persistentvolumes"}, want: authorizer.DecisionNoOpinion},

		{name: "a token for the pod's account", req: request{user: a, verb: "create", namespace: "work", resource: "serviceaccounts", sub: "token", name: "builder"}, want: authorizer.DecisionAllow},
		{name: "a token for the default account of node b's pod", req: request{user: b, verb: "create", namespace: "work", resource: "serviceaccounts", sub: "token", name: "default"}, want: authorizer.DecisionAllow},
		{name: "a token for an account no pod of the node runs as", req: request{user: a, verb: "create", namespace: "work", resource: "serviceaccounts", sub: "token", name: "default"}, want: authorizer.DecisionDeny, reason: noRelation},
		{name: "a token for the account in another namespace", req: request{user: a, verb: "create", namespace: "elsewhere", resource: "serviceaccounts", sub: "token", name: "builder"}, want: authorizer.DecisionDeny, reason: noRelation},
		{name: "reading a service account is RBAC's", req: request{user: a, verb: "get", namespace: "work", resource: "serviceaccounts", name: "builder"}, want: authorizer.DecisionNoOpinion},

		{name: "pods are RBAC's and admission's", req: request{user: a, verb: "list", resource: "pods"}, want: authorizer.DecisionNoOpinion},
		{name: "nodes are RBAC's and admission's", req: request{user: a, verb: "update", resource: "nodes", name: "b"}, want: authorizer.DecisionNoOpinion},

		{name: "a user that is not a node", req: request{user: &user.DefaultInfo{Name: "alice", Groups: []string{user.AllAuthenticated}}, verb: "get", namespace: "work", resource: "secrets", name: "nothing"},
			want: authorizer.DecisionNoOpinion},
		{name: "a node's name outside the nodes group", req: request{user: &user.DefaultInfo{Name: UserPrefix + "a"}, verb: "get", namespace: "work", resource: "secrets", name: "nothing"},
			want: authorizer.DecisionNoOpinion},
		{name: "a service account", req: request{user: &user.DefaultInfo{Name: "system:serviceaccount:work:builder", Groups: []string{"system:serviceaccounts"}}, verb: "get", namespace: "work", resource: "secrets", name: "nothing"},
			want: authorizer.DecisionNoOpinion},
		{name: "a node without a name", req: request{user: nodeUser(""), verb: "get", namespace: "work", resource: "secrets", name: "vol-secret"}, want: authorizer.DecisionDeny,
			reason: `unknown node for user "system:node:"`},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			f.check(t, tt.req, tt.want, tt.reason)
		})
	}

	t.Run("a secrets resource of another group is not the core one", func(t *testing.T) {
		attrs := request{user: a, verb: "get", namespace: "work", resource: "secrets", name: "nothing"}.attributes().(authorizer.AttributesRecord)
		attrs.APIGroup = "example.com"
		if got, _, _ := f.authz.Authorize(context.Background(), attrs); got != authorizer.DecisionNoOpinion {
			t.Errorf("decision %v, want no opinion", got)
		}
	})
	t.Run("non-resource requests", func(t *testing.T) {
		attrs := authorizer.AttributesRecord{User: a, Verb: "get", Path: "/healthz"}
		if got, _, _ := f.authz.Authorize(context.Background(), attrs); got != authorizer.DecisionNoOpinion {
			t.Errorf("decision %v, want no opinion", got)
		}
	})
}

func TestPodMovingNodes(t *testing.T) {
	f := newFixture(t, Config{})
	pod := func(node string, uid types.UID) *corev1.Pod {
		return &corev1.Pod{
			ObjectMeta: metav1.ObjectMeta{Name: "mover", Namespace: "work", UID: uid},
			Spec:       corev1.PodSpec{NodeName: node, ServiceAccountName: "mover", Volumes: []corev1.Volume{secretVolume("mover-secret"), claimVolume("mover-data")}},
		}
	}
	f.addVolume(t, &corev1.PersistentVolume{ObjectMeta: metav1.ObjectMeta{Name: "pv-mover"},
		Spec: corev1.PersistentVolumeSpec{ClaimRef: &corev1.ObjectReference{Namespace: "work", Name: "mover-data"}}})
	reads := []request{
		{verb: "get", namespace: "work", resource: "secrets", name: "mover-secret"},
		{verb: "get", namespace: "work", resource: "persistentvolumeclaims", name: "mover-data"},
		{verb: "get", resource: "persistentvolumes", name: "pv-mover"},
		{verb: "create", namespace: "work", resource: "serviceaccounts", sub: "token", name: "mover"},
	}
	expect := func(t *testing.T, node string, want authorizer.Decision) {
		t.Helper()
		reason := ""
		if want == authorizer.DecisionDeny {
			reason = "no relationship found between node '" + node + "'"
		}
		for _, r := range reads {
			r.user = nodeUser(node)
			f.check(t, r, want, reason)
		}
	}

	f.addPod(t, pod("a", "first"))
	expect(t, "a", authorizer.DecisionAllow)
	expect(t, "b", authorizer.DecisionDeny)

	// The pod is deleted and made again on node b.
	f.addPod(t, pod("b", "second"))
	expect(t, "a", authorizer.DecisionDeny)
	expect(t, "b", authorizer.DecisionAllow)

	f.deletePod(t, pod("b", "second"))
	expect(t, "a", authorizer.DecisionDeny)
	expect(t, "b", authorizer.DecisionDeny)
}

func TestIngressTLSFollowsIngresses(t *testing.T) {
	f := newFixture(t, Config{})
	read := request{user: nodeUser("a"), verb: "get", namespace: "web", resource: "secrets", name: "site-tls"}
	ing := &networkingv1.Ingress{ObjectMeta: metav1.ObjectMeta{Name: "site", Namespace: "web"},
		Spec: networkingv1.IngressSpec{TLS: []networkingv1.IngressTLS{{SecretName: "site-tls"}}}}
	ingresses := f.factory.Networking().V1().Ingresses().Informer().GetIndexer()

	f.check(t, read, authorizer.DecisionDeny, "no relationship")
	f.addIngress(t, ing)
	f.check(t, read, authorizer.DecisionAllow, "")

	renamed := ing.DeepCopy()
	renamed.Spec.TLS[0].SecretName = "new-tls"
	if err := ingresses.Update(renamed); err != nil {
		t.Fatal(err)
	}
	f.check(t, read, authorizer.DecisionDeny, "no relationship")
	f.check(t, request{user: nodeUser("a"), verb: "get", namespace: "web", resource: "secrets", name: "new-tls"}, authorizer.DecisionAllow, "")

	if err := ingresses.Delete(renamed); err != nil {
		t.Fatal(err)
	}
	f.check(t, request{user: nodeUser("a"), verb: "get", namespace: "web", resource: "secrets", name: "new-tls"}, authorizer.DecisionDeny, "no relationship")
}

func TestNew(t *testing.T) {
	if _, err := New(Config{}); err == nil {
		t.Error("New without informers succeeded")
	}
	factory := informers.NewSharedInformerFactory(fake.NewClientset(), 0)
	if _, err := New(Config{Informers: factory}); err != nil {
		t.Fatal(err)
	}
	if _, err := New(Config{Informers: factory}); err == nil {
		t.Error("a second authorizer on the same informers succeeded; its indexes clash")
	}
}

func TestHasSynced(t *testing.T) {
	factory := informers.NewSharedInformerFactory(fake.NewClientset(), 0)
	a, err := New(Config{Informers: factory})
	if err != nil {
		t.Fatal(err)
	}
	if a.HasSynced() {
		t.Error("synced before the informers started")
	}
	ctx, cancel := context.WithCancel(context.Background())
	defer func() {
		cancel()
		factory.Shutdown()
	}()
	factory.Start(ctx.Done())
	factory.WaitForCacheSync(ctx.Done())
	if !a.HasSynced() {
		t.Error("not synced once the informers did")
	}
}

func TestIdentity(t *testing.T) {
	tests := []struct {
		name     string
		user     user.Info
		wantName string
		isNode   bool
	}{
		{name: "a node", user: nodeUser("worker-1"), wantName: "worker-1", isNode: true},
		{name: "a node without a name", user: nodeUser(""), isNode: true},
		{name: "a node's name without the group", user: &user.DefaultInfo{Name: "system:node:worker-1"}},
		{name: "the group without a node's name", user: &user.DefaultInfo{Name: "worker-1", Groups: []string{user.NodesGroup}}},
		{name: "no user"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			name, isNode := Identity(tt.user)
			if name != tt.wantName || isNode != tt.isNode {
				t.Errorf("Identity = %q, %v; want %q, %v", name, isNode, tt.wantName, tt.isNode)
			}
		})
	}
}

// TestRules: the kubelet's rules are granted to nodes only, and never widen
// what the pods' references decide.
func TestRules(t *testing.T) {
	f := newFixture(t, Config{Rules: []rbacv1.PolicyRule{
		{Verbs: []string{"get", "list", "watch"}, APIGroups: []string{""}, Resources: []string{"pods", "secrets"}},
		{Verbs: []string{"update", "patch"}, APIGroups: []string{""}, Resources: []string{"nodes/status"}},
	}})
	a := nodeUser("a")
	jane := &user.DefaultInfo{Name: "jane", Groups: []string{user.AllAuthenticated}}
	for _, tc := range []struct {
		r    request
		want authorizer.Decision
	}{
		{request{user: a, verb: "list", resource: "pods"}, authorizer.DecisionAllow},
		{request{user: a, verb: "patch", resource: "nodes", sub: "status", name: "a"}, authorizer.DecisionAllow},
		{request{user: a, verb: "delete", resource: "pods", namespace: "work", name: "web"}, authorizer.DecisionNoOpinion},
		{request{user: a, verb: "create", resource: "namespaces"}, authorizer.DecisionNoOpinion},
		// The rule names secrets, but no pod of a's references this one.
		{request{user: a, verb: "get", resource: "secrets", namespace: "work", name: "db"}, authorizer.DecisionDeny},
		{request{user: a, verb: "list", resource: "secrets", namespace: "work"}, authorizer.DecisionDeny},
		{request{user: jane, verb: "list", resource: "pods"}, authorizer.DecisionNoOpinion},
	} {
		got, reason, err := f.authz.Authorize(context.Background(), tc.r.attributes())
		if err != nil || got != tc.want {
			t.Errorf("%s %s %s/%s as %s: %v (%q, %v), want %v", tc.r.verb, tc.r.resource, tc.r.sub, tc.r.name, tc.r.user.GetName(), got, reason, err, tc.want)
		}
	}
}
