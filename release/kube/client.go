package kube

import (
	"context"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"time"

	"k8s.io/apimachinery/pkg/api/meta"
	"k8s.io/apimachinery/pkg/apis/meta/v1/unstructured"
	"k8s.io/apimachinery/pkg/runtime/schema"
	"k8s.io/client-go/discovery"
	"k8s.io/client-go/discovery/cached/memory"
	"k8s.io/client-go/dynamic"
	"k8s.io/client-go/kubernetes"
	"k8s.io/client-go/rest"
	"k8s.io/client-go/restmapper"
)

// DefaultFieldManager is the field manager berth applies objects as.
const DefaultFieldManager = "berth"

// pollInterval is how often Wait and RunHooks re-read objects when no watch
// event arrives: the fallback for servers or kinds whose watches fail.
const pollInterval = 2 * time.Second

// Client applies objects through the API server of a rest.Config. It is safe
// for concurrent use.
type Client struct {
	dynamic dynamic.Interface
	// watcher watches what Wait waits for, and typed reads what statuses
	// tell beyond the objects themselves (pods, ReplicaSets, Endpoints, events,
	// container logs). Both drop the server's warnings: a deprecated version
	// of an object was warned of when it was applied, and those of what
	// statuses read (v1 Endpoints) say nothing about a chart; printed at each
	// read they would also break the progress a terminal redraws.
	watcher      dynamic.Interface
	typed        kubernetes.Interface
	mapper       mapper
	fieldManager string
	log          *slog.Logger
	now          func() time.Time
}

// mapper maps kinds to resources; Reset forgets what it learnt so that kinds
// added since (new CRDs) are found.
type mapper interface {
	RESTMappingWithContext(ctx context.Context, gk schema.GroupKind, versions ...string) (*meta.RESTMapping, error)
	ResetWithContext(ctx context.Context)
}

type options struct {
	fieldManager string
	log          *slog.Logger
	now          func() time.Time
}

// Option configures a Client.
type Option func(*options) error

// WithFieldManager sets the field manager of server-side apply (default "berth").
func WithFieldManager(name string) Option {
	return func(o *options) error {
		if name == "" {
			return errors.New("field manager must not be empty")
		}
		o.fieldManager = name
		return nil
	}
}

// WithLogger sets where the client logs what it does (default: nowhere).
func WithLogger(log *slog.Logger) Option {
	return func(o *options) error {
		if log == nil {
			return errors.New("logger must not be nil")
		}
		o.log = log
		return nil
	}
}

// WithClock sets the clock hooks' LastRun times are read from (default time.Now).
func WithClock(now func() time.Time) Option {
	return func(o *options) error {
		if now == nil {
			return errors.New("clock must not be nil")
		}
		o.now = now
		return nil
	}
}

// New returns a Client for the API server of config: a dynamic client and a
// REST mapper backed by discovery, cached in memory and reset whenever a kind is
// not found, so that kinds of newly installed CRDs are found.
func New(config *rest.Config, opts ...Option) (*Client, error) {
	if config == nil {
		return nil, errors.New("creating kube client: no rest config")
	}
	o := options{
		fieldManager: DefaultFieldManager,
		log:          slog.New(slog.NewTextHandler(io.Discard, nil)),
		now:          time.Now,
	}
	for _, opt := range opts {
		if err := opt(&o); err != nil {
			return nil, fmt.Errorf("creating kube client: %w", err)
		}
	}
	dyn, err := dynamic.NewForConfig(config)
	if err != nil {
		return nil, fmt.Errorf("creating kube client: %w", err)
	}
	quiet := rest.CopyConfig(config)
	quiet.WarningHandler = rest.NoWarnings{}
	watcher, err := dynamic.NewForConfig(quiet)
	if err != nil {
		return nil, fmt.Errorf("creating kube client: %w", err)
	}
	typed, err := kubernetes.NewForConfig(quiet)
	if err != nil {
		return nil, fmt.Errorf("creating kube client: %w", err)
	}
	disc, err := discovery.NewDiscoveryClientForConfig(config)
	if err != nil {
		return nil, fmt.Errorf("creating discovery client: %w", err)
	}
	cached := memory.NewMemCacheClientWithContext(discovery.ToDiscoveryInterfaceWithContext(disc))
	return &Client{
		dynamic:      dyn,
		watcher:      watcher,
		typed:        typed,
		mapper:       restmapper.NewDeferredDiscoveryRESTMapperWithContext(cached),
		fieldManager: o.fieldManager,
		log:          o.log,
		now:          o.now,
	}, nil
}

// mapping finds the resource of a kind, forgetting cached discovery and asking
// again once when the kind is unknown (it may come from a CRD installed since).
func (c *Client) mapping(ctx context.Context, gvk schema.GroupVersionKind) (*meta.RESTMapping, error) {
	m, err := c.mapper.RESTMappingWithContext(ctx, gvk.GroupKind(), gvk.Version)
	if err != nil && meta.IsNoMatchError(err) {
		c.mapper.ResetWithContext(ctx)
		m, err = c.mapper.RESTMappingWithContext(ctx, gvk.GroupKind(), gvk.Version)
	}
	return m, err
}

// resetMapper forgets cached discovery.
func (c *Client) resetMapper(ctx context.Context) { c.mapper.ResetWithContext(ctx) }

// resource returns the dynamic client of an object's resource and namespace.
func (c *Client) resource(o Object) dynamic.ResourceInterface {
	r := c.dynamic.Resource(o.Mapping.Resource)
	if o.Mapping.Scope.Name() == meta.RESTScopeNameNamespace {
		return r.Namespace(o.GetNamespace())
	}
	return r
}

// get reads an object's live state.
func (c *Client) get(ctx context.Context, o Object) (*unstructured.Unstructured, error) {
	return c.resource(o).Get(ctx, o.GetName(), getOptions)
}
