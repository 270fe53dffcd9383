package printers

import (
	"fmt"
	"slices"
	"strings"
	"time"

	corev1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/util/duration"
)

// since is the age of a timestamp at now, "<unknown>" when it is unset.
func since(t metav1.Time, now time.Time) string {
	if t.IsZero() {
		return "<unknown>"
	}
	return duration.HumanDuration(now.Sub(t.Time))
}

// sinceMicro is since for a MicroTime.
func sinceMicro(t metav1.MicroTime, now time.Time) string {
	if t.IsZero() {
		return "<unknown>"
	}
	return duration.HumanDuration(now.Sub(t.Time))
}

// templateCells are the CONTAINERS and IMAGES cells: names and images, comma-separated.
func templateCells(containers []corev1.Container) []any {
	names := make([]string, len(containers))
	images := make([]string, len(containers))
	for i, c := range containers {
		names[i], images[i] = c.Name, c.Image
	}
	return []any{strings.Join(names, ","), strings.Join(images, ",")}
}

// firstOf shows at most max items, comma-separated, and says how many it left out:
// "a,b,c + 2 more...". An empty list is "<unset>".
func firstOf(items []string, max int) string {
	if len(items) > max {
		return fmt.Sprintf("%s + %d more...", strings.Join(items[:max], ","), len(items)-max)
	}
	if len(items) == 0 {
		return "<unset>"
	}
	return strings.Join(items, ",")
}

// boolPtr is "True" or "False", "<unset>" for nil.
func boolPtr(b *bool) string {
	switch {
	case b == nil:
		return "<unset>"
	case *b:
		return "True"
	default:
		return "False"
	}
}

// orNone is s, or "<none>" when it is empty.
func orNone(s string) string {
	if s == "" {
		return "<none>"
	}
	return s
}

// deref is *p, or the zero value for nil.
func deref[T any](p *T) T {
	var zero T
	if p == nil {
		return zero
	}
	return *p
}

// loadBalancerAddresses are the distinct IPs (or, without one, hostnames) of
// load-balancer ingress points, sorted. Upstream clips them to 16 characters only
// without -o wide, which the server never applies.
func loadBalancerAddresses[T any](ingress []T, address func(T) (ip, hostname string)) []string {
	var out []string
	for _, in := range ingress {
		ip, host := address(in)
		switch {
		case ip != "":
			out = append(out, ip)
		case host != "":
			out = append(out, host)
		}
	}
	slices.Sort(out)
	return slices.Compact(out)
}
