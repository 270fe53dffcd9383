package validation

import (
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/x509"
	"crypto/x509/pkix"
	"encoding/pem"
	"reflect"
	"testing"
	"time"

	admissionregistrationv1 "k8s.io/api/admissionregistration/v1"
	appsv1 "k8s.io/api/apps/v1"
	autoscalingv1 "k8s.io/api/autoscaling/v1"
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
	"k8s.io/apimachinery/pkg/api/resource"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/runtime"
	"k8s.io/apimachinery/pkg/util/intstr"
	"k8s.io/utils/ptr"
)

func cluster(name string) metav1.ObjectMeta { return objectMeta(name, "") }

// goodObjects are valid objects of every validated kind, as stored.
func goodObjects(t *testing.T) map[string]runtime.Object {
	pathType := networkingv1.PathTypePrefix
	return map[string]runtime.Object{
		"pod":                    pod(),
		"pod template":           &corev1.PodTemplate{ObjectMeta: objectMeta("web", "work"), Template: template("web")},
		"replication controller": replicationController(),
		"node port service":      service(),
		"cluster IP service":     clusterIPService(),
		"headless service": updated(clusterIPService(), func(s *corev1.Service) {
			s.Spec.ClusterIP, s.Spec.ClusterIPs = corev1.ClusterIPNone, []string{corev1.ClusterIPNone}
		}),
		"external name service": &corev1.Service{ObjectMeta: objectMeta("db", "work"), Spec: corev1.ServiceSpec{
			Type: corev1.ServiceTypeExternalName, ExternalName: "db.example.com.", SessionAffinity: corev1.ServiceAffinityNone}},
		"endpoints": &corev1.Endpoints{ObjectMeta: objectMeta("saythx-redis", "work"), Subsets: []corev1.EndpointSubset{{
			Addresses: []corev1.EndpointAddress{{IP: "10.244.1.5", NodeName: ptr.To("node-1"),
				TargetRef: &corev1.ObjectReference{Kind: "Pod", Name: "saythx-redis-0", Namespace: "work"}}},
			Ports: []corev1.EndpointPort{{Port: 6379, Protocol: corev1.ProtocolTCP}},
		}}},
		"config map": &corev1.ConfigMap{ObjectMeta: objectMeta("special-config", "work"),
			Data: map[string]string{"special.how": "very", "log_level": "INFO"}},
		"secret": &corev1.Secret{ObjectMeta: objectMeta("mysecret", "work"), Type: corev1.SecretTypeOpaque,
			Data: map[string][]byte{"username": []byte("admin")}},
		"tls secret": &corev1.Secret{ObjectMeta: objectMeta("tls", "work"), Type: corev1.SecretTypeTLS,
			Data: map[string][]byte{corev1.TLSCertKey: []byte("cert"), corev1.TLSPrivateKeyKey: []byte("key")}},
		"helm release secret": &corev1.Secret{ObjectMeta: objectMeta("sh.helm.release.v1.saythx.v1", "work"),
			Type: "helm.sh/release.v1", Data: map[string][]byte{"release": []byte("H4sI")}},
		"service account": &corev1.ServiceAccount{ObjectMeta: objectMeta("default", "work")},
		"namespace": &corev1.Namespace{ObjectMeta: cluster("work"),
			Spec:   corev1.NamespaceSpec{Finalizers: []corev1.FinalizerName{corev1.FinalizerKubernetes}},
			Status: corev1.NamespaceStatus{Phase: corev1.NamespaceActive}},
		"node": &corev1.Node{ObjectMeta: cluster("node-1"),
			Spec: corev1.NodeSpec{PodCIDR: "10.244.1.0/24", PodCIDRs: []string{"10.244.1.0/24"}},
			Status: corev1.NodeStatus{
				Capacity:  corev1.ResourceList{corev1.ResourceCPU: resource.MustParse("2"), corev1.ResourcePods: resource.MustParse("110")},
				Addresses: []corev1.NodeAddress{{Type: corev1.NodeInternalIP, Address: "192.168.0.11"}, {Type: corev1.NodeHostName, Address: "node-1"}},
			}},
		"event": &corev1.Event{ObjectMeta: objectMeta("backend.17a8b", "work"),
			InvolvedObject: corev1.ObjectReference{Kind: "Pod", Name: "backend", Namespace: "work"},
			Reason:         "Scheduled", Message: "Successfully assigned work/backend to node-1", Type: corev1.EventTypeNormal, Count: 1},
		"limit range": &corev1.LimitRange{ObjectMeta: objectMeta("mem-limit-range", "work"), Spec: corev1.LimitRangeSpec{
			Limits: []corev1.LimitRangeItem{{Type: corev1.LimitTypeContainer,
				Max:            corev1.ResourceList{corev1.ResourceMemory: resource.MustParse("100Mi")},
				Default:        corev1.ResourceList{corev1.ResourceMemory: resource.MustParse("64Mi")},
				DefaultRequest: corev1.ResourceList{corev1.ResourceMemory: resource.MustParse("32Mi")}}}}},
		"resource quota": &corev1.ResourceQuota{ObjectMeta: objectMeta("compute-resources", "work"), Spec: corev1.ResourceQuotaSpec{
			Hard: corev1.ResourceList{corev1.ResourcePods: resource.MustParse("1"), corev1.ResourceRequestsCPU: resource.MustParse("1"),
				"limits.memory": resource.MustParse("2Gi"), "count/deployments.apps": resource.MustParse("5")}}},
		"persistent volume": &corev1.PersistentVolume{ObjectMeta: cluster("pv-1"), Spec: corev1.PersistentVolumeSpec{
			Capacity:                      corev1.ResourceList{corev1.ResourceStorage: resource.MustParse("5Gi")},
			AccessModes:                   []corev1.PersistentVolumeAccessMode{corev1.ReadWriteOnce},
			PersistentVolumeSource:        corev1.PersistentVolumeSource{HostPath: &corev1.HostPathVolumeSource{Path: "/mnt/data", Type: ptr.To(corev1.HostPathUnset)}},
			PersistentVolumeReclaimPolicy: corev1.PersistentVolumeReclaimRetain,
			VolumeMode:                    ptr.To(corev1.PersistentVolumeFilesystem),
		}},
		"persistent volume claim": &corev1.PersistentVolumeClaim{ObjectMeta: objectMeta("data", "work"), Spec: corev1.PersistentVolumeClaimSpec{
			AccessModes: []corev1.PersistentVolumeAccessMode{corev1.ReadWriteOnce},
			Resources:   corev1.VolumeResourceRequirements{Requests: corev1.ResourceList{corev1.ResourceStorage: resource.MustParse("1Gi")}},
			VolumeMode:  ptr.To(corev1.PersistentVolumeFilesystem),
		}},

		"deployment":   deployment(),
		"replica set":  replicaSet(),
		"stateful set": statefulSet(),
		"daemon set":   daemonSet(),
		"controller revision": &appsv1.ControllerRevision{ObjectMeta: objectMeta("saythx-redis-6c4d5", "work"),
			Data: runtime.RawExtension{Raw: []byte(`{"spec":{}}`)}, Revision: 1},

		"job":      job(),
		"cron job": cronJob(),

		"horizontal pod autoscaler": &autoscalingv2.HorizontalPodAutoscaler{ObjectMeta: objectMeta("saythx-backend", "work"),
			Spec: autoscalingv2.HorizontalPodAutoscalerSpec{
				ScaleTargetRef: autoscalingv2.CrossVersionObjectReference{APIVersion: "apps/v1", Kind: "Deployment", Name: "saythx-backend"},
				MinReplicas:    ptr.To[int32](1), MaxReplicas: 5,
				Metrics: []autoscalingv2.MetricSpec{{Type: autoscalingv2.ResourceMetricSourceType, Resource: &autoscalingv2.ResourceMetricSource{
					Name: corev1.ResourceCPU, Target: autoscalingv2.MetricTarget{Type: autoscalingv2.UtilizationMetricType, AverageUtilization: ptr.To[int32](80)}}}},
			}},
		"horizontal pod autoscaler v1": &autoscalingv1.HorizontalPodAutoscaler{ObjectMeta: objectMeta("saythx-backend", "work"),
			Spec: autoscalingv1.HorizontalPodAutoscalerSpec{
				ScaleTargetRef: autoscalingv1.CrossVersionObjectReference{Kind: "Deployment", Name: "saythx-backend"},
				MinReplicas:    ptr.To[int32](1), MaxReplicas: 5, TargetCPUUtilizationPercentage: ptr.To[int32](80)}},
		"pod disruption budget": &policyv1.PodDisruptionBudget{ObjectMeta: objectMeta("redis", "work"), Spec: policyv1.PodDisruptionBudgetSpec{
			MinAvailable: ptr.To(intstr.FromInt32(1)), Selector: &metav1.LabelSelector{MatchLabels: map[string]string{"app": "redis"}}}},

		"ingress": &networkingv1.Ingress{ObjectMeta: objectMeta("saythx", "work"), Spec: networkingv1.IngressSpec{
			IngressClassName: ptr.To("nginx"),
			Rules: []networkingv1.IngressRule{{Host: "saythx.moelove.info", IngressRuleValue: networkingv1.IngressRuleValue{
				HTTP: &networkingv1.HTTPIngressRuleValue{Paths: []networkingv1.HTTPIngressPath{{Path: "/", PathType: &pathType,
					Backend: networkingv1.IngressBackend{Service: &networkingv1.IngressServiceBackend{Name: "saythx-frontend",
						Port: networkingv1.ServiceBackendPort{Number: 80}}}}}}}}},
			TLS: []networkingv1.IngressTLS{{Hosts: []string{"*.moelove.info"}, SecretName: "tls"}},
		}},
		"ingress class": &networkingv1.IngressClass{ObjectMeta: cluster("nginx"), Spec: networkingv1.IngressClassSpec{Controller: "k8s.io/ingress-nginx"}},
		"network policy": &networkingv1.NetworkPolicy{ObjectMeta: objectMeta("redis", "work"), Spec: networkingv1.NetworkPolicySpec{
			PodSelector: metav1.LabelSelector{MatchLabels: map[string]string{"app": "redis"}},
			Ingress: []networkingv1.NetworkPolicyIngressRule{{
				Ports: []networkingv1.NetworkPolicyPort{{Protocol: ptr.To(corev1.ProtocolTCP), Port: ptr.To(intstr.FromInt32(6379))}},
				From:  []networkingv1.NetworkPolicyPeer{{IPBlock: &networkingv1.IPBlock{CIDR: "10.0.0.0/8", Except: []string{"10.1.0.0/16"}}}},
			}},
			PolicyTypes: []networkingv1.PolicyType{networkingv1.PolicyTypeIngress},
		}},
		"endpoint slice": &discoveryv1.EndpointSlice{ObjectMeta: objectMeta("saythx-redis-abcde", "work"),
			AddressType: discoveryv1.AddressTypeIPv4,
			Endpoints: []discoveryv1.Endpoint{{Addresses: []string{"10.244.1.5"}, NodeName: ptr.To("node-1"),
				Conditions: discoveryv1.EndpointConditions{Ready: ptr.To(true)}}},
			Ports: []discoveryv1.EndpointPort{{Name: ptr.To(""), Protocol: ptr.To(corev1.ProtocolTCP), Port: ptr.To[int32](6379)}}},
		"lease": &coordinationv1.Lease{ObjectMeta: objectMeta("node-1", "kube-node-lease"), Spec: coordinationv1.LeaseSpec{
			HolderIdentity: ptr.To("node-1"), LeaseDurationSeconds: ptr.To[int32](40)}},
		"priority class": &schedulingv1.PriorityClass{ObjectMeta: cluster("high-priority"), Value: 1000000,
			PreemptionPolicy: ptr.To(corev1.PreemptLowerPriority)},
		"system priority class": &schedulingv1.PriorityClass{ObjectMeta: cluster("system-node-critical"), Value: 2000001000,
			PreemptionPolicy: ptr.To(corev1.PreemptLowerPriority)},
		"storage class": &storagev1.StorageClass{ObjectMeta: cluster("local-path"), Provisioner: "rancher.io/local-path",
			ReclaimPolicy: ptr.To(corev1.PersistentVolumeReclaimDelete), VolumeBindingMode: ptr.To(storagev1.VolumeBindingWaitForFirstConsumer)},

		"role": &rbacv1.Role{ObjectMeta: objectMeta("pod-reader", "work"), Rules: []rbacv1.PolicyRule{{
			APIGroups: []string{""}, Resources: []string{"pods", "pods/log"}, Verbs: []string{"get", "list", "watch"}}}},
		"cluster role": &rbacv1.ClusterRole{ObjectMeta: cluster("system:discovery"), Rules: []rbacv1.PolicyRule{{
			NonResourceURLs: []string{"/api", "/api/*", "/version"}, Verbs: []string{"get"}}}},
		"role binding": &rbacv1.RoleBinding{ObjectMeta: objectMeta("backend:pod-reader", "work"),
			RoleRef: rbacv1.RoleRef{APIGroup: rbacv1.GroupName, Kind: "Role", Name: "pod-reader"},
			Subjects: []rbacv1.Subject{{Kind: rbacv1.UserKind, APIGroup: rbacv1.GroupName, Name: "backend"},
				{Kind: rbacv1.ServiceAccountKind, Name: "default", Namespace: "work"}}},
		"cluster role binding": &rbacv1.ClusterRoleBinding{ObjectMeta: cluster("system:discovery"),
			RoleRef:  rbacv1.RoleRef{APIGroup: rbacv1.GroupName, Kind: "ClusterRole", Name: "system:discovery"},
			Subjects: []rbacv1.Subject{{Kind: rbacv1.GroupKind, APIGroup: rbacv1.GroupName, Name: "system:authenticated"}}},

		"certificate signing request": &certificatesv1.CertificateSigningRequest{ObjectMeta: cluster("backend"),
			Spec: certificatesv1.CertificateSigningRequestSpec{
				Request:    csrPEM(t, "backend", "dev"),
				SignerName: certificatesv1.KubeAPIServerClientSignerName,
				Usages:     []certificatesv1.KeyUsage{certificatesv1.UsageClientAuth},
			}},
		"validating webhook configuration": &admissionregistrationv1.ValidatingWebhookConfiguration{ObjectMeta: cluster("policy.example.com")},
		"mutating webhook configuration":   &admissionregistrationv1.MutatingWebhookConfiguration{ObjectMeta: cluster("inject.example.com")},
	}
}

