// Package printers owns the tables the API server answers `kubectl get` with: the
// columns and cells of each kind, as the upstream API server prints them. It must not
// read storage or mutate objects.
//
// Each kind is a list of column definitions and a function that turns one object into
// the cells of its row; a convertor applies that function to a single object or to
// every item of a list. The files are named for API groups (core.go, apps.go, ...);
// pod.go holds the reasoning behind a pod's STATUS and RESTARTS. Like the upstream
// server, the convertors always fill the priority-1 (`-o wide`) cells: kubectl decides
// which columns to show. Resources that upstream prints with the default NAME and
// CREATED AT table (roles, clusterroles, limitranges, ...) get the default here too.
package printers

import (
	"context"
	"fmt"
	"slices"
	"time"

	"k8s.io/apimachinery/pkg/api/meta"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/runtime"
	"k8s.io/apimachinery/pkg/runtime/schema"
	"k8s.io/apiserver/pkg/registry/rest"
)

// For returns the table convertor for objects of a resource.
func For(resource schema.GroupResource) rest.TableConvertor {
	return forClock(resource, time.Now)
}

// forClock is For with the clock that ages are measured against.
func forClock(resource schema.GroupResource, now func() time.Time) rest.TableConvertor {
	k, ok := lookup(resource)
	if !ok {
		return rest.NewDefaultTableConvertor(resource)
	}
	return &convertor{kind: k, now: now}
}

// lookup finds how a resource prints, if this package knows it.
func lookup(resource schema.GroupResource) (kind, bool) {
	groups := map[string]func() map[string]kind{
		"":                          coreKinds,
		"apps":                      appsKinds,
		"batch":                     batchKinds,
		"autoscaling":               autoscalingKinds,
		"policy":                    policyKinds,
		"networking.k8s.io":         networkingKinds,
		"discovery.k8s.io":          discoveryKinds,
		"coordination.k8s.io":       coordinationKinds,
		"scheduling.k8s.io":         schedulingKinds,
		"storage.k8s.io":            storageKinds,
		"rbac.authorization.k8s.io": rbacKinds,
		"certificates.k8s.io":       certificatesKinds,
	}
	kinds, ok := groups[resource.Group]
	if !ok {
		return kind{}, false
	}
	k, ok := kinds()[resource.Resource]
	return k, ok
}

// kind is how the objects of one kind print: the table's columns and the row of one
// object, whose cells follow the columns one for one.
type kind struct {
	columns []metav1.TableColumnDefinition
	row     func(obj runtime.Object, now time.Time) (metav1.TableRow, error)
}

// rowsOf makes a kind from a row function of its Go type.
func rowsOf[T any, P interface {
	*T
	runtime.Object
}](columns []metav1.TableColumnDefinition, row func(P, time.Time) (metav1.TableRow, error)) kind {
	return kind{columns: columns, row: func(obj runtime.Object, now time.Time) (metav1.TableRow, error) {
		o, ok := obj.(P)
		if !ok {
			return metav1.TableRow{}, fmt.Errorf("no table handler registered for %T", obj)
		}
		return row(o, now)
	}}
}

// cellsOf is rowsOf for kinds whose rows are just their cells.
func cellsOf[T any, P interface {
	*T
	runtime.Object
}](columns []metav1.TableColumnDefinition, cells func(P, time.Time) []any) kind {
	return rowsOf(columns, func(o P, now time.Time) (metav1.TableRow, error) {
		return metav1.TableRow{Cells: cells(o, now)}, nil
	})
}

// convertor answers table requests for one kind, with ages taken at now().
type convertor struct {
	kind kind
	now  func() time.Time
}

func (c *convertor) ConvertToTable(_ context.Context, object runtime.Object, tableOptions runtime.Object) (*metav1.Table, error) {
	noHeaders := false
	switch opts := tableOptions.(type) {
	case nil:
	case *metav1.TableOptions:
		noHeaders = opts != nil && opts.NoHeaders
	default:
		return nil, fmt.Errorf("unrecognized type %T for table options, can't display tabular output", tableOptions)
	}

	now := c.now()
	table := &metav1.Table{Rows: []metav1.TableRow{}}
	add := func(obj runtime.Object) error {
		row, err := c.kind.row(obj, now)
		if err != nil {
			return err
		}
		row.Object = runtime.RawExtension{Object: obj}
		table.Rows = append(table.Rows, row)
		return nil
	}
	var err error
	if meta.IsListType(object) {
		err = meta.EachListItem(object, add)
	} else {
		err = add(object)
	}
	if err != nil {
		return nil, err
	}

	if m, err := meta.ListAccessor(object); err == nil {
		table.ResourceVersion = m.GetResourceVersion()
		table.Continue = m.GetContinue()
		table.RemainingItemCount = m.GetRemainingItemCount()
	} else if m, err := meta.CommonAccessor(object); err == nil {
		table.ResourceVersion = m.GetResourceVersion()
	}
	if !noHeaders {
		table.ColumnDefinitions = slices.Clone(c.kind.columns)
	}
	return table, nil
}

// column is a column of the given name and type ("string", "integer", "boolean", ...).
func column(name, typ, description string) metav1.TableColumnDefinition {
	return metav1.TableColumnDefinition{Name: name, Type: typ, Description: description}
}

// wide marks a column as shown only by `kubectl get -o wide`.
func wide(c metav1.TableColumnDefinition) metav1.TableColumnDefinition {
	c.Priority = 1
	return c
}

// nameColumn is the NAME column every kind starts with.
func nameColumn() metav1.TableColumnDefinition {
	c := column("Name", "string", metav1.ObjectMeta{}.SwaggerDoc()["name"])
	c.Format = "name"
	return c
}

// ageColumn is the AGE column: the time since the object was created.
func ageColumn() metav1.TableColumnDefinition {
	return column("Age", "string", metav1.ObjectMeta{}.SwaggerDoc()["creationTimestamp"])
}

// templateColumns are the wide CONTAINERS and IMAGES columns of kinds with a pod template.
func templateColumns() []metav1.TableColumnDefinition {
	return []metav1.TableColumnDefinition{
		wide(column("Containers", "string", "Names of each container in the template.")),
		wide(column("Images", "string", "Images referenced by each container in the template.")),
	}
}
