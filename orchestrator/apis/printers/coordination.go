package printers

import (
	"time"

	coordinationv1 "k8s.io/api/coordination/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
)

// coordinationKinds are the printed kinds of the coordination.k8s.io group.
func coordinationKinds() map[string]kind {
	return map[string]kind{
		"leases": cellsOf(leaseColumns(), leaseCells),
	}
}

func leaseColumns() []metav1.TableColumnDefinition {
	return []metav1.TableColumnDefinition{
		nameColumn(),
		column("Holder", "string", coordinationv1.LeaseSpec{}.SwaggerDoc()["holderIdentity"]),
		ageColumn(),
	}
}

func leaseCells(l *coordinationv1.Lease, now time.Time) []any {
	return []any{l.Name, deref(l.Spec.HolderIdentity), since(l.CreationTimestamp, now)}
}
