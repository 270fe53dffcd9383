package rbac

import (
	"slices"
	"strings"
	"sync"
	"sync/atomic"

	rbacv1 "k8s.io/api/rbac/v1"
	"k8s.io/apimachinery/pkg/api/equality"
	"k8s.io/apiserver/pkg/authentication/serviceaccount"
	"k8s.io/client-go/tools/cache"
)

// EventSource is the informer behind a lister; cache.SharedIndexInformer is
// one. The authorizer only adds a handler to it: it never starts it.
type EventSource interface {
	AddEventHandler(handler cache.ResourceEventHandler) (cache.ResourceEventHandlerRegistration, error)
}

// binding is a RoleBinding or ClusterRoleBinding as the authorizer reads it.
// namespace is "" for a ClusterRoleBinding.
type binding struct {
	kind      string
	namespace string
	name      string
	ref       rbacv1.RoleRef
	subjects  []rbacv1.Subject
}

func fromRoleBinding(b *rbacv1.RoleBinding) binding {
	return binding{kind: "RoleBinding", namespace: b.Namespace, name: b.Name, ref: b.RoleRef, subjects: b.Subjects}
}

func fromClusterRoleBinding(b *rbacv1.ClusterRoleBinding) binding {
	return binding{kind: "ClusterRoleBinding", name: b.Name, ref: b.RoleRef, subjects: b.Subjects}
}

// indexKey names a subject as bindings in one namespace (scope; "" for
// ClusterRoleBindings) refer to it.
type indexKey struct {
	kind      byte // 'U'ser, 'G'roup or 'S'erviceAccount
	scope     string
	namespace string // a ServiceAccount's
	name      string
}

// subjectKey is the key of a binding subject; false for subjects that name
// nobody (unknown kinds, ServiceAccounts without a namespace in a
// ClusterRoleBinding).
func subjectKey(s *rbacv1.Subject, scope string) (indexKey, bool) {
	switch s.Kind {
	case rbacv1.UserKind:
		return indexKey{kind: 'U', scope: scope, name: s.Name}, true
	case rbacv1.GroupKind:
		return indexKey{kind: 'G', scope: scope, name: s.Name}, true
	case rbacv1.ServiceAccountKind:
		ns := s.Namespace
		if ns == "" {
			ns = scope
		}
		return indexKey{kind: 'S', scope: scope, namespace: ns, name: s.Name}, ns != ""
	default:
		return indexKey{}, false
	}
}

// serviceAccountOf splits "system:serviceaccount:NS:NAME" without
// allocating; false for other user names.
func serviceAccountOf(username string) (namespace, name string, ok bool) {
	rest, ok := strings.CutPrefix(username, serviceaccount.ServiceAccountUsernamePrefix)
	if !ok {
		return "", "", false
	}
	return strings.Cut(rest, ":")
}

// bindingIndex remembers, from an informer's events, which bindings name
// which subjects, so that a request looks up the bindings naming its user
// instead of reading them all.
//
// It only narrows the search: the bindings it names are read again from the
// lister and their subjects checked again, so an index behind the lister can
// never grant what the lister no longer does. At worst, a binding the
// informer has stored but not yet told the index about grants nothing for
// the moment it takes the event to arrive.
type bindingIndex struct {
	mu        sync.RWMutex
	bySubject map[indexKey][]string // binding names; each slice is replaced, never modified
	synced    cache.ResourceEventHandlerRegistration
	// hasSynced caches synced.HasSynced once true, as it then stays.
	hasSynced atomic.Bool
}

func newBindingIndex(events EventSource) (*bindingIndex, error) {
	x := &bindingIndex{bySubject: make(map[indexKey][]string)}
	reg, err := events.AddEventHandler(x)
	if err != nil {
		return nil, err
	}
	x.synced = reg
	return x, nil
}

// ready reports whether the index has seen every binding the informer had
// when it synced. Until then requests read the lister, which has them.
func (x *bindingIndex) ready() bool {
	if x == nil {
		return false
	}
	if x.hasSynced.Load() {
		return true
	}
	if x.synced.HasSynced() {
		x.hasSynced.Store(true)
		return true
	}
	return false
}

// names returns the bindings that named key when the index last heard.
func (x *bindingIndex) names(key indexKey) []string {
	x.mu.RLock()
	defer x.mu.RUnlock()
	return x.bySubject[key]
}

// OnAdd indexes a new binding.
func (x *bindingIndex) OnAdd(obj any, _ bool) {
	if b, ok := bindingFrom(obj); ok {
		x.mu.Lock()
		defer x.mu.Unlock()
		x.add(b)
	}
}

// OnUpdate reindexes a binding whose subjects changed (its roleRef cannot).
func (x *bindingIndex) OnUpdate(oldObj, newObj any) {
	oldB, okOld := bindingFrom(oldObj)
	newB, okNew := bindingFrom(newObj)
	if okOld && okNew && equality.Semantic.DeepEqual(oldB.subjects, newB.subjects) {
		return
	}
	x.mu.Lock()
	defer x.mu.Unlock()
	if okOld {
		x.remove(oldB)
	}
	if okNew {
		x.add(newB)
	}
}

// OnDelete forgets a binding.
func (x *bindingIndex) OnDelete(obj any) {
	if tombstone, ok := obj.(cache.DeletedFinalStateUnknown); ok {
		obj = tombstone.Obj
	}
	if b, ok := bindingFrom(obj); ok {
		x.mu.Lock()
		defer x.mu.Unlock()
		x.remove(b)
	}
}

func bindingFrom(obj any) (binding, bool) {
	switch b := obj.(type) {
	case *rbacv1.RoleBinding:
		return fromRoleBinding(b), true
	case *rbacv1.ClusterRoleBinding:
		return fromClusterRoleBinding(b), true
	default:
		return binding{}, false
	}
}

func (x *bindingIndex) add(b binding) {
	for i := range b.subjects {
		key, ok := subjectKey(&b.subjects[i], b.namespace)
		if !ok {
			continue
		}
		names := x.bySubject[key]
		if slices.Contains(names, b.name) {
			continue
		}
		// A new slice, since readers may hold the old one.
		x.bySubject[key] = append(slices.Clip(names), b.name)
	}
}

func (x *bindingIndex) remove(b binding) {
	for i := range b.subjects {
		key, ok := subjectKey(&b.subjects[i], b.namespace)
		if !ok {
			continue
		}
		names := x.bySubject[key]
		at := slices.Index(names, b.name)
		if at < 0 {
			continue
		}
		if len(names) == 1 {
			delete(x.bySubject, key)
			continue
		}
		x.bySubject[key] = slices.Delete(slices.Clone(names), at, at+1)
	}
}
