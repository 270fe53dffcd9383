package main

import (
	"fmt"
	"io"
	"os"
	"strings"
	"sync"

	"golang.org/x/term"

	"berth.dev/berth/release/kube"
)

// progress shows what a waiting command waits for: on a terminal as a block of
// lines redrawn in place, elsewhere (CI logs) as a line per change.
type progress struct {
	mu       sync.Mutex
	out      io.Writer
	terminal bool
	drawn    int
	last     map[string]string
}

func newProgress(out io.Writer) *progress {
	p := &progress{out: out, last: map[string]string{}}
	if f, ok := out.(*os.File); ok {
		p.terminal = term.IsTerminal(int(f.Fd()))
	}
	return p
}

func (p *progress) show(statuses []kube.ObjectStatus) {
	p.mu.Lock()
	defer p.mu.Unlock()
	if p.terminal {
		if p.drawn > 0 {
			fmt.Fprintf(p.out, "\033[%dA\033[J", p.drawn) // up, then clear to the end
		}
		ready := 0
		for _, s := range statuses {
			if s.Status == kube.Current {
				ready++
			}
		}
		fmt.Fprintf(p.out, "waiting: %d of %d objects ready\n", ready, len(statuses))
		p.drawn = 1
		for _, s := range statuses {
			if s.Status != kube.Current {
				fmt.Fprintf(p.out, "  %-10s %s\n", s.Status, s.Message)
				p.drawn++
			}
		}
		return
	}
	for _, s := range statuses {
		key := strings.Join([]string{s.Object.GetKind(), s.Object.GetNamespace(), s.Object.GetName()}, "/")
		line := fmt.Sprintf("%s: %s", s.Status, s.Message)
		if p.last[key] != line {
			p.last[key] = line
			fmt.Fprintln(p.out, line)
		}
	}
}