// csrPEM makes a certificate request such as `openssl req -new -subj /CN=backend/O=dev` does.
func csrPEM(t *testing.T, cn, org string) []byte {
	t.Helper()
	key, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	if err != nil {
		t.Fatal(err)
	}
	der, err := x509.CreateCertificateRequest(rand.Reader, &x509.CertificateRequest{
		Subject: pkix.Name{CommonName: cn, Organization: []string{org}}}, key)
	if err != nil {
		t.Fatal(err)
	}
	return pem.EncodeToMemory(&pem.Block{Type: "CERTIFICATE REQUEST", Bytes: der})
}

func TestGoodObjectsPass(t *testing.T) {
	for name, obj := range goodObjects(t) {
		t.Run(name, func(t *testing.T) {
			expect(t, Create(obj))
			next := obj.DeepCopyObject()
			next.(metav1.Object).SetResourceVersion("2")
			expect(t, Update(next, obj))
			expect(t, StatusUpdate(next, obj))
		})
	}
}

func TestEveryKindHasAGoodObject(t *testing.T) {
	covered := map[reflect.Type]bool{}
	for _, obj := range goodObjects(t) {
		covered[reflect.TypeOf(obj)] = true
	}
	for typ := range kinds {
		if !covered[typ] {
			t.Errorf("no valid %v in goodObjects", typ)
		}
	}
}

