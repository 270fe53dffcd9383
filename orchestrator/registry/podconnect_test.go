package registry

import (
	"net/url"
	"strings"
	"testing"
	"time"

	"github.com/google/go-cmp/cmp"
	corev1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/runtime"
	streamproxy "k8s.io/apiserver/pkg/util/proxy"
	"k8s.io/utils/ptr"

	"berth.dev/berth/orchestrator/apis"
)

// TestPodOptionsFromQuery decodes options as the API installer does, through
// the scheme's parameter codec.
func TestPodOptionsFromQuery(t *testing.T) {
	scheme, err := apis.NewScheme()
	if err != nil {
		t.Fatal(err)
	}
	if err := addPodOptionConversions(scheme); err != nil {
		t.Fatal(err)
	}
	codec := runtime.NewParameterCodec(scheme)
	since := metav1.NewTime(time.Date(2026, 11, 23, 10, 0, 0, 0, time.UTC))
	cases := []struct {
		name  string
		query string
		into  runtime.Object
		want  runtime.Object
		err   string
	}{
		{name: "log options", into: &corev1.PodLogOptions{},
			query: "container=app&follow=true&previous=false&tailLines=10&sinceTime=2026-11-23T10:00:00Z&timestamps=1&limitBytes=500",
			want:  &corev1.PodLogOptions{Container: "app", Follow: true, TailLines: ptr.To[int64](10), SinceTime: &since, Timestamps: true, LimitBytes: ptr.To[int64](500)}},
		{name: "sinceSeconds and stream", into: &corev1.PodLogOptions{}, query: "sinceSeconds=30&stream=Stderr",
			want: &corev1.PodLogOptions{SinceSeconds: ptr.To[int64](30), Stream: ptr.To("Stderr")}},
		{name: "malformed number", into: &corev1.PodLogOptions{}, query: "tailLines=ten", err: "tailLines"},
		{name: "malformed time", into: &corev1.PodLogOptions{}, query: "sinceTime=yesterday", err: "sinceTime"},
		{name: "exec options, repeated command", into: &corev1.PodExecOptions{},
			query: "command=sh&command=-c&command=echo+hi&container=c&stdin=true&stdout=true&stderr=false&tty=true",
			want:  &corev1.PodExecOptions{Command: []string{"sh", "-c", "echo hi"}, Container: "c", Stdin: true, Stdout: true, TTY: true}},
		{name: "attach options", into: &corev1.PodAttachOptions{}, query: "container=c&stdout=1",
			want: &corev1.PodAttachOptions{Container: "c", Stdout: true}},
		{name: "ports repeated and comma separated", into: &corev1.PodPortForwardOptions{}, query: "ports=80&ports=443,8080",
			want: &corev1.PodPortForwardOptions{Ports: []int32{80, 443, 8080}}},
		{name: "port out of range", into: &corev1.PodPortForwardOptions{}, query: "ports=70000", err: "ports"},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			q, err := url.ParseQuery(c.query)
			if err != nil {
				t.Fatal(err)
			}
			err = codec.DecodeParameters(q, corev1.SchemeGroupVersion, c.into)
			if c.err != "" {
				if err == nil || !strings.Contains(err.Error(), c.err) {
					t.Fatalf("error %v; want one naming %s", err, c.err)
				}
				return
			}
			if err != nil {
				t.Fatal(err)
			}
			if diff := cmp.Diff(c.want, c.into); diff != "" {
				t.Errorf("decoded (-want +got):\n%s", diff)
			}
		})
	}
}

