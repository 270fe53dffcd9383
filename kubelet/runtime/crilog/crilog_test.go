package crilog

import (
	"os"
	"path/filepath"
	"strings"
	"sync"
	"testing"
	"time"
)

func fixedNow() time.Time { return time.Date(2026, 11, 23, 21, 40, 2, 123456789, time.UTC) }

func TestCopyFormats(t *testing.T) {
	long := strings.Repeat("x", MaxLineBytes+10)
	tests := []struct {
		name  string
		input string
		want  []string
	}{
		{"lines", "hello\nworld\n", []string{
			"2026-11-23T21:40:02.123456789Z stdout F hello",
			"2026-11-23T21:40:02.123456789Z stdout F world",
		}},
		{"unterminated last line", "a\nb", []string{
			"2026-11-23T21:40:02.123456789Z stdout F a",
			"2026-11-23T21:40:02.123456789Z stdout F b",
		}},
		{"empty line", "\n", []string{"2026-11-23T21:40:02.123456789Z stdout F "}},
		{"long line split", long + "\n", []string{
			"2026-11-23T21:40:02.123456789Z stdout P " + long[:MaxLineBytes],
			"2026-11-23T21:40:02.123456789Z stdout F " + long[MaxLineBytes:],
		}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			path := filepath.Join(t.TempDir(), "0.log")
			w, err := Open(path, Options{Now: fixedNow})
			if err != nil {
				t.Fatal(err)
			}
			if err := Copy(w, Stdout, strings.NewReader(tt.input)); err != nil {
				t.Fatal(err)
			}
			if err := w.Close(); err != nil {
				t.Fatal(err)
			}
			got := readLines(t, path)
			if strings.Join(got, "\n") != strings.Join(tt.want, "\n") {
				t.Errorf("log =\n%q\nwant\n%q", got, tt.want)
			}
		})
	}
}

func TestRotation(t *testing.T) {
	path := filepath.Join(t.TempDir(), "0.log")
	// Each record is 43 bytes: a 30-byte timestamp and " stdout F ab\n".
	w, err := Open(path, Options{MaxBytes: 100, MaxFiles: 3, Now: fixedNow})
	if err != nil {
		t.Fatal(err)
	}
	var wg sync.WaitGroup
	for _, s := range []Stream{Stdout, Stderr} {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for range 5 {
				if err := w.Write(s, false, []byte("ab")); err != nil {
					t.Error(err)
				}
			}
		}()
	}
	wg.Wait()
	if err := w.Close(); err != nil {
		t.Fatal(err)
	}
	// Ten records, two per file: the live file and two rotated ones remain.
	for _, p := range []string{path, path + ".1", path + ".2"} {
		if n := len(readLines(t, p)); n != 2 {
			t.Errorf("%s has %d records, want 2", filepath.Base(p), n)
		}
	}
	if _, err := os.Stat(path + ".3"); !os.IsNotExist(err) {
		t.Errorf("%s.3 exists (err %v); want only MaxFiles files", path, err)
	}
}

func readLines(t *testing.T, path string) []string {
	t.Helper()
	b, err := os.ReadFile(path)
	if err != nil {
		t.Fatal(err)
	}
	return strings.Split(strings.TrimSuffix(string(b), "\n"), "\n")
}
