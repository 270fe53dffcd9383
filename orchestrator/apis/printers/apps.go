package printers

import (
	"fmt"
	"slices"
	"strings"
	"time"

	appsv1 "k8s.io/api/apps/v1"
	corev1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/labels"
	"k8s.io/apimachinery/pkg/runtime/schema"
)

// appsKinds are the printed kinds of the apps group.
func appsKinds() map[string]kind {
	return map[string]kind{
		"deployments":         cellsOf(deploymentColumns(), deploymentCells),
		"replicasets":         cellsOf(replicaSetColumns(), replicaSetCells),
		"statefulsets":        cellsOf(statefulSetColumns(), statefulSetCells),
		"daemonsets":          cellsOf(daemonSetColumns(), daemonSetCells),
		"controllerrevisions": rowsOf(controllerRevisionColumns(), controllerRevisionRow),
	}
}

// selectorColumn is the wide SELECTOR column of kinds with a label selector.
func selectorColumn(description string) metav1.TableColumnDefinition {
	return wide(column("Selector", "string", description))
}

func deploymentColumns() []metav1.TableColumnDefinition {
	status := appsv1.DeploymentStatus{}.SwaggerDoc()
	return slices.Concat([]metav1.TableColumnDefinition{
		nameColumn(),
		column("Ready", "string", "Number of the pod with ready state"),
		column("Up-to-date", "string", status["updatedReplicas"]),
		column("Available", "string", status["availableReplicas"]),
		ageColumn(),
	}, templateColumns(), []metav1.TableColumnDefinition{
		selectorColumn(appsv1.DeploymentSpec{}.SwaggerDoc()["selector"]),
	})
}

func deploymentCells(d *appsv1.Deployment, now time.Time) []any {
	selector := "<invalid>"
	if s, err := metav1.LabelSelectorAsSelector(d.Spec.Selector); err == nil {
		selector = s.String()
	}
	return slices.Concat([]any{d.Name, fmt.Sprintf("%d/%d", d.Status.ReadyReplicas, deref(d.Spec.Replicas)),
		int64(d.Status.UpdatedReplicas), int64(d.Status.AvailableReplicas), since(d.CreationTimestamp, now)},
		templateCells(d.Spec.Template.Spec.Containers), []any{selector})
}

func replicaSetColumns() []metav1.TableColumnDefinition {
	spec, status := appsv1.ReplicaSetSpec{}.SwaggerDoc(), appsv1.ReplicaSetStatus{}.SwaggerDoc()
	return slices.Concat([]metav1.TableColumnDefinition{
		nameColumn(),
		column("Desired", "integer", spec["replicas"]),
		column("Current", "integer", status["replicas"]),
		column("Ready", "integer", status["readyReplicas"]),
		ageColumn(),
	}, templateColumns(), []metav1.TableColumnDefinition{selectorColumn(spec["selector"])})
}

func replicaSetCells(rs *appsv1.ReplicaSet, now time.Time) []any {
	return slices.Concat([]any{rs.Name, int64(deref(rs.Spec.Replicas)), int64(rs.Status.Replicas),
		int64(rs.Status.ReadyReplicas), since(rs.CreationTimestamp, now)},
		templateCells(rs.Spec.Template.Spec.Containers), []any{metav1.FormatLabelSelector(rs.Spec.Selector)})
}

func statefulSetColumns() []metav1.TableColumnDefinition {
	return slices.Concat([]metav1.TableColumnDefinition{
		nameColumn(),
		column("Ready", "string", "Number of the pod with ready state"),
		ageColumn(),
	}, templateColumns())
}

func statefulSetCells(ss *appsv1.StatefulSet, now time.Time) []any {
	return slices.Concat([]any{ss.Name, fmt.Sprintf("%d/%d", ss.Status.ReadyReplicas, deref(ss.Spec.Replicas)),
		since(ss.CreationTimestamp, now)}, templateCells(ss.Spec.Template.Spec.Containers))
}

func daemonSetColumns() []metav1.TableColumnDefinition {
	status := appsv1.DaemonSetStatus{}.SwaggerDoc()
	return slices.Concat([]metav1.TableColumnDefinition{
		nameColumn(),
		column("Desired", "integer", status["desiredNumberScheduled"]),
		column("Current", "integer", status["currentNumberScheduled"]),
		column("Ready", "integer", status["numberReady"]),
		column("Up-to-date", "integer", status["updatedNumberScheduled"]),
		column("Available", "integer", status["numberAvailable"]),
		column("Node Selector", "string", corev1.PodSpec{}.SwaggerDoc()["nodeSelector"]),
		ageColumn(),
	}, templateColumns(), []metav1.TableColumnDefinition{
		selectorColumn(appsv1.DaemonSetSpec{}.SwaggerDoc()["selector"]),
	})
}

func daemonSetCells(ds *appsv1.DaemonSet, now time.Time) []any {
	s := ds.Status
	return slices.Concat([]any{ds.Name, int64(s.DesiredNumberScheduled), int64(s.CurrentNumberScheduled),
		int64(s.NumberReady), int64(s.UpdatedNumberScheduled), int64(s.NumberAvailable),
		labels.FormatLabels(ds.Spec.Template.Spec.NodeSelector), since(ds.CreationTimestamp, now)},
		templateCells(ds.Spec.Template.Spec.Containers), []any{metav1.FormatLabelSelector(ds.Spec.Selector)})
}

func controllerRevisionColumns() []metav1.TableColumnDefinition {
	return []metav1.TableColumnDefinition{
		nameColumn(),
		column("Controller", "string", "Controller of the object"),
		column("Revision", "string", appsv1.ControllerRevision{}.SwaggerDoc()["revision"]),
		ageColumn(),
	}
}

// controllerRevisionRow names the revision's controller as "kind.group/name"
// ("statefulset.apps/web"), "<none>" without one.
func controllerRevisionRow(cr *appsv1.ControllerRevision, now time.Time) (metav1.TableRow, error) {
	controller := "<none>"
	if ref := metav1.GetControllerOf(cr); ref != nil {
		gv, err := schema.ParseGroupVersion(ref.APIVersion)
		if err != nil {
			return metav1.TableRow{}, err
		}
		controller = ref.Name
		if gk := gv.WithKind(ref.Kind).GroupKind(); !gk.Empty() {
			controller = strings.ToLower(gk.String()) + "/" + ref.Name
		}
	}
	return metav1.TableRow{Cells: []any{cr.Name, controller, cr.Revision, since(cr.CreationTimestamp, now)}}, nil
}
