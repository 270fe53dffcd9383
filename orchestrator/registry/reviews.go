package registry

import (
	"context"
	"fmt"

	authenticationv1 "k8s.io/api/authentication/v1"
	authorizationv1 "k8s.io/api/authorization/v1"
	"k8s.io/apimachinery/pkg/api/errors"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/runtime"
	"k8s.io/apimachinery/pkg/util/validation/field"
	"k8s.io/apiserver/pkg/authentication/authenticator"
	"k8s.io/apiserver/pkg/authentication/user"
	"k8s.io/apiserver/pkg/authorization/authorizer"
	genericapirequest "k8s.io/apiserver/pkg/endpoints/request"
	"k8s.io/apiserver/pkg/registry/rest"
)

// The review resources store nothing: each create asks the authenticator or
// the authorizer a question and answers it in the returned object's status.

// review is what every review resource shares: it is created, never read.
type review struct {
	singular   string
	namespaced bool
	new        func() runtime.Object
}

func (r review) New() runtime.Object     { return r.new() }
func (r review) Destroy()                {}
func (r review) NamespaceScoped() bool   { return r.namespaced }
func (r review) GetSingularName() string { return r.singular }
func (r review) validate(ctx context.Context, obj runtime.Object, createValidation rest.ValidateObjectFunc) error {
	if createValidation == nil {
		return nil
	}
	return createValidation(ctx, obj.DeepCopyObject())
}

// requestUser is the authenticated user of the request.
func requestUser(ctx context.Context) (user.Info, error) {
	u, ok := genericapirequest.UserFrom(ctx)
	if !ok {
		return nil, errors.NewBadRequest("no user present on request")
	}
	return u, nil
}

func userInfo(u user.Info) authenticationv1.UserInfo {
	info := authenticationv1.UserInfo{Username: u.GetName(), UID: u.GetUID(), Groups: u.GetGroups()}
	if extra := u.GetExtra(); len(extra) > 0 {
		info.Extra = make(map[string]authenticationv1.ExtraValue, len(extra))
		for k, v := range extra {
			info.Extra[k] = v
		}
	}
	return info
}

// SelfSubjectReviewREST tells callers who they are authenticated as
// (selfsubjectreviews), which `kubectl auth whoami` asks.
type SelfSubjectReviewREST struct{ review }

func newSelfSubjectReviewREST() *SelfSubjectReviewREST {
	return &SelfSubjectReviewREST{review{singular: "selfsubjectreview", new: func() runtime.Object { return &authenticationv1.SelfSubjectReview{} }}}
}

func (r *SelfSubjectReviewREST) Create(ctx context.Context, obj runtime.Object, createValidation rest.ValidateObjectFunc, _ *metav1.CreateOptions) (runtime.Object, error) {
	if _, ok := obj.(*authenticationv1.SelfSubjectReview); !ok {
		return nil, errors.NewBadRequest(fmt.Sprintf("not a SelfSubjectReview object: %T", obj))
	}
	if err := r.validate(ctx, obj, createValidation); err != nil {
		return nil, err
	}
	u, err := requestUser(ctx)
	if err != nil {
		return nil, err
	}
	return &authenticationv1.SelfSubjectReview{
		ObjectMeta: metav1.ObjectMeta{CreationTimestamp: metav1.Now()},
		Status:     authenticationv1.SelfSubjectReviewStatus{UserInfo: userInfo(u)},
	}, nil
}

// TokenReviewREST tells whether a bearer token authenticates, and as whom
// (tokenreviews): webhooks and proxies in front of the API ask it.
type TokenReviewREST struct {
	review
	tokens    authenticator.Token
	audiences authenticator.Audiences
}

func (r *TokenReviewREST) Create(ctx context.Context, obj runtime.Object, createValidation rest.ValidateObjectFunc, _ *metav1.CreateOptions) (runtime.Object, error) {
	tr, ok := obj.(*authenticationv1.TokenReview)
	if !ok {
		return nil, errors.NewBadRequest(fmt.Sprintf("not a TokenReview object: %T", obj))
	}
	if tr.Spec.Token == "" {
		return nil, errors.NewInvalid(tr.GroupVersionKind().GroupKind(), "", field.ErrorList{field.Required(field.NewPath("spec", "token"), "")})
	}
	if err := r.validate(ctx, obj, createValidation); err != nil {
		return nil, err
	}
	audiences := r.audiences
	if len(tr.Spec.Audiences) > 0 {
		audiences = tr.Spec.Audiences
	}
	out := tr.DeepCopy()
	out.Status = authenticationv1.TokenReviewStatus{}
	resp, ok, err := r.tokens.AuthenticateToken(authenticator.WithAudiences(ctx, audiences), tr.Spec.Token)
	switch {
	case err != nil:
		out.Status.Error = err.Error()
	case ok:
		out.Status.Authenticated = true
		out.Status.User = userInfo(resp.User)
		out.Status.Audiences = resp.Audiences
		if len(out.Status.Audiences) == 0 {
			out.Status.Audiences = audiences
		}
	}
	return out, nil
}

