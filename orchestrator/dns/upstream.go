package dns

import (
	"context"
	"errors"
	"fmt"
	"io"
	"net"
	"net/netip"
	"os"
	"time"

	"github.com/miekg/dns"
)

// upstreamTimeout bounds one exchange with one upstream.
const upstreamTimeout = 2 * time.Second

// normalizeUpstreams turns "host" and "host:port" into "ip:port".
func normalizeUpstreams(in []string) ([]string, error) {
	var out []string
	for _, u := range in {
		ap, err := parseUpstream(u)
		if err != nil {
			return nil, err
		}
		out = append(out, ap.String())
	}
	return out, nil
}

func parseUpstream(u string) (netip.AddrPort, error) {
	if ap, err := netip.ParseAddrPort(u); err == nil {
		return ap, nil
	}
	if a, err := netip.ParseAddr(u); err == nil {
		return netip.AddrPortFrom(a, 53), nil
	}
	return netip.AddrPort{}, fmt.Errorf("dns: upstream %q is neither an IP address nor IP:port", u)
}

// resolvConfUpstreams reads the nameservers of a resolv.conf file.
func resolvConfUpstreams(path string) ([]string, error) {
	f, err := os.Open(path)
	if err != nil {
		return nil, fmt.Errorf("reading upstream resolvers: %w", err)
	}
	defer f.Close()
	ups, err := parseResolvConf(f)
	if err != nil {
		return nil, fmt.Errorf("parsing %s: %w", path, err)
	}
	return ups, nil
}

func parseResolvConf(r io.Reader) ([]string, error) {
	cc, err := dns.ClientConfigFromReader(r)
	if err != nil {
		return nil, fmt.Errorf("parsing resolv.conf: %w", err)
	}
	port := cc.Port
	if port == "" {
		port = "53"
	}
	var out []string
	for _, s := range cc.Servers {
		a, err := netip.ParseAddr(s)
		if err != nil {
			continue // not an address (e.g. a zoned link-local we cannot dial)
		}
		out = append(out, net.JoinHostPort(a.String(), port))
	}
	if len(out) == 0 {
		return nil, errors.New("no nameserver lines")
	}
	return out, nil
}

// dropLoops removes upstreams that are one of the server's own addresses.
func dropLoops(ups []string, own []net.Addr) []string {
	self := map[netip.AddrPort]bool{}
	for _, a := range own {
		if ap, err := netip.ParseAddrPort(a.String()); err == nil {
			self[netip.AddrPortFrom(ap.Addr().Unmap(), ap.Port())] = true
		}
	}
	var out []string
	for _, u := range ups {
		ap, err := netip.ParseAddrPort(u)
		if err == nil && self[netip.AddrPortFrom(ap.Addr().Unmap(), ap.Port())] {
			continue
		}
		out = append(out, u)
	}
	return out
}

// forward sends req to the upstreams in order over UDP, retrying a truncated
// answer over TCP, and returns the first answer. A query that came over TCP
// goes to the upstream over TCP at once.
func forward(ctx context.Context, upstreams []string, req *dns.Msg, tcp bool) (*dns.Msg, error) {
	if len(upstreams) == 0 {
		return nil, errors.New("no upstream resolvers")
	}
	var errs []error
	for _, up := range upstreams {
		resp, err := exchange(ctx, up, req, tcp)
		if err != nil {
			errs = append(errs, err)
			if ctx.Err() != nil {
				break
			}
			continue
		}
		return resp, nil
	}
	return nil, fmt.Errorf("forwarding %s: %w", req.Question[0].Name, errors.Join(errs...))
}

func exchange(ctx context.Context, upstream string, req *dns.Msg, tcp bool) (*dns.Msg, error) {
	if !tcp {
		c := &dns.Client{Net: "udp", Timeout: upstreamTimeout}
		resp, _, err := c.ExchangeContext(ctx, req, upstream)
		if err != nil {
			return nil, fmt.Errorf("asking %s over UDP: %w", upstream, err)
		}
		if !resp.Truncated {
			return resp, nil
		}
	}
	c := &dns.Client{Net: "tcp", Timeout: upstreamTimeout}
	resp, _, err := c.ExchangeContext(ctx, req, upstream)
	if err != nil {
		return nil, fmt.Errorf("asking %s over TCP: %w", upstream, err)
	}
	return resp, nil
}
