package rbac

import (
	"testing"

	rbacv1 "k8s.io/api/rbac/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/runtime"
	"k8s.io/apiserver/pkg/authentication/user"
	rbaclisters "k8s.io/client-go/listers/rbac/v1"
	"k8s.io/client-go/tools/cache"
)

// cluster is an authorizer over listers holding a fixture, as an informer's
// cache would, with the fake informers behind its binding listers.
type cluster struct {
	*Authorizer
	roleBindings, clusterRoleBindings cache.Indexer
	roleBindingEvents                 *fakeEvents
	clusterRoleBindingEvents          *fakeEvents
}

// The two ways the authorizer finds bindings: listing them, as upstream, or
// through the index kept from informer events.
var modes = []struct {
	name    string
	indexed bool
}{{"lister", false}, {"index", true}}

func newTestAuthorizer(tb testing.TB, indexed bool, objs ...runtime.Object) *cluster {
	tb.Helper()
	newIndexer := func() cache.Indexer {
		return cache.NewIndexer(cache.MetaNamespaceKeyFunc, cache.Indexers{cache.NamespaceIndex: cache.MetaNamespaceIndexFunc})
	}
	roles, roleBindings, clusterRoles, clusterRoleBindings := newIndexer(), newIndexer(), newIndexer(), newIndexer()
	for _, obj := range objs {
		var err error
		switch obj.(type) {
		case *rbacv1.Role:
			err = roles.Add(obj)
		case *rbacv1.RoleBinding:
			err = roleBindings.Add(obj)
		case *rbacv1.ClusterRole:
			err = clusterRoles.Add(obj)
		case *rbacv1.ClusterRoleBinding:
			err = clusterRoleBindings.Add(obj)
		default:
			tb.Fatalf("unexpected fixture object %T", obj)
		}
		if err != nil {
			tb.Fatalf("adding fixture %T: %v", obj, err)
		}
	}
	c := &cluster{roleBindings: roleBindings, clusterRoleBindings: clusterRoleBindings}
	cfg := Config{
		Roles:               rbaclisters.NewRoleLister(roles),
		RoleBindings:        rbaclisters.NewRoleBindingLister(roleBindings),
		ClusterRoles:        rbaclisters.NewClusterRoleLister(clusterRoles),
		ClusterRoleBindings: rbaclisters.NewClusterRoleBindingLister(clusterRoleBindings),
	}
	if indexed {
		c.roleBindingEvents = &fakeEvents{store: roleBindings, synced: true}
		c.clusterRoleBindingEvents = &fakeEvents{store: clusterRoleBindings, synced: true}
		cfg.RoleBindingEvents = c.roleBindingEvents
		cfg.ClusterRoleBindingEvents = c.clusterRoleBindingEvents
	}
	a, err := New(cfg)
	if err != nil {
		tb.Fatalf("New: %v", err)
	}
	c.Authorizer = a
	return c
}

// fakeEvents is an informer over store whose events the test delivers.
type fakeEvents struct {
	store   cache.Store
	handler cache.ResourceEventHandler
	synced  bool
}

// AddEventHandler replays the store, as an informer does for a new handler.
func (f *fakeEvents) AddEventHandler(h cache.ResourceEventHandler) (cache.ResourceEventHandlerRegistration, error) {
	f.handler = h
	for _, obj := range f.store.List() {
		h.OnAdd(obj, true)
	}
	return fakeRegistration{f: f}, nil
}

type fakeRegistration struct {
	cache.ResourceEventHandlerRegistration // only HasSynced is used
	f                                      *fakeEvents
}

func (r fakeRegistration) HasSynced() bool { return r.f.synced }

func strs(s ...string) []string { return s }

// resourceRule is a rule on resources; names are its resourceNames.
func resourceRule(verbs, groups, resources []string, names ...string) rbacv1.PolicyRule {
	return rbacv1.PolicyRule{Verbs: verbs, APIGroups: groups, Resources: resources, ResourceNames: names}
}

