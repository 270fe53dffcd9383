package ingress

import (
	"context"
	"crypto/tls"
	"log/slog"
	"net/netip"
	"slices"
	"strings"
	"sync/atomic"

	corev1 "k8s.io/api/core/v1"
	networkingv1 "k8s.io/api/networking/v1"
	"k8s.io/apimachinery/pkg/labels"
	"k8s.io/apimachinery/pkg/types"
	corelisters "k8s.io/client-go/listers/core/v1"
	networkinglisters "k8s.io/client-go/listers/networking/v1"
	"k8s.io/client-go/tools/cache"
	"k8s.io/client-go/tools/record"
)

// builder turns the informer caches into tables. Only one goroutine at a
// time builds (Run's), so the state it carries from build to build needs no
// lock.
type builder struct {
	classes   func() classSet
	ingresses networkinglisters.IngressLister
	services  corelisters.ServiceLister
	slices    cache.Indexer
	secrets   *tlsSecrets
	recorder  record.EventRecorder
	log       *slog.Logger

	// counters are the round-robin counters of the last table's backends.
	counters map[string]*atomic.Uint64
	// certs are the last table's parsed certificates by Secret, so that a
	// rebuild for an endpoint change does not parse every key again.
	certs map[string]parsedSecret
	// problems are the TLS Secret problems reported for the last table,
	// so each is logged and recorded once, not on every rebuild.
	problems map[string]string
}

// problem is something wrong with an Ingress that its owner should hear of.
type problem struct {
	ing *networkingv1.Ingress
	msg string
}

// build makes a table of the Ingresses that are ours, oldest first so
// that the oldest Ingress wins a path or host two of them claim (as in
// ingress-nginx). The Secrets they name in spec.tls are watched from then
// on, and no others.
func (b *builder) build(ctx context.Context) *table {
	classes := b.classes()
	all, err := b.ingresses.List(labels.Everything())
	if err != nil {
		b.log.Error("listing Ingresses", "err", err)
	}
	var ings []*networkingv1.Ingress
	for _, ing := range all {
		if classes.owns(ing) {
			ings = append(ings, ing)
		}
	}
	slices.SortFunc(ings, func(a, b *networkingv1.Ingress) int {
		if c := a.CreationTimestamp.Compare(b.CreationTimestamp.Time); c != 0 {
			return c
		}
		if c := strings.Compare(a.Namespace, b.Namespace); c != 0 {
			return c
		}
		return strings.Compare(a.Name, b.Name)
	})

	b.secrets.want(tlsSecretsOf(ings))
	s := &buildState{
		ctx:      ctx,
		b:        b,
		tb:       newTableBuilder(),
		backends: map[string]*backend{},
		certs:    map[string]parsedSecret{},
		problems: map[string]problem{},
	}
	for _, ing := range ings {
		s.add(ing)
	}
	t := s.tb.finish()
	t.ingresses = len(ings)
	t.routed = map[netip.Addr]bool{}
	for _, be := range s.backends {
		for _, a := range be.addrs {
			if ap, err := netip.ParseAddrPort(a); err == nil {
				t.routed[ap.Addr().Unmap()] = true
			}
		}
	}

	b.counters = map[string]*atomic.Uint64{}
	for name, be := range s.backends {
		b.counters[name] = be.next
	}
	b.certs = s.certs
	b.report(s.problems)
	return t
}

// report logs and records the problems that are new since the last build.
func (b *builder) report(now map[string]problem) {
	reported := make(map[string]string, len(now))
	for k, p := range now {
		reported[k] = p.msg
		if b.problems[k] == p.msg {
			continue
		}
		b.log.Warn("Ingress TLS certificate not served; hosts get the fallback certificate",
			"ingress", p.ing.Namespace+"/"+p.ing.Name, "problem", p.msg)
		if b.recorder != nil {
			b.recorder.Event(p.ing, corev1.EventTypeWarning, "InvalidTLSSecret", p.msg)
		}
	}
	b.problems = reported
}

