// Package cidrset keeps which node CIDRs of one cluster CIDR are taken: the
// cluster CIDR split into equal subnets of the node mask size, one bit each. It
// owns the address arithmetic only; it must not know about Nodes, the API or
// locking (a Set is not safe for concurrent use: its owner serialises calls).
package cidrset

import (
	"errors"
	"fmt"
	"math/bits"
	"net/netip"
)

// MaxSubnetBits bounds how many node CIDRs one cluster CIDR splits into:
// 2^16, as upstream bounds IPv6 cluster CIDRs. A /16 of IPv4 with /24 nodes or
// a /48 of IPv6 with /64 nodes is the most it takes.
const MaxSubnetBits = 16

var (
	// ErrFull is returned by Allocate when every node CIDR is taken.
	ErrFull = errors.New("no node CIDR left in the cluster CIDR")
	// ErrOutOfRange is returned for a prefix that shares no address with the
	// cluster CIDR.
	ErrOutOfRange = errors.New("not in the cluster CIDR")
)

// Set is the node CIDRs of one cluster CIDR and which of them are taken.
type Set struct {
	cluster  netip.Prefix
	nodeBits int      // the node mask size
	count    int      // node CIDRs in all: 1 << (nodeBits - cluster.Bits())
	used     []uint64 // bit i: node CIDR i is taken
	free     int
	// next is where Allocate starts looking: it hands out node CIDRs round
	// robin, so that one just released is the last to be handed out again
	// while routes to its old node may linger.
	next int
}

// New returns the empty set of cluster's node CIDRs of mask size nodeMaskSize.
// The node mask may not be shorter than the cluster's prefix, and may be at
// most MaxSubnetBits longer.
func New(cluster netip.Prefix, nodeMaskSize int) (*Set, error) {
	if !cluster.IsValid() {
		return nil, fmt.Errorf("invalid cluster CIDR %v", cluster)
	}
	cluster = cluster.Masked()
	if cluster.Addr().Is4In6() {
		return nil, fmt.Errorf("cluster CIDR %v: an IPv4-mapped IPv6 prefix is neither family", cluster)
	}
	switch {
	case nodeMaskSize > cluster.Addr().BitLen():
		return nil, fmt.Errorf("node mask size %d is longer than an address of %v", nodeMaskSize, cluster)
	case nodeMaskSize < cluster.Bits():
		return nil, fmt.Errorf("node mask size %d is shorter than the prefix of cluster CIDR %v", nodeMaskSize, cluster)
	case nodeMaskSize-cluster.Bits() > MaxSubnetBits:
		return nil, fmt.Errorf("node mask size %d splits cluster CIDR %v into 2^%d node CIDRs, more than 2^%d",
			nodeMaskSize, cluster, nodeMaskSize-cluster.Bits(), MaxSubnetBits)
	}
	count := 1 << (nodeMaskSize - cluster.Bits())
	return &Set{
		cluster:  cluster,
		nodeBits: nodeMaskSize,
		count:    count,
		used:     make([]uint64, (count+63)/64),
		free:     count,
	}, nil
}

// Cluster is the cluster CIDR the set splits.
func (s *Set) Cluster() netip.Prefix { return s.cluster }

// NodeMaskSize is the prefix length of the node CIDRs.
func (s *Set) NodeMaskSize() int { return s.nodeBits }

// Len is how many node CIDRs the cluster CIDR holds.
func (s *Set) Len() int { return s.count }

// Free is how many of them are not taken.
func (s *Set) Free() int { return s.free }

// Overlaps reports whether p shares an address with the cluster CIDR.
func (s *Set) Overlaps(p netip.Prefix) bool { return p.IsValid() && s.cluster.Overlaps(p) }

