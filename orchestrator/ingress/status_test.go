package ingress

import (
	"context"
	"fmt"
	"testing"

	networkingv1 "k8s.io/api/networking/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	k8stesting "k8s.io/client-go/testing"
)

func TestStatus(t *testing.T) {
	stale := ingress("stale", withRule("stale.example.com", prefix("/", "web")))
	stale.Status.LoadBalancer.Ingress = []networkingv1.IngressLoadBalancerIngress{{IP: "198.51.100.1"}, {Hostname: "lb.example.com"}}
	foreign := ingress("foreign", withClass("nginx"), withRule("foreign.example.com", prefix("/", "web")))
	foreign.Status.LoadBalancer.Ingress = []networkingv1.IngressLoadBalancerIngress{{IP: "203.0.113.7"}}
	s := start(t, func(c *Config) { c.StatusAddresses = []string{"192.0.2.10", "192.0.2.9", "192.0.2.10"} },
		append(serviceWith("web", newBackend(t, "web")),
			ingress("ours", withRule("ours.example.com", prefix("/", "web"))),
			stale,
			foreign)...)

	want := "[192.0.2.9 192.0.2.10]"
	ips := func(ing *networkingv1.Ingress) string {
		var out []string
		for _, i := range ing.Status.LoadBalancer.Ingress {
			out = append(out, i.IP+i.Hostname)
		}
		return fmt.Sprint(out)
	}
	for _, name := range []string{"ours", "stale"} {
		// Read from the cache, so that the checks below see what the
		// controller sees.
		eventually(t, "the status of "+name, func() error {
			ing, err := s.ingresses.Ingresses("default").Get(name)
			if err != nil {
				return err
			}
			if got := ips(ing); got != want {
				return fmt.Errorf("status %s, want %s", got, want)
			}
			return nil
		})
	}

	ctx := context.Background()
	before := len(s.client.Actions())
	for _, key := range []string{"default/ours", "default/foreign"} {
		if err := s.syncStatus(ctx, key); err != nil {
			t.Errorf("syncing %s: %v", key, err)
		}
	}
	for _, a := range s.client.Actions()[before:] {
		if a.GetVerb() == "update" {
			t.Errorf("a sync with nothing to change wrote %s %s", a.GetResource().Resource, a.GetSubresource())
		}
	}
	for _, a := range s.client.Actions() {
		if u, ok := a.(k8stesting.UpdateAction); ok {
			if ing, ok := u.GetObject().(*networkingv1.Ingress); ok && ing.Name == "foreign" {
				t.Errorf("the Ingress of another class was written: %s", a.GetVerb())
			}
		}
	}
	got, err := s.client.NetworkingV1().Ingresses("default").Get(ctx, "foreign", metav1.GetOptions{})
	if err != nil {
		t.Fatal(err)
	}
	if ips(got) != "[203.0.113.7]" {
		t.Errorf("status of the Ingress of another class is %s, want it untouched", ips(got))
	}
}