// AccessReviewREST answers whether a user may do something: of the caller
// (selfsubjectaccessreviews, `kubectl auth can-i`), of anyone
// (subjectaccessreviews) or of anyone in the request's namespace
// (localsubjectaccessreviews).
type AccessReviewREST struct {
	review
	authorizer authorizer.Authorizer
}

func (r *AccessReviewREST) Create(ctx context.Context, obj runtime.Object, createValidation rest.ValidateObjectFunc, _ *metav1.CreateOptions) (runtime.Object, error) {
	var (
		kind     string
		spec     authorizationv1.SubjectAccessReviewSpec
		subject  user.Info
		errs     field.ErrorList
		specPath = field.NewPath("spec")
	)
	switch review := obj.(type) {
	case *authorizationv1.SelfSubjectAccessReview:
		kind = "SelfSubjectAccessReview"
		u, err := requestUser(ctx)
		if err != nil {
			return nil, err
		}
		spec.ResourceAttributes, spec.NonResourceAttributes = review.Spec.ResourceAttributes, review.Spec.NonResourceAttributes
		subject = u
	case *authorizationv1.SubjectAccessReview:
		kind = "SubjectAccessReview"
		spec = review.Spec
		errs = append(errs, validateSubject(spec, specPath)...)
	case *authorizationv1.LocalSubjectAccessReview:
		kind = "LocalSubjectAccessReview"
		spec = review.Spec
		errs = append(errs, validateSubject(spec, specPath)...)
		namespace, _ := genericapirequest.NamespaceFrom(ctx)
		if spec.ResourceAttributes != nil && spec.ResourceAttributes.Namespace != namespace {
			errs = append(errs, field.Invalid(specPath.Child("resourceAttributes", "namespace"), spec.ResourceAttributes.Namespace, "must match metadata.namespace"))
		}
		if spec.NonResourceAttributes != nil {
			errs = append(errs, field.Invalid(specPath.Child("nonResourceAttributes"), spec.NonResourceAttributes, "disallowed on this kind of request"))
		}
	default:
		return nil, errors.NewBadRequest(fmt.Sprintf("not an access review: %T", obj))
	}
	if (spec.ResourceAttributes == nil) == (spec.NonResourceAttributes == nil) {
		errs = append(errs, field.Invalid(specPath.Child("resourceAttributes"), spec.NonResourceAttributes, `exactly one of nonResourceAttributes or resourceAttributes must be specified`))
	}
	if len(errs) > 0 {
		return nil, errors.NewInvalid(authorizationv1.SchemeGroupVersion.WithKind(kind).GroupKind(), "", errs)
	}
	if err := r.validate(ctx, obj, createValidation); err != nil {
		return nil, err
	}
	if subject == nil {
		subject = &user.DefaultInfo{Name: spec.User, UID: spec.UID, Groups: spec.Groups, Extra: extraFrom(spec.Extra)}
	}

	decision, reason, err := r.authorizer.Authorize(ctx, accessAttributes(subject, spec))
	status := authorizationv1.SubjectAccessReviewStatus{
		Allowed: decision == authorizer.DecisionAllow,
		Denied:  decision == authorizer.DecisionDeny,
		Reason:  reason,
	}
	if err != nil {
		status.EvaluationError = err.Error()
	}

	out := obj.DeepCopyObject()
	switch review := out.(type) {
	case *authorizationv1.SelfSubjectAccessReview:
		review.Status = status
	case *authorizationv1.SubjectAccessReview:
		review.Status = status
	case *authorizationv1.LocalSubjectAccessReview:
		review.Status = status
	}
	return out, nil
}

func validateSubject(spec authorizationv1.SubjectAccessReviewSpec, path *field.Path) field.ErrorList {
	if spec.User == "" && len(spec.Groups) == 0 {
		return field.ErrorList{field.Invalid(path.Child("user"), spec.User, `at least one of user or group must be specified`)}
	}
	return nil
}

func extraFrom(extra map[string]authorizationv1.ExtraValue) map[string][]string {
	if len(extra) == 0 {
		return nil
	}
	out := make(map[string][]string, len(extra))
	for k, v := range extra {
		out[k] = v
	}
	return out
}