func urlRule(verbs []string, urls ...string) rbacv1.PolicyRule {
	return rbacv1.PolicyRule{Verbs: verbs, NonResourceURLs: urls}
}

func role(namespace, name string, rules ...rbacv1.PolicyRule) *rbacv1.Role {
	return &rbacv1.Role{ObjectMeta: metav1.ObjectMeta{Namespace: namespace, Name: name}, Rules: rules}
}

func clusterRole(name string, rules ...rbacv1.PolicyRule) *rbacv1.ClusterRole {
	return &rbacv1.ClusterRole{ObjectMeta: metav1.ObjectMeta{Name: name}, Rules: rules}
}

func toRole(name string) rbacv1.RoleRef {
	return rbacv1.RoleRef{APIGroup: rbacv1.GroupName, Kind: "Role", Name: name}
}

func toClusterRole(name string) rbacv1.RoleRef {
	return rbacv1.RoleRef{APIGroup: rbacv1.GroupName, Kind: "ClusterRole", Name: name}
}

func roleBinding(namespace, name string, ref rbacv1.RoleRef, subjects ...rbacv1.Subject) *rbacv1.RoleBinding {
	return &rbacv1.RoleBinding{ObjectMeta: metav1.ObjectMeta{Namespace: namespace, Name: name}, RoleRef: ref, Subjects: subjects}
}

func clusterRoleBinding(name string, ref rbacv1.RoleRef, subjects ...rbacv1.Subject) *rbacv1.ClusterRoleBinding {
	return &rbacv1.ClusterRoleBinding{ObjectMeta: metav1.ObjectMeta{Name: name}, RoleRef: ref, Subjects: subjects}
}

func userSubject(name string) rbacv1.Subject {
	return rbacv1.Subject{Kind: rbacv1.UserKind, APIGroup: rbacv1.GroupName, Name: name}
}

func groupSubject(name string) rbacv1.Subject {
	return rbacv1.Subject{Kind: rbacv1.GroupKind, APIGroup: rbacv1.GroupName, Name: name}
}

func saSubject(namespace, name string) rbacv1.Subject {
	return rbacv1.Subject{Kind: rbacv1.ServiceAccountKind, Namespace: namespace, Name: name}
}

// The users of the fixture. jane is a developer in namespace dev.
var (
	jane       = &user.DefaultInfo{Name: "jane", Groups: strs("dev", user.AllAuthenticated)}
	bob        = &user.DefaultInfo{Name: "bob"}
	carol      = &user.DefaultInfo{Name: "carol"}
	pat        = &user.DefaultInfo{Name: "pat"}
	ops        = &user.DefaultInfo{Name: "ops"}
	nobody     = &user.DefaultInfo{Name: "nobody"}
	widgeteer  = &user.DefaultInfo{Name: "wendy", Groups: strs("widgeteers")}
	escalator  = &user.DefaultInfo{Name: "eve"}
	binder     = &user.DefaultInfo{Name: "ben"}
	crbinder   = &user.DefaultInfo{Name: "cree"}
	master     = &user.DefaultInfo{Name: "root", Groups: strs(user.SystemPrivilegedGroup)}
	builder    = &user.DefaultInfo{Name: "system:serviceaccount:dev:builder"}
	otherBuild = &user.DefaultInfo{Name: "system:serviceaccount:other:builder"}
	ciRunner   = &user.DefaultInfo{Name: "system:serviceaccount:ci:ci-runner"}
	logger     = &user.DefaultInfo{Name: "system:serviceaccount:kube-system:logger"}
)

