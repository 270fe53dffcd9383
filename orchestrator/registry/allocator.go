package registry

import (
	"context"
	"errors"
	"fmt"
	"math/big"
	"math/rand/v2"
	"net"
	"strconv"
	"strings"

	clientv3 "go.etcd.io/etcd/client/v3"
)

// Allocation errors, in upstream's words.
var (
	errAllocated = errors.New("already allocated")
	errRangeFull = errors.New("range is full")
)

// allocator hands out the values of a range (Service cluster IPs, node ports). Each
// allocation is a key in etcd created only if absent, so that concurrent requests,
// and several API servers, never hand out the same value twice.
type allocator struct {
	kv     clientv3.KV
	prefix string
	size   int
	// at returns the value at an offset in the range; offsetOf is its inverse.
	at       func(offset int) string
	offsetOf func(value string) (int, bool)
	// what is allocated ("IP", "port") and outOfRange, the error for a value outside
	// the range, in the words users read.
	what       string
	outOfRange func(value string) error
}

// newIPAllocator allocates the addresses of cidr but its network address (and, for
// IPv4, its broadcast address), as upstream does.
func newIPAllocator(kv clientv3.KV, cidr *net.IPNet) *allocator {
	ones, bits := cidr.Mask.Size()
	size := new(big.Int).Lsh(big.NewInt(1), uint(bits-ones))
	size.Sub(size, big.NewInt(1)) // the network address
	if bits == 32 {
		size.Sub(size, big.NewInt(1)) // the broadcast address
	}
	n := 1 << 20 // a larger range is more than any cluster needs
	if size.IsInt64() && size.Int64() < int64(n) {
		n = int(size.Int64())
	}
	base := new(big.Int).SetBytes(cidr.IP.Mask(cidr.Mask).To16())
	return &allocator{
		kv: kv, prefix: "/registry/berth/serviceips/", size: n,
		at: func(offset int) string {
			v := new(big.Int).Add(base, big.NewInt(int64(offset+1)))
			ip := make(net.IP, net.IPv6len)
			v.FillBytes(ip)
			return ip.String()
		},
		offsetOf: func(value string) (int, bool) {
			ip := net.ParseIP(value)
			if ip == nil || !cidr.Contains(ip) {
				return 0, false
			}
			off := new(big.Int).Sub(new(big.Int).SetBytes(ip.To16()), base)
			o := int(off.Int64()) - 1
			return o, o >= 0 && o < n
		},
		what: "IP",
		outOfRange: func(value string) error {
			return fmt.Errorf("the provided IP (%s) is not in the valid range. The range of valid IPs is %s", value, cidr)
		},
	}
}

// newPortAllocator allocates the ports of [first, first+size).
func newPortAllocator(kv clientv3.KV, first, size int) *allocator {
	return &allocator{
		kv: kv, prefix: "/registry/berth/nodeports/", size: size,
		at: func(offset int) string { return strconv.Itoa(first + offset) },
		offsetOf: func(value string) (int, bool) {
			p, err := strconv.Atoi(value)
			return p - first, err == nil && p >= first && p < first+size
		},
		what: "port",
		outOfRange: func(string) error {
			return fmt.Errorf("provided port is not in the valid range. The range of valid ports is %d-%d", first, first+size-1)
		},
	}
}

// Allocate takes value for owner. Taking a value owner already holds succeeds.
func (a *allocator) Allocate(ctx context.Context, value, owner string) error {
	if _, ok := a.offsetOf(value); !ok {
		return a.outOfRange(value)
	}
	return a.take(ctx, value, owner)
}

// Check tells whether value could be allocated, without taking it (for dry runs).
func (a *allocator) Check(ctx context.Context, value, owner string) error {
	if _, ok := a.offsetOf(value); !ok {
		return a.outOfRange(value)
	}
	resp, err := a.kv.Get(ctx, a.prefix+value)
	if err != nil {
		return err
	}
	if len(resp.Kvs) > 0 && string(resp.Kvs[0].Value) != owner {
		return a.allocatedError()
	}
	return nil
}

// AllocateNext takes a free value for owner, picked at random so that values
// released recently are not handed out again at once.
func (a *allocator) AllocateNext(ctx context.Context, owner string) (string, error) {
	if a.size <= 0 {
		return "", errRangeFull
	}
	resp, err := a.kv.Get(ctx, a.prefix, clientv3.WithPrefix(), clientv3.WithKeysOnly())
	if err != nil {
		return "", err
	}
	used := make(map[int]bool, len(resp.Kvs))
	for _, kv := range resp.Kvs {
		if off, ok := a.offsetOf(strings.TrimPrefix(string(kv.Key), a.prefix)); ok {
			used[off] = true
		}
	}
	start := rand.IntN(a.size)
	for i := 0; i < a.size; i++ {
		off := (start + i) % a.size
		if used[off] {
			continue
		}
		value := a.at(off)
		switch err := a.take(ctx, value, owner); {
		case err == nil:
			return value, nil
		case errors.Is(err, errAllocated):
			continue // taken since we listed
		default:
			return "", err
		}
	}
	return "", errRangeFull
}

// Release frees value if owner holds it.
func (a *allocator) Release(ctx context.Context, value, owner string) error {
	key := a.prefix + value
	_, err := a.kv.Txn(ctx).If(clientv3.Compare(clientv3.Value(key), "=", owner)).Then(clientv3.OpDelete(key)).Commit()
	return err
}

func (a *allocator) take(ctx context.Context, value, owner string) error {
	key := a.prefix + value
	resp, err := a.kv.Txn(ctx).
		If(clientv3.Compare(clientv3.CreateRevision(key), "=", 0)).
		Then(clientv3.OpPut(key, owner)).
		Else(clientv3.OpGet(key)).
		Commit()
	if err != nil {
		return err
	}
	if resp.Succeeded {
		return nil
	}
	if kvs := resp.Responses[0].GetResponseRange().Kvs; len(kvs) > 0 && string(kvs[0].Value) == owner {
		return nil
	}
	return a.allocatedError()
}

func (a *allocator) allocatedError() error {
	return fmt.Errorf("provided %s is %w", a.what, errAllocated)
}
