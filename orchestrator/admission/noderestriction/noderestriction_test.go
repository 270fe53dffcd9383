package noderestriction

import (
	"context"
	"strings"
	"testing"

	authenticationv1 "k8s.io/api/authentication/v1"
	coordinationv1 "k8s.io/api/coordination/v1"
	corev1 "k8s.io/api/core/v1"
	policyv1 "k8s.io/api/policy/v1"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	"k8s.io/apimachinery/pkg/api/resource"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/runtime"
	"k8s.io/apimachinery/pkg/runtime/schema"
	"k8s.io/apimachinery/pkg/types"
	"k8s.io/apiserver/pkg/admission"
	"k8s.io/apiserver/pkg/authentication/user"
	"k8s.io/client-go/informers"
	"k8s.io/client-go/kubernetes/fake"
)

// newPlugin returns the plugin over a pod informer that is never started,
// holding pods.
func newPlugin(t *testing.T, pods ...*corev1.Pod) *Plugin {
	t.Helper()
	f := informers.NewSharedInformerFactory(fake.NewClientset(), 0)
	p := New(f)
	for _, pod := range pods {
		if err := f.Core().V1().Pods().Informer().GetIndexer().Add(pod); err != nil {
			t.Fatal(err)
		}
	}
	p.SetReadyFunc(func() bool { return true })
	return p
}

func nodeUser(name string) user.Info {
	return &user.DefaultInfo{Name: "system:node:" + name, Groups: []string{user.NodesGroup, user.AllAuthenticated}}
}

// req is an admission request, built into attributes as the API server does.
type req struct {
	user        user.Info
	obj, old    runtime.Object
	resource    schema.GroupVersionResource
	kind        schema.GroupVersionKind
	namespace   string
	name        string
	subresource string
	op          admission.Operation
}

func (r req) attributes() admission.Attributes {
	u := r.user
	if u == nil {
		u = nodeUser("a")
	}
	return admission.NewAttributesRecord(r.obj, r.old, r.kind, r.namespace, r.name, r.resource, r.subresource, r.op, nil, false, u)
}

var (
	podsGVR    = corev1.SchemeGroupVersion.WithResource("pods")
	podKind    = corev1.SchemeGroupVersion.WithKind("Pod")
	nodesGVR   = corev1.SchemeGroupVersion.WithResource("nodes")
	nodeKind   = corev1.SchemeGroupVersion.WithKind("Node")
	leasesGVR  = coordinationv1.SchemeGroupVersion.WithResource("leases")
	volumesGVR = corev1.SchemeGroupVersion.WithResource("persistentvolumes")
	volumeKind = corev1.SchemeGroupVersion.WithKind("PersistentVolume")
	leaseKind  = coordinationv1.SchemeGroupVersion.WithKind("Lease")
	claimsGVR  = corev1.SchemeGroupVersion.WithResource("persistentvolumeclaims")
	claimKind  = corev1.SchemeGroupVersion.WithKind("PersistentVolumeClaim")
	saGVR      = corev1.SchemeGroupVersion.WithResource("serviceaccounts")
	trKind     = authenticationv1.SchemeGroupVersion.WithKind("TokenRequest")
	evictKind  = policyv1.SchemeGroupVersion.WithKind("Eviction")
)

func pod(name, node string, labels map[string]string) *corev1.Pod {
	return &corev1.Pod{
		ObjectMeta: metav1.ObjectMeta{Name: name, Namespace: "work", UID: types.UID("uid-" + name), Labels: labels},
		Spec:       corev1.PodSpec{NodeName: node},
	}
}

func nodeObj(name string, labels map[string]string, taints ...corev1.Taint) *corev1.Node {
	return &corev1.Node{ObjectMeta: metav1.ObjectMeta{Name: name, Labels: labels}, Spec: corev1.NodeSpec{Taints: taints}}
}

func volume(name, node string) *corev1.PersistentVolume {
	pv := &corev1.PersistentVolume{ObjectMeta: metav1.ObjectMeta{Name: name}}
	if node != "" {
		pv.Annotations = map[string]string{LocalVolumeNode: node}
	}
	return pv
}

