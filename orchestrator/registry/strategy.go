package registry

import (
	"context"
	"reflect"

	"k8s.io/apimachinery/pkg/api/equality"
	"k8s.io/apimachinery/pkg/api/meta"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/runtime"
	"k8s.io/apimachinery/pkg/util/validation/field"
	"k8s.io/apiserver/pkg/storage/names"
	"sigs.k8s.io/structured-merge-diff/v6/fieldpath"

	"berth.dev/berth/orchestrator/apis/validation"
)

// strategy is the create, update and delete behaviour shared by every built-in
// resource; what differs between kinds comes from the resource's hooks.
type strategy struct {
	runtime.ObjectTyper
	names.NameGenerator
	res *resource
}

func newStrategy(typer runtime.ObjectTyper, res *resource) strategy {
	return strategy{ObjectTyper: typer, NameGenerator: names.SimpleNameGenerator, res: res}
}

func (s strategy) NamespaceScoped() bool { return s.res.namespaced }

func (s strategy) PrepareForCreate(ctx context.Context, obj runtime.Object) {
	if s.res.status && !s.res.keepStatusOnCreate {
		resetField(obj, "Status")
	}
	if hasField(obj, "Spec") {
		mustAccessor(obj).SetGeneration(1)
	}
	if s.res.prepareForCreate != nil {
		s.res.prepareForCreate(ctx, obj)
	}
}

func (s strategy) PrepareForUpdate(ctx context.Context, obj, old runtime.Object) {
	if s.res.status {
		copyField(obj, old, "Status")
	}
	if specChanged(obj, old) {
		m := mustAccessor(obj)
		m.SetGeneration(mustAccessor(old).GetGeneration() + 1)
	}
	if s.res.prepareForUpdate != nil {
		s.res.prepareForUpdate(ctx, obj, old)
	}
}

func (s strategy) Validate(ctx context.Context, obj runtime.Object) field.ErrorList {
	return validation.Create(obj)
}

func (s strategy) ValidateUpdate(ctx context.Context, obj, old runtime.Object) field.ErrorList {
	return validation.Update(obj, old)
}

func (strategy) WarningsOnCreate(ctx context.Context, obj runtime.Object) []string { return nil }

func (strategy) WarningsOnUpdate(ctx context.Context, obj, old runtime.Object) []string {
	return nil
}

func (strategy) Canonicalize(obj runtime.Object) {}

func (s strategy) AllowCreateOnUpdate(context.Context) bool { return s.res.allowCreateOnUpdate }

// AllowUnconditionalUpdate is true for every built-in kind, as upstream: Helm updates
// its release Secrets by PUT without a resourceVersion.
func (strategy) AllowUnconditionalUpdate(context.Context) bool { return true }

// GetResetFields tells server-side apply that the main resource does not own status.
func (s strategy) GetResetFields() map[fieldpath.APIVersion]*fieldpath.Set {
	if !s.res.status {
		return nil
	}
	return map[fieldpath.APIVersion]*fieldpath.Set{
		fieldpath.APIVersion(s.res.gvr.GroupVersion().String()): fieldpath.NewSet(fieldpath.MakePathOrDie("status")),
	}
}

// CheckGracefulDelete sets the grace period of a delete for kinds that have one.
func (s strategy) CheckGracefulDelete(ctx context.Context, obj runtime.Object, options *metav1.DeleteOptions) bool {
	return s.res.gracefulDelete != nil && s.res.gracefulDelete(ctx, obj, options)
}

// statusStrategy is the behaviour of the status subresource: status changes, spec
// stays as stored.
type statusStrategy struct{ strategy }

func (s statusStrategy) PrepareForUpdate(ctx context.Context, obj, old runtime.Object) {
	copyField(obj, old, "Spec")
	if s.res.prepareForStatusUpdate != nil {
		s.res.prepareForStatusUpdate(ctx, obj, old)
	}
}

func (statusStrategy) ValidateUpdate(ctx context.Context, obj, old runtime.Object) field.ErrorList {
	return validation.StatusUpdate(obj, old)
}

func (s statusStrategy) GetResetFields() map[fieldpath.APIVersion]*fieldpath.Set {
	return map[fieldpath.APIVersion]*fieldpath.Set{
		fieldpath.APIVersion(s.res.gvr.GroupVersion().String()): fieldpath.NewSet(fieldpath.MakePathOrDie("spec")),
	}
}

// specChanged reports whether an update changes the spec of a kind that has one.
func specChanged(obj, old runtime.Object) bool {
	if !hasField(obj, "Spec") {
		return false
	}
	return !equality.Semantic.DeepEqual(fieldValue(obj, "Spec"), fieldValue(old, "Spec"))
}

func mustAccessor(obj runtime.Object) metav1.Object {
	m, err := meta.Accessor(obj)
	if err != nil {
		panic(err) // every kind stored here has object metadata
	}
	return m
}

// The built-in kinds share a shape (metadata, spec, status) but no interface for it;
// these helpers reach the spec and status of any of them.

func structOf(obj runtime.Object) reflect.Value {
	return reflect.ValueOf(obj).Elem()
}

func hasField(obj runtime.Object, name string) bool {
	return structOf(obj).FieldByName(name).IsValid()
}

func fieldValue(obj runtime.Object, name string) any {
	return structOf(obj).FieldByName(name).Interface()
}

func resetField(obj runtime.Object, name string) {
	if f := structOf(obj).FieldByName(name); f.IsValid() {
		f.SetZero()
	}
}

func copyField(dst, src runtime.Object, name string) {
	if f := structOf(dst).FieldByName(name); f.IsValid() {
		f.Set(structOf(src).FieldByName(name))
	}
}
