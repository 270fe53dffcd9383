package crilog

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"io/fs"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"testing"
	"time"
)

var t0 = time.Date(2026, 11, 23, 21, 40, 0, 0, time.UTC)

// tickingNow returns a clock for Options.Now that starts at t0 and moves one
// second per record.
func tickingNow() func() time.Time {
	var mu sync.Mutex
	next := t0
	return func() time.Time {
		mu.Lock()
		defer mu.Unlock()
		now := next
		next = next.Add(time.Second)
		return now
	}
}

func ts(sec int) string { return t0.Add(time.Duration(sec) * time.Second).Format(time.RFC3339Nano) }

func openWriter(t *testing.T, path string, opts Options) *Writer {
	t.Helper()
	w, err := Open(path, opts)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { w.Close() })
	return w
}

func write(t *testing.T, w *Writer, s Stream, partial bool, msg string) {
	t.Helper()
	if err := w.Write(s, partial, []byte(msg)); err != nil {
		t.Fatal(err)
	}
}

func readAll(t *testing.T, path string, opts ReadOptions) string {
	t.Helper()
	var b bytes.Buffer
	if err := Read(context.Background(), path, opts, &b); err != nil {
		t.Fatal(err)
	}
	return b.String()
}

func TestReadOptions(t *testing.T) {
	path := filepath.Join(t.TempDir(), "0.log")
	w := openWriter(t, path, Options{Now: tickingNow()})
	write(t, w, Stdout, false, "one")       // t0+0
	write(t, w, Stderr, false, "two")       // t0+1
	write(t, w, Stdout, true, "thr")        // t0+2
	write(t, w, Stdout, false, "ee")        // t0+3
	write(t, w, Stderr, false, "")          // t0+4
	write(t, w, Stdout, false, "five, too") // t0+5

	tests := []struct {
		name string
		opts ReadOptions
		want string
	}{
		{"all", ReadOptions{TailLines: AllLines}, "one\ntwo\nthree\n\nfive, too\n"},
		{"tail 2", ReadOptions{TailLines: 2}, "\nfive, too\n"},
		{"tail more than there is", ReadOptions{TailLines: 100}, "one\ntwo\nthree\n\nfive, too\n"},
		{"tail 0", ReadOptions{TailLines: 0}, ""},
		{"since", ReadOptions{TailLines: AllLines, Since: t0.Add(2 * time.Second)}, "three\n\nfive, too\n"},
		{"since between the pieces of a line", ReadOptions{TailLines: AllLines, Since: t0.Add(3 * time.Second)}, "\nfive, too\n"},
		{"since and tail", ReadOptions{TailLines: 1, Since: t0.Add(2 * time.Second)}, "five, too\n"},
		{"since after everything", ReadOptions{TailLines: AllLines, Since: t0.Add(time.Hour)}, ""},
		{
			"timestamps", ReadOptions{TailLines: AllLines, Timestamps: true},
			ts(0) + " one\n" + ts(1) + " two\n" + ts(2) + " three\n" + ts(4) + " \n" + ts(5) + " five, too\n",
		},
		{"limit bytes", ReadOptions{TailLines: AllLines, LimitBytes: 10}, "one\ntwo\nth"},
		{"limit bytes at a line end", ReadOptions{TailLines: AllLines, LimitBytes: 8}, "one\ntwo\n"},
		{"limit bytes and tail", ReadOptions{TailLines: 1, LimitBytes: 4}, "five"},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			if got := readAll(t, path, tc.opts); got != tc.want {
				t.Errorf("got %q, want %q", got, tc.want)
			}
		})
	}
}

func TestReadRecords(t *testing.T) {
	tests := []struct {
		name    string
		records []string
		opts    ReadOptions
		want    string
	}{
		{
			name: "pieces of both streams interleaved",
			records: []string{
				ts(0) + " stdout P ab",
				ts(1) + " stderr P x",
				ts(2) + " stdout P cd",
				ts(3) + " stderr F y",
				ts(4) + " stdout F ef",
			},
			opts: ReadOptions{TailLines: AllLines, Timestamps: true},
			want: ts(1) + " xy\n" + ts(0) + " abcdef\n",
		},
		{
			name: "tail counts joined lines",
			records: []string{
				ts(0) + " stdout P a",
				ts(1) + " stdout P b",
				ts(2) + " stdout F c",
				ts(3) + " stdout F d",
			},
			opts: ReadOptions{TailLines: 2},
			want: "abc\nd\n",
		},
		{
			name: "malformed records skipped",
			records: []string{
				"garbage",
				"not-a-time stdout F x",
				ts(0) + " stdin F x",
				ts(1) + " stdout",
				ts(2) + " stdout F kept",
				ts(3) + " stdout F:extra also kept",
				ts(4) + " stdout F",
			},
			opts: ReadOptions{TailLines: AllLines},
			want: "kept\nalso kept\n\n",
		},
		{
			name: "timestamps as recorded",
			records: []string{
				"2026-11-23T22:40:00.5+01:00 stdout F offset",
			},
			opts: ReadOptions{TailLines: AllLines, Timestamps: true},
			want: "2026-11-23T22:40:00.5+01:00 offset\n",
		},
		{
			name: "a line never finished is written at the end",
			records: []string{
				ts(0) + " stdout P unfin",
				ts(1) + " stderr F done",
				ts(2) + " stdout P ished",
			},
			opts: ReadOptions{TailLines: AllLines},
			want: "done\nunfinished\n",
		},
		{
			name:    "a record still being written is left out",
			records: []string{ts(0) + " stdout F whole", ts(1) + " stdout F half-wri"},
			opts:    ReadOptions{TailLines: AllLines},
			want:    "whole\n",
		},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			path := filepath.Join(t.TempDir(), "0.log")
			content := strings.Join(tc.records, "\n") + "\n"
			if strings.HasSuffix(tc.name, "left out") {
				content = strings.TrimSuffix(content, "\n")
			}
			if err := os.WriteFile(path, []byte(content), 0o600); err != nil {
				t.Fatal(err)
			}
			if got := readAll(t, path, tc.opts); got != tc.want {
				t.Errorf("got %q, want %q", got, tc.want)
			}
		})
	}
}