func lease(ns, name string) *coordinationv1.Lease {
	return &coordinationv1.Lease{ObjectMeta: metav1.ObjectMeta{Namespace: ns, Name: name}}
}

func tokenFor(ref *authenticationv1.BoundObjectReference) *authenticationv1.TokenRequest {
	return &authenticationv1.TokenRequest{Spec: authenticationv1.TokenRequestSpec{BoundObjectRef: ref}}
}

func podRef(name, uid string) *authenticationv1.BoundObjectReference {
	return &authenticationv1.BoundObjectReference{APIVersion: "v1", Kind: "Pod", Name: name, UID: types.UID("uid-" + uid)}
}

func claim(labels map[string]string, capacity string) *corev1.PersistentVolumeClaim {
	c := &corev1.PersistentVolumeClaim{ObjectMeta: metav1.ObjectMeta{Name: "data", Namespace: "work", Labels: labels, ResourceVersion: "7"}}
	if capacity != "" {
		c.Status.Capacity = corev1.ResourceList{corev1.ResourceStorage: resource.MustParse(capacity)}
	}
	return c
}

func TestValidate(t *testing.T) {
	mine, theirs := pod("mine", "a", map[string]string{"app": "web"}), pod("theirs", "b", nil)
	p := newPlugin(t, mine, theirs, pod("pending", "", nil))

	standard := map[string]string{
		corev1.LabelHostname: "a", corev1.LabelOSStable: "linux", corev1.LabelArchStable: "amd64",
		"beta.kubernetes.io/os": "linux", "beta.kubernetes.io/arch": "amd64",
	}
	with := func(extra map[string]string) map[string]string {
		out := map[string]string{}
		for k, v := range standard {
			out[k] = v
		}
		for k, v := range extra {
			out[k] = v
		}
		return out
	}
	restricted := with(map[string]string{"node-restriction.kubernetes.io/secure": "true"})
	noSchedule := corev1.Taint{Key: "dedicated", Value: "db", Effect: corev1.TaintEffectNoSchedule}
	mirror := pod("static", "a", nil)
	mirror.Annotations = map[string]string{corev1.MirrorPodAnnotationKey: "hash"}
	relabelled := mine.DeepCopy()
	relabelled.Labels["app"] = "other"
	withStatus := mine.DeepCopy()
	withStatus.Status.Phase = corev1.PodRunning

	tests := []struct {
		name string
		req  req
		// want is a part of the error's message, "" for none.
		want     string
		notFound bool
	}{
		// Nodes.
		{name: "registering itself with the kubelet's labels", req: req{obj: nodeObj("a", with(map[string]string{
			corev1.LabelTopologyZone: "z1", corev1.LabelInstanceTypeStable: "vm", "kubelet.kubernetes.io/x": "1",
			"node.kubernetes.io/pool": "p", "sub.node.kubernetes.io/y": "2", "example.com/team": "blue", "plain": "v",
		})), resource: nodesGVR, kind: nodeKind, op: admission.Create}},
		{name: "registering itself with taints", req: req{obj: nodeObj("a", standard, noSchedule), resource: nodesGVR, kind: nodeKind, op: admission.Create}},
		{name: "registering another node", req: req{obj: nodeObj("b", standard), resource: nodesGVR, kind: nodeKind, op: admission.Create},
			want: `node "a" is not allowed to modify node "b"`},
		{name: "registering with a node-restriction label", req: req{obj: nodeObj("a", restricted), resource: nodesGVR, kind: nodeKind, op: admission.Create},
			want: `node "a" is not allowed to set the following labels: node-restriction.kubernetes.io/secure`},
		{name: "registering with a role label", req: req{obj: nodeObj("a", with(map[string]string{"node-role.kubernetes.io/control-plane": "true", "foo.k8s.io/x": "y"})), resource: nodesGVR, kind: nodeKind, op: admission.Create},
			want: `node "a" is not allowed to set the following labels: foo.k8s.io/x, node-role.kubernetes.io/control-plane`},
		{name: "registering with a config source", req: req{obj: &corev1.Node{ObjectMeta: metav1.ObjectMeta{Name: "a"}, Spec: corev1.NodeSpec{ConfigSource: &corev1.NodeConfigSource{}}},
			resource: nodesGVR, kind: nodeKind, op: admission.Create}, want: `node "a" is not allowed to create pods with a non-nil configSource`},
		{name: "updating its own status", req: req{obj: nodeObj("a", restricted), old: nodeObj("a", restricted), resource: nodesGVR, kind: nodeKind, name: "a", subresource: "status", op: admission.Update}},
		{name: "adding a label of its own", req: req{obj: nodeObj("a", with(map[string]string{"example.com/team": "blue"})), old: nodeObj("a", standard), resource: nodesGVR, kind: nodeKind, name: "a", op: admission.Update}},
		{name: "adding a node-restriction label", req: req{obj: nodeObj("a", restricted), old: nodeObj("a", standard), resource: nodesGVR, kind: nodeKind, name: "a", op: admission.Update},
			want: "is not allowed to modify labels: node-restriction.kubernetes.io/secure"},
		{name: "removing a node-restriction label", req: req{obj: nodeObj("a", standard), old: nodeObj("a", restricted), resource: nodesGVR, kind: nodeKind, name: "a", op: admission.Update},
			want: "is not allowed to modify labels: node-restriction.kubernetes.io/secure"},
		{name: "changing a role label an admin set", req: req{obj: nodeObj("a", with(map[string]string{"node-role.kubernetes.io/db": "false"})),
			old: nodeObj("a", with(map[string]string{"node-role.kubernetes.io/db": "true"})), resource: nodesGVR, kind: nodeKind, name: "a", op: admission.Update},
			want: "is not allowed to modify labels: node-role.kubernetes.io/db"},
		{name: "removing its taints", req: req{obj: nodeObj("a", standard), old: nodeObj("a", standard, noSchedule), resource: nodesGVR, kind: nodeKind, name: "a", op: admission.Update},
			want: `node "a" is not allowed to modify taints`},
		{name: "updating another node's status", req: req{obj: nodeObj("b", standard), old: nodeObj("b", standard), resource: nodesGVR, kind: nodeKind, name: "b", subresource: "status", op: admission.Update},
			want: `node "a" is not allowed to modify node "b"`},
		{name: "deleting itself", req: req{resource: nodesGVR, kind: nodeKind, name: "a", op: admission.Delete}},
		{name: "deleting another node", req: req{resource: nodesGVR, kind: nodeKind, name: "b", op: admission.Delete},
			want: `node "a" is not allowed to modify node "b"`},

		// Pods.
		{name: "creating a pod bound to itself", req: req{obj: pod("new", "a", nil), resource: podsGVR, kind: podKind, namespace: "work", name: "new", op: admission.Create},
			want: `node "a" can not create pods`},
		{name: "creating a mirror pod", req: req{obj: mirror, resource: podsGVR, kind: podKind, namespace: "work", name: "static", op: admission.Create},
			want: `node "a" can not create pods`},
		{name: "updating a pod's spec", req: req{obj: relabelled, old: mine, resource: podsGVR, kind: podKind, namespace: "work", name: "mine", op: admission.Update},
			want: `unexpected operation "UPDATE"`},
		{name: "binding a pod", req: req{obj: pod("pending", "a", nil), resource: podsGVR, kind: podKind, namespace: "work", name: "pending", subresource: "binding", op: admission.Create},
			want: `unexpected pod subresource "binding", only 'status' and 'eviction' are allowed`},
		{name: "status of its own pod", req: req{obj: withStatus, old: mine, resource: podsGVR, kind: podKind, namespace: "work", name: "mine", subresource: "status", op: admission.Update}},
		{name: "status of another node's pod", req: req{obj: theirs, old: theirs, resource: podsGVR, kind: podKind, namespace: "work", name: "theirs", subresource: "status", op: admission.Update},
			want: `node "a" can only update pod status for pods with spec.nodeName set to itself`},
		{name: "labels through pod status", req: req{obj: relabelled, old: mine, resource: podsGVR, kind: podKind, namespace: "work", name: "mine", subresource: "status", op: admission.Update},
			want: `node "a" cannot update labels through pod status`},
		{name: "deleting its own pod", req: req{old: mine, resource: podsGVR, kind: podKind, namespace: "work", name: "mine", op: admission.Delete}},
		{name: "deleting its own pod known from the informer", req: req{resource: podsGVR, kind: podKind, namespace: "work", name: "mine", op: admission.Delete}},
		{name: "deleting another node's pod", req: req{old: theirs, resource: podsGVR, kind: podKind, namespace: "work", name: "theirs", op: admission.Delete},
			want: `node "a" can only delete pods with spec.nodeName set to itself`},
		{name: "deleting an unbound pod", req: req{resource: podsGVR, kind: podKind, namespace: "work", name: "pending", op: admission.Delete},
			want: `node "a" can only delete pods with spec.nodeName set to itself`},
		{name: "deleting a pod that is gone", req: req{resource: podsGVR, kind: podKind, namespace: "work", name: "gone", op: admission.Delete}, notFound: true},
		{name: "evicting its own pod", req: req{obj: &policyv1.Eviction{ObjectMeta: metav1.ObjectMeta{Name: "mine", Namespace: "work"}},
			resource: podsGVR, kind: evictKind, namespace: "work", name: "mine", subresource: "eviction", op: admission.Create}},
		{name: "evicting a pod named in the body only", req: req{obj: &policyv1.Eviction{ObjectMeta: metav1.ObjectMeta{Name: "theirs", Namespace: "work"}},
			resource: podsGVR, kind: evictKind, namespace: "work", subresource: "eviction", op: admission.Create},
			want: "node a can only evict pods with spec.nodeName set to itself"},
		{name: "evicting another node's pod", req: req{obj: &policyv1.Eviction{},
			resource: podsGVR, kind: evictKind, namespace: "work", name: "theirs", subresource: "eviction", op: admission.Create},
			want: "node a can only evict pods with spec.nodeName set to itself"},
		{name: "evicting a pod that is gone", req: req{obj: &policyv1.Eviction{},
			resource: podsGVR, kind: evictKind, namespace: "work", name: "gone", subresource: "eviction", op: admission.Create}, notFound: true},

		// Volumes: only those provisioned on the node.
		{name: "creating a volume of its own", req: req{obj: volume("pv-a", "a"), resource: volumesGVR, kind: volumeKind, op: admission.Create}},
		{name: "releasing a volume of its own", req: req{obj: volume("pv-a", "a"), old: volume("pv-a", "a"), resource: volumesGVR, kind: volumeKind, name: "pv-a", op: admission.Update}},
		{name: "deleting a volume of its own", req: req{old: volume("pv-a", "a"), resource: volumesGVR, kind: volumeKind, name: "pv-a", op: admission.Delete}},
		{name: "creating a volume for another node", req: req{obj: volume("pv-b", "b"), resource: volumesGVR, kind: volumeKind, op: admission.Create},
			want: `node "a" can only modify persistentvolumes annotated berth.dev/local-path-node=a`},
		{name: "creating an unannotated volume", req: req{obj: volume("pv", ""), resource: volumesGVR, kind: volumeKind, op: admission.Create},
			want: `node "a" can only modify persistentvolumes annotated`},
		{name: "taking over another node's volume", req: req{obj: volume("pv-b", "a"), old: volume("pv-b", "b"), resource: volumesGVR, kind: volumeKind, name: "pv-b", op: admission.Update},
			want: `node "a" can only modify persistentvolumes annotated`},
		{name: "deleting another node's volume", req: req{old: volume("pv-b", "b"), resource: volumesGVR, kind: volumeKind, name: "pv-b", op: admission.Delete},
			want: `node "a" can only modify persistentvolumes annotated`},

		// Leases.
		{name: "creating its lease", req: req{obj: lease(corev1.NamespaceNodeLease, "a"), resource: leasesGVR, kind: leaseKind, namespace: corev1.NamespaceNodeLease, op: admission.Create}},
		{name: "renewing its lease", req: req{obj: lease(corev1.NamespaceNodeLease, "a"), old: lease(corev1.NamespaceNodeLease, "a"), resource: leasesGVR, kind: leaseKind,
			namespace: corev1.NamespaceNodeLease, name: "a", op: admission.Update}},
		{name: "deleting its lease", req: req{resource: leasesGVR, kind: leaseKind, namespace: corev1.NamespaceNodeLease, name: "a", op: admission.Delete}},
		{name: "creating another node's lease", req: req{obj: lease(corev1.NamespaceNodeLease, "b"), resource: leasesGVR, kind: leaseKind, namespace: corev1.NamespaceNodeLease, op: admission.Create},
			want: "can only access node lease with the same name as the requesting node"},
		{name: "renewing another node's lease", req: req{obj: lease(corev1.NamespaceNodeLease, "b"), old: lease(corev1.NamespaceNodeLease, "b"), resource: leasesGVR, kind: leaseKind,
			namespace: corev1.NamespaceNodeLease, name: "b", op: admission.Update}, want: "can only access node lease with the same name as the requesting node"},
		{name: "a lease in another namespace", req: req{obj: lease("kube-system", "a"), resource: leasesGVR, kind: leaseKind, namespace: "kube-system", op: admission.Create},
			want: `can only access leases in the "kube-node-lease" system namespace`},

		// Token requests.
		{name: "a token bound to its pod", req: req{obj: tokenFor(podRef("mine", "mine")), resource: saGVR, kind: trKind, namespace: "work", name: "default", subresource: "token", op: admission.Create}},
		{name: "a token bound to another node's pod", req: req{obj: tokenFor(podRef("theirs", "theirs")), resource: saGVR, kind: trKind, namespace: "work", name: "default", subresource: "token", op: admission.Create},
			want: "node requested token bound to a pod scheduled on a different node"},
		{name: "a token bound to nothing", req: req{obj: tokenFor(nil), resource: saGVR, kind: trKind, namespace: "work", name: "default", subresource: "token", op: admission.Create},
			want: "node requested token not bound to a pod"},
		{name: "a token bound to a secret", req: req{obj: tokenFor(&authenticationv1.BoundObjectReference{APIVersion: "v1", Kind: "Secret", Name: "s", UID: "u"}),
			resource: saGVR, kind: trKind, namespace: "work", name: "default", subresource: "token", op: admission.Create}, want: "node requested token not bound to a pod"},
		{name: "a token bound to a pod without its uid", req: req{obj: tokenFor(&authenticationv1.BoundObjectReference{APIVersion: "v1", Kind: "Pod", Name: "mine"}),
			resource: saGVR, kind: trKind, namespace: "work", name: "default", subresource: "token", op: admission.Create}, want: "node requested token with a pod binding without a uid"},
		{name: "a token bound to an older pod of the same name", req: req{obj: tokenFor(podRef("mine", "old")), resource: saGVR, kind: trKind, namespace: "work", name: "default", subresource: "token", op: admission.Create},
			want: "the UID in the bound object reference (uid-old) does not match the UID in record"},
		{name: "a token bound to a pod that is gone", req: req{obj: tokenFor(podRef("gone", "gone")), resource: saGVR, kind: trKind, namespace: "work", name: "default", subresource: "token", op: admission.Create},
			notFound: true},
		{name: "a service account itself is RBAC's", req: req{obj: &corev1.ServiceAccount{ObjectMeta: metav1.ObjectMeta{Name: "x", Namespace: "work"}}, resource: saGVR,
			kind: corev1.SchemeGroupVersion.WithKind("ServiceAccount"), namespace: "work", name: "x", op: admission.Create}},

		// Claims.
		{name: "creating a claim", req: req{obj: claim(nil, ""), resource: claimsGVR, kind: claimKind, namespace: "work", op: admission.Create},
			want: "may only update PVC status"},
		{name: "a claim's capacity", req: req{obj: claim(nil, "2Gi"), old: claim(nil, "1Gi"), resource: claimsGVR, kind: claimKind, namespace: "work", name: "data", subresource: "status", op: admission.Update}},
		{name: "a claim's labels through its status", req: req{obj: claim(map[string]string{"x": "y"}, ""), old: claim(nil, ""), resource: claimsGVR, kind: claimKind, namespace: "work", name: "data", subresource: "status", op: admission.Update},
			want: `node "a" is not allowed to update fields other than status.capacity and status.conditions`},

		// Everything else, and other users.
		{name: "a configmap is RBAC's", req: req{obj: &corev1.ConfigMap{ObjectMeta: metav1.ObjectMeta{Name: "x", Namespace: "work"}},
			resource: corev1.SchemeGroupVersion.WithResource("configmaps"), kind: corev1.SchemeGroupVersion.WithKind("ConfigMap"), namespace: "work", name: "x", op: admission.Create}},
		{name: "a user that is not a node", req: req{user: &user.DefaultInfo{Name: "alice", Groups: []string{user.AllAuthenticated}},
			resource: nodesGVR, kind: nodeKind, name: "b", op: admission.Delete}},
		{name: "a node's name outside the nodes group", req: req{user: &user.DefaultInfo{Name: "system:node:a"}, obj: pod("new", "b", nil),
			resource: podsGVR, kind: podKind, namespace: "work", name: "new", op: admission.Create}},
		{name: "a node without a name", req: req{user: nodeUser(""), resource: nodesGVR, kind: nodeKind, name: "a", op: admission.Delete},
			want: `could not determine node from user "system:node:"`},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			a := tt.req.attributes()
			if !p.Handles(a.GetOperation()) {
				t.Fatalf("the plugin does not handle %s", a.GetOperation())
			}
			err := p.Validate(context.Background(), a, nil)
			switch {
			case tt.notFound:
				if !apierrors.IsNotFound(err) {
					t.Errorf("error %v, want NotFound", err)
				}
			case tt.want == "":
				if err != nil {
					t.Errorf("refused: %v", err)
				}
			case err == nil:
				t.Errorf("allowed, want refusal %q", tt.want)
			case !apierrors.IsForbidden(err) || !strings.Contains(err.Error(), tt.want):
				t.Errorf("error %v, want Forbidden with %q", err, tt.want)
			}
		})
	}
}

