package apiserver_test

import (
	"context"
	"encoding/base64"
	"encoding/json"
	"os/exec"
	"slices"
	"strings"
	"testing"
	"time"

	authenticationv1 "k8s.io/api/authentication/v1"
	corev1 "k8s.io/api/core/v1"
	rbacv1 "k8s.io/api/rbac/v1"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/util/wait"
	"k8s.io/client-go/kubernetes"
	"k8s.io/client-go/rest"
	"k8s.io/utils/ptr"

	"berth.dev/berth/orchestrator/apiserver/apiservertest"
)

// asBearer is a client that presents token, and trusts the cluster CA, as
// in-cluster client-go does.
func asBearer(t *testing.T, s *apiservertest.Server, token string) kubernetes.Interface {
	t.Helper()
	cfg := &rest.Config{Host: s.Config.Host, BearerToken: token, TLSClientConfig: rest.TLSClientConfig{CAFile: s.CA.CertFile}}
	client, err := kubernetes.NewForConfig(cfg)
	if err != nil {
		t.Fatal(err)
	}
	return client
}

// jwtClaims decodes the claims of a token, unverified.
func jwtClaims(t *testing.T, token string) map[string]any {
	t.Helper()
	parts := strings.Split(token, ".")
	if len(parts) != 3 {
		t.Fatalf("token has %d parts, want 3", len(parts))
	}
	raw, err := base64.RawURLEncoding.DecodeString(parts[1])
	if err != nil {
		t.Fatal(err)
	}
	var claims map[string]any
	if err := json.Unmarshal(raw, &claims); err != nil {
		t.Fatal(err)
	}
	return claims
}

func whoami(ctx context.Context, client kubernetes.Interface) (authenticationv1.UserInfo, error) {
	review, err := client.AuthenticationV1().SelfSubjectReviews().Create(ctx, &authenticationv1.SelfSubjectReview{}, metav1.CreateOptions{})
	if err != nil {
		return authenticationv1.UserInfo{}, err
	}
	return review.Status.UserInfo, nil
}

