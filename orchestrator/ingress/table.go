package ingress

import (
	"crypto/tls"
	"net"
	"net/netip"
	"slices"
	"strings"

	networkingv1 "k8s.io/api/networking/v1"
)

// table is one immutable routing table: every Ingress of ours merged, with
// its backends resolved to endpoints and its certificates parsed. Requests
// read it without locks; a change builds a new one.
type table struct {
	// hosts holds the rules of exact hosts; wildcards those of "*.parent"
	// hosts by parent; anyHost the rules without host.
	hosts     map[string]*routes
	wildcards map[string]*routes
	anyHost   *routes
	// defaultBackend serves what no rule matches, nil for 404.
	defaultBackend *backend
	// certs and wildcardCerts hold the certificates by SNI name, keyed as
	// hosts and wildcards are.
	certs         map[string]*tls.Certificate
	wildcardCerts map[string]*tls.Certificate
	// ingresses is how many Ingresses went into the table, for logs.
	ingresses int
	// routed holds the addresses of the endpoints the backends send
	// requests to, for Controller.Routes.
	routed map[netip.Addr]bool
}

// routes are the paths of one host.
type routes struct {
	exact map[string]*backend
	// prefixes are sorted longest first, so the first match is the most
	// specific one.
	prefixes []prefixRoute
}

// prefixRoute is a Prefix path without its trailing slashes ("/" is "").
type prefixRoute struct {
	prefix  string
	backend *backend
}

// route returns the backend for a request to host and path, nil if nothing
// matches. Rules of the exact host come first, then those of a wildcard
// host, then host-less ones, then the default backend: a host's rules that
// do not match the path fall through to the less specific ones, as
// traefik's do.
func (t *table) route(host, path string) *backend {
	if b := t.hosts[host].match(path); b != nil {
		return b
	}
	if parent, ok := wildcardParent(host); ok {
		if b := t.wildcards[parent].match(path); b != nil {
			return b
		}
	}
	if b := t.anyHost.match(path); b != nil {
		return b
	}
	return t.defaultBackend
}

// match returns the backend of the most specific path matching path: an
// Exact one, else the longest Prefix.
func (r *routes) match(path string) *backend {
	if r == nil {
		return nil
	}
	if b := r.exact[path]; b != nil {
		return b
	}
	for _, p := range r.prefixes {
		if prefixMatches(p.prefix, path) {
			return p.backend
		}
	}
	return nil
}

// prefixMatches matches path elements, as pathType Prefix says: "/foo"
// matches "/foo", "/foo/" and "/foo/bar", not "/foobar". prefix has no
// trailing slash; "" (from "/") matches every path.
func prefixMatches(prefix, path string) bool {
	if !strings.HasPrefix(path, prefix) {
		return false
	}
	return len(path) == len(prefix) || prefix == "" || path[len(prefix)] == '/'
}

// trimPrefix turns a Prefix path into the form prefixMatches takes.
func trimPrefix(p string) string {
	return strings.TrimRight(p, "/")
}

// wildcardParent returns the domain a "*.domain" host would have to be for
// host to match it: host without its first label. A wildcard matches
// exactly one label, so "a.b.example.com" is no match for "*.example.com".
func wildcardParent(host string) (string, bool) {
	i := strings.IndexByte(host, '.')
	if i <= 0 || i == len(host)-1 {
		return "", false
	}
	return host[i+1:], true
}

// requestHost returns the host a request is for, lower case, without port
// or trailing dot, as Ingress hosts are written.
func requestHost(hostport string) string {
	host := hostport
	if h, _, err := net.SplitHostPort(hostport); err == nil {
		host = h
	}
	host = strings.TrimSuffix(strings.TrimPrefix(host, "["), "]")
	return strings.TrimSuffix(strings.ToLower(host), ".")
}

// routeKey names one path of one host; the oldest Ingress claiming it wins.
type routeKey struct {
	host  string
	exact bool
	path  string
}

// tableBuilder adds Ingresses to a new table.
type tableBuilder struct {
	t     *table
	taken map[routeKey]string // by the namespace/name of the Ingress that has it
}

func newTableBuilder() *tableBuilder {
	return &tableBuilder{
		t: &table{
			hosts:         map[string]*routes{},
			wildcards:     map[string]*routes{},
			certs:         map[string]*tls.Certificate{},
			wildcardCerts: map[string]*tls.Certificate{},
		},
		taken: map[routeKey]string{},
	}
}

// routesOf returns the routes of host ("" for any host), made on first use.
func (tb *tableBuilder) routesOf(host string) *routes {
	var m map[string]*routes
	switch {
	case host == "":
		if tb.t.anyHost == nil {
			tb.t.anyHost = &routes{exact: map[string]*backend{}}
		}
		return tb.t.anyHost
	case strings.HasPrefix(host, "*."):
		m, host = tb.t.wildcards, host[2:]
	default:
		m = tb.t.hosts
	}
	r := m[host]
	if r == nil {
		r = &routes{exact: map[string]*backend{}}
		m[host] = r
	}
	return r
}

// addPath adds one path of host unless an older Ingress has it; it returns
// the Ingress that has it, "" if it was free.
func (tb *tableBuilder) addPath(host string, pathType networkingv1.PathType, path string, b *backend, owner string) string {
	exact := pathType == networkingv1.PathTypeExact
	if !exact {
		// Prefix, and ImplementationSpecific treated as Prefix.
		path = trimPrefix(path)
	}
	k := routeKey{host: host, exact: exact, path: path}
	if o, ok := tb.taken[k]; ok {
		return o
	}
	tb.taken[k] = owner
	r := tb.routesOf(host)
	if exact {
		r.exact[path] = b
	} else {
		r.prefixes = append(r.prefixes, prefixRoute{prefix: path, backend: b})
	}
	return ""
}

// addCertificate serves cert for host unless an older Ingress's is there.
func (tb *tableBuilder) addCertificate(host string, cert *tls.Certificate) {
	m := tb.t.certs
	if strings.HasPrefix(host, "*.") {
		m, host = tb.t.wildcardCerts, host[2:]
	}
	if _, ok := m[host]; !ok {
		m[host] = cert
	}
}

// finish sorts the prefixes and returns the table.
func (tb *tableBuilder) finish() *table {
	sortPrefixes := func(r *routes) {
		if r == nil {
			return
		}
		slices.SortFunc(r.prefixes, func(a, b prefixRoute) int {
			if d := len(b.prefix) - len(a.prefix); d != 0 {
				return d
			}
			return strings.Compare(a.prefix, b.prefix)
		})
	}
	for _, r := range tb.t.hosts {
		sortPrefixes(r)
	}
	for _, r := range tb.t.wildcards {
		sortPrefixes(r)
	}
	sortPrefixes(tb.t.anyHost)
	return tb.t
}
