package kube

import (
	"fmt"
	"strings"
)

// contextLines is how many unchanged lines a hunk shows around a change.
const contextLines = 3

// maxLCSCells bounds the table of the line matching (about 16 MB); a larger
// changed middle is shown as all of a removed and all of b added.
const maxLCSCells = 4 << 20

type edit struct {
	kind byte // ' ' kept, '-' removed from a, '+' added from b
	line string
}

// unifiedDiff returns the unified diff (3 lines of context) that turns a into b,
// headed by "--- from" and "+++ to", or "" when they are equal.
func unifiedDiff(from, to, a, b string) string {
	if a == b {
		return ""
	}
	edits := diffLines(splitLines(a), splitLines(b))
	var out strings.Builder
	fmt.Fprintf(&out, "--- %s\n+++ %s\n", from, to)
	writeHunks(&out, edits)
	return out.String()
}

func splitLines(s string) []string {
	if s == "" {
		return nil
	}
	return strings.Split(strings.TrimSuffix(s, "\n"), "\n")
}

// diffLines finds a shortest edit script from a to b: the common prefix and
// suffix, and a longest common subsequence of what lies between.
func diffLines(a, b []string) []edit {
	pre := 0
	for pre < len(a) && pre < len(b) && a[pre] == b[pre] {
		pre++
	}
	suf := 0
	for suf < len(a)-pre && suf < len(b)-pre && a[len(a)-1-suf] == b[len(b)-1-suf] {
		suf++
	}
	edits := make([]edit, 0, len(a)+len(b))
	for _, l := range a[:pre] {
		edits = append(edits, edit{' ', l})
	}
	edits = append(edits, diffMiddle(a[pre:len(a)-suf], b[pre:len(b)-suf])...)
	for _, l := range a[len(a)-suf:] {
		edits = append(edits, edit{' ', l})
	}
	return edits
}

func diffMiddle(a, b []string) []edit {
	n, m := len(a), len(b)
	var edits []edit
	if (n+1)*(m+1) > maxLCSCells {
		for _, l := range a {
			edits = append(edits, edit{'-', l})
		}
		for _, l := range b {
			edits = append(edits, edit{'+', l})
		}
		return edits
	}
	// lcs[i*(m+1)+j] is the length of a longest common subsequence of a[i:]
	// and b[j:].
	lcs := make([]int32, (n+1)*(m+1))
	at := func(i, j int) int32 { return lcs[i*(m+1)+j] }
	for i := n - 1; i >= 0; i-- {
		for j := m - 1; j >= 0; j-- {
			if a[i] == b[j] {
				lcs[i*(m+1)+j] = at(i+1, j+1) + 1
			} else {
				lcs[i*(m+1)+j] = max(at(i+1, j), at(i, j+1))
			}
		}
	}
	i, j := 0, 0
	for i < n || j < m {
		switch {
		case i < n && j < m && a[i] == b[j]:
			edits = append(edits, edit{' ', a[i]})
			i, j = i+1, j+1
		case j == m || (i < n && at(i+1, j) >= at(i, j+1)):
			edits = append(edits, edit{'-', a[i]})
			i++
		default:
			edits = append(edits, edit{'+', b[j]})
			j++
		}
	}
	return edits
}

// writeHunks writes the hunks of an edit script: every change with up to
// contextLines kept lines around it, changes closer than that sharing a hunk.
func writeHunks(out *strings.Builder, edits []edit) {
	shown := make([]bool, len(edits))
	for k, e := range edits {
		if e.kind == ' ' {
			continue
		}
		for d := max(0, k-contextLines); d <= min(len(edits)-1, k+contextLines); d++ {
			shown[d] = true
		}
	}
	aLine, bLine := 0, 0 // lines of a and b before edit k
	for k := 0; k < len(edits); {
		if !shown[k] {
			aLine, bLine = advance(edits[k], aLine, bLine)
			k++
			continue
		}
		end := k
		for end < len(edits) && shown[end] {
			end++
		}
		aStart, bStart, aLen, bLen := aLine, bLine, 0, 0
		for _, e := range edits[k:end] {
			if e.kind != '+' {
				aLen++
			}
			if e.kind != '-' {
				bLen++
			}
			aLine, bLine = advance(e, aLine, bLine)
		}
		fmt.Fprintf(out, "@@ -%s +%s @@\n", hunkRange(aStart, aLen), hunkRange(bStart, bLen))
		for _, e := range edits[k:end] {
			out.WriteByte(e.kind)
			out.WriteString(e.line)
			out.WriteByte('\n')
		}
		k = end
	}
}

func advance(e edit, aLine, bLine int) (int, int) {
	if e.kind != '+' {
		aLine++
	}
	if e.kind != '-' {
		bLine++
	}
	return aLine, bLine
}

// hunkRange formats a hunk's range as diff does: "start,length" counting from
// 1, "start" alone for one line, and for no lines the line before ("3,0").
func hunkRange(before, n int) string {
	switch n {
	case 0:
		return fmt.Sprintf("%d,0", before)
	case 1:
		return fmt.Sprintf("%d", before+1)
	}
	return fmt.Sprintf("%d,%d", before+1, n)
}
