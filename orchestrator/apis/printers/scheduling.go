package printers

import (
	"time"

	schedulingv1 "k8s.io/api/scheduling/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
)

// schedulingKinds are the printed kinds of the scheduling.k8s.io group.
func schedulingKinds() map[string]kind {
	return map[string]kind{
		"priorityclasses": cellsOf(priorityClassColumns(), priorityClassCells),
	}
}

func priorityClassColumns() []metav1.TableColumnDefinition {
	doc := schedulingv1.PriorityClass{}.SwaggerDoc()
	return []metav1.TableColumnDefinition{
		nameColumn(),
		column("Value", "integer", doc["value"]),
		column("Global-Default", "boolean", doc["globalDefault"]),
		ageColumn(),
		column("PreemptionPolicy", "string", doc["preemptionPolicy"]),
	}
}

func priorityClassCells(pc *schedulingv1.PriorityClass, now time.Time) []any {
	return []any{pc.Name, int64(pc.Value), pc.GlobalDefault, since(pc.CreationTimestamp, now), valueOr(pc.PreemptionPolicy, "")}
}
