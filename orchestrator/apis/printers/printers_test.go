package printers

import (
	"context"
	"strings"
	"testing"
	"time"

	appsv1 "k8s.io/api/apps/v1"
	autoscalingv2 "k8s.io/api/autoscaling/v2"
	batchv1 "k8s.io/api/batch/v1"
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
	"k8s.io/apimachinery/pkg/runtime/schema"
)

// now is the test clock; ago(d) is a timestamp d before it.
var now = time.Date(2026, 3, 1, 12, 0, 0, 0, time.UTC)

func ago(d time.Duration) metav1.Time { return metav1.NewTime(now.Add(-d)) }

// convert renders obj with the convertor of resource at the test clock.
func convert(t *testing.T, resource schema.GroupResource, obj runtime.Object, opts runtime.Object) *metav1.Table {
	t.Helper()
	table, err := forClock(resource, func() time.Time { return now }).ConvertToTable(context.Background(), obj, opts)
	if err != nil {
		t.Fatalf("ConvertToTable(%T): %v", obj, err)
	}
	return table
}

func gr(group, resource string) schema.GroupResource {
	return schema.GroupResource{Group: group, Resource: resource}
}

// TestColumns pins every kind's columns to upstream's: names in order, "*" marking the
// priority-1 (-o wide) ones. It also checks that an empty object fills every column.
func TestColumns(t *testing.T) {
	tests := []struct {
		resource schema.GroupResource
		empty    runtime.Object
		columns  string
	}{
		{gr("", "pods"), &corev1.Pod{}, "Name|Ready|Status|Restarts|Age|*IP|*Node|*Nominated Node|*Readiness Gates"},
		{gr("", "services"), &corev1.Service{}, "Name|Type|Cluster-IP|External-IP|Port(s)|Age|*Selector"},
		{gr("", "endpoints"), &corev1.Endpoints{}, "Name|Endpoints|Age"},
		{gr("", "nodes"), &corev1.Node{}, "Name|Status|Roles|Age|Version|*Internal-IP|*External-IP|*OS-Image|*Kernel-Version|*Container-Runtime"},
		{gr("", "namespaces"), &corev1.Namespace{}, "Name|Status|Age"},
		{gr("", "configmaps"), &corev1.ConfigMap{}, "Name|Data|Age"},
		{gr("", "secrets"), &corev1.Secret{}, "Name|Type|Data|Age"},
		{gr("", "serviceaccounts"), &corev1.ServiceAccount{}, "Name|Secrets|Age"},
		{gr("", "events"), &corev1.Event{}, "Last Seen|Type|Reason|Object|*Subobject|*Source|Message|*First Seen|*Count|*Name"},
		{gr("", "persistentvolumes"), &corev1.PersistentVolume{}, "Name|Capacity|Access Modes|Reclaim Policy|Status|Claim|StorageClass|VolumeAttributesClass|Reason|Age|*VolumeMode"},
		{gr("", "persistentvolumeclaims"), &corev1.PersistentVolumeClaim{}, "Name|Status|Volume|Capacity|Access Modes|StorageClass|VolumeAttributesClass|Age|*VolumeMode"},
		{gr("", "resourcequotas"), &corev1.ResourceQuota{}, "Name|Request|Limit|Age"},
		{gr("", "replicationcontrollers"), &corev1.ReplicationController{}, "Name|Desired|Current|Ready|Age|*Containers|*Images|*Selector"},
		{gr("apps", "deployments"), &appsv1.Deployment{}, "Name|Ready|Up-to-date|Available|Age|*Containers|*Images|*Selector"},
		{gr("apps", "replicasets"), &appsv1.ReplicaSet{}, "Name|Desired|Current|Ready|Age|*Containers|*Images|*Selector"},
		{gr("apps", "statefulsets"), &appsv1.StatefulSet{}, "Name|Ready|Age|*Containers|*Images"},
		{gr("apps", "daemonsets"), &appsv1.DaemonSet{}, "Name|Desired|Current|Ready|Up-to-date|Available|Node Selector|Age|*Containers|*Images|*Selector"},
		{gr("apps", "controllerrevisions"), &appsv1.ControllerRevision{}, "Name|Controller|Revision|Age"},
		{gr("batch", "jobs"), &batchv1.Job{}, "Name|Status|Completions|Duration|Age|*Containers|*Images|*Selector"},
		{gr("batch", "cronjobs"), &batchv1.CronJob{}, "Name|Schedule|Timezone|Suspend|Active|Last Schedule|Age|*Containers|*Images|*Selector"},
		{gr("autoscaling", "horizontalpodautoscalers"), &autoscalingv2.HorizontalPodAutoscaler{}, "Name|Reference|Targets|MinPods|MaxPods|Replicas|Age"},
		{gr("policy", "poddisruptionbudgets"), &policyv1.PodDisruptionBudget{}, "Name|Min Available|Max Unavailable|Allowed Disruptions|Age"},
		{gr("networking.k8s.io", "ingresses"), &networkingv1.Ingress{}, "Name|Class|Hosts|Address|Ports|Age"},
		{gr("networking.k8s.io", "ingressclasses"), &networkingv1.IngressClass{}, "Name|Controller|Parameters|Age"},
		{gr("networking.k8s.io", "networkpolicies"), &networkingv1.NetworkPolicy{}, "Name|Pod-Selector|Age"},
		{gr("discovery.k8s.io", "endpointslices"), &discoveryv1.EndpointSlice{}, "Name|AddressType|Ports|Endpoints|Age"},
		{gr("coordination.k8s.io", "leases"), &coordinationv1.Lease{}, "Name|Holder|Age"},
		{gr("scheduling.k8s.io", "priorityclasses"), &schedulingv1.PriorityClass{}, "Name|Value|Global-Default|Age|PreemptionPolicy"},
		{gr("storage.k8s.io", "storageclasses"), &storagev1.StorageClass{}, "Name|Provisioner|ReclaimPolicy|VolumeBindingMode|AllowVolumeExpansion|Age"},
		{gr("rbac.authorization.k8s.io", "rolebindings"), &rbacv1.RoleBinding{}, "Name|Role|Age|*Users|*Groups|*ServiceAccounts"},
		{gr("rbac.authorization.k8s.io", "clusterrolebindings"), &rbacv1.ClusterRoleBinding{}, "Name|Role|Age|*Users|*Groups|*ServiceAccounts"},
		{gr("certificates.k8s.io", "certificatesigningrequests"), &certificatesv1.CertificateSigningRequest{}, "Name|Age|SignerName|Requestor|RequestedDuration|Condition"},
		// Upstream prints these with the default table.
		{gr("rbac.authorization.k8s.io", "roles"), &rbacv1.Role{}, "Name|Created At"},
		{gr("rbac.authorization.k8s.io", "clusterroles"), &rbacv1.ClusterRole{}, "Name|Created At"},
		{gr("", "limitranges"), &corev1.LimitRange{}, "Name|Created At"},
		{gr("example.com", "widgets"), &corev1.ConfigMap{}, "Name|Created At"},
	}
	for _, tt := range tests {
		t.Run(tt.resource.String(), func(t *testing.T) {
			table := convert(t, tt.resource, tt.empty, nil)
			var got []string
			for _, c := range table.ColumnDefinitions {
				name := c.Name
				if c.Priority == 1 {
					name = "*" + name
				} else if c.Priority != 0 {
					t.Errorf("column %q has priority %d", c.Name, c.Priority)
				}
				if (c.Format == "name") != (c.Name == "Name") {
					t.Errorf("column %q has format %q", c.Name, c.Format)
				}
				if c.Type == "" || c.Description == "" {
					t.Errorf("column %q lacks a type or description: %+v", c.Name, c)
				}
				got = append(got, name)
			}
			if g := strings.Join(got, "|"); g != tt.columns {
				t.Errorf("columns\n got %s\nwant %s", g, tt.columns)
			}
			if len(table.Rows) != 1 || len(table.Rows[0].Cells) != len(table.ColumnDefinitions) {
				t.Fatalf("want one row with %d cells, got %+v", len(table.ColumnDefinitions), table.Rows)
			}
		})
	}
}

