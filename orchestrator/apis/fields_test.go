package apis

import (
	"maps"
	"strings"
	"testing"

	appsv1 "k8s.io/api/apps/v1"
	batchv1 "k8s.io/api/batch/v1"
	corev1 "k8s.io/api/core/v1"
	eventsv1 "k8s.io/api/events/v1"
	rbacv1 "k8s.io/api/rbac/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/fields"
	"k8s.io/apimachinery/pkg/runtime"
	"k8s.io/apimachinery/pkg/runtime/schema"
	"k8s.io/apimachinery/pkg/util/diff"
)

func TestSelectableFields(t *testing.T) {
	tests := []struct {
		name   string
		obj    runtime.Object
		want   fields.Set
		served bool
	}{
		{
			name: "a scheduled Pod",
			obj: &corev1.Pod{
				ObjectMeta: metav1.ObjectMeta{Name: "web-0", Namespace: "shop"},
				Spec: corev1.PodSpec{
					NodeName: "node-1", RestartPolicy: corev1.RestartPolicyAlways, SchedulerName: "default-scheduler",
					ServiceAccountName: "web", HostNetwork: true,
				},
				Status: corev1.PodStatus{
					Phase: corev1.PodRunning, PodIP: "10.0.0.7",
					PodIPs: []corev1.PodIP{{IP: "10.0.0.7"}, {IP: "fd00::7"}},
				},
			},
			want: fields.Set{
				"metadata.name": "web-0", "metadata.namespace": "shop",
				"spec.nodeName": "node-1", "spec.restartPolicy": "Always", "spec.schedulerName": "default-scheduler",
				"spec.serviceAccountName": "web", "spec.hostNetwork": "true",
				"status.phase": "Running", "status.podIP": "10.0.0.7", "status.podIPs": "", "status.nominatedNodeName": "",
			},
			served: true,
		},
		{
			name:   "a cluster-scoped Node has no namespace",
			obj:    &corev1.Node{ObjectMeta: metav1.ObjectMeta{Name: "node-1"}, Spec: corev1.NodeSpec{Unschedulable: true}},
			want:   fields.Set{"metadata.name": "node-1", "spec.unschedulable": "true"},
			served: true,
		},
		{
			name: "a core Event falls back on its reporting controller for its source",
			obj: &corev1.Event{
				ObjectMeta:          metav1.ObjectMeta{Name: "web-0.1", Namespace: "shop"},
				InvolvedObject:      corev1.ObjectReference{Kind: "Pod", Namespace: "shop", Name: "web-0", UID: "u1", APIVersion: "v1"},
				Reason:              "Scheduled",
				ReportingController: "default-scheduler",
				Type:                corev1.EventTypeNormal,
			},
			want: fields.Set{
				"metadata.name": "web-0.1", "metadata.namespace": "shop",
				"involvedObject.kind": "Pod", "involvedObject.namespace": "shop", "involvedObject.name": "web-0",
				"involvedObject.uid": "u1", "involvedObject.apiVersion": "v1", "involvedObject.resourceVersion": "",
				"involvedObject.fieldPath": "", "reason": "Scheduled", "reportingComponent": "default-scheduler",
				"source": "default-scheduler", "type": "Normal",
			},
			served: true,
		},
		{
			name:   "a Job counts its successes",
			obj:    &batchv1.Job{ObjectMeta: metav1.ObjectMeta{Name: "pi", Namespace: "default"}, Status: batchv1.JobStatus{Succeeded: 2}},
			want:   fields.Set{"metadata.name": "pi", "metadata.namespace": "default", "status.successful": "2"},
			served: true,
		},
		{
			name:   "a ReplicaSet counts its replicas",
			obj:    &appsv1.ReplicaSet{ObjectMeta: metav1.ObjectMeta{Name: "web-1", Namespace: "shop"}, Status: appsv1.ReplicaSetStatus{Replicas: 3}},
			want:   fields.Set{"metadata.name": "web-1", "metadata.namespace": "shop", "status.replicas": "3"},
			served: true,
		},
		{
			name:   "a namespaced kind without fields of its own",
			obj:    &corev1.ConfigMap{ObjectMeta: metav1.ObjectMeta{Name: "settings", Namespace: "shop"}},
			want:   fields.Set{"metadata.name": "settings", "metadata.namespace": "shop"},
			served: true,
		},
		{
			name:   "a cluster-scoped kind without fields of its own",
			obj:    &rbacv1.ClusterRole{ObjectMeta: metav1.ObjectMeta{Name: "view"}},
			want:   fields.Set{"metadata.name": "view"},
			served: true,
		},
		{name: "a list is no served kind", obj: &corev1.PodList{}},
		{name: "options are no served kind", obj: &corev1.PodLogOptions{}},
		{name: "a meta type is no served kind", obj: &metav1.Status{}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			got, served := SelectableFields(tt.obj)
			if served != tt.served {
				t.Fatalf("served = %v, want %v", served, tt.served)
			}
			if !maps.Equal(got, tt.want) {
				t.Errorf("fields (-want +got):\n%s", diff.Diff(tt.want, got))
			}
		})
	}
}