func TestUnknownTypes(t *testing.T) {
	for name, obj := range map[string]runtime.Object{
		"status":  &metav1.Status{},
		"binding": &corev1.Binding{},
		"nil":     nil,
	} {
		t.Run(name, func(t *testing.T) {
			expect(t, Create(obj))
			expect(t, Update(obj, obj))
			expect(t, StatusUpdate(obj, obj))
		})
	}
}

func TestMetadata(t *testing.T) {
	for name, tc := range map[string]struct {
		obj  runtime.Object
		want []fieldErr
	}{
		"name required": {
			obj:  updated(pod(), func(p *corev1.Pod) { p.Name = "" }),
			want: []fieldErr{required("metadata.name")},
		},
		"pod name is a subdomain": {
			obj:  updated(pod(), func(p *corev1.Pod) { p.Name = "Backend_1" }),
			want: []fieldErr{invalid("metadata.name", "a lowercase RFC 1123 subdomain")},
		},
		"pod name may have dots": {
			obj: updated(pod(), func(p *corev1.Pod) { p.Name = "backend.v1" }),
		},
		"namespace name is a label": {
			obj:  &corev1.Namespace{ObjectMeta: cluster("my.team"), Status: corev1.NamespaceStatus{Phase: corev1.NamespaceActive}},
			want: []fieldErr{invalid("metadata.name", "must not contain dots")},
		},
		"service name is a DNS-1035 label": {
			obj:  updated(service(), func(s *corev1.Service) { s.Name = "1redis" }),
			want: []fieldErr{invalid("metadata.name", "a DNS-1035 label")},
		},
		"stateful set name is a label": {
			obj:  updated(statefulSet(), func(s *appsv1.StatefulSet) { s.Name = "redis.v1" }),
			want: []fieldErr{invalid("metadata.name", "must not contain dots")},
		},
		"role name is a path segment": {
			obj:  &rbacv1.Role{ObjectMeta: objectMeta("a/b", "work")},
			want: []fieldErr{invalid("metadata.name", "may not contain '/'")},
		},
		"role name may have colons and capitals": {
			obj: &rbacv1.ClusterRole{ObjectMeta: cluster("system:Controller:x")},
		},
		"namespaced kind needs a namespace": {
			obj:  updated(deployment(), func(d *appsv1.Deployment) { d.Namespace = "" }),
			want: []fieldErr{required("metadata.namespace")},
		},
		"namespace of a namespaced kind is a label": {
			obj:  updated(deployment(), func(d *appsv1.Deployment) { d.Namespace = "Work" }),
			want: []fieldErr{invalid("metadata.namespace", "RFC 1123 label")},
		},
		"cluster scoped kind has no namespace": {
			obj:  updated(goodObjects(t)["node"], func(n runtime.Object) { n.(*corev1.Node).Namespace = "work" }),
			want: []fieldErr{forbidden("metadata.namespace", "not allowed on this type")},
		},
		"labels": {
			obj:  updated(pod(), func(p *corev1.Pod) { p.Labels = map[string]string{"app": "back end"} }),
			want: []fieldErr{invalid("metadata.labels", "a valid label must be")},
		},
		"annotations": {
			obj:  updated(pod(), func(p *corev1.Pod) { p.Annotations = map[string]string{"-bad": "x"} }),
			want: []fieldErr{invalid("metadata.annotations", "name part must consist of")},
		},
		"finalizer without a domain": {
			obj:  updated(pod(), func(p *corev1.Pod) { p.Finalizers = []string{"mine"} }),
			want: []fieldErr{invalid("metadata.finalizers[0]", "name is neither a standard finalizer name nor is it fully qualified")},
		},
		"standard and qualified finalizers": {
			obj: updated(pod(), func(p *corev1.Pod) { p.Finalizers = []string{"foregroundDeletion", "example.com/cleanup"} }),
		},
		"owner reference": {
			obj: updated(pod(), func(p *corev1.Pod) {
				p.OwnerReferences = []metav1.OwnerReference{{APIVersion: "apps/v1", Kind: "ReplicaSet", Name: "", UID: "u"}}
			}),
			want: []fieldErr{required("metadata.ownerReferences[0].name")},
		},
	} {
		t.Run(name, func(t *testing.T) {
			expect(t, Create(tc.obj), tc.want...)
		})
	}
}

