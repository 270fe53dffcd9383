package registry

import (
	"fmt"
	"net/url"

	corev1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/conversion"
	"k8s.io/apimachinery/pkg/runtime"
)

// addPodOptionConversions teaches the scheme to read the options of the pod
// subresources that take no body (log, exec, attach, portforward) from a query
// string, with the parameter names and value syntax of upstream's generated
// conversions: booleans are true unless "false" or "0", numbers are decimal,
// times RFC 3339, lists repeat the parameter.
func addPodOptionConversions(s *runtime.Scheme) error {
	conversions := []struct {
		into any
		fn   func(url.Values, any) error
	}{
		{(*corev1.PodLogOptions)(nil), func(in url.Values, out any) error { return decodeLogOptions(in, out.(*corev1.PodLogOptions)) }},
		{(*corev1.PodExecOptions)(nil), func(in url.Values, out any) error { return decodeExecOptions(in, out.(*corev1.PodExecOptions)) }},
		{(*corev1.PodAttachOptions)(nil), func(in url.Values, out any) error { return decodeAttachOptions(in, out.(*corev1.PodAttachOptions)) }},
		{(*corev1.PodPortForwardOptions)(nil), func(in url.Values, out any) error {
			return decodePortForwardOptions(in, out.(*corev1.PodPortForwardOptions))
		}},
	}
	for _, c := range conversions {
		fn := c.fn
		err := s.AddConversionFunc((*url.Values)(nil), c.into, func(a, b any, _ conversion.Scope) error {
			return fn(*a.(*url.Values), b)
		})
		if err != nil {
			return fmt.Errorf("registering query conversion of %T: %w", c.into, err)
		}
	}
	return nil
}

// query reads typed parameters, remembering the first malformed one.
type query struct {
	values url.Values
	err    error
}

func (q *query) has(name string) bool { _, ok := q.values[name]; return ok }

func (q *query) string(name string, out *string) {
	if v, ok := q.values[name]; ok && len(v) > 0 {
		*out = v[0]
	}
}

func (q *query) bool(name string, out *bool) {
	param(q, name, out, runtime.Convert_Slice_string_To_bool)
}

func (q *query) int64p(name string, out **int64) {
	param(q, name, out, runtime.Convert_Slice_string_To_Pointer_int64)
}

func (q *query) time(name string, out **metav1.Time) {
	param(q, name, out, metav1.Convert_Slice_string_To_Pointer_v1_Time)
}

// param converts parameter name, when given, into out with convert.
func param[T any](q *query, name string, out *T, convert func(*[]string, *T, conversion.Scope) error) {
	v, ok := q.values[name]
	if !ok {
		return
	}
	if err := convert(&v, out, nil); err != nil && q.err == nil {
		q.err = fmt.Errorf("parameter %s: %w", name, err)
	}
}

// streams reads the parameters exec and attach share.
func (q *query) streams(stdin, stdout, stderr, tty *bool, container *string) {
	q.bool("stdin", stdin)
	q.bool("stdout", stdout)
	q.bool("stderr", stderr)
	q.bool("tty", tty)
	q.string("container", container)
}

func decodeLogOptions(in url.Values, out *corev1.PodLogOptions) error {
	q := &query{values: in}
	q.string("container", &out.Container)
	q.bool("follow", &out.Follow)
	q.bool("previous", &out.Previous)
	q.int64p("sinceSeconds", &out.SinceSeconds)
	q.time("sinceTime", &out.SinceTime)
	q.bool("timestamps", &out.Timestamps)
	q.int64p("tailLines", &out.TailLines)
	q.int64p("limitBytes", &out.LimitBytes)
	q.bool("insecureSkipTLSVerifyBackend", &out.InsecureSkipTLSVerifyBackend)
	if q.has("stream") {
		var stream string
		q.string("stream", &stream)
		out.Stream = &stream
	}
	return q.err
}

func decodeExecOptions(in url.Values, out *corev1.PodExecOptions) error {
	q := &query{values: in}
	q.streams(&out.Stdin, &out.Stdout, &out.Stderr, &out.TTY, &out.Container)
	out.Command = append([]string(nil), in["command"]...)
	return q.err
}

func decodeAttachOptions(in url.Values, out *corev1.PodAttachOptions) error {
	q := &query{values: in}
	q.streams(&out.Stdin, &out.Stdout, &out.Stderr, &out.TTY, &out.Container)
	return q.err
}

func decodePortForwardOptions(in url.Values, out *corev1.PodPortForwardOptions) error {
	ports := in["ports"]
	if len(ports) == 0 {
		return nil
	}
	if err := metav1.Convert_Slice_string_To_Slice_int32(&ports, &out.Ports, nil); err != nil {
		return fmt.Errorf("parameter ports: %w", err)
	}
	return nil
}
