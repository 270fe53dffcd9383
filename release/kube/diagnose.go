package kube

import (
	"context"
	"errors"
	"fmt"
	"slices"
	"strings"
	"sync"
	"text/tabwriter"
	"time"

	corev1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/fields"
	"k8s.io/apimachinery/pkg/types"
	"k8s.io/utils/ptr"
)

const (
	// diagnoseTimeout bounds the reads of a diagnosis, which runs once the
	// wait's own deadline has passed.
	diagnoseTimeout = 5 * time.Second
	// maxDiagnosed bounds how many pods a diagnosis reads about, and so the
	// length of the error that carries it.
	maxDiagnosed = 5
	// diagnosedEvents and diagnosedLogLines are how much of a pod's history a
	// diagnosis tells.
	diagnosedEvents   = 5
	diagnosedLogLines = 10
	// logBytes bounds the log read, should its lines be very long.
	logBytes = 16 << 10
)

// PodDiagnosis is what a pod that keeps an object from being ready went
// through: its last events and the last lines its failing container logged.
type PodDiagnosis struct {
	Namespace, Name string
	// Events are the pod's last events, the newest last.
	Events []corev1.Event
	// Container is the container whose log Logs ends, empty when the pod has
	// no container that ran. Previous is set when Logs are of its previous
	// instance (it restarted, and the current one has logged nothing yet).
	Container string
	Previous  bool
	Logs      []string
	// Err says what could not be read.
	Err error
}

// String tells the diagnosis as lines under the pod's name, events as
// kubectl describe lists them:
//
//	pod shop/web-5d8f-x2x9q events:
//	  Warning  BackOff  Back-off restarting failed container web in pod ...
//	pod shop/web-5d8f-x2x9q logs (container web, previous):
//	  panic: no config
func (d PodDiagnosis) String() string {
	var b strings.Builder
	name := "pod " + d.Namespace + "/" + d.Name
	if len(d.Events) == 0 {
		fmt.Fprintf(&b, "%s: no events", name)
	} else {
		var table strings.Builder
		tw := tabwriter.NewWriter(&table, 0, 0, 2, ' ', 0)
		for _, ev := range d.Events {
			msg := oneLine(ev.Message)
			if ev.Count > 1 {
				msg += fmt.Sprintf(" (x%d)", ev.Count)
			}
			fmt.Fprintf(tw, "  %s\t%s\t%s\n", ev.Type, ev.Reason, msg)
		}
		tw.Flush()
		fmt.Fprintf(&b, "%s events:\n%s", name, strings.TrimSuffix(table.String(), "\n"))
	}
	if d.Container != "" {
		which := "container " + d.Container
		if d.Previous {
			which += ", previous"
		}
		if len(d.Logs) == 0 {
			fmt.Fprintf(&b, "\n%s logs (%s): none", name, which)
		} else {
			fmt.Fprintf(&b, "\n%s logs (%s):", name, which)
			for _, l := range d.Logs {
				b.WriteString("\n")
				if l != "" {
					b.WriteString("  " + l)
				}
			}
		}
	}
	if d.Err != nil {
		for _, line := range strings.Split(d.Err.Error(), "\n") {
			fmt.Fprintf(&b, "\n%s: %s", name, line)
		}
	}
	return b.String()
}

// diagnose reads about the pods that statuses name (at most maxDiagnosed),
// on a context of its own since the wait's may have ended. Where a pod's
// events say why a probe does not pass, its status's message says so instead
// of "not passing yet".
func (c *Client) diagnose(ctx context.Context, statuses []ObjectStatus) []PodDiagnosis {
	var which []int
	seen := map[types.UID]bool{}
	for i, s := range statuses {
		if s.pod == nil || seen[s.pod.pod.UID] || len(which) == maxDiagnosed {
			continue
		}
		seen[s.pod.pod.UID] = true
		which = append(which, i)
	}
	if len(which) == 0 {
		return nil
	}
	ctx, cancel := context.WithTimeout(context.WithoutCancel(ctx), diagnoseTimeout)
	defer cancel()
	out := make([]PodDiagnosis, len(which))
	var wg sync.WaitGroup
	for j, i := range which {
		wg.Go(func() { out[j] = c.diagnosePod(ctx, &statuses[i]) })
	}
	wg.Wait()
	return out
}

