package main

import (
	"fmt"
	"io"
	"os"
	"strings"
	"sync"
	"unicode/utf8"

	"golang.org/x/term"

	"berth.dev/berth/release/kube"
)

// progress shows what a waiting command waits for: on a terminal as a block of
// lines redrawn in place, each cut to the terminal's width so that the block
// takes as many rows as it has lines; elsewhere (CI logs) as a line per change.
type progress struct {
	mu       sync.Mutex
	out      io.Writer
	terminal bool
	fd       int
	drawn    int
	last     map[string]string
}

func newProgress(out io.Writer) *progress {
	p := &progress{out: out, last: map[string]string{}}
	if f, ok := out.(*os.File); ok {
		p.fd = int(f.Fd())
		p.terminal = term.IsTerminal(p.fd)
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
		// Read each time: the terminal may have been resized.
		width, _, err := term.GetSize(p.fd)
		if err != nil {
			width = 0
		}
		fmt.Fprintln(p.out, fit(fmt.Sprintf("waiting: %d of %d objects ready", ready, len(statuses)), width))
		p.drawn = 1
		for _, s := range statuses {
			if s.Status != kube.Current {
				fmt.Fprintln(p.out, fit(fmt.Sprintf("  %-10s %s", s.Status, s.Message), width))
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

// fit cuts a line to less than width columns (a line filling the last column
// wraps on some terminals), ending it with "…" when cut; width 0 is unknown,
// and leaves the line whole.
func fit(line string, width int) string {
	if width <= 1 || utf8.RuneCountInString(line) < width {
		return line
	}
	r := []rune(line)
	return string(r[:width-2]) + "…"
}
