package apiserver

import (
	"context"
	"fmt"
	"slices"
	"strings"
	"time"

	rbacv1 "k8s.io/api/rbac/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/types"
	"k8s.io/apimachinery/pkg/util/wait"
	apiserverconfig "k8s.io/apiserver/pkg/apis/apiserver"
	"k8s.io/apiserver/pkg/authentication/authenticator"
	"k8s.io/apiserver/pkg/authentication/group"
	"k8s.io/apiserver/pkg/authentication/request/anonymous"
	"k8s.io/apiserver/pkg/authentication/request/bearertoken"
	"k8s.io/apiserver/pkg/authentication/request/union"
	"k8s.io/apiserver/pkg/authentication/request/x509"
	tokencache "k8s.io/apiserver/pkg/authentication/token/cache"
	"k8s.io/apiserver/pkg/authentication/token/tokenfile"
	tokenunion "k8s.io/apiserver/pkg/authentication/token/union"
	"k8s.io/apiserver/pkg/authentication/user"
	"k8s.io/apiserver/pkg/authorization/authorizer"
	"k8s.io/apiserver/pkg/authorization/authorizerfactory"
	authzunion "k8s.io/apiserver/pkg/authorization/union"
	genericapiserver "k8s.io/apiserver/pkg/server"
	"k8s.io/apiserver/pkg/server/dynamiccertificates"
	"k8s.io/client-go/informers"
	"k8s.io/client-go/kubernetes"
	"k8s.io/client-go/tools/cache"

	"berth.dev/berth/orchestrator/auth/bootstrappolicy"
	"berth.dev/berth/orchestrator/auth/bootstraptoken"
	"berth.dev/berth/orchestrator/auth/node"
	"berth.dev/berth/orchestrator/auth/rbac"
	"berth.dev/berth/orchestrator/pki"
)

// Authorization modes, kube-apiserver's --authorization-mode values.
const (
	ModeNode        = "Node"
	ModeRBAC        = "RBAC"
	ModeAlwaysAllow = "AlwaysAllow"
)

// DefaultAuthorizationModes is what a server authorizes with unless told
// otherwise: nodes by the Node authorizer, everyone by RBAC.
var DefaultAuthorizationModes = []string{ModeNode, ModeRBAC}

// tokenCacheTTL is how long a bearer token that authenticated is believed
// without checking it again, kube-apiserver's default: a token whose pod or
// ServiceAccount is deleted stops working at most this long after.
const tokenCacheTTL = 10 * time.Second

// anonymousPaths are the only requests served without credentials: health
// checks, as kube-apiserver's AnonymousAuthConfig conditions allow them.
var anonymousPaths = []string{"/healthz", "/livez", "/readyz"}

// authentication is how the server tells who is calling.
type authentication struct {
	ca *pki.CA
	// serviceAccounts accepts the service account tokens the server issues.
	serviceAccounts authenticator.Token
	// bootstrap accepts join tokens, read from kube-system's Secrets.
	bootstrap authenticator.Token
	// tokenFile is a static token file (kube-apiserver's --token-auth-file):
	// token,user,uid,"group1,group2" per line. Empty: none.
	tokenFile string
	audiences []string
}

// tokens is every bearer token authenticator, for requests and for
// TokenReviews alike.
func (a authentication) tokens() (authenticator.Token, error) {
	// Static and join tokens are for the API server alone: a TokenReview
	// asking about another audience must not find them good.
	all := []authenticator.Token{a.serviceAccounts, authenticator.WrapAudienceAgnosticToken(a.audiences, a.bootstrap)}
	if a.tokenFile != "" {
		static, err := tokenfile.NewCSV(a.tokenFile)
		if err != nil {
			return nil, fmt.Errorf("reading the token file: %w", err)
		}
		all = append([]authenticator.Token{authenticator.WrapAudienceAgnosticToken(a.audiences, static)}, all...)
	}
	return tokencache.New(tokenunion.New(all...), false, tokenCacheTTL, 0), nil
}

// apply authenticates clients by the certificates the cluster CA signed and
// by bearer tokens; both add the group system:authenticated. A request whose
// credentials fail is refused (401), not taken as anonymous, and a request
// without credentials is anonymous only for the health checks.
func (a authentication) apply(c *genericapiserver.RecommendedConfig, tokens authenticator.Token) error {
	clientCA, err := dynamiccertificates.NewDynamicCAContentFromFile("client-ca", a.ca.CertFile)
	if err != nil {
		return fmt.Errorf("loading the client CA: %w", err)
	}
	if err := c.Authentication.ApplyClientCert(clientCA, c.SecureServing); err != nil {
		return err
	}
	var conditions []apiserverconfig.AnonymousAuthCondition
	for _, p := range anonymousPaths {
		conditions = append(conditions, apiserverconfig.AnonymousAuthCondition{Path: p})
	}
	c.Authentication.APIAudiences = a.audiences
	c.Authentication.Authenticator = union.NewFailOnError(
		group.NewAuthenticatedGroupAdder(union.New(
			newCertCache(x509.NewDynamic(clientCA.VerifyOptions, x509.CommonNameUserConversion)),
			bearertoken.New(tokens),
		)),
		anonymous.NewAuthenticator(conditions),
	)
	return nil
}