// diagnosePod reads the events of the pod s names and the log of its failing
// container.
func (c *Client) diagnosePod(ctx context.Context, s *ObjectStatus) PodDiagnosis {
	f := s.pod
	p := f.pod
	d := PodDiagnosis{Namespace: p.Namespace, Name: p.Name}
	var errs []error
	events, err := c.podEvents(ctx, p)
	if err != nil {
		errs = append(errs, fmt.Errorf("reading events: %w", err))
	}
	d.Events = events[max(len(events)-diagnosedEvents, 0):]
	if f.state.probing {
		if ev := probeFailure(events, p, f.state.container); ev != nil {
			s.Message = oneLine(fmt.Sprintf("%snot ready: container %s: %s", f.lead, f.state.container, ev.Message))
		}
	}
	if cs := containerStatus(p, f.state.container); cs != nil && ran(cs) {
		d.Container = cs.Name
		d.Logs, d.Previous, err = c.podLogs(ctx, p, cs)
		if err != nil {
			errs = append(errs, fmt.Errorf("reading logs of container %s: %w", cs.Name, err))
		}
	}
	d.Err = errors.Join(errs...)
	return d
}

// podEvents lists the events about a pod, the newest last, as kubectl describe
// finds them.
func (c *Client) podEvents(ctx context.Context, p *corev1.Pod) ([]corev1.Event, error) {
	sel := fields.Set{
		"involvedObject.kind":      "Pod",
		"involvedObject.namespace": p.Namespace,
		"involvedObject.name":      p.Name,
		"involvedObject.uid":       string(p.UID),
	}.AsSelector()
	list, err := c.typed.CoreV1().Events(p.Namespace).List(ctx, metav1.ListOptions{FieldSelector: sel.String()})
	if err != nil {
		return nil, err
	}
	slices.SortStableFunc(list.Items, func(a, b corev1.Event) int { return eventTime(a).Compare(eventTime(b)) })
	return list.Items, nil
}

// eventTime is when an event last happened: events.k8s.io writers set only
// eventTime.
func eventTime(ev corev1.Event) time.Time {
	switch {
	case !ev.LastTimestamp.IsZero():
		return ev.LastTimestamp.Time
	case !ev.EventTime.IsZero():
		return ev.EventTime.Time
	case !ev.FirstTimestamp.IsZero():
		return ev.FirstTimestamp.Time
	}
	return ev.CreationTimestamp.Time
}

// probeFailure is the kubelet's newest report of a failing probe of a
// container (a Warning "Unhealthy" event) since the container started.
func probeFailure(events []corev1.Event, p *corev1.Pod, container string) *corev1.Event {
	var since time.Time
	if cs := containerStatus(p, container); cs != nil && cs.State.Running != nil {
		since = cs.State.Running.StartedAt.Time
	}
	for i := len(events) - 1; i >= 0; i-- {
		ev := &events[i]
		if ev.Type == corev1.EventTypeWarning && ev.Reason == "Unhealthy" &&
			strings.HasSuffix(ev.InvolvedObject.FieldPath, "{"+container+"}") && !eventTime(*ev).Before(since) {
			return ev
		}
	}
	return nil
}

func containerStatus(p *corev1.Pod, name string) *corev1.ContainerStatus {
	if name == "" {
		return nil
	}
	for _, list := range [][]corev1.ContainerStatus{p.Status.InitContainerStatuses, p.Status.ContainerStatuses} {
		for i := range list {
			if list[i].Name == name {
				return &list[i]
			}
		}
	}
	return nil
}

// ran reports whether a container has run, and so may have logged.
func ran(cs *corev1.ContainerStatus) bool {
	return cs.State.Running != nil || cs.State.Terminated != nil || cs.RestartCount > 0 || cs.LastTerminationState.Terminated != nil
}

// podLogs reads the last lines a container logged: those of its current
// instance, else, when it has restarted, of its previous one (a container
// in a crash loop waits with no current instance).
func (c *Client) podLogs(ctx context.Context, p *corev1.Pod, cs *corev1.ContainerStatus) (lines []string, previous bool, err error) {
	if cs.State.Running != nil || cs.State.Terminated != nil {
		lines, err = c.logTail(ctx, p, cs.Name, false)
		if err == nil && len(lines) > 0 || cs.RestartCount == 0 {
			return lines, false, err
		}
	}
	lines, err = c.logTail(ctx, p, cs.Name, true)
	return lines, true, err
}

func (c *Client) logTail(ctx context.Context, p *corev1.Pod, container string, previous bool) ([]string, error) {
	raw, err := c.typed.CoreV1().Pods(p.Namespace).GetLogs(p.Name, &corev1.PodLogOptions{
		Container:  container,
		Previous:   previous,
		TailLines:  ptr.To[int64](diagnosedLogLines),
		LimitBytes: ptr.To[int64](logBytes),
	}).DoRaw(ctx)
	if err != nil {
		return nil, err
	}
	text := strings.TrimRight(string(raw), "\r\n")
	if text == "" {
		return nil, nil
	}
	lines := strings.Split(text, "\n")
	lines = lines[max(len(lines)-diagnosedLogLines, 0):]
	for i, l := range lines {
		lines[i] = strings.TrimRight(l, "\r")
	}
	return lines, nil
}
