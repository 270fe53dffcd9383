package validation

import (
	"strings"
	"testing"
	"time"

	corev1 "k8s.io/api/core/v1"
	"k8s.io/apimachinery/pkg/api/resource"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/runtime"
	"k8s.io/utils/ptr"
)

// checkCreate and checkUpdate run a table of objects through Create or Update.
func checkCreate(t *testing.T, cases map[string]struct {
	obj  runtime.Object
	want []fieldErr
}) {
	t.Helper()
	for name, tc := range cases {
		t.Run(name, func(t *testing.T) { expect(t, Create(tc.obj), tc.want...) })
	}
}

func TestConfigMap(t *testing.T) {
	cm := func(data map[string]string, binary map[string][]byte) *corev1.ConfigMap {
		return &corev1.ConfigMap{ObjectMeta: objectMeta("special-config", "work"), Data: data, BinaryData: binary}
	}
	checkCreate(t, map[string]struct {
		obj  runtime.Object
		want []fieldErr
	}{
		"key":        {obj: cm(map[string]string{"app/config": "x"}, nil), want: []fieldErr{invalid("data[app/config]", "a valid config key must consist of alphanumeric characters, '-', '_' or '.'")}},
		"dotted key": {obj: cm(map[string]string{".env": "x", "game.properties": "y"}, nil)},
		"key in both": {
			obj:  cm(map[string]string{"k": "x"}, map[string][]byte{"k": []byte("y")}),
			want: []fieldErr{invalid("data[k]", "duplicate of key present in binaryData")},
		},
		"too large": {
			obj:  cm(map[string]string{"a": strings.Repeat("x", 1<<20), "b": "y"}, nil),
			want: []fieldErr{errOf("[]", "FieldValueTooLong")},
		},
	})

	old := cm(map[string]string{"k": "v"}, nil)
	old.Immutable = ptr.To(true)
	for name, tc := range map[string]struct {
		mutate func(*corev1.ConfigMap)
		want   []fieldErr
	}{
		"labels of an immutable one": {mutate: func(c *corev1.ConfigMap) { c.Labels = map[string]string{"a": "b"} }},
		"data of an immutable one": {
			mutate: func(c *corev1.ConfigMap) { c.Data["k"] = "w" },
			want:   []fieldErr{forbidden("data", "field is immutable when `immutable` is set")},
		},
		"made mutable": {
			mutate: func(c *corev1.ConfigMap) { c.Immutable = nil },
			want:   []fieldErr{forbidden("immutable", "field is immutable when `immutable` is set")},
		},
	} {
		t.Run(name, func(t *testing.T) {
			obj := updated(old, tc.mutate)
			obj.ResourceVersion = "2"
			expect(t, Update(obj, old), tc.want...)
		})
	}
}

func TestSecret(t *testing.T) {
	secret := func(typ corev1.SecretType, data map[string][]byte) *corev1.Secret {
		return &corev1.Secret{ObjectMeta: objectMeta("s", "work"), Type: typ, Data: data}
	}
	checkCreate(t, map[string]struct {
		obj  runtime.Object
		want []fieldErr
	}{
		"key": {obj: secret(corev1.SecretTypeOpaque, map[string][]byte{"a b": nil}), want: []fieldErr{invalid("data[a b]", "a valid config key")}},
		"docker config json": {
			obj:  secret(corev1.SecretTypeDockerConfigJson, nil),
			want: []fieldErr{required("data[.dockerconfigjson]")},
		},
		"docker config json malformed": {
			obj:  secret(corev1.SecretTypeDockerConfigJson, map[string][]byte{corev1.DockerConfigJsonKey: []byte("{")}),
			want: []fieldErr{invalid("data[.dockerconfigjson]", "unexpected end of JSON input")},
		},
		"service account token": {
			obj:  secret(corev1.SecretTypeServiceAccountToken, nil),
			want: []fieldErr{required("metadata.annotations[kubernetes.io/service-account.name]")},
		},
		"service account token with its account": {
			obj: updated(secret(corev1.SecretTypeServiceAccountToken, nil), func(s *corev1.Secret) {
				s.Annotations = map[string]string{corev1.ServiceAccountNameKey: "default"}
			}),
		},
		"tls": {
			obj:  secret(corev1.SecretTypeTLS, map[string][]byte{corev1.TLSCertKey: []byte("c")}),
			want: []fieldErr{required("data[tls.key]")},
		},
		"basic auth": {
			obj:  secret(corev1.SecretTypeBasicAuth, map[string][]byte{}),
			want: []fieldErr{required("data[username]"), required("data[password]")},
		},
		"too large": {
			obj:  secret(corev1.SecretTypeOpaque, map[string][]byte{"a": make([]byte, 1<<20+1)}),
			want: []fieldErr{errOf("data", "FieldValueTooLong")},
		},
	})

	old := secret(corev1.SecretTypeOpaque, map[string][]byte{"k": []byte("v")})
	obj := updated(old, func(s *corev1.Secret) { s.Type = corev1.SecretTypeTLS })
	obj.ResourceVersion = "2"
	expect(t, Update(obj, old), invalid("type", "field is immutable"),
		required("data[tls.crt]"), required("data[tls.key]"))

	old.Immutable = ptr.To(true)
	obj = updated(old, func(s *corev1.Secret) { s.Data["k"] = []byte("w") })
	obj.ResourceVersion = "2"
	expect(t, Update(obj, old), forbidden("data", "field is immutable when `immutable` is set"))
}

