package server

import (
	"context"
	"errors"
	"fmt"
	"io"
	"net/http"
	"net/url"
	"strconv"
	"sync"
	"time"

	corev1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
)

func (s *Server) logs(w http.ResponseWriter, r *http.Request) {
	pod, container := podOf(r), r.PathValue("container")
	opts, err := logOptions(r.URL.Query())
	if err != nil {
		http.Error(w, fmt.Sprintf("log options of container %s in pod %s: %v", container, pod, err), http.StatusBadRequest)
		return
	}
	ctx, cancel := context.WithCancel(r.Context())
	defer cancel()
	out := &logWriter{w: w, rc: http.NewResponseController(w), flush: opts.Follow, remaining: -1, limitReached: cancel}
	if opts.LimitBytes != nil {
		out.remaining = *opts.LimitBytes
	}
	w.Header().Set("Content-Type", "text/plain")
	err = s.cfg.Runtime.Logs(ctx, pod, container, opts, out)
	if err == nil || out.reached() || r.Context().Err() != nil {
		return
	}
	if !out.started() {
		httpError(w, fmt.Errorf("logs of container %s in pod %s: %w", container, pod, err))
		return
	}
	s.cfg.Log.Warn("streaming logs", "pod", pod.String(), "container", container, "err", err)
}

// logOptions reads the kubelet's log query, named as PodLogOptions' fields.
func logOptions(q url.Values) (*corev1.PodLogOptions, error) {
	opts := &corev1.PodLogOptions{}
	flag := func(name string) bool {
		v := q.Get(name)
		return q.Has(name) && v != "false" && v != "0"
	}
	var bad error
	number := func(name string) *int64 {
		if !q.Has(name) {
			return nil
		}
		n, err := strconv.ParseInt(q.Get(name), 10, 64)
		if err != nil && bad == nil {
			bad = fmt.Errorf("%s: %w", name, err)
		}
		return &n
	}
	opts.Follow, opts.Previous, opts.Timestamps = flag("follow"), flag("previous"), flag("timestamps")
	opts.SinceSeconds, opts.TailLines, opts.LimitBytes = number("sinceSeconds"), number("tailLines"), number("limitBytes")
	if q.Has("sinceTime") {
		t, err := time.Parse(time.RFC3339, q.Get("sinceTime"))
		if err != nil && bad == nil {
			bad = fmt.Errorf("sinceTime: %w", err)
		}
		opts.SinceTime = &metav1.Time{Time: t}
	}
	if q.Has("stream") {
		stream := q.Get("stream")
		opts.Stream = &stream
	}
	return opts, bad
}

// errLimitReached ends a log stream that reached limitBytes.
var errLimitReached = errors.New("limitBytes reached")

// logWriter writes a log to the response: flushing each write when following,
// and cutting it at limitBytes, after which it cancels the runtime's context.
type logWriter struct {
	w            io.Writer
	rc           *http.ResponseController
	flush        bool
	limitReached context.CancelFunc

	mu        sync.Mutex
	remaining int64 // -1: no limit
	written   bool
	full      bool
}

func (l *logWriter) Write(p []byte) (int, error) {
	l.mu.Lock()
	defer l.mu.Unlock()
	if l.full {
		return 0, errLimitReached
	}
	n := len(p)
	if l.remaining >= 0 && int64(n) >= l.remaining {
		p, l.full = p[:l.remaining], true
		defer l.limitReached()
	}
	if l.remaining >= 0 {
		l.remaining -= int64(len(p))
	}
	w, err := l.w.Write(p)
	l.written = l.written || w > 0
	if err == nil && l.flush {
		err = l.rc.Flush()
	}
	if err == nil && l.full {
		return w, errLimitReached
	}
	return w, err
}

func (l *logWriter) started() bool { l.mu.Lock(); defer l.mu.Unlock(); return l.written }
func (l *logWriter) reached() bool { l.mu.Lock(); defer l.mu.Unlock(); return l.full }
