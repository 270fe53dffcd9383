package main

import (
	"context"
	"fmt"
	"io"
	"maps"
	"net/http"
	"slices"
	"strings"
	"sync"
	"time"
)

// loadTarget is one way into a Service: a URL and the Host header to send.
type loadTarget struct {
	name, url, host string
}

// load sends GET requests to targets at a steady rate and counts every
// answer, as a user's traffic would meet a rollout. Each target gets workers
// on kept-alive connections and workers opening a connection per request;
// every tenth request asks the server to take slowRequest over its answer,
// so that some are in flight when a pod is told to stop.
type load struct {
	cancel context.CancelFunc
	wg     sync.WaitGroup

	mu    sync.Mutex
	phase loadPhase
}

// loadPhase counts the answers of a stretch of load.
type loadPhase struct {
	// ok and failed count requests by target name.
	ok, failed map[string]int
	// bodies counts the answers by body.
	bodies map[string]int
	// errs keeps the first failures, for the report.
	errs []string
}

const (
	loadWorkers  = 4 // per target, half of them with kept-alive connections
	loadInterval = 20 * time.Millisecond
	slowRequest  = 200 * time.Millisecond
)

func newLoadPhase() loadPhase {
	return loadPhase{ok: map[string]int{}, failed: map[string]int{}, bodies: map[string]int{}}
}

// startLoad starts the workers; stop them with stop.
func startLoad(targets []loadTarget) *load {
	ctx, cancel := context.WithCancel(context.Background())
	l := &load{cancel: cancel, phase: newLoadPhase()}
	for _, tg := range targets {
		for i := range loadWorkers {
			tr := &http.Transport{DisableKeepAlives: i%2 == 1, MaxIdleConnsPerHost: 1}
			client := &http.Client{Transport: tr, Timeout: 10 * time.Second}
			l.wg.Add(1)
			go func() {
				defer l.wg.Done()
				defer tr.CloseIdleConnections()
				l.work(ctx, client, tg)
			}()
		}
	}
	return l
}

func (l *load) work(ctx context.Context, client *http.Client, tg loadTarget) {
	tick := time.NewTicker(loadInterval)
	defer tick.Stop()
	for n := 0; ; n++ {
		select {
		case <-ctx.Done():
			return
		case <-tick.C:
		}
		url := tg.url
		if n%10 == 0 {
			url += "?delay=" + slowRequest.String()
		}
		body, err := get(ctx, client, url, tg.host)
		if ctx.Err() != nil {
			return // stopped in the middle: not an answer
		}
		l.record(tg.name, body, err)
	}
}

func get(ctx context.Context, client *http.Client, url, host string) (string, error) {
	req, err := http.NewRequestWithContext(ctx, http.MethodGet, url, nil)
	if err != nil {
		return "", err
	}
	req.Host = host
	resp, err := client.Do(req)
	if err != nil {
		return "", err
	}
	defer resp.Body.Close()
	b, err := io.ReadAll(resp.Body)
	if err != nil {
		return "", err
	}
	if resp.StatusCode != http.StatusOK {
		return "", fmt.Errorf("%s: %s", resp.Status, strings.TrimSpace(string(b)))
	}
	return strings.TrimSpace(string(b)), nil
}

func (l *load) record(target, body string, err error) {
	l.mu.Lock()
	defer l.mu.Unlock()
	if err != nil {
		l.phase.failed[target]++
		if len(l.phase.errs) < 10 {
			l.phase.errs = append(l.phase.errs, fmt.Sprintf("%s %s: %v", time.Now().Format("15:04:05.000"), target, err))
		}
		return
	}
	l.phase.ok[target]++
	l.phase.bodies[body]++
}

// next ends the current phase, returning its counts, and starts another.
func (l *load) next() loadPhase {
	l.mu.Lock()
	defer l.mu.Unlock()
	p := l.phase
	l.phase = newLoadPhase()
	return p
}

// stop stops the workers and returns the last phase.
func (l *load) stop() loadPhase {
	l.cancel()
	l.wg.Wait()
	return l.next()
}

func (p loadPhase) total(m map[string]int) int {
	n := 0
	for _, v := range m {
		n += v
	}
	return n
}

func (p loadPhase) String() string {
	var b strings.Builder
	names := maps.Clone(p.ok)
	maps.Copy(names, p.failed)
	for _, name := range slices.Sorted(maps.Keys(names)) {
		fmt.Fprintf(&b, "%s: %d ok, %d failed; ", name, p.ok[name], p.failed[name])
	}
	fmt.Fprintf(&b, "answers %v", p.bodies)
	for _, e := range p.errs {
		b.WriteString("\n  " + e)
	}
	return b.String()
}
