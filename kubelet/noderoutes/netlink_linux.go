package noderoutes

import (
	"errors"
	"fmt"
	"net/netip"

	"github.com/vishvananda/netlink"
	"github.com/vishvananda/netns"
	"golang.org/x/sys/unix"
)

// routeHandle reaches the routing table of one network namespace.
type routeHandle struct{ *netlink.Handle }

func handle(nsFD int) (routeHandle, error) {
	var (
		h   *netlink.Handle
		err error
	)
	if nsFD != 0 {
		h, err = netlink.NewHandleAt(netns.NsHandle(nsFD))
	} else {
		h, err = netlink.NewHandle()
	}
	if err != nil {
		return routeHandle{}, fmt.Errorf("opening netlink: %w", err)
	}
	return routeHandle{h}, nil
}

func (h routeHandle) close() { h.Delete() }

// list returns the routes of Protocol in the main table.
func (h routeHandle) list() ([]route, error) {
	rts, err := h.RouteListFiltered(netlink.FAMILY_ALL, &netlink.Route{Protocol: Protocol, Table: unix.RT_TABLE_MAIN}, netlink.RT_FILTER_PROTOCOL|netlink.RT_FILTER_TABLE)
	if err != nil {
		return nil, fmt.Errorf("listing routes: %w", err)
	}
	var out []route
	for _, rt := range rts {
		if rt.Dst == nil {
			continue
		}
		dst, ok := netip.AddrFromSlice(rt.Dst.IP)
		via, _ := netip.AddrFromSlice(rt.Gw)
		if !ok {
			continue
		}
		bits, _ := rt.Dst.Mask.Size()
		out = append(out, route{netip.PrefixFrom(dst.Unmap(), bits), via.Unmap()})
	}
	return out, nil
}

func (h routeHandle) replace(r route) error {
	err := h.RouteReplace(&netlink.Route{Dst: ipNet(r.dst), Gw: r.via.AsSlice(), Protocol: Protocol, Table: unix.RT_TABLE_MAIN})
	if errors.Is(err, unix.ENETUNREACH) {
		return fmt.Errorf("routing %s via %s: %w", r.dst, r.via, errUnreachable)
	}
	if err != nil {
		return fmt.Errorf("routing %s via %s: %w", r.dst, r.via, err)
	}
	return nil
}

func (h routeHandle) delete(r route) error {
	err := h.RouteDel(&netlink.Route{Dst: ipNet(r.dst), Gw: r.via.AsSlice(), Protocol: Protocol, Table: unix.RT_TABLE_MAIN})
	if err != nil && !errors.Is(err, unix.ESRCH) {
		return fmt.Errorf("deleting the route to %s via %s: %w", r.dst, r.via, err)
	}
	return nil
}