// fixture is a small cluster's RBAC objects, covering each way of matching.
func fixture() []runtime.Object {
	rbacGroup := strs(rbacv1.GroupName)
	return []runtime.Object{
		clusterRole("pod-reader", resourceRule(strs("get", "list", "watch"), strs(""), strs("pods"))),
		clusterRole("cluster-admin",
			resourceRule(strs("*"), strs("*"), strs("*")),
			urlRule(strs("*"), "*")),
		clusterRole("metrics-reader", urlRule(strs("get"), "/metrics", "/logs/*")),
		clusterRole("log-reader", resourceRule(strs("get"), strs(""), strs("pods/log"))),
		clusterRole("status-reader", resourceRule(strs("get"), strs("*"), strs("*/status"))),
		clusterRole("pods-star", resourceRule(strs("get"), strs(""), strs("pods/*"))),
		clusterRole("app-config", resourceRule(strs("get", "update"), strs(""), strs("configmaps"), "app-config")),
		clusterRole("deployer", resourceRule(strs("*"), strs("apps"), strs("deployments"))),
		clusterRole("widget-reader", resourceRule(strs("get"), strs("*"), strs("widgets"))),
		clusterRole("role-escalator", resourceRule(strs("escalate"), rbacGroup, strs("roles"))),
		clusterRole("admin-binder", resourceRule(strs("bind"), rbacGroup, strs("clusterroles"), "cluster-admin", "not-yet")),

		role("dev", "secret-reader", resourceRule(strs("get"), strs(""), strs("secrets"))),
		role("other", "secret-reader", resourceRule(strs("get", "list"), strs(""), strs("secrets"))),

		clusterRoleBinding("authenticated-metrics", toClusterRole("metrics-reader"), groupSubject(user.AllAuthenticated)),
		clusterRoleBinding("ops-admin", toClusterRole("cluster-admin"), userSubject("ops")),
		clusterRoleBinding("root-admin", toClusterRole("cluster-admin"), groupSubject(user.SystemPrivilegedGroup)),
		clusterRoleBinding("logger", toClusterRole("log-reader"), saSubject("kube-system", "logger")),
		// A ServiceAccount subject of a ClusterRoleBinding needs a namespace.
		clusterRoleBinding("sa-without-namespace", toClusterRole("cluster-admin"), saSubject("", "nobody")),
		clusterRoleBinding("widgets", toClusterRole("widget-reader"), groupSubject("widgeteers")),
		clusterRoleBinding("carol-dangling", toClusterRole("gone"), userSubject("carol")),
		clusterRoleBinding("cree-binds-admin", toClusterRole("admin-binder"), userSubject("cree")),

		roleBinding("dev", "jane-secrets", toRole("secret-reader"), userSubject("jane")),
		roleBinding("dev", "devs-pods", toClusterRole("pod-reader"), groupSubject("dev")),
		roleBinding("dev", "jane-logs", toClusterRole("log-reader"), userSubject("someone-else"), userSubject("jane")),
		roleBinding("dev", "jane-config", toClusterRole("app-config"), userSubject("jane")),
		roleBinding("dev", "pat-pods-star", toClusterRole("pods-star"), userSubject("pat")),
		// Non-resource URLs are never granted through a RoleBinding.
		roleBinding("dev", "bob-metrics", toClusterRole("metrics-reader"), userSubject("bob")),
		// No namespace: the binding's own.
		roleBinding("dev", "builder", toClusterRole("deployer"), saSubject("", "builder")),
		roleBinding("dev", "ci-status", toClusterRole("status-reader"), saSubject("ci", "ci-runner")),
		roleBinding("dev", "carol-pods", toClusterRole("pod-reader"), userSubject("carol")),
		roleBinding("dev", "carol-missing", toRole("gone-role"), userSubject("carol")),
		roleBinding("dev", "eve-escalates", toClusterRole("role-escalator"), userSubject("eve")),
		roleBinding("dev", "ben-binds-admin", toClusterRole("admin-binder"), userSubject("ben")),
		// Names jane twice: it must count once.
		roleBinding("twice", "jane-twice", toClusterRole("pod-reader"), groupSubject("dev"), userSubject("jane"), saSubject("", "x")),
	}
}
