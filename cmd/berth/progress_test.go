package main

import (
	"bytes"
	"testing"

	"k8s.io/apimachinery/pkg/apis/meta/v1/unstructured"

	"berth.dev/berth/release/kube"
)

func TestFit(t *testing.T) {
	tests := []struct {
		name  string
		line  string
		width int
		want  string
	}{
		{"short", "Deployment web: 1 of 3 replicas available", 80, "Deployment web: 1 of 3 replicas available"},
		{"unknown width", "Deployment web: 1 of 3 replicas available", 0, "Deployment web: 1 of 3 replicas available"},
		// A line as wide as the terminal would wrap on some: it is cut too.
		{"as wide as the terminal", "0123456789", 10, "01234567…"},
		{"cut by columns, not bytes", "pod é: waiting for image pull", 8, "pod é:…"},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			if got := fit(tc.line, tc.width); got != tc.want {
				t.Errorf("fit(%q, %d) = %q, want %q", tc.line, tc.width, got, tc.want)
			}
		})
	}
}

// TestProgressLines checks that, off a terminal, progress prints a line per
// object whenever its status changes, and nothing while none does.
func TestProgressLines(t *testing.T) {
	obj := func(kind, name string) kube.Object {
		u := &unstructured.Unstructured{}
		u.SetKind(kind)
		u.SetNamespace("shop")
		u.SetName(name)
		return kube.Object{Unstructured: u}
	}
	web, db := obj("Deployment", "web"), obj("StatefulSet", "db")
	var out bytes.Buffer
	p := newProgress(&out)
	p.show([]kube.ObjectStatus{
		{Object: web, Status: kube.InProgress, Message: "Deployment web: 0 of 2 replicas available; pod web-a: not scheduled: Unschedulable"},
		{Object: db, Status: kube.InProgress, Message: "StatefulSet db: 0 of 1 replicas ready"},
	})
	p.show([]kube.ObjectStatus{
		{Object: web, Status: kube.InProgress, Message: "Deployment web: 0 of 2 replicas available; pod web-a: waiting for image pull (ErrImagePull)"},
		{Object: db, Status: kube.InProgress, Message: "StatefulSet db: 0 of 1 replicas ready"},
	})
	p.show([]kube.ObjectStatus{
		{Object: web, Status: kube.InProgress, Message: "Deployment web: 0 of 2 replicas available; pod web-a: waiting for image pull (ErrImagePull)"},
		{Object: db, Status: kube.Current, Message: "StatefulSet db: 1 of 1 replicas ready"},
	})
	want := "InProgress: Deployment web: 0 of 2 replicas available; pod web-a: not scheduled: Unschedulable\n" +
		"InProgress: StatefulSet db: 0 of 1 replicas ready\n" +
		"InProgress: Deployment web: 0 of 2 replicas available; pod web-a: waiting for image pull (ErrImagePull)\n" +
		"Current: StatefulSet db: 1 of 1 replicas ready\n"
	if out.String() != want {
		t.Errorf("printed:\n%s\nwant:\n%s", out.String(), want)
	}
}
