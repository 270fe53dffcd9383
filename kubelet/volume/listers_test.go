package volume

import (
	"context"
	"testing"

	authenticationv1 "k8s.io/api/authentication/v1"
	"k8s.io/apimachinery/pkg/runtime"
	"k8s.io/client-go/kubernetes/fake"
	k8stesting "k8s.io/client-go/testing"
)

func TestClientTokensUsesTheTokenSubresource(t *testing.T) {
	client := fake.NewClientset()
	var got k8stesting.CreateAction
	client.PrependReactor("create", "serviceaccounts", func(a k8stesting.Action) (bool, runtime.Object, error) {
		got = a.(k8stesting.CreateAction)
		tr := got.GetObject().(*authenticationv1.TokenRequest).DeepCopy()
		tr.Status.Token = "tok"
		return true, tr, nil
	})
	tr, err := ClientTokens{Client: client}.CreateToken(context.Background(), "ns", "builder", &authenticationv1.TokenRequest{})
	if err != nil {
		t.Fatal(err)
	}
	if tr.Status.Token != "tok" {
		t.Errorf("token = %q", tr.Status.Token)
	}
	if got.GetNamespace() != "ns" || got.GetSubresource() != "token" || got.GetResource().Resource != "serviceaccounts" {
		t.Errorf("request: namespace %q, resource %v, subresource %q", got.GetNamespace(), got.GetResource(), got.GetSubresource())
	}
}
