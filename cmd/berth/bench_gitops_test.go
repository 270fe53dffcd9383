package main

import (
	"context"
	"fmt"
	"net"
	"net/http"
	"strings"
	"testing"
	"time"

	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/runtime/schema"
	"k8s.io/client-go/dynamic"

	"berth.dev/berth/release/gitops"
)

// BenchmarkGitOps measures, on a real node: the time from a commit to its
// Release serving, through berth server's controller (a GitSource asked to
// reconcile at once, as a push webhook would) and through berth sync; and
// a sync of 200 Releases that did not change, which must write no release
// revision, next to the same sync's first run, which installs them.
// Target: the 200 unchanged Releases in under 2 s.
func BenchmarkGitOps(b *testing.B) {
	c := newBenchNode(b)
	b.Setenv("XDG_CACHE_HOME", b.TempDir())
	dyn, err := dynamic.NewForConfig(c.config)
	if err != nil {
		b.Fatal(err)
	}

	// Commit to serving, through the controller.
	ns := "bench-gitops"
	c.kubectl(b, "create", "namespace", ns)
	g := newGitRepo(b)
	g.addChart("chart", "0.1.0")
	g.Commit(map[string]string{"releases/app.yaml": releaseYAML("app", ns, "one", "")})
	c.kubectlStdin(b, fmt.Sprintf("apiVersion: berth.dev/v1\nkind: GitSource\nmetadata: {name: team, namespace: %s}\nspec: {url: %q, path: releases, interval: 1h}\n", ns, g.FileURL()), "apply", "-f", "-")
	start := time.Now()
	if _, _, err := gitops.RequestReconcile(context.Background(), dyn.Resource(gitops.GitSourcesResource()).Namespace(ns), "team", time.Minute); err != nil {
		b.Fatal(err)
	}
	controller := waitServing(b, c, ns, "app", "one", start)

	// Commit to serving, through berth sync (a second release of the same
	// chart).
	g2 := newGitRepo(b)
	g2.addChart("chart", "0.1.0")
	g2.Commit(map[string]string{"releases/web.yaml": releaseYAML("web", ns, "web", "")})
	start = time.Now()
	timeCommand(b, c.berthCmd("sync", "--repo", g2.FileURL(), "--path", "releases"))
	syncServing := waitServing(b, c, ns, "web", "web", start)

	// 200 Releases of a chart of one ConfigMap, then the same again.
	many := newGitRepo(b)
	files := map[string]string{}
	many.addChartFrom(testChart(b), "chart")
	manyNS := "bench-gitops-many"
	c.kubectl(b, "create", "namespace", manyNS)
	for i := range 200 {
		files[fmt.Sprintf("releases/r%03d.yaml", i)] = fmt.Sprintf("apiVersion: berth.dev/v1\nkind: Release\nmetadata: {name: r%03d, namespace: %s}\nspec:\n  chart: {path: chart}\n  values: {deployment: false, message: m%d}\n", i, manyNS, i)
	}
	many.Commit(files)
	first := timeCommand(b, c.berthCmd("sync", "--repo", many.FileURL(), "--path", "releases"))
	revisions := func() int {
		list, err := dyn.Resource(revisionsGVR).Namespace(manyNS).List(context.Background(), metav1.ListOptions{})
		if err != nil {
			b.Fatal(err)
		}
		return len(list.Items)
	}
	before := revisions()
	unchanged := timeCommand(b, c.berthCmd("sync", "--repo", many.FileURL(), "--path", "releases"))
	if after := revisions(); after != before {
		b.Errorf("the sync of 200 unchanged Releases wrote %d revisions", after-before)
	}

	fmt.Printf("\n%-52s %10s\n", "GitOps on one node", "seconds")
	fmt.Printf("%-52s %10.2f\n", "commit → serving, controller (reconcile requested)", controller.Seconds())
	fmt.Printf("%-52s %10.2f\n", "commit → serving, berth sync", syncServing.Seconds())
	fmt.Printf("%-52s %10.2f\n", "berth sync, 200 new Releases (installs)", first.Seconds())
	fmt.Printf("%-52s %10.2f   (%.2f of the installing run; %d revisions written)\n", "berth sync, 200 unchanged Releases", unchanged.Seconds(), unchanged.Seconds()/first.Seconds(), revisions()-before)
}

// revisionsGVR is where berth keeps release revisions.
var revisionsGVR = schema.GroupVersionResource{Group: "berth.dev", Version: "v1", Resource: "releaserevisions"}

// waitServing waits until Service name of ns answers want through its
// ClusterIP and returns the time since start.
func waitServing(b *testing.B, c *cluster, ns, name, want string, start time.Time) time.Duration {
	b.Helper()
	client := &http.Client{Timeout: time.Second}
	deadline := time.Now().Add(2 * time.Minute)
	for {
		svc, err := c.client.CoreV1().Services(ns).Get(context.Background(), name, metav1.GetOptions{})
		if err == nil && svc.Spec.ClusterIP != "" {
			if body, err := get(context.Background(), client, "http://"+net.JoinHostPort(svc.Spec.ClusterIP, "80")+"/", ""); err == nil && strings.TrimSpace(body) == want {
				return time.Since(start)
			}
		}
		if time.Now().After(deadline) {
			b.Fatalf("Release %s/%s never served %q", ns, name, want)
		}
		time.Sleep(10 * time.Millisecond)
	}
}