func TestReadLongLine(t *testing.T) {
	path := filepath.Join(t.TempDir(), "0.log")
	w := openWriter(t, path, Options{Now: tickingNow()})
	long := strings.Repeat("0123456789", 5*MaxLineBytes/10) // five records' worth
	if err := Copy(w, Stdout, strings.NewReader("short\n"+long+"\nafter\n")); err != nil {
		t.Fatal(err)
	}
	if got, want := readAll(t, path, ReadOptions{TailLines: AllLines}), "short\n"+long+"\nafter\n"; got != want {
		t.Errorf("got %d bytes, want %d", len(got), len(want))
	}
	if got, want := readAll(t, path, ReadOptions{TailLines: 2, Timestamps: true}), ts(1)+" "+long+"\n"+ts(7)+" after\n"; got != want {
		t.Errorf("tail 2 with timestamps: got %.80q..., want %.80q...", got, want)
	}
}

func TestReadRotatedFiles(t *testing.T) {
	path := filepath.Join(t.TempDir(), "0.log")
	// Each record is 36 bytes ("2026-11-23T21:40:0NZ stdout F lineN\n"): two
	// per file.
	w := openWriter(t, path, Options{MaxBytes: 100, MaxFiles: 3, Now: tickingNow()})
	for i := range 8 {
		write(t, w, Stdout, false, fmt.Sprintf("line%d", i))
	}
	for _, p := range []string{path + ".2", path + ".1", path} {
		if _, err := os.Stat(p); err != nil {
			t.Fatalf("the writer did not rotate as expected: %v", err)
		}
	}
	// A file that only looks like a rotated one is no part of the log.
	if err := os.WriteFile(path+".01", []byte(ts(0)+" stdout F stray\n"), 0o600); err != nil {
		t.Fatal(err)
	}
	tests := []struct {
		name string
		opts ReadOptions
		want string
	}{
		{"all, oldest first", ReadOptions{TailLines: AllLines}, "line2\nline3\nline4\nline5\nline6\nline7\n"},
		{"tail across files", ReadOptions{TailLines: 3}, "line5\nline6\nline7\n"},
		{"since across files", ReadOptions{TailLines: AllLines, Since: t0.Add(4 * time.Second)}, "line4\nline5\nline6\nline7\n"},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			if got := readAll(t, path, tc.opts); got != tc.want {
				t.Errorf("got %q, want %q", got, tc.want)
			}
		})
	}
}

func TestReadPieceAcrossRotation(t *testing.T) {
	path := filepath.Join(t.TempDir(), "0.log")
	if err := os.WriteFile(path+".1", []byte(ts(0)+" stdout P begun in one file, \n"), 0o600); err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(path, []byte(ts(1)+" stdout F ended in the next\n"), 0o600); err != nil {
		t.Fatal(err)
	}
	if got, want := readAll(t, path, ReadOptions{TailLines: AllLines}), "begun in one file, ended in the next\n"; got != want {
		t.Errorf("got %q, want %q", got, want)
	}
}

func TestReadMissing(t *testing.T) {
	err := Read(context.Background(), filepath.Join(t.TempDir(), "0.log"), ReadOptions{TailLines: AllLines}, &bytes.Buffer{})
	if !errors.Is(err, fs.ErrNotExist) {
		t.Errorf("error = %v, want not exist", err)
	}
}

// syncBuffer collects a following Read's output for the test to poll.
type syncBuffer struct {
	mu sync.Mutex
	b  bytes.Buffer
}

func (s *syncBuffer) Write(p []byte) (int, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.b.Write(p)
}

func (s *syncBuffer) String() string {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.b.String()
}

// follower runs a following Read in the background.
type follower struct {
	out    syncBuffer
	done   chan struct{}
	cancel context.CancelFunc
	result chan error
}