func TestNamespace(t *testing.T) {
	ns := &corev1.Namespace{ObjectMeta: cluster("work"), Spec: corev1.NamespaceSpec{Finalizers: []corev1.FinalizerName{"cleanup"}},
		Status: corev1.NamespaceStatus{Phase: corev1.NamespaceActive}}
	expect(t, Create(ns), invalid("spec.finalizers", "name is neither a standard finalizer name nor is it fully qualified"))

	old := goodObjects(t)["namespace"].(*corev1.Namespace)
	for name, tc := range map[string]struct {
		mutate func(*corev1.Namespace)
		want   []fieldErr
	}{
		"terminating while not deleted": {
			mutate: func(n *corev1.Namespace) { n.Status.Phase = corev1.NamespaceTerminating },
			want:   []fieldErr{invalid("status.Phase", "may only be 'Active' if `deletionTimestamp` is empty")},
		},
		"active while deleted": {
			mutate: func(n *corev1.Namespace) { n.DeletionTimestamp = ptr.To(metav1.NewTime(time.Now())) },
			want: []fieldErr{
				invalid("status.Phase", "may only be 'Terminating' if `deletionTimestamp` is not empty"),
				invalid("metadata.deletionTimestamp", "field is immutable"),
			},
		},
	} {
		t.Run(name, func(t *testing.T) {
			obj := updated(old, tc.mutate)
			expect(t, StatusUpdate(obj, old), tc.want...)
		})
	}
}

func TestNode(t *testing.T) {
	node := goodObjects(t)["node"].(*corev1.Node)
	checkCreate(t, map[string]struct {
		obj  runtime.Object
		want []fieldErr
	}{
		"pod CIDR": {
			obj:  updated(node, func(n *corev1.Node) { n.Spec.PodCIDRs = []string{"10.244.1.0/33"} }),
			want: []fieldErr{invalid("spec.podCIDRs[0]", "must be a valid CIDR value")},
		},
		"two IPv4 pod CIDRs": {
			obj:  updated(node, func(n *corev1.Node) { n.Spec.PodCIDRs = []string{"10.244.1.0/24", "10.245.1.0/24"} }),
			want: []fieldErr{invalid("spec.podCIDRs", "may specify no more than one CIDR for each IP family")},
		},
		"taint effect": {
			obj: updated(node, func(n *corev1.Node) {
				n.Spec.Taints = []corev1.Taint{{Key: "dedicated", Value: "db", Effect: "NoRun"}}
			}),
			want: []fieldErr{notSupported("metadata.taints[0].effect")},
		},
		"taints unique by key and effect": {
			obj: updated(node, func(n *corev1.Node) {
				n.Spec.Taints = []corev1.Taint{{Key: "k", Effect: corev1.TaintEffectNoSchedule}, {Key: "k", Value: "v", Effect: corev1.TaintEffectNoSchedule}}
			}),
			want: []fieldErr{duplicate("metadata.taints[1]")},
		},
		"unschedulable": {obj: updated(node, func(n *corev1.Node) {
			n.Spec.Unschedulable = true
			n.Spec.Taints = []corev1.Taint{{Key: corev1.TaintNodeUnschedulable, Effect: corev1.TaintEffectNoSchedule}}
		})},
	})

	obj := updated(node, func(n *corev1.Node) { n.Spec.PodCIDR, n.Spec.PodCIDRs = "10.244.2.0/24", []string{"10.244.2.0/24"} })
	obj.ResourceVersion = "2"
	expect(t, Update(obj, node), forbidden("spec.podCIDRs", `node updates may not change podCIDR except from "" to valid`))

	obj = updated(node, func(n *corev1.Node) { n.Status.Capacity[corev1.ResourcePods] = resource.MustParse("-1") })
	expect(t, StatusUpdate(obj, node), invalid("status.capacity.pods", "must be greater than or equal to 0"))
}