func TestNotReady(t *testing.T) {
	f := informers.NewSharedInformerFactory(fake.NewClientset(), 0)
	p := New(f)
	// A request the old object decides needs no informer, which has not
	// synced (it never started).
	mine := pod("mine", "a", nil)
	a := req{old: mine, resource: podsGVR, kind: podKind, namespace: "work", name: "mine", op: admission.Delete}.attributes()
	if err := p.Validate(context.Background(), a, nil); err != nil {
		t.Errorf("deleting its own pod: %v", err)
	}
}

func TestForbiddenLabels(t *testing.T) {
	tests := []struct {
		key       string
		forbidden bool
	}{
		{key: corev1.LabelHostname},
		{key: "beta.kubernetes.io/arch"},
		{key: corev1.LabelTopologyRegion},
		{key: "kubelet.kubernetes.io/anything"},
		{key: "x.node.kubernetes.io/anything"},
		{key: "example.com/team"},
		{key: "no-prefix"},
		{key: "kubernetes.io/other", forbidden: true},
		{key: "node-role.kubernetes.io/worker", forbidden: true},
		{key: "node-restriction.kubernetes.io/anything", forbidden: true},
		{key: "team.node-restriction.kubernetes.io/anything", forbidden: true},
		{key: "k8s.io/x", forbidden: true},
		{key: "sub.k8s.io/x", forbidden: true},
		{key: "notkubernetes.io/x"},
	}
	for _, tt := range tests {
		t.Run(tt.key, func(t *testing.T) {
			if got := len(forbiddenLabels([]string{tt.key})) > 0; got != tt.forbidden {
				t.Errorf("forbidden = %v, want %v", got, tt.forbidden)
			}
		})
	}
}