func TestMetadataUpdate(t *testing.T) {
	for name, tc := range map[string]struct {
		mutate func(*corev1.ConfigMap)
		want   []fieldErr
	}{
		"labels change": {mutate: func(c *corev1.ConfigMap) { c.Labels = map[string]string{"tier": "cache"} }},
		"name is immutable": {
			mutate: func(c *corev1.ConfigMap) { c.Name = "other" },
			want:   []fieldErr{invalid("metadata.name", "field is immutable")},
		},
		"uid is immutable": {
			mutate: func(c *corev1.ConfigMap) { c.UID = "other" },
			want:   []fieldErr{invalid("metadata.uid", "field is immutable")},
		},
		"resource version is needed": {
			mutate: func(c *corev1.ConfigMap) { c.ResourceVersion = "" },
			want:   []fieldErr{invalid("metadata.resourceVersion", "must be specified for an update")},
		},
		"no new finalizers while deleting": {
			mutate: func(c *corev1.ConfigMap) { c.Finalizers = []string{"example.com/late"} },
			want:   []fieldErr{forbidden("metadata.finalizers", "no new finalizers can be added if the object is being deleted")},
		},
	} {
		t.Run(name, func(t *testing.T) {
			old := &corev1.ConfigMap{ObjectMeta: objectMeta("cfg", "work")}
			if name == "no new finalizers while deleting" {
				old.DeletionTimestamp = ptr.To(metav1.NewTime(time.Now()))
			}
			obj := updated(old, tc.mutate)
			if obj.ResourceVersion == "1" {
				obj.ResourceVersion = "2"
			}
			expect(t, Update(obj, old), tc.want...)
		})
	}
}

func TestUpdateOfAnotherType(t *testing.T) {
	errs := Update(pod(), deployment())
	if len(errs) != 1 || errs[0].Type != "InternalError" {
		t.Errorf("want one internal error, got %v", errs)
	}
}