func TestEvent(t *testing.T) {
	ev := goodObjects(t)["event"].(*corev1.Event)
	checkCreate(t, map[string]struct {
		obj  runtime.Object
		want []fieldErr
	}{
		"namespaces disagree": {
			obj:  updated(ev, func(e *corev1.Event) { e.InvolvedObject.Namespace = "default" }),
			want: []fieldErr{invalid("involvedObject.namespace", "does not match event.namespace")},
		},
		"event of a node": {
			obj: updated(ev, func(e *corev1.Event) {
				e.Namespace, e.InvolvedObject = "default", corev1.ObjectReference{Kind: "Node", Name: "node-1"}
			}),
		},
		"new style without reporter": {
			obj: updated(ev, func(e *corev1.Event) { e.EventTime = metav1.NewMicroTime(time.Now()) }),
			want: []fieldErr{
				required("reportingController"), required("reportingInstance"), required("action"),
			},
		},
	})
}

func TestLimitRange(t *testing.T) {
	lr := goodObjects(t)["limit range"].(*corev1.LimitRange)
	checkCreate(t, map[string]struct {
		obj  runtime.Object
		want []fieldErr
	}{
		"default above max": {
			obj: updated(lr, func(l *corev1.LimitRange) {
				l.Spec.Limits[0].Default[corev1.ResourceMemory] = resource.MustParse("5Gi")
			}),
			want: []fieldErr{invalid("spec.limits[0].default[memory]", "default value 5Gi is greater than max value 100Mi")},
		},
		"type": {
			obj:  updated(lr, func(l *corev1.LimitRange) { l.Spec.Limits[0].Type = "Node" }),
			want: []fieldErr{invalid("spec.limits[0].type", "must be a standard limit type or fully qualified")},
		},
		"pod defaults": {
			obj:  updated(lr, func(l *corev1.LimitRange) { l.Spec.Limits[0].Type = corev1.LimitTypePod }),
			want: []fieldErr{forbidden("spec.limits[0].default", "may not be specified when `type` is 'Pod'"), forbidden("spec.limits[0].defaultRequest", "")},
		},
	})
}

func TestResourceQuota(t *testing.T) {
	q := goodObjects(t)["resource quota"].(*corev1.ResourceQuota)
	checkCreate(t, map[string]struct {
		obj  runtime.Object
		want []fieldErr
	}{
		"negative": {
			obj:  updated(q, func(q *corev1.ResourceQuota) { q.Spec.Hard[corev1.ResourcePods] = resource.MustParse("-1") }),
			want: []fieldErr{invalid("spec.hard[pods]", "must be greater than or equal to 0")},
		},
		"fraction of pods": {
			obj:  updated(q, func(q *corev1.ResourceQuota) { q.Spec.Hard[corev1.ResourcePods] = resource.MustParse("1500m") }),
			want: []fieldErr{invalid("spec.hard[pods]", "must be an integer")},
		},
		"resource name": {
			obj: updated(q, func(q *corev1.ResourceQuota) { q.Spec.Hard["nodes"] = resource.MustParse("1") }),
			want: []fieldErr{
				invalid("spec.hard[nodes]", "must be a standard resource type or fully qualified"),
				invalid("spec.hard[nodes]", "must be a standard resource for quota"),
			},
		},
		"conflicting scopes": {
			obj: updated(q, func(q *corev1.ResourceQuota) {
				q.Spec.Scopes = []corev1.ResourceQuotaScope{corev1.ResourceQuotaScopeBestEffort, corev1.ResourceQuotaScopeNotBestEffort}
			}),
			want: []fieldErr{invalid("spec.scopes", "conflicting scopes")},
		},
	})
	obj := updated(q, func(q *corev1.ResourceQuota) {
		q.Spec.Scopes = []corev1.ResourceQuotaScope{corev1.ResourceQuotaScopeTerminating}
	})
	obj.ResourceVersion = "2"
	expect(t, Update(obj, q), invalid("spec.scopes", "field is immutable"))
}