func TestValidateLogOptions(t *testing.T) {
	cases := []struct {
		name string
		opts corev1.PodLogOptions
		want []string // the error details, in order
	}{
		{name: "none", opts: corev1.PodLogOptions{}},
		{name: "all valid", opts: corev1.PodLogOptions{TailLines: ptr.To[int64](0), LimitBytes: ptr.To[int64](1), SinceSeconds: ptr.To[int64](1), Stream: ptr.To("All")}},
		{name: "negative tail", opts: corev1.PodLogOptions{TailLines: ptr.To[int64](-1)}, want: []string{"tailLines: Invalid value: -1: must be greater than or equal to 0"}},
		{name: "zero limit", opts: corev1.PodLogOptions{LimitBytes: ptr.To[int64](0)}, want: []string{"limitBytes: Invalid value: 0: must be greater than 0"}},
		{name: "zero sinceSeconds", opts: corev1.PodLogOptions{SinceSeconds: ptr.To[int64](0)}, want: []string{"sinceSeconds: Invalid value: 0: must be greater than 0"}},
		{name: "both since", opts: corev1.PodLogOptions{SinceSeconds: ptr.To[int64](5), SinceTime: &metav1.Time{Time: time.Now()}},
			want: []string{"Forbidden: at most one of `sinceTime` or `sinceSeconds` may be specified"}},
		{name: "unknown stream", opts: corev1.PodLogOptions{Stream: ptr.To("Stdin")}, want: []string{`stream: Unsupported value: "Stdin"`}},
		{name: "tail of one stream", opts: corev1.PodLogOptions{Stream: ptr.To("Stdout"), TailLines: ptr.To[int64](3)},
			want: []string{"Forbidden: `tailLines` and specific `stream` are mutually exclusive for now"}},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			errs := validateLogOptions(&c.opts)
			if len(errs) != len(c.want) {
				t.Fatalf("errors %v; want %d", errs, len(c.want))
			}
			for i, err := range errs {
				if !strings.Contains(err.Error(), c.want[i]) {
					t.Errorf("error %q; want %q", err.Error(), c.want[i])
				}
			}
		})
	}
}

func TestPodContainer(t *testing.T) {
	pod := func(containers ...string) *corev1.Pod {
		p := &corev1.Pod{ObjectMeta: metav1.ObjectMeta{Name: "x"}, Spec: corev1.PodSpec{InitContainers: []corev1.Container{{Name: "init"}}}}
		for _, c := range containers {
			p.Spec.Containers = append(p.Spec.Containers, corev1.Container{Name: c})
		}
		return p
	}
	cases := []struct {
		name, asked string
		pod         *corev1.Pod
		want, err   string
	}{
		{name: "the only container", pod: pod("a"), want: "a"},
		{name: "several need a name", pod: pod("a", "b"), err: "a container name must be specified for pod x, choose one of: [init a b]"},
		{name: "named", pod: pod("a", "b"), asked: "b", want: "b"},
		{name: "init container by name", pod: pod("a", "b"), asked: "init", want: "init"},
		{name: "unknown", pod: pod("a"), asked: "c", err: "container c is not valid for pod x"},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			got, err := podContainer(c.pod, c.asked)
			if c.err != "" {
				if err == nil || err.Error() != c.err {
					t.Fatalf("error %v; want %q", err, c.err)
				}
				return
			}
			if err != nil || got != c.want {
				t.Fatalf("got %q, %v; want %q", got, err, c.want)
			}
		})
	}
}

func TestKubeletQueries(t *testing.T) {
	since := metav1.NewTime(time.Date(2026, 11, 23, 10, 0, 0, 0, time.UTC))
	got := logQuery(&corev1.PodLogOptions{Container: "ignored", Follow: true, Timestamps: true, TailLines: ptr.To[int64](0),
		LimitBytes: ptr.To[int64](9), SinceTime: &since}).Encode()
	if want := "follow=true&limitBytes=9&sinceTime=2026-11-23T10%3A00%3A00Z&tailLines=0&timestamps=true"; got != want {
		t.Errorf("log query %s; want %s", got, want)
	}
	opts := streamproxy.Options{Stdin: true, Stdout: true, Stderr: true, Tty: true}
	q, err := streams(&opts)
	if err != nil || q.Encode() != "input=1&output=1&tty=1" || opts.Stderr {
		t.Errorf("tty streams: %v, %v, %+v: stderr must be dropped with a terminal", q.Encode(), err, opts)
	}
	none := streamproxy.Options{}
	if _, err := streams(&none); err == nil {
		t.Error("an exec without any stream was accepted")
	}
}

func TestNodeAddress(t *testing.T) {
	node := &corev1.Node{Status: corev1.NodeStatus{Addresses: []corev1.NodeAddress{
		{Type: corev1.NodeHostName, Address: "n1"}, {Type: corev1.NodeExternalIP, Address: "203.0.113.5"}, {Type: corev1.NodeInternalIP, Address: "10.0.0.5"},
	}}}
	if got := nodeAddress(node); got != "10.0.0.5" {
		t.Errorf("address %q; want the InternalIP", got)
	}
	node.Status.Addresses = node.Status.Addresses[:1]
	if got := nodeAddress(node); got != "n1" {
		t.Errorf("address %q; want the hostname when there is no IP", got)
	}
}
