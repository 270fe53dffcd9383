package podnet

import (
	"errors"
	"fmt"
	"net"
	"net/netip"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"testing"
)

func mustCIDR(t *testing.T, s string) *net.IPNet {
	t.Helper()
	_, c, err := net.ParseCIDR(s)
	if err != nil {
		t.Fatal(err)
	}
	return c
}

func newTestAllocator(t *testing.T, dir string, cidrs ...string) *allocator {
	t.Helper()
	a := &allocator{dir: dir}
	for _, c := range cidrs {
		r, err := newPodRange(mustCIDR(t, c))
		if err != nil {
			t.Fatal(err)
		}
		a.ranges = append(a.ranges, r)
	}
	return a
}

func TestPodRange(t *testing.T) {
	tests := []struct {
		cidr                 string
		gateway, first, last string
		err                  bool
	}{
		{cidr: "10.244.1.0/24", gateway: "10.244.1.1", first: "10.244.1.2", last: "10.244.1.254"},
		{cidr: "10.244.1.77/24", gateway: "10.244.1.1", first: "10.244.1.2", last: "10.244.1.254"},
		{cidr: "10.0.0.0/30", gateway: "10.0.0.1", first: "10.0.0.2", last: "10.0.0.2"},
		{cidr: "10.0.0.0/31", err: true},
		{cidr: "10.0.0.0/32", err: true},
		{cidr: "10.240.0.0/12", gateway: "10.240.0.1", first: "10.240.0.2", last: "10.255.255.254"},
		{cidr: "fd00:10:244:1::/64", gateway: "fd00:10:244:1::1", first: "fd00:10:244:1::2", last: "fd00:10:244:1:ffff:ffff:ffff:fffe"},
		{cidr: "fd00::/126", gateway: "fd00::1", first: "fd00::2", last: "fd00::2"},
		{cidr: "fd00::/127", err: true},
	}
	for _, tc := range tests {
		t.Run(tc.cidr, func(t *testing.T) {
			r, err := newPodRange(mustCIDR(t, tc.cidr))
			if tc.err {
				if err == nil {
					t.Fatalf("got range %+v, want an error", r)
				}
				return
			}
			if err != nil {
				t.Fatal(err)
			}
			got := []string{r.gateway.String(), r.first.String(), r.last.String()}
			want := []string{tc.gateway, tc.first, tc.last}
			if strings.Join(got, " ") != strings.Join(want, " ") {
				t.Errorf("gateway, first, last = %v, want %v", got, want)
			}
		})
	}
	t.Run("IPv4 in 16 bytes", func(t *testing.T) {
		c := &net.IPNet{IP: net.ParseIP("10.1.2.0"), Mask: net.CIDRMask(120, 128)}
		r, err := newPodRange(c)
		if err != nil {
			t.Fatal(err)
		}
		if r.prefix.String() != "10.1.2.0/24" {
			t.Errorf("prefix %s, want 10.1.2.0/24", r.prefix)
		}
	})
}

func TestAllocatorSkipsReservedAndGoesRound(t *testing.T) {
	a := newTestAllocator(t, t.TempDir(), "10.9.0.0/29") // pods: .2 to .6
	var got []string
	for i := range 5 {
		ips, fresh, err := a.allocate(fmt.Sprintf("pod-%d", i))
		if err != nil {
			t.Fatal(err)
		}
		if !fresh {
			t.Errorf("pod-%d: fresh = false for a new owner", i)
		}
		got = append(got, ips[0].String())
	}
	if want := "10.9.0.2 10.9.0.3 10.9.0.4 10.9.0.5 10.9.0.6"; strings.Join(got, " ") != want {
		t.Errorf("allocated %v, want %s", got, want)
	}
	_, _, err := a.allocate("pod-5")
	if !errors.Is(err, ErrRangeFull) {
		t.Fatalf("allocating in a full range: %v, want ErrRangeFull", err)
	}
	if !strings.Contains(err.Error(), "10.9.0.0/29") {
		t.Errorf("error %q does not name the range", err)
	}
	if _, err := a.release("pod-1"); err != nil {
		t.Fatal(err)
	}
	ips, _, err := a.allocate("pod-5")
	if err != nil {
		t.Fatal(err)
	}
	if ips[0].String() != "10.9.0.3" {
		t.Errorf("after freeing 10.9.0.3 in a full range got %s", ips[0])
	}
}

func TestAllocatorRoundRobinAfterRelease(t *testing.T) {
	a := newTestAllocator(t, t.TempDir(), "10.9.0.0/24")
	first, _, err := a.allocate("a")
	if err != nil {
		t.Fatal(err)
	}
	if _, err := a.release("a"); err != nil {
		t.Fatal(err)
	}
	next, _, err := a.allocate("b")
	if err != nil {
		t.Fatal(err)
	}
	if next[0] == first[0] {
		t.Errorf("a freed address (%s) was handed out again at once", first[0])
	}
}

