package registry

import (
	"context"
	"errors"
	"fmt"
	"net"
	"sort"
	"sync"
	"testing"

	clientv3 "go.etcd.io/etcd/client/v3"

	"berth.dev/berth/orchestrator/etcd"
)

// newTestKV starts an embedded etcd member for one test and returns a client to it.
func newTestKV(t *testing.T) *clientv3.Client {
	t.Helper()
	ctx := context.Background()
	store, err := etcd.Start(ctx, etcd.Config{DataDir: t.TempDir()})
	if err != nil {
		t.Fatalf("starting etcd: %v", err)
	}
	t.Cleanup(store.Close)
	client, err := clientv3.New(clientv3.Config{Endpoints: store.Endpoints})
	if err != nil {
		t.Fatalf("connecting to etcd: %v", err)
	}
	t.Cleanup(func() { client.Close() })
	return client
}

func mustCIDR(t *testing.T, s string) *net.IPNet {
	t.Helper()
	_, cidr, err := net.ParseCIDR(s)
	if err != nil {
		t.Fatal(err)
	}
	return cidr
}

// allocatorCase describes a range and what the allocator must make of it.
type allocatorCase struct {
	name string
	// prefix keeps the cases apart in the one etcd they share.
	prefix string
	build  func(kv clientv3.KV) *allocator
	// valid lists every value of the range; outside holds values it must refuse,
	// each with the message users read.
	valid   []string
	outside map[string]string
}

func allocatorCases(t *testing.T) []allocatorCase {
	ipCase := func(name, cidr string, valid []string, outside ...string) allocatorCase {
		n := mustCIDR(t, cidr)
		c := allocatorCase{
			name:    name,
			prefix:  "/test/" + name + "/",
			build:   func(kv clientv3.KV) *allocator { return newIPAllocator(kv, n) },
			valid:   valid,
			outside: map[string]string{},
		}
		for _, v := range outside {
			c.outside[v] = fmt.Sprintf("the provided IP (%s) is not in the valid range. The range of valid IPs is %s", v, cidr)
		}
		return c
	}
	ports := allocatorCase{
		name:    "ports 30000-30009",
		prefix:  "/test/ports/",
		build:   func(kv clientv3.KV) *allocator { return newPortAllocator(kv, 30000, 10) },
		outside: map[string]string{},
	}
	for p := 30000; p < 30010; p++ {
		ports.valid = append(ports.valid, fmt.Sprint(p))
	}
	for _, v := range []string{"29999", "30010", "0", "-1", "http", ""} {
		ports.outside[v] = "provided port is not in the valid range. The range of valid ports is 30000-30009"
	}
	return []allocatorCase{
		ipCase("IPv4 /29", "10.0.0.0/29",
			[]string{"10.0.0.1", "10.0.0.2", "10.0.0.3", "10.0.0.4", "10.0.0.5", "10.0.0.6"},
			"10.0.0.0", "10.0.0.7", "10.0.0.8", "9.255.255.255", "fd00::1", "not-an-ip"),
		// IPv6 has no broadcast address: only the network address is held back.
		ipCase("IPv6 /125", "fd00::/125",
			[]string{"fd00::1", "fd00::2", "fd00::3", "fd00::4", "fd00::5", "fd00::6", "fd00::7"},
			"fd00::", "fd00::8", "10.0.0.1"),
		ipCase("IPv4 /30", "192.168.7.4/30",
			[]string{"192.168.7.5", "192.168.7.6"},
			"192.168.7.4", "192.168.7.7", "192.168.7.3"),
		ports,
	}
}

// allocator builds the case's allocator, keeping its keys under the case's prefix.
func (c allocatorCase) allocator(kv clientv3.KV) *allocator {
	a := c.build(kv)
	a.prefix = c.prefix
	return a
}

