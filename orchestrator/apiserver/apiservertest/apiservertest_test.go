package apiservertest_test

import (
	"context"
	"testing"

	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"

	"berth.dev/berth/orchestrator/apiserver/apiservertest"
)

func TestStart(t *testing.T) {
	s := apiservertest.Start(t)
	ns, err := s.Client.CoreV1().Namespaces().Get(context.Background(), "default", metav1.GetOptions{})
	if err != nil || ns.Status.Phase != "Active" {
		t.Fatalf("default namespace: %v %v", err, ns)
	}
}