// authorization is how the server decides what a caller may do.
type authorization struct {
	authorizer authorizer.Authorizer
	rules      authorizer.RuleResolver
	// rbac, when authorizing by RBAC, also guards against escalation
	// through roles and bindings.
	rbac *rbac.Authorizer
	// synced reports whether the informers it reads have caught up.
	synced []cache.InformerSynced
}

// newAuthorization builds the authorizer of modes (kube-apiserver's
// --authorization-mode) over the server's informers. Members of
// system:masters may do everything in every mode.
func newAuthorization(modes []string, factory informers.SharedInformerFactory, nodeConfigMaps []types.NamespacedName) (*authorization, error) {
	if len(modes) == 0 {
		modes = DefaultAuthorizationModes
	}
	masters := authorizerfactory.NewPrivilegedGroups(user.SystemPrivilegedGroup)
	authorizers := []authzunion.NamedAuthorizer{{AuthorizerName: "privileged-groups", Authorizer: masters}}
	var resolvers []authorizer.RuleResolver
	out := &authorization{}
	for _, mode := range modes {
		switch mode {
		case ModeAlwaysAllow:
			allow := authorizerfactory.NewAlwaysAllowAuthorizer()
			authorizers = append(authorizers, authzunion.NamedAuthorizer{AuthorizerName: mode, Authorizer: allow})
			resolvers = append(resolvers, allow)
		case ModeNode:
			n, err := node.New(node.Config{Informers: factory, NodeConfigMaps: nodeConfigMaps, Rules: bootstrappolicy.NodeRules()})
			if err != nil {
				return nil, err
			}
			authorizers = append(authorizers, authzunion.NamedAuthorizer{AuthorizerName: mode, Authorizer: n})
			resolvers = append(resolvers, n)
			out.synced = append(out.synced, n.HasSynced)
		case ModeRBAC:
			rbacInformers := factory.Rbac().V1()
			r, err := rbac.New(rbac.Config{
				Roles:               rbacInformers.Roles().Lister(),
				RoleBindings:        rbacInformers.RoleBindings().Lister(),
				ClusterRoles:        rbacInformers.ClusterRoles().Lister(),
				ClusterRoleBindings: rbacInformers.ClusterRoleBindings().Lister(),
				// Index bindings by subject: a request reads only its user's.
				RoleBindingEvents:        rbacInformers.RoleBindings().Informer(),
				ClusterRoleBindingEvents: rbacInformers.ClusterRoleBindings().Informer(),
			})
			if err != nil {
				return nil, err
			}
			authorizers = append(authorizers, authzunion.NamedAuthorizer{AuthorizerName: mode, Authorizer: r})
			resolvers = append(resolvers, r)
			out.rbac = r
			out.synced = append(out.synced,
				rbacInformers.Roles().Informer().HasSynced, rbacInformers.RoleBindings().Informer().HasSynced,
				rbacInformers.ClusterRoles().Informer().HasSynced, rbacInformers.ClusterRoleBindings().Informer().HasSynced)
		default:
			return nil, fmt.Errorf("unknown authorization mode %q: use %s", mode, strings.Join([]string{ModeNode, ModeRBAC, ModeAlwaysAllow}, ", "))
		}
	}
	if slices.Contains(modes, ModeAlwaysAllow) && len(modes) > 1 {
		return nil, fmt.Errorf("authorization mode %s cannot be combined with others", ModeAlwaysAllow)
	}
	var err error
	if out.authorizer, err = authzunion.New(authorizers...); err != nil {
		return nil, fmt.Errorf("authorization modes %v: %w", modes, err)
	}
	out.rules = authzunion.NewRuleResolvers(resolvers...)
	return out, nil
}

// policyBootstrap makes the default roles and bindings (and extra ones)
// exist once the server serves, as kube-apiserver's rbac/bootstrap-roles
// hook does, after the authorizer's informers have caught up, so that the
// server reports ready only when it authorizes as it will.
type policyBootstrap struct {
	client kubernetes.Interface
	extra  []rbacv1.ClusterRole
	synced []cache.InformerSynced
}

func (p *policyBootstrap) run(hook genericapiserver.PostStartHookContext) error {
	ctx := hook.Context
	// The API is served but may not answer yet: keep trying, and say why
	// the last try failed if none succeeds.
	var last error
	err := wait.PollUntilContextTimeout(ctx, 200*time.Millisecond, time.Minute, true, func(ctx context.Context) (bool, error) {
		last = bootstrappolicy.Reconcile(ctx, p.client, p.extra...)
		return last == nil, nil
	})
	if err != nil {
		return fmt.Errorf("reconciling the default roles: %w (last: %v)", err, last)
	}
	if !cache.WaitForCacheSync(ctx.Done(), p.synced...) {
		return fmt.Errorf("the authorizer's informers did not sync")
	}
	return nil
}

// bootstrapTokens reads join tokens from kube-system's Secrets, through an
// informer of that namespace only.
func bootstrapTokens(client kubernetes.Interface) (*bootstraptoken.Authenticator, informers.SharedInformerFactory) {
	factory := informers.NewSharedInformerFactoryWithOptions(client, 10*time.Minute, informers.WithNamespace(metav1.NamespaceSystem))
	return bootstraptoken.NewAuthenticator(factory.Core().V1().Secrets().Lister().Secrets(metav1.NamespaceSystem)), factory
}