// Allocate takes the next free node CIDR, or fails with ErrFull.
func (s *Set) Allocate() (netip.Prefix, error) {
	if s.free == 0 {
		return netip.Prefix{}, fmt.Errorf("allocating from %v: %w", s.cluster, ErrFull)
	}
	for n := 0; n < s.count; n++ {
		i := (s.next + n) % s.count
		if !s.taken(i) {
			s.set(i, true)
			s.next = (i + 1) % s.count
			return s.prefix(i), nil
		}
	}
	// free > 0 with no clear bit cannot happen; say so rather than loop.
	return netip.Prefix{}, fmt.Errorf("allocating from %v: %w (free count out of step)", s.cluster, ErrFull)
}

// Occupy marks every node CIDR that shares an address with p as taken: p may be
// one node CIDR, part of one, several, or larger than the cluster CIDR. It is
// idempotent.
func (s *Set) Occupy(p netip.Prefix) error {
	first, last, err := s.span(p)
	if err != nil {
		return fmt.Errorf("occupying %v: %w", p, err)
	}
	for i := first; i <= last; i++ {
		s.set(i, true)
	}
	return nil
}

// Release marks every node CIDR that shares an address with p as free.
func (s *Set) Release(p netip.Prefix) error {
	first, last, err := s.span(p)
	if err != nil {
		return fmt.Errorf("releasing %v: %w", p, err)
	}
	for i := first; i <= last; i++ {
		s.set(i, false)
	}
	return nil
}

// IsTaken reports whether any node CIDR that shares an address with p is taken.
func (s *Set) IsTaken(p netip.Prefix) bool {
	first, last, err := s.span(p)
	if err != nil {
		return false
	}
	for i := first; i <= last; i++ {
		if s.taken(i) {
			return true
		}
	}
	return false
}

// span is the indexes of the first and last node CIDR that share an address
// with p. Node CIDR i has i in the bits between the cluster prefix and the node
// mask: in 10.42.0.0/16 with /24 nodes, 10.42.7.0/24 is 7, and 10.42.4.0/22
// spans 4 to 7.
func (s *Set) span(p netip.Prefix) (first, last int, err error) {
	if !s.Overlaps(p) {
		return 0, 0, fmt.Errorf("%w %v", ErrOutOfRange, s.cluster)
	}
	p = p.Masked()
	if p.Bits() <= s.cluster.Bits() {
		// p holds the whole cluster CIDR.
		return 0, s.count - 1, nil
	}
	first = s.index(p.Addr())
	if p.Bits() >= s.nodeBits {
		return first, first, nil
	}
	return first, first + 1<<(s.nodeBits-p.Bits()) - 1, nil
}

// index is the number of the node CIDR that holds addr, which the cluster CIDR
// must hold.
func (s *Set) index(addr netip.Addr) int {
	b := addr.AsSlice()
	i := 0
	for bit := s.cluster.Bits(); bit < s.nodeBits; bit++ {
		i = i<<1 | int(b[bit/8]>>(7-bit%8)&1)
	}
	return i
}

// prefix is node CIDR i: the cluster address with i written into the bits
// between the cluster prefix and the node mask.
func (s *Set) prefix(i int) netip.Prefix {
	b := s.cluster.Addr().AsSlice()
	for bit := s.nodeBits - 1; bit >= s.cluster.Bits(); bit-- {
		if i&1 == 1 {
			b[bit/8] |= 1 << (7 - bit%8)
		}
		i >>= 1
	}
	addr, _ := netip.AddrFromSlice(b)
	return netip.PrefixFrom(addr, s.nodeBits)
}

func (s *Set) taken(i int) bool { return s.used[i/64]&(1<<(i%64)) != 0 }

func (s *Set) set(i int, taken bool) {
	if s.taken(i) == taken {
		return
	}
	if taken {
		s.used[i/64] |= 1 << (i % 64)
		s.free--
	} else {
		s.used[i/64] &^= 1 << (i % 64)
		s.free++
	}
}

// countTaken counts the taken node CIDRs from the bits; tests hold it against
// Len minus Free to check the bookkeeping.
func (s *Set) countTaken() int {
	n := 0
	for _, w := range s.used {
		n += bits.OnesCount64(w)
	}
	return n
}
