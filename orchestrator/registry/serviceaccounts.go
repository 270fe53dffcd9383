package registry

import (
	"context"
	"fmt"
	"math"
	"time"

	authenticationv1 "k8s.io/api/authentication/v1"
	corev1 "k8s.io/api/core/v1"
	"k8s.io/apimachinery/pkg/api/errors"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/runtime"
	"k8s.io/apimachinery/pkg/runtime/schema"
	"k8s.io/apimachinery/pkg/types"
	"k8s.io/apimachinery/pkg/util/validation/field"
	genericapirequest "k8s.io/apiserver/pkg/endpoints/request"
	genericregistry "k8s.io/apiserver/pkg/registry/generic/registry"
	"k8s.io/apiserver/pkg/registry/rest"

	"berth.dev/berth/orchestrator/satoken"
)

var tokenRequestKind = authenticationv1.SchemeGroupVersion.WithKind("TokenRequest")

// storeObjects reads the objects service account tokens name straight from
// storage: no informer keeps a copy of every pod in the API server for them.
type storeObjects struct {
	accounts, pods, secrets, nodes *genericregistry.Store
}

var _ satoken.Objects = storeObjects{}

func getFrom[T runtime.Object](ctx context.Context, store *genericregistry.Store, namespace, name string) (T, error) {
	var zero T
	// The store names the resource in its errors after the request's: make
	// this a request for the object, not for serviceaccounts/token.
	gr := store.DefaultQualifiedResource
	ctx = genericapirequest.WithRequestInfo(genericapirequest.WithNamespace(ctx, namespace), &genericapirequest.RequestInfo{
		IsResourceRequest: true, Verb: "get", APIGroup: gr.Group, APIVersion: "v1",
		Namespace: namespace, Resource: gr.Resource, Name: name, Parts: []string{gr.Resource, name},
	})
	obj, err := store.Get(ctx, name, &metav1.GetOptions{})
	if err != nil {
		return zero, err
	}
	typed, ok := obj.(T)
	if !ok {
		return zero, fmt.Errorf("storage of %s returned a %T", store.DefaultQualifiedResource, obj)
	}
	return typed, nil
}

func (o storeObjects) ServiceAccount(ctx context.Context, namespace, name string) (*corev1.ServiceAccount, error) {
	return getFrom[*corev1.ServiceAccount](ctx, o.accounts, namespace, name)
}

func (o storeObjects) Pod(ctx context.Context, namespace, name string) (*corev1.Pod, error) {
	return getFrom[*corev1.Pod](ctx, o.pods, namespace, name)
}

func (o storeObjects) Secret(ctx context.Context, namespace, name string) (*corev1.Secret, error) {
	return getFrom[*corev1.Secret](ctx, o.secrets, namespace, name)
}

func (o storeObjects) Node(ctx context.Context, name string) (*corev1.Node, error) {
	return getFrom[*corev1.Node](ctx, o.nodes, metav1.NamespaceNone, name)
}

// TokenObjects reads the objects service account tokens name from s, for the
// authenticator of those tokens.
func (s Storage) TokenObjects() (satoken.Objects, error) {
	core := s[corev1.SchemeGroupVersion]
	var stores [4]*genericregistry.Store
	for i, name := range []string{"serviceaccounts", "pods", "secrets", "nodes"} {
		r, ok := core[name].(*REST)
		if !ok {
			return nil, fmt.Errorf("no storage of %s to check service account tokens against", name)
		}
		stores[i] = r.Store
	}
	return storeObjects{accounts: stores[0], pods: stores[1], secrets: stores[2], nodes: stores[3]}, nil
}

// TokenREST issues service account tokens (serviceaccounts/token): the
// kubelet asks it for the tokens it mounts into pods, `kubectl create token`
// for one to hand out.
type TokenREST struct {
	objects storeObjects
	issuer  *satoken.Issuer
}

var (
	_ rest.NamedCreater             = &TokenREST{}
	_ rest.GroupVersionKindProvider = &TokenREST{}
)

func (r *TokenREST) New() runtime.Object { return &authenticationv1.TokenRequest{} }
func (r *TokenREST) Destroy()            {}

// GroupVersionKind tells the API installer that token requests are
// authentication.k8s.io/v1 objects.
func (r *TokenREST) GroupVersionKind(schema.GroupVersion) schema.GroupVersionKind {
	return tokenRequestKind
}

