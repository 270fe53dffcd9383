package crilog

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"io"
	"io/fs"
	"os"
	"path/filepath"
	"slices"
	"strconv"
	"strings"
	"time"
)

// AllLines is the TailLines that writes the whole log.
const AllLines = -1

// ReadOptions say which lines Read writes and how.
type ReadOptions struct {
	// Follow keeps reading as the log grows, and on into the new file when it
	// is rotated, until ctx ends or Done is closed.
	Follow bool
	// Done, closed, tells a following Read that the writer has finished: Read
	// writes what is left and returns nil. Nil means only ctx ends a follow.
	Done <-chan struct{}
	// Timestamps prefixes each line with its timestamp (RFC 3339 with
	// nanoseconds, as recorded) and a space.
	Timestamps bool
	// Since skips lines timestamped before it; the zero time skips none.
	Since time.Time
	// TailLines writes only the last TailLines lines of the log as it is when
	// Read starts (then, following, every new line). AllLines (any negative
	// number) writes them all; 0 writes none, as kubectl logs --tail=0.
	TailLines int64
	// LimitBytes stops Read once it has written this many bytes, the last
	// line cut short; 0 means no limit.
	LimitBytes int64
}

// pollInterval is how often a following Read looks for new records.
const pollInterval = 100 * time.Millisecond

// maxJoinedBytes bounds a line joined from P records: a longer one is written
// as several lines, so that a runaway line cannot exhaust memory.
const maxJoinedBytes = 1 << 20

// Read writes the log at path to w as kubectl logs shows it: the rotated files
// (PATH.N, the oldest, to PATH.1) and then PATH, a line per record with the
// pieces of a long line joined, stdout and stderr interleaved as recorded.
// Each line goes to w in a single Write. Records that do not parse are skipped.
//
// Without Follow it returns nil at the end of the log. With Follow it returns
// nil once Done is closed and the rest is written, or ctx's error when ctx
// ends first. Reaching LimitBytes returns nil.
func Read(ctx context.Context, path string, opts ReadOptions, w io.Writer) error {
	if opts.LimitBytes < 0 {
		return fmt.Errorf("reading log %q: negative LimitBytes %d", path, opts.LimitBytes)
	}
	files, err := openChain(ctx, path)
	if err != nil {
		return fmt.Errorf("reading log %q: %w", path, err)
	}
	defer func() {
		for _, f := range files {
			f.close()
		}
	}()
	rd := &reader{path: path, opts: opts, w: w}
	err = rd.run(ctx, files)
	if errors.Is(err, errLimitReached) {
		return nil
	}
	return err
}

// errLimitReached ends a Read that wrote LimitBytes.
var errLimitReached = errors.New("byte limit reached")

// reader is the state of one Read.
type reader struct {
	path string
	opts ReadOptions
	w    io.Writer

	join joiner
	// counting is set in the first pass of a tail, which counts the lines
	// instead of writing them.
	counting bool
	lines    int64
	// skip is how many more lines to leave out before writing.
	skip    int64
	written int64
	out     []byte
	records int
}

func (rd *reader) run(ctx context.Context, files []*logFile) error {
	if rd.opts.TailLines >= 0 {
		// First pass: count the lines there are now; second: skip all but
		// the last TailLines of them.
		rd.counting = true
		for _, f := range files {
			if err := rd.drain(ctx, f); err != nil {
				return err
			}
		}
		if err := rd.flush(); err != nil {
			return err
		}
		rd.counting = false
		rd.skip = max(rd.lines-rd.opts.TailLines, 0)
		rd.join = joiner{}
		for _, f := range files {
			if err := f.rewind(); err != nil {
				return fmt.Errorf("reading log %q: %w", rd.path, err)
			}
		}
	}
	for i, f := range files {
		if err := rd.drain(ctx, f); err != nil {
			return err
		}
		if i < len(files)-1 {
			f.close()
		}
	}
	if !rd.opts.Follow {
		return rd.flush()
	}
	return rd.follow(ctx, files[len(files)-1])
}

