package cidrset

import (
	"errors"
	"net/netip"
	"testing"
)

func mustSet(t *testing.T, cluster string, mask int) *Set {
	t.Helper()
	s, err := New(netip.MustParsePrefix(cluster), mask)
	if err != nil {
		t.Fatalf("New(%s, %d): %v", cluster, mask, err)
	}
	return s
}

func checkBooks(t *testing.T, s *Set) {
	t.Helper()
	if got, want := s.countTaken(), s.Len()-s.Free(); got != want {
		t.Fatalf("%d bits taken, Len-Free says %d", got, want)
	}
}

func TestNewRefuses(t *testing.T) {
	for _, tc := range []struct {
		name    string
		cluster string
		mask    int
	}{
		{"mask shorter than cluster", "10.42.0.0/16", 15},
		{"mask longer than IPv4", "10.42.0.0/16", 33},
		{"mask longer than IPv6", "fd00::/112", 129},
		{"too many IPv4 node CIDRs", "10.0.0.0/8", 25},
		{"too many IPv6 node CIDRs", "fd00::/32", 64},
		{"IPv4-mapped IPv6", "::ffff:10.42.0.0/112", 120},
	} {
		t.Run(tc.name, func(t *testing.T) {
			if _, err := New(netip.MustParsePrefix(tc.cluster), tc.mask); err == nil {
				t.Fatalf("New(%s, %d) succeeded", tc.cluster, tc.mask)
			}
		})
	}
	if _, err := New(netip.Prefix{}, 24); err == nil {
		t.Fatal("New accepted the zero prefix")
	}
}

func TestAllocateWalksTheRange(t *testing.T) {
	for _, tc := range []struct {
		name    string
		cluster string
		mask    int
		want    []string
	}{
		{"IPv4", "10.42.0.0/22", 24, []string{"10.42.0.0/24", "10.42.1.0/24", "10.42.2.0/24", "10.42.3.0/24"}},
		{"IPv4 host bits in the cluster CIDR", "10.42.3.9/22", 24, []string{"10.42.0.0/24", "10.42.1.0/24", "10.42.2.0/24", "10.42.3.0/24"}},
		{"IPv4 across a byte", "10.42.0.0/23", 25, []string{"10.42.0.0/25", "10.42.0.128/25", "10.42.1.0/25", "10.42.1.128/25"}},
		{"IPv4 whole cluster", "192.168.5.0/24", 24, []string{"192.168.5.0/24"}},
		{"IPv6", "fd00:42::/62", 64, []string{"fd00:42::/64", "fd00:42:0:1::/64", "fd00:42:0:2::/64", "fd00:42:0:3::/64"}},
		{"IPv6 right half", "fd00::ff00/120", 122, []string{"fd00::ff00/122", "fd00::ff40/122", "fd00::ff80/122", "fd00::ffc0/122"}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			s := mustSet(t, tc.cluster, tc.mask)
			if s.Len() != len(tc.want) {
				t.Fatalf("Len = %d, want %d", s.Len(), len(tc.want))
			}
			for _, want := range tc.want {
				got, err := s.Allocate()
				if err != nil {
					t.Fatalf("Allocate: %v", err)
				}
				if got.String() != want {
					t.Fatalf("Allocate = %v, want %s", got, want)
				}
				if !s.Cluster().Contains(got.Addr()) {
					t.Fatalf("%v is outside %v", got, s.Cluster())
				}
			}
			if _, err := s.Allocate(); !errors.Is(err, ErrFull) {
				t.Fatalf("Allocate on a full set: %v, want ErrFull", err)
			}
			checkBooks(t, s)
		})
	}
}

func TestAllocateUniqueOverTheLargestRange(t *testing.T) {
	s := mustSet(t, "fd00:1::/48", 64)
	seen := map[netip.Prefix]bool{}
	for range s.Len() {
		p, err := s.Allocate()
		if err != nil {
			t.Fatalf("Allocate after %d: %v", len(seen), err)
		}
		if seen[p] {
			t.Fatalf("%v handed out twice", p)
		}
		seen[p] = true
	}
	if len(seen) != 1<<16 || s.Free() != 0 {
		t.Fatalf("%d handed out, %d free; want 65536 and 0", len(seen), s.Free())
	}
	checkBooks(t, s)
}