// Create issues a token for the service account name, bound to the object the
// request names, if any.
func (r *TokenREST) Create(ctx context.Context, name string, obj runtime.Object, createValidation rest.ValidateObjectFunc, _ *metav1.CreateOptions) (runtime.Object, error) {
	req, ok := obj.(*authenticationv1.TokenRequest)
	if !ok {
		return nil, errors.NewBadRequest(fmt.Sprintf("not a TokenRequest object: %T", obj))
	}
	namespace, _ := genericapirequest.NamespaceFrom(ctx)
	if req.Name != "" && req.Name != name {
		return nil, errors.NewInvalid(tokenRequestKind.GroupKind(), name, field.ErrorList{
			field.Invalid(field.NewPath("metadata", "name"), req.Name, "must match the service account name if specified")})
	}
	if req.Namespace != "" && req.Namespace != namespace {
		return nil, errors.NewInvalid(tokenRequestKind.GroupKind(), name, field.ErrorList{
			field.Invalid(field.NewPath("metadata", "namespace"), req.Namespace, "must match the service account namespace if specified")})
	}
	sa, err := r.objects.ServiceAccount(ctx, namespace, name)
	if err != nil {
		return nil, err
	}

	req = req.DeepCopy()
	req.Name, req.Namespace = sa.Name, sa.Namespace
	req.Status = authenticationv1.TokenRequestStatus{}
	if len(req.Spec.Audiences) == 0 {
		req.Spec.Audiences = r.issuer.Audiences()
	}
	if req.Spec.ExpirationSeconds == nil {
		seconds := int64(satoken.DefaultExpiration / time.Second)
		req.Spec.ExpirationSeconds = &seconds
	}
	if errs := validateTokenRequest(req); len(errs) > 0 {
		return nil, errors.NewInvalid(tokenRequestKind.GroupKind(), "", errs)
	}
	if createValidation != nil {
		if err := createValidation(ctx, req.DeepCopyObject()); err != nil {
			return nil, err
		}
	}

	issue := satoken.Request{
		ServiceAccount: sa,
		Audiences:      req.Spec.Audiences,
		Expiration:     time.Duration(*req.Spec.ExpirationSeconds) * time.Second,
	}
	if ref := req.Spec.BoundObjectRef; ref != nil {
		if err := r.bind(ctx, &issue, namespace, ref); err != nil {
			return nil, err
		}
	}
	token, claims, err := r.issuer.Issue(issue)
	if err != nil {
		return nil, errors.NewInternalError(err)
	}
	req.CreationTimestamp = metav1.NewTime(claims.IssuedAt.Time)
	req.Status = authenticationv1.TokenRequestStatus{Token: token, ExpirationTimestamp: metav1.NewTime(claims.Expires())}
	return req, nil
}

// bind finds the object a token is bound to, as it is now: a pod running as
// the service account (with its node, when it has one), a secret or a node.
func (r *TokenREST) bind(ctx context.Context, issue *satoken.Request, namespace string, ref *authenticationv1.BoundObjectReference) error {
	gvk := schema.FromAPIVersionAndKind(ref.APIVersion, ref.Kind)
	var uid types.UID
	switch {
	case gvk.Group == "" && gvk.Kind == "Pod":
		pod, err := r.objects.Pod(ctx, namespace, ref.Name)
		if err != nil {
			return err
		}
		if pod.Spec.ServiceAccountName != issue.ServiceAccount.Name {
			return errors.NewBadRequest(fmt.Sprintf("cannot bind token for serviceaccount %q to pod running with different serviceaccount name.", issue.ServiceAccount.Name))
		}
		issue.Pod, uid = pod, pod.UID
		if pod.Spec.NodeName != "" {
			// The node is named for information; a node deleted since the pod
			// was scheduled does not fail the request.
			if node, err := r.objects.Node(ctx, pod.Spec.NodeName); err == nil {
				issue.Node = node
			}
		}
	case gvk.Group == "" && gvk.Kind == "Secret":
		secret, err := r.objects.Secret(ctx, namespace, ref.Name)
		if err != nil {
			return err
		}
		issue.Secret, uid = secret, secret.UID
	case gvk.Group == "" && gvk.Kind == "Node":
		node, err := r.objects.Node(ctx, ref.Name)
		if err != nil {
			return err
		}
		issue.Node, uid = node, node.UID
	default:
		return errors.NewBadRequest(fmt.Sprintf("cannot bind token to object of type %s", gvk.String()))
	}
	if ref.UID != "" && ref.UID != uid {
		return errors.NewConflict(schema.GroupResource{Group: gvk.Group, Resource: gvk.Kind}, ref.Name,
			fmt.Errorf("the UID in the bound object reference (%s) does not match the UID in record. The object might have been deleted and then recreated", ref.UID))
	}
	return nil
}

// validateTokenRequest checks the lifetime asked for, with upstream's messages.
func validateTokenRequest(req *authenticationv1.TokenRequest) field.ErrorList {
	var errs field.ErrorList
	p := field.NewPath("spec", "expirationSeconds")
	seconds := *req.Spec.ExpirationSeconds
	if seconds < int64(satoken.MinExpiration/time.Second) {
		errs = append(errs, field.Invalid(p, seconds, "may not specify a duration less than 10 minutes"))
	}
	if seconds > math.MaxUint32 {
		errs = append(errs, field.Invalid(p, seconds, "may not specify a duration larger than 2^32 seconds"))
	}
	return errs
}
