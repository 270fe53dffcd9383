// Package crilog writes container output in the CRI log format that kubectl
// logs and every CRI runtime use, one line per record:
//
//	2026-11-23T21:40:02.123456789Z stdout F message
//
// where the tag is F for a full line and P for a piece of a line longer than
// the record limit. It owns the file and its size-based rotation, and reading
// it back as kubectl logs shows it (Read: rotated files included, pieces joined,
// tail, since, follow); it must not know about containers, pods, where its
// input comes from or where its output goes.
package crilog

import (
	"bufio"
	"errors"
	"fmt"
	"io"
	"os"
	"strconv"
	"sync"
	"time"
)

// Stream names the standard stream a record came from.
type Stream string

// The two streams a container writes.
const (
	Stdout Stream = "stdout"
	Stderr Stream = "stderr"
)

// MaxLineBytes is the longest message written as one record; longer lines are
// split into P records followed by an F record, as containerd does.
const MaxLineBytes = 16 * 1024

// Options configure a Writer.
type Options struct {
	// MaxBytes rotates the file before a record would take it past this size;
	// 0 never rotates.
	MaxBytes int64
	// MaxFiles is how many files to keep, the live one included (at least 1);
	// rotated files are PATH.1 (newest) to PATH.<MaxFiles-1>.
	MaxFiles int
	// Now gives record timestamps; time.Now when nil.
	Now func() time.Time
}

// Writer appends records to a log file. It is safe for concurrent use, so a
// container's stdout and stderr copiers can share one.
type Writer struct {
	path string
	opts Options

	mu   sync.Mutex
	f    *os.File
	size int64
}

// Open opens (or creates) the log file at path for appending.
func Open(path string, opts Options) (*Writer, error) {
	if opts.MaxFiles < 1 {
		opts.MaxFiles = 1
	}
	if opts.MaxBytes < 0 {
		return nil, fmt.Errorf("opening log %q: negative MaxBytes %d", path, opts.MaxBytes)
	}
	if opts.Now == nil {
		opts.Now = time.Now
	}
	w := &Writer{path: path, opts: opts}
	if err := w.open(); err != nil {
		return nil, err
	}
	return w, nil
}

func (w *Writer) open() error {
	f, err := os.OpenFile(w.path, os.O_WRONLY|os.O_CREATE|os.O_APPEND, 0o640)
	if err != nil {
		return fmt.Errorf("opening log: %w", err)
	}
	st, err := f.Stat()
	if err != nil {
		f.Close()
		return fmt.Errorf("opening log: %w", err)
	}
	w.f, w.size = f, st.Size()
	return nil
}

// Write records one message (without its newline) from stream; partial marks
// a piece of a longer line.
func (w *Writer) Write(stream Stream, partial bool, msg []byte) error {
	tag := "F"
	if partial {
		tag = "P"
	}
	rec := make([]byte, 0, len(msg)+48)
	rec = w.opts.Now().UTC().AppendFormat(rec, time.RFC3339Nano)
	rec = append(rec, ' ')
	rec = append(rec, stream...)
	rec = append(rec, ' ')
	rec = append(rec, tag...)
	rec = append(rec, ' ')
	rec = append(rec, msg...)
	rec = append(rec, '\n')

	w.mu.Lock()
	defer w.mu.Unlock()
	if w.f == nil {
		return fmt.Errorf("writing log %q: %w", w.path, os.ErrClosed)
	}
	if w.opts.MaxBytes > 0 && w.size > 0 && w.size+int64(len(rec)) > w.opts.MaxBytes {
		if err := w.rotate(); err != nil {
			return fmt.Errorf("rotating log %q: %w", w.path, err)
		}
	}
	n, err := w.f.Write(rec)
	w.size += int64(n)
	if err != nil {
		return fmt.Errorf("writing log %q: %w", w.path, err)
	}
	return nil
}

// rotate shifts PATH.i to PATH.i+1, dropping the oldest, and starts an empty
// live file.
func (w *Writer) rotate() error {
	if err := w.f.Close(); err != nil {
		return err
	}
	w.f = nil
	if w.opts.MaxFiles == 1 {
		if err := os.Truncate(w.path, 0); err != nil {
			return err
		}
		return w.open()
	}
	last := w.path + "." + strconv.Itoa(w.opts.MaxFiles-1)
	if err := os.Remove(last); err != nil && !errors.Is(err, os.ErrNotExist) {
		return err
	}
	for i := w.opts.MaxFiles - 2; i >= 1; i-- {
		from := w.path + "." + strconv.Itoa(i)
		if err := os.Rename(from, w.path+"."+strconv.Itoa(i+1)); err != nil && !errors.Is(err, os.ErrNotExist) {
			return err
		}
	}
	if err := os.Rename(w.path, w.path+".1"); err != nil {
		return err
	}
	return w.open()
}

// Close closes the file; later writes fail.
func (w *Writer) Close() error {
	w.mu.Lock()
	defer w.mu.Unlock()
	if w.f == nil {
		return nil
	}
	err := w.f.Close()
	w.f = nil
	return err
}

// Copy reads r until EOF and writes each line as a record of stream. A final
// line without a newline is written as a full record. It returns nil at EOF.
func Copy(w *Writer, stream Stream, r io.Reader) error {
	br := bufio.NewReaderSize(r, MaxLineBytes)
	for {
		line, err := br.ReadSlice('\n')
		switch {
		case err == nil:
			if werr := w.Write(stream, false, line[:len(line)-1]); werr != nil {
				return werr
			}
		case errors.Is(err, bufio.ErrBufferFull):
			if werr := w.Write(stream, true, line); werr != nil {
				return werr
			}
		case errors.Is(err, io.EOF):
			if len(line) > 0 {
				return w.Write(stream, false, line)
			}
			return nil
		default:
			if len(line) > 0 {
				if werr := w.Write(stream, false, line); werr != nil {
					return werr
				}
			}
			return fmt.Errorf("reading %s: %w", stream, err)
		}
	}
}