func TestFieldLabelConversion(t *testing.T) {
	pod := corev1.SchemeGroupVersion.WithKind("Pod")
	tests := []struct {
		name      string
		gvk       schema.GroupVersionKind
		label     string
		wantLabel string
		wantErr   string
	}{
		{name: "pods by node", gvk: pod, label: "spec.nodeName", wantLabel: "spec.nodeName"},
		{name: "pods by phase", gvk: pod, label: "status.phase", wantLabel: "status.phase"},
		{name: "pods by namespace", gvk: pod, label: "metadata.namespace", wantLabel: "metadata.namespace"},
		{name: "pods by the legacy host label", gvk: pod, label: "spec.host", wantLabel: "spec.nodeName"},
		{name: "pods by an unknown field", gvk: pod, label: "spec.foo", wantErr: "field label not supported: spec.foo"},
		{name: "nodes by unschedulable", gvk: corev1.SchemeGroupVersion.WithKind("Node"), label: "spec.unschedulable", wantLabel: "spec.unschedulable"},
		{name: "nodes have no namespace", gvk: corev1.SchemeGroupVersion.WithKind("Node"), label: "metadata.namespace", wantErr: "field label not supported: metadata.namespace"},
		{name: "secrets by type", gvk: corev1.SchemeGroupVersion.WithKind("Secret"), label: "type", wantLabel: "type"},
		{name: "services by cluster IP", gvk: corev1.SchemeGroupVersion.WithKind("Service"), label: "spec.clusterIP", wantLabel: "spec.clusterIP"},
		{name: "config maps by name", gvk: corev1.SchemeGroupVersion.WithKind("ConfigMap"), label: "metadata.name", wantLabel: "metadata.name"},
		{name: "config maps by data", gvk: corev1.SchemeGroupVersion.WithKind("ConfigMap"), label: "data.key", wantErr: "field label not supported: data.key"},
		{name: "jobs by successes", gvk: batchv1.SchemeGroupVersion.WithKind("Job"), label: "status.successful", wantLabel: "status.successful"},
		{name: "events.k8s.io events by regarding kind", gvk: eventsv1.SchemeGroupVersion.WithKind("Event"), label: "regarding.kind", wantLabel: "regarding.kind"},
		{name: "CSRs by signer", gvk: schema.GroupVersionKind{Group: "certificates.k8s.io", Version: "v1", Kind: "CertificateSigningRequest"}, label: "spec.signerName", wantLabel: "spec.signerName"},
	}
	s := newTestScheme(t)
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			label, value, err := s.ConvertFieldLabel(tt.gvk, tt.label, "x")
			if tt.wantErr != "" {
				if err == nil || err.Error() != tt.wantErr {
					t.Fatalf("error %v, want %q", err, tt.wantErr)
				}
				return
			}
			if err != nil {
				t.Fatalf("unexpected error: %v", err)
			}
			if label != tt.wantLabel || value != "x" {
				t.Errorf("converted to %s=%s, want %s=x", label, value, tt.wantLabel)
			}
		})
	}
}

// TestEveryServedKindSelectsFields checks that every served kind has its conversion
// registered and that it accepts every field SelectableFields gives for the kind.
func TestEveryServedKindSelectsFields(t *testing.T) {
	s := newTestScheme(t)
	for _, gv := range GroupVersions {
		for kind := range s.KnownTypes(gv) {
			gvk := gv.WithKind(kind)
			obj, err := s.New(gvk)
			if err != nil {
				t.Fatalf("%s: %v", gvk, err)
			}
			set, ok := SelectableFields(obj)
			if !ok {
				continue
			}
			t.Run(gvk.String(), func(t *testing.T) {
				for label := range set {
					if _, _, err := s.ConvertFieldLabel(gvk, label, ""); err != nil {
						t.Errorf("label %s: %v", label, err)
					}
				}
				// The default conversion of an unregistered kind words its error otherwise.
				_, _, err := s.ConvertFieldLabel(gvk, "spec.foo", "")
				if err == nil || !strings.HasPrefix(err.Error(), "field label not supported") {
					t.Errorf("label spec.foo: error %v, want field label not supported", err)
				}
			})
		}
	}
}
