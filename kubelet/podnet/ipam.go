package podnet

import (
	"bytes"
	"errors"
	"fmt"
	"io/fs"
	"net"
	"net/netip"
	"os"
	"path/filepath"
	"strings"
	"sync"

	"github.com/gofrs/flock"
)

// The state directory holds, per pod range, a directory named after the range
// ("10.244.1.0_24") with one file per address in use, named after the address
// and holding its owner, and lastFile, the address handed out last, so that
// addresses go round the range rather than being reused at once. lockFile
// serializes allocators in different processes.
const (
	lockFile = "lock"
	lastFile = "last"
)

// podRange is the part of a pod CIDR pods get.
type podRange struct {
	prefix  netip.Prefix // masked
	gateway netip.Addr   // the bridge's address: the first after the network's
	first   netip.Addr   // the pods' first address
	last    netip.Addr   // the pods' last: the one before the broadcast address
}

// prefixOf converts c to a masked netip.Prefix, IPv4 unmapped.
func prefixOf(c *net.IPNet) (netip.Prefix, error) {
	if c == nil {
		return netip.Prefix{}, errors.New("nil CIDR")
	}
	a, ok := netip.AddrFromSlice(c.IP)
	ones, bits := c.Mask.Size()
	if !ok || bits == 0 {
		return netip.Prefix{}, fmt.Errorf("%v is not a CIDR", c)
	}
	if a.Is4In6() && bits == 128 {
		ones -= 96
	}
	a = a.Unmap()
	p, err := a.Prefix(ones)
	if err != nil {
		return netip.Prefix{}, fmt.Errorf("%v is not a CIDR: %w", c, err)
	}
	return p, nil
}

func newPodRange(c *net.IPNet) (podRange, error) {
	p, err := prefixOf(c)
	if err != nil {
		return podRange{}, err
	}
	// Network, gateway, at least one pod, broadcast (or, in IPv6, the
	// all-ones address, which host-local skips too).
	if p.Addr().BitLen()-p.Bits() < 2 {
		return podRange{}, fmt.Errorf("%s is too small: it needs room for a gateway and a pod", p)
	}
	gw := p.Addr().Next()
	return podRange{prefix: p, gateway: gw, first: gw.Next(), last: lastAddr(p).Prev()}, nil
}

// lastAddr is p's highest address.
func lastAddr(p netip.Prefix) netip.Addr {
	b := p.Addr().AsSlice()
	for i := range b {
		keep := p.Bits() - i*8
		switch {
		case keep <= 0:
			b[i] = 0xff
		case keep < 8:
			b[i] |= 0xff >> keep
		}
	}
	a, _ := netip.AddrFromSlice(b)
	return a
}

// contains tells whether a is one of the pods' addresses.
func (r podRange) contains(a netip.Addr) bool {
	return r.prefix.Contains(a) && a.Compare(r.first) >= 0 && a.Compare(r.last) <= 0
}

// next is the pods' address after a, going round.
func (r podRange) next(a netip.Addr) netip.Addr {
	if !r.contains(a) || a == r.last {
		return r.first
	}
	return a.Next()
}

// mask is the range's prefix length as a net.IPMask.
func (r podRange) mask() net.IPMask {
	return net.CIDRMask(r.prefix.Bits(), r.prefix.Addr().BitLen())
}

// allocator hands out pod addresses, one per range, and remembers them in
// its directory.
type allocator struct {
	dir    string
	ranges []podRange
	mu     sync.Mutex // for this process; the lock file for others
}

func (a *allocator) rangeDir(r podRange) string {
	return filepath.Join(a.dir, strings.ReplaceAll(r.prefix.String(), "/", "_"))
}

// lock takes the allocator's locks. With create, it makes the directories
// first; without, it returns a nil unlock when there is no state directory
// (and so no allocation) at all.
func (a *allocator) lock(create bool) (func(), error) {
	if create {
		for _, r := range a.ranges {
			if err := os.MkdirAll(a.rangeDir(r), 0o700); err != nil {
				return nil, err
			}
		}
	} else if _, err := os.Stat(a.dir); errors.Is(err, fs.ErrNotExist) {
		return nil, nil
	}
	a.mu.Lock()
	fl := flock.New(filepath.Join(a.dir, lockFile))
	if err := fl.Lock(); err != nil {
		a.mu.Unlock()
		return nil, err
	}
	return func() { _ = fl.Unlock(); a.mu.Unlock() }, nil
}

// used reads r's addresses in use and their owners. Files not named after an
// address are not allocations.
func (a *allocator) used(r podRange) (map[netip.Addr]string, error) {
	dir := a.rangeDir(r)
	entries, err := os.ReadDir(dir)
	if errors.Is(err, fs.ErrNotExist) {
		return nil, nil
	}
	if err != nil {
		return nil, err
	}
	used := make(map[netip.Addr]string, len(entries))
	for _, e := range entries {
		ip, err := netip.ParseAddr(e.Name())
		if err != nil || !e.Type().IsRegular() {
			continue
		}
		b, err := os.ReadFile(filepath.Join(dir, e.Name()))
		if err != nil {
			return nil, err
		}
		used[ip] = string(bytes.TrimSpace(b))
	}
	return used, nil
}