func TestAllocatorSameOwnerSameAddresses(t *testing.T) {
	dir := t.TempDir()
	a := newTestAllocator(t, dir, "10.9.0.0/24", "fd00:9::/64")
	ips, fresh, err := a.allocate("pod")
	if err != nil {
		t.Fatal(err)
	}
	if !fresh || len(ips) != 2 || !ips[0].Is4() || !ips[1].Is6() {
		t.Fatalf("allocate = %v, fresh %v; want an IPv4 and an IPv6 address, fresh", ips, fresh)
	}
	again, fresh, err := a.allocate("pod")
	if err != nil {
		t.Fatal(err)
	}
	if fresh || fmt.Sprint(again) != fmt.Sprint(ips) {
		t.Errorf("second allocate = %v, fresh %v; want %v, not fresh", again, fresh, ips)
	}
	// A new allocator over the same directory: a restarted agent.
	b := newTestAllocator(t, dir, "10.9.0.0/24", "fd00:9::/64")
	restarted, fresh, err := b.allocate("pod")
	if err != nil {
		t.Fatal(err)
	}
	if fresh || fmt.Sprint(restarted) != fmt.Sprint(ips) {
		t.Errorf("after restart allocate = %v, fresh %v; want %v, not fresh", restarted, fresh, ips)
	}
	other, _, err := b.allocate("other")
	if err != nil {
		t.Fatal(err)
	}
	for i := range other {
		if other[i] == ips[i] {
			t.Errorf("another owner got %s too", other[i])
		}
	}
	all, err := b.all()
	if err != nil {
		t.Fatal(err)
	}
	if len(all) != 2 || len(all["pod"]) != 2 || len(all["other"]) != 2 {
		t.Errorf("all = %v, want two owners with two addresses each", all)
	}
	file := filepath.Join(b.rangeDir(b.ranges[0]), ips[0].String())
	if data, err := os.ReadFile(file); err != nil || strings.TrimSpace(string(data)) != "pod" {
		t.Errorf("state file %s holds %q (%v), want the owner", filepath.Base(file), data, err)
	}
	freed, err := b.release("pod")
	if err != nil {
		t.Fatal(err)
	}
	if len(freed) != 2 {
		t.Errorf("release freed %v, want both addresses", freed)
	}
	if _, err := os.Stat(file); !os.IsNotExist(err) {
		t.Errorf("state file of a released address: %v, want it gone", err)
	}
	if freed, err := b.release("pod"); err != nil || len(freed) != 0 {
		t.Errorf("releasing again = %v, %v; want nothing, no error", freed, err)
	}
}

func TestAllocatorFailureInOneRangeTakesNothing(t *testing.T) {
	a := newTestAllocator(t, t.TempDir(), "10.9.0.0/24", "fd00:9::/126") // one IPv6 pod address
	if _, _, err := a.allocate("first"); err != nil {
		t.Fatal(err)
	}
	if _, _, err := a.allocate("second"); !errors.Is(err, ErrRangeFull) {
		t.Fatalf("allocate with a full IPv6 range: %v, want ErrRangeFull", err)
	}
	all, err := a.all()
	if err != nil {
		t.Fatal(err)
	}
	if _, ok := all["second"]; ok {
		t.Errorf("the failed owner kept %v", all["second"])
	}
}

func TestAllocatorConcurrent(t *testing.T) {
	dir := t.TempDir()
	ranges := newTestAllocator(t, dir, "10.9.0.0/24", "fd00:9::/64").ranges
	const owners = 40
	var (
		wg   sync.WaitGroup
		mu   sync.Mutex
		seen = map[netip.Addr]string{}
		errs []error
	)
	for i := range owners {
		wg.Add(1)
		go func() {
			defer wg.Done()
			// Separate allocators over one directory stand for separate
			// processes: only the file lock keeps them apart.
			a := &allocator{dir: dir, ranges: ranges}
			owner := fmt.Sprintf("pod-%d", i)
			ips, _, err := a.allocate(owner)
			mu.Lock()
			defer mu.Unlock()
			if err != nil {
				errs = append(errs, err)
				return
			}
			for _, ip := range ips {
				if o, dup := seen[ip]; dup {
					errs = append(errs, fmt.Errorf("%s given to %s and %s", ip, o, owner))
				}
				seen[ip] = owner
			}
		}()
	}
	wg.Wait()
	for _, err := range errs {
		t.Error(err)
	}
	if len(seen) != 2*owners {
		t.Errorf("%d addresses handed out, want %d", len(seen), 2*owners)
	}
}

func TestAllocatorRemoveAll(t *testing.T) {
	dir := filepath.Join(t.TempDir(), "state")
	a := newTestAllocator(t, dir, "10.9.0.0/24")
	if _, _, err := a.allocate("pod"); err != nil {
		t.Fatal(err)
	}
	if err := a.removeAll(); err != nil {
		t.Fatal(err)
	}
	if _, err := os.Stat(dir); !os.IsNotExist(err) {
		t.Errorf("state directory after removeAll: %v, want it gone", err)
	}
	// Neither release nor all brings it back.
	if _, err := a.release("pod"); err != nil {
		t.Fatal(err)
	}
	if all, err := a.all(); err != nil || len(all) != 0 {
		t.Errorf("all = %v, %v; want nothing", all, err)
	}
	if _, err := os.Stat(dir); !os.IsNotExist(err) {
		t.Errorf("state directory after release: %v, want it still gone", err)
	}
}