func TestConvertList(t *testing.T) {
	remaining := int64(7)
	list := &corev1.ConfigMapList{
		ListMeta: metav1.ListMeta{ResourceVersion: "42", Continue: "token", RemainingItemCount: &remaining},
		Items: []corev1.ConfigMap{
			{ObjectMeta: metav1.ObjectMeta{Name: "a", CreationTimestamp: ago(90 * time.Second)}, Data: map[string]string{"k": "v"}},
			{ObjectMeta: metav1.ObjectMeta{Name: "b", CreationTimestamp: ago(26 * time.Hour)}, BinaryData: map[string][]byte{"x": nil, "y": nil}},
		},
	}
	table := convert(t, gr("", "configmaps"), list, &metav1.TableOptions{})

	if table.ResourceVersion != "42" || table.Continue != "token" || table.RemainingItemCount == nil || *table.RemainingItemCount != 7 {
		t.Errorf("list meta: got %+v", table.ListMeta)
	}
	want := [][]any{{"a", int64(1), "90s"}, {"b", int64(2), "26h"}}
	if len(table.Rows) != len(want) {
		t.Fatalf("got %d rows, want %d", len(table.Rows), len(want))
	}
	for i, row := range table.Rows {
		assertCells(t, row.Cells, want[i])
		if row.Object.Object != &list.Items[i] {
			t.Errorf("row %d: object is %p, want the list item %p", i, row.Object.Object, &list.Items[i])
		}
	}
}