// allocate returns owner's addresses, one per range, handing out new ones
// where owner has none; fresh tells whether any was new.
func (a *allocator) allocate(owner string) (ips []netip.Addr, fresh bool, err error) {
	unlock, err := a.lock(true)
	if err != nil {
		return nil, false, fmt.Errorf("locking pod address state in %s: %w", a.dir, err)
	}
	defer unlock()
	var made []string // files this call wrote, removed again if a later range fails
	defer func() {
		if err != nil {
			for _, f := range made {
				_ = os.Remove(f)
			}
		}
	}()
	for _, r := range a.ranges {
		ip, file, err := a.allocateIn(r, owner)
		if err != nil {
			return nil, false, err
		}
		if file != "" {
			made = append(made, file)
		}
		ips = append(ips, ip)
	}
	return ips, len(made) > 0, nil
}

// allocateIn returns owner's address in r and, when it was handed out now,
// the file that records it.
func (a *allocator) allocateIn(r podRange, owner string) (netip.Addr, string, error) {
	used, err := a.used(r)
	if err != nil {
		return netip.Addr{}, "", fmt.Errorf("reading allocations of %s: %w", r.prefix, err)
	}
	for ip, o := range used {
		if o == owner && r.contains(ip) {
			return ip, "", nil
		}
	}
	dir := a.rangeDir(r)
	last, err := os.ReadFile(filepath.Join(dir, lastFile))
	if err != nil && !errors.Is(err, fs.ErrNotExist) {
		return netip.Addr{}, "", fmt.Errorf("reading last allocation of %s: %w", r.prefix, err)
	}
	prev, _ := netip.ParseAddr(string(bytes.TrimSpace(last)))
	// Every step visits a different address and at most len(used) of them are
	// taken, so this ends after the range or len(used)+1 steps, whichever is
	// fewer: a /64 never goes round.
	start := r.next(prev)
	for ip := start; ; {
		if _, taken := used[ip]; !taken {
			file := filepath.Join(dir, ip.String())
			if err := writeFileAtomic(file, owner+"\n"); err != nil {
				return netip.Addr{}, "", fmt.Errorf("recording %s for %s: %w", ip, owner, err)
			}
			if err := writeFileAtomic(filepath.Join(dir, lastFile), ip.String()+"\n"); err != nil {
				_ = os.Remove(file)
				return netip.Addr{}, "", fmt.Errorf("recording last allocation of %s: %w", r.prefix, err)
			}
			return ip, file, nil
		}
		if ip = r.next(ip); ip == start {
			return netip.Addr{}, "", fmt.Errorf("allocating an address in %s for %s: %w (%d addresses in use)", r.prefix, owner, ErrRangeFull, len(used))
		}
	}
}

// release frees owner's addresses; it returns those it freed.
func (a *allocator) release(owner string) ([]netip.Addr, error) {
	unlock, err := a.lock(false)
	if err != nil || unlock == nil {
		return nil, wrapLock(a.dir, err)
	}
	defer unlock()
	var freed []netip.Addr
	for _, r := range a.ranges {
		used, err := a.used(r)
		if err != nil {
			return freed, fmt.Errorf("reading allocations of %s: %w", r.prefix, err)
		}
		for ip, o := range used {
			if o != owner {
				continue
			}
			if err := os.Remove(filepath.Join(a.rangeDir(r), ip.String())); err != nil && !errors.Is(err, fs.ErrNotExist) {
				return freed, fmt.Errorf("freeing %s of %s: %w", ip, owner, err)
			}
			freed = append(freed, ip)
		}
	}
	return freed, nil
}

// all returns every owner's addresses.
func (a *allocator) all() (map[string][]netip.Addr, error) {
	unlock, err := a.lock(false)
	if err != nil || unlock == nil {
		return nil, wrapLock(a.dir, err)
	}
	defer unlock()
	owners := make(map[string][]netip.Addr)
	for _, r := range a.ranges {
		used, err := a.used(r)
		if err != nil {
			return nil, fmt.Errorf("reading allocations of %s: %w", r.prefix, err)
		}
		for ip, o := range used {
			owners[o] = append(owners[o], ip)
		}
	}
	return owners, nil
}

// removeAll deletes the allocator's files, and its directory when nothing
// else is left in it.
func (a *allocator) removeAll() error {
	var errs []error
	for _, r := range a.ranges {
		if err := os.RemoveAll(a.rangeDir(r)); err != nil {
			errs = append(errs, err)
		}
	}
	if err := os.Remove(filepath.Join(a.dir, lockFile)); err != nil && !errors.Is(err, fs.ErrNotExist) {
		errs = append(errs, err)
	}
	if err := os.Remove(a.dir); err != nil && !errors.Is(err, fs.ErrNotExist) {
		// Something else lives there: keep it.
		if entries, rerr := os.ReadDir(a.dir); rerr != nil || len(entries) == 0 {
			errs = append(errs, err)
		}
	}
	return errors.Join(errs...)
}

// wrapLock says what failed when err is not nil.
func wrapLock(dir string, err error) error {
	if err == nil {
		return nil
	}
	return fmt.Errorf("locking pod address state in %s: %w", dir, err)
}

// writeFileAtomic replaces name with data, so that a crash leaves the old
// contents or the new, never a part.
func writeFileAtomic(name, data string) error {
	tmp, err := os.CreateTemp(filepath.Dir(name), ".tmp-")
	if err != nil {
		return err
	}
	defer os.Remove(tmp.Name())
	if _, err := tmp.WriteString(data); err != nil {
		tmp.Close()
		return err
	}
	if err := tmp.Sync(); err != nil {
		tmp.Close()
		return err
	}
	if err := tmp.Close(); err != nil {
		return err
	}
	return os.Rename(tmp.Name(), name)
}