func TestAllocatorHandsOutEveryValueOnce(t *testing.T) {
	kv := newTestKV(t)
	ctx := context.Background()
	for _, c := range allocatorCases(t) {
		t.Run(c.name, func(t *testing.T) {
			a := c.allocator(kv)
			var got []string
			for range len(c.valid) + 1 {
				v, err := a.AllocateNext(ctx, "ns/svc")
				if errors.Is(err, errRangeFull) {
					break
				}
				if err != nil {
					t.Fatalf("AllocateNext: %v", err)
				}
				got = append(got, v)
			}
			sort.Strings(got)
			want := append([]string(nil), c.valid...)
			sort.Strings(want)
			if fmt.Sprint(got) != fmt.Sprint(want) {
				t.Errorf("AllocateNext handed out %v before the range was full, want each of %v once", got, want)
			}
			if _, err := a.AllocateNext(ctx, "ns/other"); !errors.Is(err, errRangeFull) {
				t.Errorf("AllocateNext on a full range = %v, want %v", err, errRangeFull)
			}
		})
	}
}

func TestAllocatorOutOfRange(t *testing.T) {
	kv := newTestKV(t)
	ctx := context.Background()
	for _, c := range allocatorCases(t) {
		a := c.allocator(kv)
		for value, want := range c.outside {
			t.Run(c.name+"/"+value, func(t *testing.T) {
				for verb, call := range map[string]func(context.Context, string, string) error{
					"Allocate": a.Allocate,
					"Check":    a.Check,
				} {
					err := call(ctx, value, "ns/svc")
					if err == nil || err.Error() != want {
						t.Errorf("%s(%q) = %v, want %q", verb, value, err, want)
					}
				}
			})
		}
	}
}

func TestAllocatorOwnership(t *testing.T) {
	kv := newTestKV(t)
	ctx := context.Background()
	const holder, other = "ns/holder", "ns/other"
	for _, c := range allocatorCases(t) {
		value := c.valid[len(c.valid)-1]
		taken := fmt.Sprintf("provided %s is already allocated", c.build(kv).what)
		steps := []struct {
			name string
			do   func(a *allocator) error
			// wantErr is the message expected, "" for success.
			wantErr string
		}{
			{"check of a free value succeeds", func(a *allocator) error { return a.Check(ctx, value, other) }, ""},
			{"check does not take the value", func(a *allocator) error { return a.Allocate(ctx, value, holder) }, ""},
			{"the holder may allocate it again", func(a *allocator) error { return a.Allocate(ctx, value, holder) }, ""},
			{"another owner may not allocate it", func(a *allocator) error { return a.Allocate(ctx, value, other) }, taken},
			{"check by another owner fails", func(a *allocator) error { return a.Check(ctx, value, other) }, taken},
			{"check by the holder succeeds", func(a *allocator) error { return a.Check(ctx, value, holder) }, ""},
			{"release by another owner succeeds quietly", func(a *allocator) error { return a.Release(ctx, value, other) }, ""},
			{"release by another owner kept the value", func(a *allocator) error { return a.Allocate(ctx, value, other) }, taken},
			{"release by the holder", func(a *allocator) error { return a.Release(ctx, value, holder) }, ""},
			{"release by the holder freed the value", func(a *allocator) error { return a.Allocate(ctx, value, other) }, ""},
			{"release of a free value is harmless", func(a *allocator) error { return a.Release(ctx, c.valid[0], holder) }, ""},
		}
		t.Run(c.name, func(t *testing.T) {
			a := c.allocator(kv)
			for _, s := range steps {
				err := s.do(a)
				switch {
				case s.wantErr == "" && err != nil:
					t.Errorf("%s: %v", s.name, err)
				case s.wantErr != "" && (err == nil || err.Error() != s.wantErr):
					t.Errorf("%s: got %v, want %q", s.name, err, s.wantErr)
				case s.wantErr != "" && !errors.Is(err, errAllocated):
					t.Errorf("%s: %v does not wrap errAllocated", s.name, err)
				}
			}
		})
	}
}

func TestAllocatorAllocateNextSkipsTakenValues(t *testing.T) {
	kv := newTestKV(t)
	ctx := context.Background()
	for _, c := range allocatorCases(t) {
		t.Run(c.name, func(t *testing.T) {
			a := c.allocator(kv)
			taken := map[string]bool{}
			for _, v := range c.valid[:len(c.valid)-1] {
				if err := a.Allocate(ctx, v, "ns/first"); err != nil {
					t.Fatalf("Allocate(%s): %v", v, err)
				}
				taken[v] = true
			}
			v, err := a.AllocateNext(ctx, "ns/second")
			if err != nil {
				t.Fatalf("AllocateNext: %v", err)
			}
			if want := c.valid[len(c.valid)-1]; v != want {
				t.Errorf("AllocateNext = %s, want the only free value %s", v, want)
			}
			// A released value is handed out again.
			if err := a.Release(ctx, c.valid[0], "ns/first"); err != nil {
				t.Fatal(err)
			}
			if v, err := a.AllocateNext(ctx, "ns/third"); err != nil || v != c.valid[0] {
				t.Errorf("AllocateNext after a release = %s, %v; want %s", v, err, c.valid[0])
			}
		})
	}
}