func TestOccupyAndRelease(t *testing.T) {
	t.Run("occupied CIDRs are skipped", func(t *testing.T) {
		s := mustSet(t, "10.42.0.0/22", 24)
		for _, p := range []string{"10.42.0.0/24", "10.42.2.0/24"} {
			if err := s.Occupy(netip.MustParsePrefix(p)); err != nil {
				t.Fatal(err)
			}
		}
		// Idempotent: a second mark changes nothing.
		if err := s.Occupy(netip.MustParsePrefix("10.42.0.0/24")); err != nil {
			t.Fatal(err)
		}
		var got []string
		for range 2 {
			p, err := s.Allocate()
			if err != nil {
				t.Fatal(err)
			}
			got = append(got, p.String())
		}
		if got[0] != "10.42.1.0/24" || got[1] != "10.42.3.0/24" {
			t.Fatalf("allocated %v, want [10.42.1.0/24 10.42.3.0/24]", got)
		}
		checkBooks(t, s)
	})
	t.Run("a prefix spanning node CIDRs takes them all", func(t *testing.T) {
		s := mustSet(t, "10.42.0.0/22", 24)
		if err := s.Occupy(netip.MustParsePrefix("10.42.2.0/23")); err != nil {
			t.Fatal(err)
		}
		if s.Free() != 2 || !s.IsTaken(netip.MustParsePrefix("10.42.3.0/24")) || s.IsTaken(netip.MustParsePrefix("10.42.1.0/24")) {
			t.Fatalf("after occupying 10.42.2.0/23: free %d", s.Free())
		}
		checkBooks(t, s)
	})
	t.Run("a prefix inside a node CIDR takes that one", func(t *testing.T) {
		s := mustSet(t, "10.42.0.0/22", 24)
		if err := s.Occupy(netip.MustParsePrefix("10.42.1.128/25")); err != nil {
			t.Fatal(err)
		}
		if !s.IsTaken(netip.MustParsePrefix("10.42.1.0/24")) || s.Free() != 3 {
			t.Fatalf("10.42.1.128/25 did not take 10.42.1.0/24 alone; free %d", s.Free())
		}
	})
	t.Run("a prefix holding the cluster takes everything", func(t *testing.T) {
		s := mustSet(t, "10.42.0.0/22", 24)
		if err := s.Occupy(netip.MustParsePrefix("10.0.0.0/8")); err != nil {
			t.Fatal(err)
		}
		if s.Free() != 0 {
			t.Fatalf("free %d, want 0", s.Free())
		}
		if err := s.Release(netip.MustParsePrefix("10.0.0.0/8")); err != nil {
			t.Fatal(err)
		}
		if s.Free() != 4 {
			t.Fatalf("free %d after release, want 4", s.Free())
		}
	})
	t.Run("out of range", func(t *testing.T) {
		s := mustSet(t, "10.42.0.0/16", 24)
		for _, p := range []string{"10.43.0.0/24", "fd00::/64", "10.41.255.0/24"} {
			if err := s.Occupy(netip.MustParsePrefix(p)); !errors.Is(err, ErrOutOfRange) {
				t.Errorf("Occupy(%s) = %v, want ErrOutOfRange", p, err)
			}
			if err := s.Release(netip.MustParsePrefix(p)); !errors.Is(err, ErrOutOfRange) {
				t.Errorf("Release(%s) = %v, want ErrOutOfRange", p, err)
			}
		}
		if s.Free() != s.Len() {
			t.Fatalf("out-of-range calls changed the set: free %d of %d", s.Free(), s.Len())
		}
	})
}

func TestReleasedCIDRComesBackLast(t *testing.T) {
	s := mustSet(t, "10.42.0.0/22", 24)
	var all []netip.Prefix
	for range 3 {
		p, err := s.Allocate()
		if err != nil {
			t.Fatal(err)
		}
		all = append(all, p)
	}
	if err := s.Release(all[0]); err != nil {
		t.Fatal(err)
	}
	// Round robin: the never-used 10.42.3.0/24 goes before the released one.
	next, _ := s.Allocate()
	again, _ := s.Allocate()
	if next.String() != "10.42.3.0/24" || again != all[0] {
		t.Fatalf("after releasing %v got %v then %v", all[0], next, again)
	}
	if _, err := s.Allocate(); !errors.Is(err, ErrFull) {
		t.Fatalf("want ErrFull, got %v", err)
	}
	checkBooks(t, s)
}