// follow reads the live file cur as it grows, and its successors as it is
// rotated, until Done or ctx.
func (rd *reader) follow(ctx context.Context, cur *logFile) error {
	defer func() { cur.close() }()
	ticker := time.NewTicker(pollInterval)
	defer ticker.Stop()
	done := rd.opts.Done
	for {
		// Checked before reading, so that everything written before Done
		// was closed is read in this round.
		finished := isClosed(rd.opts.Done)
		if err := rd.drain(ctx, cur); err != nil {
			return err
		}
		st, err := os.Stat(rd.path)
		switch {
		case err == nil && os.SameFile(st, cur.info):
			if st.Size() < cur.pos {
				// Truncated in place (a writer keeping one file).
				if err := cur.rewind(); err != nil {
					return fmt.Errorf("following log %q: %w", rd.path, err)
				}
				continue
			}
			if finished {
				return rd.flush()
			}
		case err != nil && !errors.Is(err, fs.ErrNotExist):
			return fmt.Errorf("following log %q: %w", rd.path, err)
		default:
			// cur was rotated away. The writer renames a file only after its
			// last write, so reading it once more gets all of it.
			if err := rd.drain(ctx, cur); err != nil {
				return err
			}
			next, err := successor(rd.path, cur.info)
			if err != nil {
				return fmt.Errorf("following log %q: %w", rd.path, err)
			}
			if next != nil {
				cur.close()
				cur = next
				continue
			}
			if finished {
				// The writer is done and left no file after cur.
				return rd.flush()
			}
		}
		select {
		case <-ctx.Done():
			return fmt.Errorf("following log %q: %w", rd.path, ctx.Err())
		case <-done:
			done = nil // seen; the next round reads to the end and returns
		case <-ticker.C:
		}
	}
}

func isClosed(c <-chan struct{}) bool {
	if c == nil {
		return false
	}
	select {
	case <-c:
		return true
	default:
		return false
	}
}

// drain handles f's complete records up to its current end.
func (rd *reader) drain(ctx context.Context, f *logFile) error {
	for {
		rec, err := f.next()
		if errors.Is(err, io.EOF) {
			return nil
		}
		if err != nil {
			return fmt.Errorf("reading log %q: %w", rd.path, err)
		}
		if rd.records++; rd.records%1024 == 0 {
			if err := ctx.Err(); err != nil {
				return fmt.Errorf("reading log %q: %w", rd.path, err)
			}
		}
		r, err := parseRecord(rec)
		if err != nil {
			continue
		}
		for _, l := range rd.join.add(r) {
			if err := rd.emit(l); err != nil {
				return err
			}
		}
	}
}

// flush writes the lines still waiting for their last piece, oldest first:
// the writer finished without one.
func (rd *reader) flush() error {
	for _, l := range rd.join.flush() {
		if err := rd.emit(l); err != nil {
			return err
		}
	}
	return nil
}

// emit counts, skips or writes one line.
func (rd *reader) emit(l line) error {
	if !rd.opts.Since.IsZero() && l.ts.Before(rd.opts.Since) {
		return nil
	}
	if rd.counting {
		rd.lines++
		return nil
	}
	if rd.skip > 0 {
		rd.skip--
		return nil
	}
	out := rd.out[:0]
	if rd.opts.Timestamps {
		out = l.ts.AppendFormat(out, time.RFC3339Nano)
		out = append(out, ' ')
	}
	out = append(out, l.msg...)
	out = append(out, '\n')
	rd.out = out
	limited := false
	if rd.opts.LimitBytes > 0 && rd.written+int64(len(out)) >= rd.opts.LimitBytes {
		out = out[:rd.opts.LimitBytes-rd.written]
		limited = true
	}
	n, err := rd.w.Write(out)
	rd.written += int64(n)
	if err != nil {
		return fmt.Errorf("writing log %q: %w", rd.path, err)
	}
	if limited {
		return errLimitReached
	}
	return nil
}

// record is one parsed record.
type record struct {
	ts      time.Time
	stream  int // 0 stdout, 1 stderr
	partial bool
	msg     []byte
}

// parseRecord parses "TIMESTAMP STREAM TAG MESSAGE". The tag may carry more
// colon-separated fields after F or P, as the CRI format allows.
func parseRecord(b []byte) (record, error) {
	var r record
	ts, rest, ok := bytes.Cut(b, []byte{' '})
	if !ok {
		return r, errors.New("no stream")
	}
	t, err := time.Parse(time.RFC3339Nano, string(ts))
	if err != nil {
		return r, err
	}
	stream, rest, ok := bytes.Cut(rest, []byte{' '})
	if !ok {
		return r, errors.New("no tag")
	}
	switch Stream(stream) {
	case Stdout:
	case Stderr:
		r.stream = 1
	default:
		return r, fmt.Errorf("unknown stream %q", stream)
	}
	tag, msg, _ := bytes.Cut(rest, []byte{' '})
	kind, _, _ := bytes.Cut(tag, []byte{':'})
	r.ts, r.partial, r.msg = t, string(kind) == "P", msg
	return r, nil
}