func TestAllocatorConcurrentAllocateNext(t *testing.T) {
	kv := newTestKV(t)
	ctx := context.Background()
	cases := []struct {
		name string
		a    *allocator
		size int
	}{
		{"IPv4 /27", newIPAllocator(kv, mustCIDR(t, "10.1.0.0/27")), 30},
		{"IPv6 /123", newIPAllocator(kv, mustCIDR(t, "fd00::/123")), 31},
		{"ports", newPortAllocator(kv, 30000, 40), 40},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			// Twice as many callers as values, across two allocators over the same
			// keys, as two API servers would be.
			peer := *c.a
			peers := []*allocator{c.a, &peer}
			callers := 2 * c.size
			var (
				mu   sync.Mutex
				got  = map[string]int{}
				full int
				wg   sync.WaitGroup
			)
			for i := range callers {
				wg.Go(func() {
					v, err := peers[i%2].AllocateNext(ctx, fmt.Sprintf("ns/svc-%d", i))
					mu.Lock()
					defer mu.Unlock()
					switch {
					case errors.Is(err, errRangeFull):
						full++
					case err != nil:
						t.Errorf("AllocateNext: %v", err)
					default:
						got[v]++
					}
				})
			}
			wg.Wait()
			for v, n := range got {
				if n > 1 {
					t.Errorf("%s was handed out %d times", v, n)
				}
			}
			if len(got) != c.size || full != callers-c.size {
				t.Errorf("%d values handed out and %d callers told the range is full, want %d and %d", len(got), full, c.size, callers-c.size)
			}
		})
	}
}

func TestIPAllocatorLargeRange(t *testing.T) {
	kv := newTestKV(t)
	ctx := context.Background()
	cases := []struct {
		name, cidr string
		wantSize   int
		first      string
	}{
		{"IPv4 /16", "10.43.0.0/16", 65534, "10.43.0.1"},
		{"IPv6 /64 is capped", "fd00:1::/64", 1 << 20, "fd00:1::1"},
		{"IPv6 /108", "fd00:2::/108", 1<<20 - 1, "fd00:2::1"},
		{"IPv6 /120", "fd00:3::/120", 255, "fd00:3::1"},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			a := newIPAllocator(kv, mustCIDR(t, c.cidr))
			if a.size != c.wantSize {
				t.Errorf("size = %d, want %d", a.size, c.wantSize)
			}
			if got := a.at(0); got != c.first {
				t.Errorf("at(0) = %s, want %s", got, c.first)
			}
			last := a.at(a.size - 1)
			if off, ok := a.offsetOf(last); !ok || off != a.size-1 {
				t.Errorf("offsetOf(%s) = %d, %v; want %d, true", last, off, ok, a.size-1)
			}
			if err := a.Allocate(ctx, last, "ns/svc"); err != nil {
				t.Errorf("Allocate(%s), the last value of the range: %v", last, err)
			}
			v, err := a.AllocateNext(ctx, "ns/svc")
			if err != nil {
				t.Fatalf("AllocateNext: %v", err)
			}
			if _, ok := a.offsetOf(v); !ok || !mustCIDR(t, c.cidr).Contains(net.ParseIP(v)) {
				t.Errorf("AllocateNext = %s, outside %s", v, c.cidr)
			}
		})
	}
}

// TestAllocatorEmptyRange: a range with no address to hand out is full, not a
// crash.
func TestAllocatorEmptyRange(t *testing.T) {
	kv := newTestKV(t)
	for _, cidr := range []string{"10.0.0.0/31", "10.0.0.0/32", "fd00::/128"} {
		a := newIPAllocator(kv, mustCIDR(t, cidr))
		if _, err := a.AllocateNext(context.Background(), "ns/svc"); !errors.Is(err, errRangeFull) {
			t.Errorf("%s: AllocateNext = %v, want errRangeFull", cidr, err)
		}
	}
}