// accessAttributes is the question spec asks, for subject.
func accessAttributes(subject user.Info, spec authorizationv1.SubjectAccessReviewSpec) authorizer.AttributesRecord {
	if a := spec.NonResourceAttributes; a != nil {
		return authorizer.AttributesRecord{User: subject, Verb: a.Verb, Path: a.Path}
	}
	a := spec.ResourceAttributes
	return authorizer.AttributesRecord{
		User:            subject,
		Verb:            a.Verb,
		Namespace:       a.Namespace,
		APIGroup:        a.Group,
		APIVersion:      a.Version,
		Resource:        a.Resource,
		Subresource:     a.Subresource,
		Name:            a.Name,
		ResourceRequest: true,
	}
}

// RulesReviewREST lists what the caller may do in a namespace
// (selfsubjectrulesreviews), which `kubectl auth can-i --list` asks.
type RulesReviewREST struct {
	review
	rules authorizer.RuleResolver
}

func (r *RulesReviewREST) Create(ctx context.Context, obj runtime.Object, createValidation rest.ValidateObjectFunc, _ *metav1.CreateOptions) (runtime.Object, error) {
	in, ok := obj.(*authorizationv1.SelfSubjectRulesReview)
	if !ok {
		return nil, errors.NewBadRequest(fmt.Sprintf("not a SelfSubjectRulesReview object: %T", obj))
	}
	if in.Spec.Namespace == "" {
		return nil, errors.NewBadRequest("no namespace on request")
	}
	if err := r.validate(ctx, obj, createValidation); err != nil {
		return nil, err
	}
	u, err := requestUser(ctx)
	if err != nil {
		return nil, err
	}
	resourceRules, nonResourceRules, incomplete, err := r.rules.RulesFor(ctx, u, in.Spec.Namespace)
	out := in.DeepCopy()
	out.Status = authorizationv1.SubjectRulesReviewStatus{Incomplete: incomplete}
	if err != nil {
		out.Status.EvaluationError = err.Error()
	}
	for _, rule := range resourceRules {
		out.Status.ResourceRules = append(out.Status.ResourceRules, authorizationv1.ResourceRule{
			Verbs:         rule.GetVerbs(),
			APIGroups:     rule.GetAPIGroups(),
			Resources:     rule.GetResources(),
			ResourceNames: rule.GetResourceNames(),
		})
	}
	for _, rule := range nonResourceRules {
		out.Status.NonResourceRules = append(out.Status.NonResourceRules, authorizationv1.NonResourceRule{
			Verbs:           rule.GetVerbs(),
			NonResourceURLs: rule.GetNonResourceURLs(),
		})
	}
	return out, nil
}

// Reviews is the storage of the review resources: selfsubjectreviews always,
// tokenreviews answered by tokens for audiences, and the access and rules
// reviews answered by authz and rules, where given.
func Reviews(authz authorizer.Authorizer, rules authorizer.RuleResolver, tokens authenticator.Token, audiences authenticator.Audiences) Storage {
	authentication := map[string]rest.Storage{"selfsubjectreviews": newSelfSubjectReviewREST()}
	if tokens != nil {
		authentication["tokenreviews"] = &TokenReviewREST{
			review:    review{singular: "tokenreview", new: func() runtime.Object { return &authenticationv1.TokenReview{} }},
			tokens:    tokens,
			audiences: audiences,
		}
	}
	out := Storage{authenticationv1.SchemeGroupVersion: authentication}
	if authz == nil {
		return out
	}
	access := func(singular string, namespaced bool, new func() runtime.Object) *AccessReviewREST {
		return &AccessReviewREST{review: review{singular: singular, namespaced: namespaced, new: new}, authorizer: authz}
	}
	authorization := map[string]rest.Storage{
		"selfsubjectaccessreviews": access("selfsubjectaccessreview", false, func() runtime.Object { return &authorizationv1.SelfSubjectAccessReview{} }),
		"subjectaccessreviews":     access("subjectaccessreview", false, func() runtime.Object { return &authorizationv1.SubjectAccessReview{} }),
		"localsubjectaccessreviews": access("localsubjectaccessreview", true, func() runtime.Object {
			return &authorizationv1.LocalSubjectAccessReview{}
		}),
	}
	if rules != nil {
		authorization["selfsubjectrulesreviews"] = &RulesReviewREST{
			review: review{singular: "selfsubjectrulesreview", new: func() runtime.Object { return &authorizationv1.SelfSubjectRulesReview{} }},
			rules:  rules,
		}
	}
	out[authorizationv1.SchemeGroupVersion] = authorization
	return out
}
