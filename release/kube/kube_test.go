package kube

import (
	"context"
	"fmt"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	corev1 "k8s.io/api/core/v1"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"

	"berth.dev/berth/orchestrator/apiserver/apiservertest"
)

// env is one API server shared by the subtests of TestClient, each in its own
// namespace so that they run in parallel.
type env struct {
	s  *apiservertest.Server
	kc *Client
	n  atomic.Int64
}

// TestClient runs every test that needs an API server against one server.
func TestClient(t *testing.T) {
	s := apiservertest.Start(t)
	kc, err := New(s.Config)
	if err != nil {
		t.Fatal(err)
	}
	e := &env{s: s, kc: kc}
	for name, test := range map[string]func(*testing.T, *env){
		"Build":                testBuild,
		"ApplyCreateUpdate":    testApplyCreateUpdate,
		"ApplyDryRun":          testApplyDryRun,
		"ApplyForce":           testApplyForce,
		"RefuseAdoption":       testRefuseAdoption,
		"Delete":               testDelete,
		"DeleteCascade":        testDeleteCascade,
		"Drop":                 testDrop,
		"Status":               testStatus,
		"WaitReady":            testWaitReady,
		"WaitTimeout":          testWaitTimeout,
		"WaitFailed":           testWaitFailed,
		"HookOrder":            testHookOrder,
		"HookJob":              testHookJob,
		"HookFailed":           testHookFailed,
		"HookDeletePolicies":   testHookDeletePolicies,
		"CRDs":                 testCRDs,
		"Diff":                 testDiff,
		"DiffIgnore":           testDiffIgnore,
		"DiagnoseTimeout":      testDiagnoseTimeout,
		"DiagnoseInvalidImage": testDiagnoseInvalidImage,
		"DiagnoseLiveStatus":   testDiagnoseLiveStatus,
	} {
		t.Run(name, func(t *testing.T) {
			t.Parallel()
			test(t, e)
		})
	}
}

// namespace creates a namespace of its own for a test.
func (e *env) namespace(t *testing.T) string {
	t.Helper()
	name := fmt.Sprintf("%s-%d", strings.ToLower(strings.ReplaceAll(t.Name(), "/", "-")), e.n.Add(1))
	name = strings.TrimPrefix(name, "testclient-")
	ns := &corev1.Namespace{ObjectMeta: metav1.ObjectMeta{Name: name}}
	if _, err := e.s.Client.CoreV1().Namespaces().Create(context.Background(), ns, metav1.CreateOptions{}); err != nil {
		t.Fatal(err)
	}
	return name
}

func (e *env) build(t *testing.T, manifest, namespace string) []Object {
	t.Helper()
	objs, err := e.kc.Build(manifest, namespace)
	if err != nil {
		t.Fatal(err)
	}
	return objs
}

func (e *env) apply(t *testing.T, manifest, namespace string, owner Owner) []Object {
	t.Helper()
	objs := e.build(t, manifest, namespace)
	if err := e.kc.Apply(context.Background(), objs, owner, ApplyOptions{}); err != nil {
		t.Fatal(err)
	}
	return objs
}

func (e *env) configMap(t *testing.T, namespace, name string) *corev1.ConfigMap {
	t.Helper()
	cm, err := e.s.Client.CoreV1().ConfigMaps(namespace).Get(context.Background(), name, metav1.GetOptions{})
	if err != nil {
		t.Fatal(err)
	}
	return cm
}

func (e *env) configMapExists(t *testing.T, namespace, name string) bool {
	t.Helper()
	_, err := e.s.Client.CoreV1().ConfigMaps(namespace).Get(context.Background(), name, metav1.GetOptions{})
	if apierrors.IsNotFound(err) {
		return false
	}
	if err != nil {
		t.Fatal(err)
	}
	return true
}

// eventually retries f every 20 ms for up to 10 s until it returns nil.
func eventually(t *testing.T, f func() error) {
	t.Helper()
	deadline := time.Now().Add(10 * time.Second)
	for {
		err := f()
		if err == nil {
			return
		}
		if time.Now().After(deadline) {
			t.Fatal(err)
		}
		time.Sleep(20 * time.Millisecond)
	}
}

func configMapYAML(name string, data map[string]string, annotations ...string) string {
	var b strings.Builder
	fmt.Fprintf(&b, "apiVersion: v1\nkind: ConfigMap\nmetadata:\n  name: %s\n", name)
	if len(annotations) > 0 {
		b.WriteString("  annotations:\n")
		for i := 0; i+1 < len(annotations); i += 2 {
			fmt.Fprintf(&b, "    %s: %q\n", annotations[i], annotations[i+1])
		}
	}
	if len(data) > 0 {
		b.WriteString("data:\n")
		for k, v := range data {
			fmt.Fprintf(&b, "  %s: %q\n", k, v)
		}
	}
	return b.String()
}

func docs(parts ...string) string {
	return "---\n" + strings.Join(parts, "---\n")
}