// line is a whole line of one stream, stamped with its first record's time.
type line struct {
	ts  time.Time
	msg []byte
}

// joiner joins each stream's P records with the F record that ends them.
type joiner struct {
	open [2]bool
	ts   [2]time.Time
	buf  [2][]byte
	// out is reused for the lines add returns.
	out []line
}

// add takes a record and returns the lines it completes: none for a P
// record, usually one for an F record. The lines are valid until the next call.
func (j *joiner) add(r record) []line {
	j.out = j.out[:0]
	s := r.stream
	if !j.open[s] {
		if !r.partial {
			return append(j.out, line{r.ts, r.msg})
		}
		j.open[s], j.ts[s], j.buf[s] = true, r.ts, append(j.buf[s][:0], r.msg...)
		return j.out
	}
	if len(j.buf[s])+len(r.msg) > maxJoinedBytes {
		// Too long to hold: what there is becomes a line of its own, and this
		// record starts the next one.
		j.out = append(j.out, line{j.ts[s], j.buf[s]})
		j.ts[s], j.buf[s] = r.ts, nil
	}
	j.buf[s] = append(j.buf[s], r.msg...)
	if r.partial {
		return j.out
	}
	j.open[s] = false
	return append(j.out, line{j.ts[s], j.buf[s]})
}

// flush returns the lines still open, oldest first, and forgets them.
func (j *joiner) flush() []line {
	j.out = j.out[:0]
	for s := range j.open {
		if j.open[s] {
			j.out = append(j.out, line{j.ts[s], j.buf[s]})
			j.open[s] = false
		}
	}
	slices.SortStableFunc(j.out, func(a, b line) int { return a.ts.Compare(b.ts) })
	return j.out
}

// logFile reads complete records from one open log file.
type logFile struct {
	f    *os.File
	info os.FileInfo // the file's identity, to recognise it after a rename
	buf  []byte
	r, w int   // unread bytes are buf[r:w]
	pos  int64 // file offset read up to
}

// maxRecordBytes bounds a record (the writer's are MaxLineBytes plus about
// 50); a longer run without a newline is handed on as a record of its own.
const maxRecordBytes = 4 * MaxLineBytes

func openLog(path string) (*logFile, error) {
	f, err := os.Open(path)
	if err != nil {
		return nil, err
	}
	info, err := f.Stat()
	if err != nil {
		f.Close()
		return nil, err
	}
	return &logFile{f: f, info: info, buf: make([]byte, 32*1024)}, nil
}

func (lf *logFile) close() {
	if lf.f != nil {
		lf.f.Close()
		lf.f = nil
	}
}

// rewind starts reading the file again from its beginning.
func (lf *logFile) rewind() error {
	if _, err := lf.f.Seek(0, io.SeekStart); err != nil {
		return err
	}
	lf.r, lf.w, lf.pos = 0, 0, 0
	return nil
}

// next returns the next complete record without its newline, or io.EOF when
// the file holds no complete record beyond those returned; an unfinished
// record stays buffered for a later call. The slice is valid until the next
// call.
func (lf *logFile) next() ([]byte, error) {
	for {
		if i := bytes.IndexByte(lf.buf[lf.r:lf.w], '\n'); i >= 0 {
			rec := lf.buf[lf.r : lf.r+i]
			lf.r += i + 1
			return rec, nil
		}
		if lf.r > 0 {
			lf.w = copy(lf.buf, lf.buf[lf.r:lf.w])
			lf.r = 0
		}
		if lf.w == len(lf.buf) {
			if len(lf.buf) >= maxRecordBytes {
				rec := lf.buf[:lf.w]
				lf.r = lf.w
				return rec, nil
			}
			lf.buf = append(lf.buf, make([]byte, len(lf.buf))...)
		}
		n, err := lf.f.Read(lf.buf[lf.w:])
		lf.w += n
		lf.pos += int64(n)
		if n == 0 {
			if err == nil {
				err = io.EOF
			}
			return nil, err
		}
	}
}