// TestServiceAccountTokens requests a token for a pod's service account through
// serviceaccounts/token and uses it as in-cluster client-go would.
func TestServiceAccountTokens(t *testing.T) {
	ctx := context.Background()
	s := apiservertest.Start(t)
	admin := s.Client
	const ns = "tokens"
	if _, err := admin.CoreV1().Namespaces().Create(ctx, &corev1.Namespace{ObjectMeta: metav1.ObjectMeta{Name: ns}}, metav1.CreateOptions{}); err != nil {
		t.Fatal(err)
	}
	sa, err := admin.CoreV1().ServiceAccounts(ns).Create(ctx, &corev1.ServiceAccount{ObjectMeta: metav1.ObjectMeta{Name: "robot"}}, metav1.CreateOptions{})
	if err != nil {
		t.Fatal(err)
	}
	newPod := func(name string) *corev1.Pod {
		t.Helper()
		pod, err := admin.CoreV1().Pods(ns).Create(ctx, &corev1.Pod{
			ObjectMeta: metav1.ObjectMeta{Name: name},
			Spec:       corev1.PodSpec{ServiceAccountName: "robot", Containers: []corev1.Container{{Name: "app", Image: "busybox"}}},
		}, metav1.CreateOptions{})
		if err != nil {
			t.Fatal(err)
		}
		return pod
	}
	pod := newPod("app")

	// Admission mounted the token volume the kubelet fills.
	if len(pod.Spec.Volumes) != 1 || !strings.HasPrefix(pod.Spec.Volumes[0].Name, "kube-api-access-") || pod.Spec.Volumes[0].Projected == nil {
		t.Fatalf("pod volumes %+v, want the kube-api-access projected volume", pod.Spec.Volumes)
	}
	mounts := pod.Spec.Containers[0].VolumeMounts
	if len(mounts) != 1 || mounts[0].MountPath != "/var/run/secrets/kubernetes.io/serviceaccount" || !mounts[0].ReadOnly || mounts[0].Name != pod.Spec.Volumes[0].Name {
		t.Errorf("container mounts %+v, want the token volume read-only at /var/run/secrets/kubernetes.io/serviceaccount", mounts)
	}

	boundTo := func(p *corev1.Pod) *authenticationv1.BoundObjectReference {
		return &authenticationv1.BoundObjectReference{APIVersion: "v1", Kind: "Pod", Name: p.Name, UID: p.UID}
	}
	requested := time.Now()
	tr, err := admin.CoreV1().ServiceAccounts(ns).CreateToken(ctx, "robot", &authenticationv1.TokenRequest{
		Spec: authenticationv1.TokenRequestSpec{BoundObjectRef: boundTo(pod)},
	}, metav1.CreateOptions{})
	if err != nil {
		t.Fatal(err)
	}
	if tr.Status.Token == "" {
		t.Fatal("the token request returned no token")
	}
	if exp := tr.Status.ExpirationTimestamp.Sub(requested); exp < 59*time.Minute || exp > 61*time.Minute {
		t.Errorf("token expires in %s, want the default hour", exp)
	}
	if got := tr.Spec.Audiences; !slices.Equal(got, []string{"https://kubernetes.default.svc.cluster.local"}) {
		t.Errorf("audiences %q, want the API server's", got)
	}

	t.Run("the token authenticates as the service account", func(t *testing.T) {
		client := asBearer(t, s, tr.Status.Token)
		u, err := whoami(ctx, client)
		if err != nil {
			t.Fatal(err)
		}
		if u.Username != "system:serviceaccount:tokens:robot" || u.UID != string(sa.UID) {
			t.Errorf("authenticated as %q (uid %q), want system:serviceaccount:tokens:robot (uid %q)", u.Username, u.UID, sa.UID)
		}
		for _, g := range []string{"system:serviceaccounts", "system:serviceaccounts:tokens", "system:authenticated"} {
			if !slices.Contains(u.Groups, g) {
				t.Errorf("groups %q lack %s", u.Groups, g)
			}
		}
		if got := u.Extra["authentication.kubernetes.io/pod-name"]; len(got) != 1 || got[0] != "app" {
			t.Errorf("extra pod-name %q, want app", got)
		}
		if got := u.Extra["authentication.kubernetes.io/pod-uid"]; len(got) != 1 || got[0] != string(pod.UID) {
			t.Errorf("extra pod-uid %q, want %s", got, pod.UID)
		}
		// RBAC decides what the account may do: nothing until bound.
		_, err = client.CoreV1().Pods(ns).Get(ctx, "app", metav1.GetOptions{})
		if want := `User "system:serviceaccount:tokens:robot" cannot get resource "pods"`; !apierrors.IsForbidden(err) || !strings.Contains(err.Error(), want) {
			t.Errorf("reading the pod with the token before any binding: %v, want Forbidden: %s", err, want)
		}
		if _, err := admin.RbacV1().RoleBindings(ns).Create(ctx, &rbacv1.RoleBinding{
			ObjectMeta: metav1.ObjectMeta{Name: "robot-views"},
			RoleRef:    rbacv1.RoleRef{APIGroup: rbacv1.GroupName, Kind: "ClusterRole", Name: "system:aggregate-to-view"},
			Subjects:   []rbacv1.Subject{{Kind: rbacv1.ServiceAccountKind, Name: "robot", Namespace: ns}},
		}, metav1.CreateOptions{}); err != nil {
			t.Fatal(err)
		}
		// (view gathers its rules from system:aggregate-to-view through a
		// controller, which this server does not run.)
		if err := wait.PollUntilContextTimeout(ctx, 50*time.Millisecond, 10*time.Second, true, func(ctx context.Context) (bool, error) {
			_, err := client.CoreV1().Pods(ns).List(ctx, metav1.ListOptions{})
			return err == nil, nil
		}); err != nil {
			t.Errorf("listing pods with the token after a RoleBinding to system:aggregate-to-view: never allowed")
		}
	})

	t.Run("a token of a pod on a node names the node", func(t *testing.T) {
		node, err := admin.CoreV1().Nodes().Create(ctx, &corev1.Node{ObjectMeta: metav1.ObjectMeta{Name: "n1"}}, metav1.CreateOptions{})
		if err != nil {
			t.Fatal(err)
		}
		placed := newPod("placed")
		if err := admin.CoreV1().Pods(ns).Bind(ctx, &corev1.Binding{ObjectMeta: metav1.ObjectMeta{Name: "placed"},
			Target: corev1.ObjectReference{Kind: "Node", Name: "n1"}}, metav1.CreateOptions{}); err != nil {
			t.Fatal(err)
		}
		// What the admission plugin mounts: extended for clients that never
		// reread their token, but reported with the lifetime asked for.
		requested := time.Now()
		tok, err := admin.CoreV1().ServiceAccounts(ns).CreateToken(ctx, "robot", &authenticationv1.TokenRequest{
			Spec: authenticationv1.TokenRequestSpec{BoundObjectRef: boundTo(placed), ExpirationSeconds: ptr.To[int64](3607)},
		}, metav1.CreateOptions{})
		if err != nil {
			t.Fatal(err)
		}
		if exp := tok.Status.ExpirationTimestamp.Sub(requested); exp < 3600*time.Second || exp > 3610*time.Second {
			t.Errorf("token reported to expire in %s, want 3607s", exp)
		}
		claims := jwtClaims(t, tok.Status.Token)
		if exp := time.Unix(int64(claims["exp"].(float64)), 0).Sub(requested); exp < 364*24*time.Hour {
			t.Errorf("token valid for %s, want a year", exp)
		}
		u, err := whoami(ctx, asBearer(t, s, tok.Status.Token))
		if err != nil {
			t.Fatal(err)
		}
		if got := u.Extra["authentication.kubernetes.io/node-name"]; len(got) != 1 || got[0] != "n1" {
			t.Errorf("extra node-name %q, want n1", got)
		}
		if got := u.Extra["authentication.kubernetes.io/node-uid"]; len(got) != 1 || got[0] != string(node.UID) {
			t.Errorf("extra node-uid %q, want %s", got, node.UID)
		}
	})

	t.Run("a tampered token is refused", func(t *testing.T) {
		token := tr.Status.Token
		last := token[len(token)-2]
		flipped := byte('A')
		if last == 'A' {
			flipped = 'B'
		}
		tampered := token[:len(token)-2] + string(flipped) + token[len(token)-1:]
		if _, err := whoami(ctx, asBearer(t, s, tampered)); !apierrors.IsUnauthorized(err) {
			t.Errorf("a tampered token: %v, want 401 Unauthorized", err)
		}
		if _, err := whoami(ctx, asBearer(t, s, "not-a-token")); !apierrors.IsUnauthorized(err) {
			t.Errorf("an unknown bearer token: %v, want 401 Unauthorized", err)
		}
	})

	t.Run("a token for another audience is refused", func(t *testing.T) {
		other, err := admin.CoreV1().ServiceAccounts(ns).CreateToken(ctx, "robot", &authenticationv1.TokenRequest{
			Spec: authenticationv1.TokenRequestSpec{Audiences: []string{"vault"}},
		}, metav1.CreateOptions{})
		if err != nil {
			t.Fatal(err)
		}
		if _, err := whoami(ctx, asBearer(t, s, other.Status.Token)); !apierrors.IsUnauthorized(err) {
			t.Errorf("a token for vault: %v, want 401 Unauthorized", err)
		}
	})

	t.Run("a token bound to a deleted pod is refused", func(t *testing.T) {
		doomed := newPod("doomed")
		tok, err := admin.CoreV1().ServiceAccounts(ns).CreateToken(ctx, "robot", &authenticationv1.TokenRequest{
			Spec: authenticationv1.TokenRequestSpec{BoundObjectRef: boundTo(doomed)},
		}, metav1.CreateOptions{})
		if err != nil {
			t.Fatal(err)
		}
		// The pod never reached a node, so it goes at once.
		if err := admin.CoreV1().Pods(ns).Delete(ctx, "doomed", metav1.DeleteOptions{}); err != nil {
			t.Fatal(err)
		}
		if _, err := whoami(ctx, asBearer(t, s, tok.Status.Token)); !apierrors.IsUnauthorized(err) {
			t.Errorf("a token of a deleted pod: %v, want 401 Unauthorized", err)
		}
	})

	t.Run("requests the server refuses", func(t *testing.T) {
		cases := []struct {
			name    string
			account string
			spec    authenticationv1.TokenRequestSpec
			check   func(error) bool
			message string
		}{
			{name: "unknown service account", account: "ghost", check: apierrors.IsNotFound, message: `serviceaccounts "ghost" not found`},
			{name: "too short a lifetime", account: "robot", spec: authenticationv1.TokenRequestSpec{ExpirationSeconds: ptr.To[int64](599)},
				check: apierrors.IsInvalid, message: "may not specify a duration less than 10 minutes"},
			{name: "bound to a pod that was replaced", account: "robot",
				spec:  authenticationv1.TokenRequestSpec{BoundObjectRef: &authenticationv1.BoundObjectReference{APIVersion: "v1", Kind: "Pod", Name: "app", UID: "not-its-uid"}},
				check: apierrors.IsConflict, message: "does not match the UID in record"},
			{name: "bound to a missing pod", account: "robot",
				spec:  authenticationv1.TokenRequestSpec{BoundObjectRef: &authenticationv1.BoundObjectReference{APIVersion: "v1", Kind: "Pod", Name: "nothing"}},
				check: apierrors.IsNotFound, message: `pods "nothing" not found`},
			{name: "bound to a pod of another service account", account: "default-less",
				spec:  authenticationv1.TokenRequestSpec{BoundObjectRef: boundTo(pod)},
				check: apierrors.IsBadRequest, message: "different serviceaccount"},
			{name: "bound to a kind tokens cannot be bound to", account: "robot",
				spec:  authenticationv1.TokenRequestSpec{BoundObjectRef: &authenticationv1.BoundObjectReference{APIVersion: "v1", Kind: "ConfigMap", Name: "x"}},
				check: apierrors.IsBadRequest, message: "cannot bind token to object of type"},
		}
		if _, err := admin.CoreV1().ServiceAccounts(ns).Create(ctx, &corev1.ServiceAccount{ObjectMeta: metav1.ObjectMeta{Name: "default-less"}}, metav1.CreateOptions{}); err != nil {
			t.Fatal(err)
		}
		for _, c := range cases {
			t.Run(c.name, func(t *testing.T) {
				_, err := admin.CoreV1().ServiceAccounts(ns).CreateToken(ctx, c.account, &authenticationv1.TokenRequest{Spec: c.spec}, metav1.CreateOptions{})
				if !c.check(err) || !strings.Contains(err.Error(), c.message) {
					t.Errorf("CreateToken: %v, want an error saying %q", err, c.message)
				}
			})
		}
	})

	t.Run("kubectl create token and auth whoami", func(t *testing.T) {
		kubectl, err := exec.LookPath("kubectl")
		if err != nil {
			t.Skip("kubectl is not installed")
		}
		path := s.Kubeconfig(t)
		run := func(args ...string) string {
			t.Helper()
			out, err := exec.Command(kubectl, append([]string{"--kubeconfig", path}, args...)...).CombinedOutput()
			if err != nil {
				t.Fatalf("kubectl %s: %v\n%s", strings.Join(args, " "), err, out)
			}
			return strings.TrimSpace(string(out))
		}
		token := run("create", "token", "robot", "-n", ns, "--duration", "10m")
		if got := run("auth", "whoami", "--token", token, "-o", "jsonpath={.status.userInfo.username}"); got != "system:serviceaccount:tokens:robot" {
			t.Errorf("kubectl auth whoami says %q, want system:serviceaccount:tokens:robot", got)
		}
	})

	t.Run("requests without credentials are refused but for health checks", func(t *testing.T) {
		anonymous := asBearer(t, s, "")
		if _, err := whoami(ctx, anonymous); !apierrors.IsUnauthorized(err) {
			t.Errorf("whoami without credentials: %v, want Unauthorized", err)
		}
		if err := anonymous.Discovery().RESTClient().Get().AbsPath("/readyz").Do(ctx).Error(); err != nil {
			t.Errorf("/readyz without credentials: %v", err)
		}
	})
}