func TestConvertEmptyListHasRows(t *testing.T) {
	table := convert(t, gr("", "pods"), &corev1.PodList{}, nil)
	if table.Rows == nil || len(table.Rows) != 0 {
		t.Errorf("rows: got %#v, want an empty, non-nil slice", table.Rows)
	}
}

func TestConvertSingleObject(t *testing.T) {
	ns := &corev1.Namespace{
		ObjectMeta: metav1.ObjectMeta{Name: "default", ResourceVersion: "9", CreationTimestamp: ago(3 * 24 * time.Hour)},
		Status:     corev1.NamespaceStatus{Phase: corev1.NamespaceActive},
	}
	table := convert(t, gr("", "namespaces"), ns, nil)
	if table.ResourceVersion != "9" {
		t.Errorf("resourceVersion: got %q, want 9", table.ResourceVersion)
	}
	if len(table.Rows) != 1 || table.Rows[0].Object.Object != ns {
		t.Fatalf("want one row holding the object, got %+v", table.Rows)
	}
	assertCells(t, table.Rows[0].Cells, []any{"default", "Active", "3d"})
}

func TestConvertNoHeaders(t *testing.T) {
	table := convert(t, gr("", "pods"), &corev1.Pod{}, &metav1.TableOptions{NoHeaders: true})
	if len(table.ColumnDefinitions) != 0 {
		t.Errorf("NoHeaders: got %d column definitions, want none", len(table.ColumnDefinitions))
	}
	if len(table.Rows) != 1 || len(table.Rows[0].Cells) != 9 {
		t.Errorf("NoHeaders must keep the cells, got %+v", table.Rows)
	}
}

func TestConvertErrors(t *testing.T) {
	c := For(gr("", "pods"))
	if _, err := c.ConvertToTable(context.Background(), &corev1.Service{}, nil); err == nil {
		t.Error("converting a service with the pod convertor: want an error")
	}
	if _, err := c.ConvertToTable(context.Background(), &corev1.Pod{}, &corev1.Pod{}); err == nil {
		t.Error("options of an unknown type: want an error")
	}
}

// assertCells compares cells with their types: an int64 cell is not a string cell.
func assertCells(t *testing.T, got, want []any) {
	t.Helper()
	if len(got) != len(want) {
		t.Fatalf("cells\n got %#v\nwant %#v", got, want)
	}
	for i := range want {
		if got[i] != want[i] {
			t.Errorf("cell %d: got %#v, want %#v", i, got[i], want[i])
		}
	}
}
