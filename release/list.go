package release

import (
	"context"
	"errors"
	"fmt"
	"regexp"
	"sort"

	"helm.sh/helm/v3/pkg/release"

	"berth.dev/berth/release/storage"
)

// List lists releases, each by its newest revision, from the index alone: no
// revision body is read, however many releases and revisions there are.
type List struct {
	cfg *Config

	Namespace     string
	AllNamespaces bool
	// Statuses keeps releases whose newest revision has one of them; empty
	// means Helm's default, deployed and failed. All keeps every status.
	Statuses []release.Status
	All      bool
	Filter   string // a regular expression on names
	ByDate   bool
	Reverse  bool
	Limit    int
	Offset   int
}

// NewList returns a list with Helm's defaults.
func NewList(cfg *Config) *List { return &List{cfg: cfg, Namespace: "default"} }

// Run lists the releases.
func (l *List) Run(ctx context.Context) ([]storage.Summary, error) {
	var filter *regexp.Regexp
	if l.Filter != "" {
		var err error
		if filter, err = regexp.Compile(l.Filter); err != nil {
			return nil, fmt.Errorf("invalid --filter %q: %w", l.Filter, err)
		}
	}
	namespace := l.Namespace
	if l.AllNamespaces {
		namespace = ""
	}
	heads, err := l.cfg.Store.Heads(ctx, namespace)
	if err != nil {
		return nil, err
	}
	var latest []storage.Summary
	for _, r := range heads {
		if filter != nil && !filter.MatchString(r.Name) || !l.wants(r.Status) {
			continue
		}
		latest = append(latest, r)
	}
	sort.SliceStable(latest, func(i, j int) bool {
		a, b := latest[i], latest[j]
		if l.ByDate {
			return a.Updated.Before(b.Updated)
		}
		return a.Name < b.Name
	})
	if l.Reverse {
		for i, j := 0, len(latest)-1; i < j; i, j = i+1, j-1 {
			latest[i], latest[j] = latest[j], latest[i]
		}
	}
	if l.Offset > 0 {
		latest = latest[min(l.Offset, len(latest)):]
	}
	if l.Limit > 0 && len(latest) > l.Limit {
		latest = latest[:l.Limit]
	}
	return latest, nil
}

func (l *List) wants(s release.Status) bool {
	if l.All {
		return true
	}
	statuses := l.Statuses
	if len(statuses) == 0 {
		statuses = []release.Status{release.StatusDeployed, release.StatusFailed}
	}
	for _, want := range statuses {
		if s == want {
			return true
		}
	}
	return false
}

// History lists the revisions of a release, oldest first, at most max (0: all)
// of the newest.
func (c *Config) History(ctx context.Context, namespace, name string, max int) ([]storage.Summary, error) {
	history, err := c.Store.History(ctx, namespace, name)
	if errors.Is(err, storage.ErrNotFound) {
		return nil, notFound(namespace, name)
	}
	if err != nil {
		return nil, err
	}
	if max > 0 && len(history) > max {
		history = history[len(history)-max:]
	}
	return history, nil
}

// Get reads a revision of a release (0: the newest).
func (c *Config) Get(ctx context.Context, namespace, name string, revision int) (*release.Release, error) {
	if revision == 0 {
		rel, _, err := c.latest(ctx, namespace, name)
		return rel, err
	}
	rel, err := c.Store.Get(ctx, namespace, name, revision)
	if errors.Is(err, storage.ErrNotFound) {
		return nil, fmt.Errorf("%w: %q revision %d in namespace %q", ErrReleaseNotFound, name, revision, namespace)
	}
	return rel, err
}
