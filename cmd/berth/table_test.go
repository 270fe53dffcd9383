package main

import (
	"strings"
	"testing"

	"github.com/mattn/go-runewidth"
)

func TestWriteTable(t *testing.T) {
	var b strings.Builder
	if err := writeTable(&b, [][]string{
		{"NAME", "CHART", "DESCRIPTION"},
		{"web", "nginx-1.2.3", "Install complete"},
		{"名前", "x", "tab\tbel\a"},
	}); err != nil {
		t.Fatal(err)
	}
	// Wide characters take two columns each, control characters none.
	want := "NAME\tCHART      \tDESCRIPTION     \n" +
		"web \tnginx-1.2.3\tInstall complete\n" +
		"名前\tx          \ttab\tbel\a          \n"
	if b.String() != want {
		t.Errorf("got\n%q\nwant\n%q", b.String(), want)
	}
}

// The ASCII shortcut measures as the Unicode tables do.
func TestDisplayWidth(t *testing.T) {
	var all strings.Builder
	for c := byte(0); c < 0x80; c++ {
		all.WriteByte(c)
	}
	for _, s := range []string{"", "nginx-1.2.3", "2026-11-24 12:00:00.123 +0000 UTC", all.String()[32:127], all.String(), "名前", "café", "a\x1bb"} {
		if got, want := displayWidth(s), runewidth.StringWidth(s); got != want {
			t.Errorf("displayWidth(%q) = %d, runewidth says %d", s, got, want)
		}
	}
}
