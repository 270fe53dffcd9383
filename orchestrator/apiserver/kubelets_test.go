package apiserver

import (
	"net/http/httptest"
	"testing"

	"k8s.io/apiserver/pkg/endpoints/request"
)

func TestLongRunningRequests(t *testing.T) {
	cases := []struct {
		info *request.RequestInfo
		want bool
	}{
		{&request.RequestInfo{IsResourceRequest: true, Verb: "get", Resource: "pods", Subresource: "log"}, true},
		{&request.RequestInfo{IsResourceRequest: true, Verb: "create", Resource: "pods", Subresource: "exec"}, true},
		{&request.RequestInfo{IsResourceRequest: true, Verb: "get", Resource: "pods", Subresource: "attach"}, true},
		{&request.RequestInfo{IsResourceRequest: true, Verb: "get", Resource: "pods", Subresource: "portforward"}, true},
		{&request.RequestInfo{IsResourceRequest: true, Verb: "watch", Resource: "pods"}, true},
		{&request.RequestInfo{IsResourceRequest: true, Verb: "get", Resource: "pods"}, false},
		{&request.RequestInfo{IsResourceRequest: true, Verb: "update", Resource: "pods", Subresource: "status"}, false},
	}
	for _, c := range cases {
		r := httptest.NewRequest("GET", "/api/v1/namespaces/default/pods/p", nil)
		if got := longRunning(r, c.info); got != c.want {
			t.Errorf("%s pods/%s long-running = %v, want %v", c.info.Verb, c.info.Subresource, got, c.want)
		}
	}
}