// rotatedPaths lists path's rotated files that exist, oldest (highest
// number) first.
func rotatedPaths(path string) ([]string, error) {
	dir, base := filepath.Split(path)
	if dir == "" {
		dir = "."
	}
	entries, err := os.ReadDir(dir)
	if err != nil {
		return nil, err
	}
	type numbered struct {
		n    int
		path string
	}
	var found []numbered
	for _, e := range entries {
		suffix, ok := strings.CutPrefix(e.Name(), base+".")
		if !ok {
			continue
		}
		n, err := strconv.Atoi(suffix)
		if err != nil || n < 1 || strconv.Itoa(n) != suffix {
			continue
		}
		found = append(found, numbered{n, filepath.Join(dir, e.Name())})
	}
	slices.SortFunc(found, func(a, b numbered) int { return b.n - a.n })
	paths := make([]string, len(found))
	for i, f := range found {
		paths[i] = f.path
	}
	return paths, nil
}

// openChain opens the rotated files and the live one, oldest first. It checks
// that no rotation moved the files while it opened them, and tries again if
// one did, or if the live file is missing while there are rotated ones (the
// moment between a rotation's rename and its new file).
func openChain(ctx context.Context, path string) ([]*logFile, error) {
	const attempts = 5
	for attempt := 1; ; attempt++ {
		files, err := openChainOnce(path)
		switch {
		case errors.Is(err, errLiveMissing) && attempt < attempts:
			select {
			case <-ctx.Done():
				return nil, ctx.Err()
			case <-time.After(10 * time.Millisecond):
			}
			continue
		case errors.Is(err, errLiveMissing):
			return nil, fmt.Errorf("opening %s: %w", path, fs.ErrNotExist)
		case err != nil:
			return nil, err
		}
		if attempt == attempts || chainIntact(path, files) {
			return files, nil
		}
		for _, f := range files {
			f.close()
		}
	}
}

// errLiveMissing is a live file missing while rotated files exist.
var errLiveMissing = errors.New("live log file missing")

func openChainOnce(path string) ([]*logFile, error) {
	rotated, err := rotatedPaths(path)
	if err != nil {
		return nil, err
	}
	var files []*logFile
	for _, p := range append(rotated, path) {
		f, err := openLog(p)
		if errors.Is(err, fs.ErrNotExist) && p != path {
			continue // rotated out meanwhile; chainIntact notices
		}
		if errors.Is(err, fs.ErrNotExist) && len(files) > 0 {
			err = errLiveMissing
		}
		if err != nil {
			for _, f := range files {
				f.close()
			}
			return nil, err
		}
		files = append(files, f)
	}
	return files, nil
}

// chainIntact reports whether files are still, in order, the rotated files
// and the live one at path.
func chainIntact(path string, files []*logFile) bool {
	rotated, err := rotatedPaths(path)
	if err != nil {
		return false
	}
	paths := append(rotated, path)
	if len(paths) != len(files) {
		return false
	}
	for i, p := range paths {
		st, err := os.Stat(p)
		if err != nil || !os.SameFile(st, files[i].info) {
			return false
		}
	}
	return true
}

// successor opens the file written after cur, now that cur was rotated away:
// the next newer rotated file, or the live one. It returns nil when there is
// none yet (a rotation under way). If cur was rotated out of existence,
// whatever went in between is lost, and reading goes on from the oldest file
// left.
func successor(path string, cur os.FileInfo) (*logFile, error) {
	rotated, err := rotatedPaths(path)
	if err != nil {
		return nil, err
	}
	paths := append(rotated, path)
	next := 0
	for i, p := range paths {
		st, err := os.Stat(p)
		if err == nil && os.SameFile(st, cur) {
			next = i + 1
			break
		}
	}
	if next == len(paths) {
		return nil, nil
	}
	f, err := openLog(paths[next])
	if errors.Is(err, fs.ErrNotExist) {
		return nil, nil
	}
	if err != nil {
		return nil, err
	}
	// If a rotation renamed cur between the listing and the Stat above, this
	// may not be cur's successor: make sure it is still where it was found.
	if next > 0 {
		st, err := os.Stat(paths[next-1])
		if err != nil || !os.SameFile(st, cur) {
			f.close()
			return nil, nil
		}
	}
	return f, nil
}