func TestPersistentVolumeClaim(t *testing.T) {
	pvc := goodObjects(t)["persistent volume claim"].(*corev1.PersistentVolumeClaim)
	checkCreate(t, map[string]struct {
		obj  runtime.Object
		want []fieldErr
	}{
		"access modes": {
			obj:  updated(pvc, func(c *corev1.PersistentVolumeClaim) { c.Spec.AccessModes = nil }),
			want: []fieldErr{required("spec.accessModes")},
		},
		"storage request": {
			obj:  updated(pvc, func(c *corev1.PersistentVolumeClaim) { c.Spec.Resources.Requests = nil }),
			want: []fieldErr{required("spec.resources[storage]")},
		},
		"access mode": {
			obj: updated(pvc, func(c *corev1.PersistentVolumeClaim) {
				c.Spec.AccessModes = []corev1.PersistentVolumeAccessMode{"ReadWriteSometimes"}
			}),
			want: []fieldErr{notSupported("spec.accessModes")},
		},
	})

	bound := updated(pvc, func(c *corev1.PersistentVolumeClaim) {
		c.Spec.VolumeName = "pv-1"
		c.Spec.StorageClassName = ptr.To("local-path")
		c.Status = corev1.PersistentVolumeClaimStatus{Phase: corev1.ClaimBound,
			Capacity: corev1.ResourceList{corev1.ResourceStorage: resource.MustParse("1Gi")}}
	})
	for name, tc := range map[string]struct {
		old    *corev1.PersistentVolumeClaim
		mutate func(*corev1.PersistentVolumeClaim)
		want   []fieldErr
	}{
		"bound": {old: pvc, mutate: func(c *corev1.PersistentVolumeClaim) {
			c.Spec.VolumeName = "pv-1"
			c.Spec.StorageClassName = ptr.To("local-path")
		}},
		"grown": {old: bound, mutate: func(c *corev1.PersistentVolumeClaim) {
			c.Spec.Resources.Requests[corev1.ResourceStorage] = resource.MustParse("2Gi")
		}},
		"shrunk": {
			old: bound,
			mutate: func(c *corev1.PersistentVolumeClaim) {
				c.Spec.Resources.Requests[corev1.ResourceStorage] = resource.MustParse("512Mi")
			},
			want: []fieldErr{forbidden("spec.resources.requests.storage", "field can not be less than status.capacity")},
		},
		"access modes of a bound claim": {
			old: bound,
			mutate: func(c *corev1.PersistentVolumeClaim) {
				c.Spec.AccessModes = []corev1.PersistentVolumeAccessMode{corev1.ReadWriteMany}
			},
			want: []fieldErr{forbidden("spec", "spec is immutable after creation except resources.requests and volumeAttributesClassName for bound claims")},
		},
	} {
		t.Run(name, func(t *testing.T) {
			obj := updated(tc.old, tc.mutate)
			obj.ResourceVersion = "2"
			expect(t, Update(obj, tc.old), tc.want...)
		})
	}
}

func TestPersistentVolume(t *testing.T) {
	pv := goodObjects(t)["persistent volume"].(*corev1.PersistentVolume)
	checkCreate(t, map[string]struct {
		obj  runtime.Object
		want []fieldErr
	}{
		"no source": {
			obj:  updated(pv, func(v *corev1.PersistentVolume) { v.Spec.PersistentVolumeSource = corev1.PersistentVolumeSource{} }),
			want: []fieldErr{required("spec")},
		},
		"capacity": {
			obj:  updated(pv, func(v *corev1.PersistentVolume) { v.Spec.Capacity = nil }),
			want: []fieldErr{required("spec.capacity"), notSupported("spec.capacity")},
		},
		"local needs node affinity": {
			obj: updated(pv, func(v *corev1.PersistentVolume) {
				v.Spec.PersistentVolumeSource = corev1.PersistentVolumeSource{Local: &corev1.LocalVolumeSource{Path: "/mnt/disks/1"}}
			}),
			want: []fieldErr{required("spec.nodeAffinity")},
		},
	})
	obj := updated(pv, func(v *corev1.PersistentVolume) { v.Spec.HostPath.Path = "/mnt/other" })
	obj.ResourceVersion = "2"
	expect(t, Update(obj, pv), forbidden("spec.persistentvolumesource", "spec.persistentvolumesource is immutable after creation"))
}
