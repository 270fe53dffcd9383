package main

import (
	"io"
	"strings"

	"github.com/mattn/go-runewidth"
)

// writeTable prints rows as Helm's tables look: every cell padded to its column's
// width, cells separated by a tab, a newline after the last row. (Helm's table
// library does the same, but spends more on a thousand-row `list` than the list
// itself costs.)
func writeTable(w io.Writer, rows [][]string) error {
	var widths []int
	cellWidths := make([][]int, len(rows))
	for r, row := range rows {
		cellWidths[r] = make([]int, len(row))
		for i, cell := range row {
			if i == len(widths) {
				widths = append(widths, 0)
			}
			cellWidths[r][i] = displayWidth(cell)
			widths[i] = max(widths[i], cellWidths[r][i])
		}
	}
	var b strings.Builder
	for r, row := range rows {
		if r > 0 {
			b.WriteByte('\n')
		}
		for i, cell := range row {
			if i > 0 {
				b.WriteByte('\t')
			}
			b.WriteString(cell)
			b.WriteString(strings.Repeat(" ", widths[i]-cellWidths[r][i]))
		}
	}
	if len(rows) > 0 {
		b.WriteByte('\n')
	}
	_, err := io.WriteString(w, b.String())
	return err
}

// displayWidth is how many terminal columns s takes. Printable ASCII, which
// names, versions, statuses and dates are, takes one per byte: that spares
// the Unicode width tables on every cell of a thousand-row list, where they
// cost more than decoding the list.
func displayWidth(s string) int {
	for i := 0; i < len(s); i++ {
		if c := s[i]; c < ' ' || c >= 0x7f {
			return runewidth.StringWidth(s)
		}
	}
	return len(s)
}