// tlsSecretsOf lists the Secrets that ings name in spec.tls.
func tlsSecretsOf(ings []*networkingv1.Ingress) map[types.NamespacedName]bool {
	keys := map[types.NamespacedName]bool{}
	for _, ing := range ings {
		for _, t := range ing.Spec.TLS {
			if t.SecretName != "" {
				keys[types.NamespacedName{Namespace: ing.Namespace, Name: t.SecretName}] = true
			}
		}
	}
	return keys
}

// buildState is one build in progress.
type buildState struct {
	ctx      context.Context // for the GETs of Secrets not yet watched
	b        *builder
	tb       *tableBuilder
	backends map[string]*backend
	certs    map[string]parsedSecret
	problems map[string]problem
}

// add puts one Ingress's default backend, rules and certificates into the
// table.
func (s *buildState) add(ing *networkingv1.Ingress) {
	key := ing.Namespace + "/" + ing.Name
	log := s.b.log.With("ingress", key)
	if db := ing.Spec.DefaultBackend; db != nil && s.tb.t.defaultBackend == nil {
		s.tb.t.defaultBackend = s.backend(ing.Namespace, db, log)
	}
	for _, rule := range ing.Spec.Rules {
		if rule.HTTP == nil {
			continue
		}
		host := strings.ToLower(rule.Host)
		for _, p := range rule.HTTP.Paths {
			path := p.Path
			if path == "" {
				path = "/"
			}
			if !strings.HasPrefix(path, "/") {
				log.Debug("skipping path that does not start with /", "host", host, "path", path)
				continue
			}
			pathType := networkingv1.PathTypeImplementationSpecific
			if p.PathType != nil {
				pathType = *p.PathType
			}
			be := s.backend(ing.Namespace, &p.Backend, log)
			if be == nil {
				continue
			}
			if owner := s.tb.addPath(host, pathType, path, be, key); owner != "" {
				log.Debug("path already routed by an older Ingress", "host", host, "path", path, "pathType", pathType, "owner", owner)
			}
		}
	}
	for _, t := range ing.Spec.TLS {
		if t.SecretName == "" {
			continue
		}
		hosts := t.Hosts
		if len(hosts) == 0 {
			// No hosts means the Ingress's own.
			for _, r := range ing.Spec.Rules {
				if r.Host != "" {
					hosts = append(hosts, r.Host)
				}
			}
		}
		cert, err := s.certificate(ing.Namespace, t.SecretName)
		if err != nil {
			s.problems[key+"/"+t.SecretName] = problem{ing: ing, msg: err.Error()}
			continue
		}
		for _, h := range hosts {
			s.tb.addCertificate(strings.ToLower(h), cert)
		}
	}
}

// backend returns the backend of ib in ns, one per Service port in a
// table so that round robin spans every path sending to it; nil for
// backends that are not Services.
func (s *buildState) backend(ns string, ib *networkingv1.IngressBackend, log *slog.Logger) *backend {
	sb := ib.Service
	if sb == nil {
		log.Debug("skipping backend that is not a Service", "resource", ib.Resource)
		return nil
	}
	name := backendName(ns, sb)
	if be := s.backends[name]; be != nil {
		return be
	}
	addrs, why := s.b.resolve(ns, sb)
	next := s.b.counters[name]
	if next == nil {
		next = new(atomic.Uint64)
	}
	be := &backend{name: name, addrs: addrs, why: why, next: next}
	s.backends[name] = be
	return be
}

// certificate returns the parsed certificate of Secret ns/name, from the
// last build if its data has not changed.
func (s *buildState) certificate(ns, name string) (*tls.Certificate, error) {
	key := ns + "/" + name
	if p, ok := s.certs[key]; ok {
		return p.cert, p.err
	}
	secret, err := s.b.secrets.get(s.ctx, ns, name)
	if err != nil {
		return nil, secretError(ns, name, err)
	}
	p, ok := s.b.certs[key]
	if !ok || !p.sameData(secret) {
		p = parseSecret(secret)
	}
	s.certs[key] = p
	return p.cert, p.err
}