func follow(t *testing.T, path string, opts ReadOptions) *follower {
	t.Helper()
	ctx, cancel := context.WithCancel(context.Background())
	f := &follower{done: make(chan struct{}), cancel: cancel, result: make(chan error, 1)}
	opts.Follow, opts.Done = true, f.done
	go func() { f.result <- Read(ctx, path, opts, &f.out) }()
	t.Cleanup(func() {
		cancel()
		<-f.result
	})
	return f
}

// waitFor waits until the output is want.
func (f *follower) waitFor(t *testing.T, want string) {
	t.Helper()
	deadline := time.Now().Add(10 * time.Second)
	for f.out.String() != want {
		if time.Now().After(deadline) {
			t.Fatalf("output %q, want %q", f.out.String(), want)
		}
		time.Sleep(5 * time.Millisecond)
	}
}

// finish closes Done and waits for Read to return.
func (f *follower) finish(t *testing.T) error {
	t.Helper()
	close(f.done)
	select {
	case err := <-f.result:
		f.result <- err // for the cleanup
		return err
	case <-time.After(10 * time.Second):
		t.Fatal("Read did not return after Done")
		return nil
	}
}

func TestFollow(t *testing.T) {
	path := filepath.Join(t.TempDir(), "0.log")
	w := openWriter(t, path, Options{MaxBytes: 100, MaxFiles: 10, Now: tickingNow()})
	write(t, w, Stdout, false, "old0")
	write(t, w, Stdout, false, "old1")
	f := follow(t, path, ReadOptions{TailLines: 1})
	f.waitFor(t, "old1\n")

	write(t, w, Stderr, false, "new2")
	f.waitFor(t, "old1\nnew2\n")

	// A piece alone is not a line yet.
	write(t, w, Stdout, true, "pie")
	time.Sleep(3 * pollInterval)
	write(t, w, Stdout, false, "ce3")
	f.waitFor(t, "old1\nnew2\npiece3\n")

	// Several rotations between two looks: the reader goes through the
	// rotated files it did not see.
	want := "old1\nnew2\npiece3\n"
	for i := 4; i < 12; i++ {
		write(t, w, Stdout, false, fmt.Sprintf("new%d", i))
		want += fmt.Sprintf("new%d\n", i)
	}
	f.waitFor(t, want)

	// Lines written right before Done are read before Read returns.
	write(t, w, Stderr, false, "last")
	if err := w.Close(); err != nil {
		t.Fatal(err)
	}
	if err := f.finish(t); err != nil {
		t.Fatalf("Read after Done: %v", err)
	}
	if got := f.out.String(); got != want+"last\n" {
		t.Errorf("output %q, want %q", got, want+"last\n")
	}
}

func TestFollowRotationRightBeforeDone(t *testing.T) {
	path := filepath.Join(t.TempDir(), "0.log")
	w := openWriter(t, path, Options{MaxBytes: 100, MaxFiles: 10, Now: tickingNow()})
	f := follow(t, path, ReadOptions{TailLines: AllLines})
	time.Sleep(2 * pollInterval)
	var want string
	for i := range 7 {
		write(t, w, Stdout, false, fmt.Sprintf("line%d", i))
		want += fmt.Sprintf("line%d\n", i)
	}
	if err := w.Close(); err != nil {
		t.Fatal(err)
	}
	if err := f.finish(t); err != nil {
		t.Fatal(err)
	}
	if got := f.out.String(); got != want {
		t.Errorf("output %q, want %q", got, want)
	}
}

func TestFollowTruncatedFile(t *testing.T) {
	path := filepath.Join(t.TempDir(), "0.log")
	// With one file the writer truncates it in place: two records a file.
	w := openWriter(t, path, Options{MaxBytes: 100, MaxFiles: 1, Now: tickingNow()})
	f := follow(t, path, ReadOptions{TailLines: AllLines})
	var want string
	for i := range 5 {
		write(t, w, Stdout, false, fmt.Sprintf("line%d", i))
		want += fmt.Sprintf("line%d\n", i)
		f.waitFor(t, want)
	}
	if err := f.finish(t); err != nil {
		t.Fatal(err)
	}
}

func TestFollowEndsWithContext(t *testing.T) {
	path := filepath.Join(t.TempDir(), "0.log")
	w := openWriter(t, path, Options{Now: tickingNow()})
	write(t, w, Stdout, false, "x")
	ctx, cancel := context.WithCancel(context.Background())
	result := make(chan error, 1)
	var out syncBuffer
	go func() { result <- Read(ctx, path, ReadOptions{Follow: true, TailLines: AllLines}, &out) }()
	time.Sleep(2 * pollInterval)
	cancel()
	select {
	case err := <-result:
		if !errors.Is(err, context.Canceled) {
			t.Errorf("error = %v, want canceled", err)
		}
	case <-time.After(10 * time.Second):
		t.Fatal("Read did not return after cancel")
	}
	if got := out.String(); got != "x\n" {
		t.Errorf("output %q", got)
	}
}
