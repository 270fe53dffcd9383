package gitops

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"maps"
	"reflect"
	"slices"
	"strings"
	"sync"

	"golang.org/x/sync/errgroup"

	corev1 "k8s.io/api/core/v1"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	"k8s.io/apimachinery/pkg/api/meta"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/labels"
	"k8s.io/client-go/kubernetes"

	"berth.dev/berth/release"
	"berth.dev/berth/release/storage"
)

// Syncer applies what a checkout declares and reconciles it once: the
// reconcile of `berth sync` and of a GitSource.
type Syncer struct {
	Reconciler *Reconciler
	Store      *Store
	Client     kubernetes.Interface
	// SourceID labels the Releases applied (SourceLabel), to prune those a
	// later checkout no longer declares.
	SourceID string
}

// SyncOptions change what a sync does.
type SyncOptions struct {
	// Prune uninstalls and deletes the Releases of SourceID the checkout no
	// longer declares.
	Prune bool
	// DryRun reads and checks everything and says what would change,
	// changing nothing.
	DryRun bool
}

// SyncResult is one Release's part in a sync.
type SyncResult struct {
	Namespace, Name string
	Outcome         Outcome
}

// Failed says whether the Release is not Ready after the sync.
func (r SyncResult) Failed() bool { return r.Outcome.Err != nil }

// Sync applies the Namespaces and Releases of m, reconciles the Releases in
// dependency order (a Release whose dependency is not Ready waits) and
// prunes. Each Release's outcome is returned; the error is for what stopped
// the whole sync.
func (s *Syncer) Sync(ctx context.Context, m *Manifests, src Source, opts SyncOptions) ([]SyncResult, error) {
	order, err := dependencyOrder(m.Releases)
	if err != nil {
		return nil, err
	}
	if opts.DryRun {
		return s.plan(ctx, order, src, opts)
	}
	applied, err := s.apply(ctx, m.Namespaces, order)
	if err != nil {
		return nil, err
	}
	if src.Heads, err = s.heads(ctx, applied); err != nil {
		return nil, err
	}
	results := make([]SyncResult, len(applied))
	ready := &readiness{known: map[string]bool{}}
	// Releases of one dependency level reconcile at once; a level waits for
	// the one before.
	for _, level := range dependencyLevels(applied) {
		g, gctx := errgroup.WithContext(ctx)
		g.SetLimit(syncWorkers)
		for _, i := range level {
			rel := applied[i]
			g.Go(func() error {
				before := rel.Status.DeepCopy()
				o := s.ReconcileOne(gctx, rel, src, ready.snapshot())
				if !sameJSON(before, &rel.Status) {
					if _, err := s.Store.UpdateStatus(gctx, rel); err != nil {
						return err
					}
				}
				ready.set(key(rel.Namespace, rel.Name), o.Err == nil)
				results[i] = SyncResult{Namespace: rel.Namespace, Name: rel.Name, Outcome: o}
				return nil
			})
		}
		if err := g.Wait(); err != nil {
			return nil, err
		}
	}
	if opts.Prune {
		pruned, err := s.prune(ctx, order)
		results = append(results, pruned...)
		if err != nil {
			return results, err
		}
	}
	return results, nil
}

// Apply applies m's Namespaces and its Releases, labelled with SourceID,
// and with prune deletes the Releases of SourceID that m no longer has
// (their finalizer keeps them until the controller has uninstalled their
// releases). It returns the applied Releases in dependency order.
func (s *Syncer) Apply(ctx context.Context, m *Manifests, prune bool) ([]*Release, error) {
	order, err := dependencyOrder(m.Releases)
	if err != nil {
		return nil, err
	}
	applied, err := s.apply(ctx, m.Namespaces, order)
	if err != nil || !prune {
		return applied, err
	}
	stale, err := s.stale(ctx, order)
	if err != nil {
		return applied, err
	}
	for _, rel := range stale {
		if rel.DeletionTimestamp == nil {
			if err := s.Store.Delete(ctx, rel); err != nil && !apierrors.IsNotFound(err) {
				return applied, err
			}
		}
	}
	return applied, nil
}

func (s *Syncer) apply(ctx context.Context, namespaces []*corev1.Namespace, order []*Release) ([]*Release, error) {
	for _, ns := range namespaces {
		if err := s.ensureNamespace(ctx, ns); err != nil {
			return nil, err
		}
	}
	existing, err := s.listOwn(ctx, order)
	if err != nil {
		return nil, err
	}
	live := map[string]*Release{}
	for _, r := range existing {
		live[key(r.Namespace, r.Name)] = r
	}
	applied := make([]*Release, 0, len(order))
	for _, want := range order {
		want.Labels = withLabel(want.Labels, SourceLabel, s.SourceID)
		if cur := live[key(want.Namespace, want.Name)]; cur != nil && upToDate(cur, want) {
			applied = append(applied, cur)
			continue
		}
		rel, err := s.Store.Apply(ctx, want)
		if err != nil {
			return applied, err
		}
		applied = append(applied, rel)
	}
	return applied, nil
}

// upToDate says whether the live Release already is what applying want
// would make it, so that an unchanged commit writes nothing.
func upToDate(live, want *Release) bool {
	if live.DeletionTimestamp != nil || !slices.Contains(live.Finalizers, Finalizer) {
		return false
	}
	for k, v := range want.Labels {
		if live.Labels[k] != v {
			return false
		}
	}
	for k, v := range want.Annotations {
		if live.Annotations[k] != v {
			return false
		}
	}
	return sameJSON(live.Spec, want.Spec)
}

// sameJSON compares two values as JSON documents, whatever the key order or
// spacing of the raw values inside them.
func sameJSON(a, b any) bool {
	var x, y any
	for _, p := range []struct {
		v   any
		out *any
	}{{a, &x}, {b, &y}} {
		raw, err := json.Marshal(p.v)
		if err != nil || json.Unmarshal(raw, p.out) != nil {
			return false
		}
	}
	return reflect.DeepEqual(x, y)
}

// heads reads the release index of the target namespaces of rels.
func (s *Syncer) heads(ctx context.Context, rels []*Release) (map[string]storage.Summary, error) {
	out := map[string]storage.Summary{}
	seen := map[string]bool{}
	for _, r := range rels {
		ns := r.TargetNamespaceOrDefault()
		if seen[ns] {
			continue
		}
		seen[ns] = true
		heads, err := s.Reconciler.Release.Store.Heads(ctx, ns)
		if err != nil {
			return nil, fmt.Errorf("reading the releases of namespace %s: %w", ns, err)
		}
		for _, h := range heads {
			out[key(h.Namespace, h.Name)] = h
		}
	}
	return out, nil
}

// syncWorkers is how many Releases of one dependency level a sync
// reconciles at once.
const syncWorkers = 8

// readiness is what a sync found of its Releases so far.
type readiness struct {
	mu    sync.Mutex
	known map[string]bool
}

func (r *readiness) set(k string, ok bool) {
	r.mu.Lock()
	defer r.mu.Unlock()
	r.known[k] = ok
}

func (r *readiness) snapshot() map[string]bool {
	r.mu.Lock()
	defer r.mu.Unlock()
	return maps.Clone(r.known)
}

// dependencyLevels groups the indices of rels (in dependency order) so that
// each Release comes in a later level than those of rels it depends on.
func dependencyLevels(rels []*Release) [][]int {
	level := map[string]int{}
	var levels [][]int
	for i, r := range rels {
		l := 0
		for _, d := range r.Spec.DependsOn {
			ns := d.Namespace
			if ns == "" {
				ns = r.Namespace
			}
			if dl, ok := level[key(ns, d.Name)]; ok {
				l = max(l, dl+1)
			}
		}
		level[key(r.Namespace, r.Name)] = l
		for len(levels) <= l {
			levels = append(levels, nil)
		}
		levels[l] = append(levels[l], i)
	}
	return levels
}

// ReconcileOne reconciles rel unless a dependency is not Ready: readyNow
// says which Releases were just found Ready or not, the others are read.
func (s *Syncer) ReconcileOne(ctx context.Context, rel *Release, src Source, readyNow map[string]bool) Outcome {
	rel.takeReconcileRequest()
	if blocked := s.blockedBy(ctx, rel, readyNow); blocked != "" {
		o := Outcome{Action: ActionWaiting, Err: errors.New(blocked), Message: blocked, Revision: rel.Status.LastAppliedRevision}
		s.Reconciler.setConditions(rel, o)
		return o
	}
	return s.Reconciler.Reconcile(ctx, rel, src)
}

// ActionPruned is the outcome of a Release the checkout no longer declares.
const ActionPruned Action = "pruned"

// prune uninstalls the releases of the Releases of SourceID that keep is
// without, and deletes them.
func (s *Syncer) prune(ctx context.Context, keep []*Release) ([]SyncResult, error) {
	stale, err := s.stale(ctx, keep)
	if err != nil {
		return nil, err
	}
	var results []SyncResult
	for _, rel := range stale {
		o := Outcome{Action: ActionPruned, Message: fmt.Sprintf("uninstalled %s/%s", rel.TargetNamespaceOrDefault(), rel.ReleaseNameOrDefault())}
		if err := s.Finalize(ctx, rel); err != nil {
			o = Outcome{Action: ActionFailed, Err: err, Message: err.Error()}
		}
		results = append(results, SyncResult{Namespace: rel.Namespace, Name: rel.Name, Outcome: o})
	}
	return results, nil
}

// listOwn lists the Releases of SourceID across the cluster or, for a user
// who may not list them there (one who holds a namespace's edit role, say),
// in each namespace of declared: what such a user no longer declares in a
// namespace declared no more is not seen, so not pruned.
func (s *Syncer) listOwn(ctx context.Context, declared []*Release) ([]*Release, error) {
	selector := labels.SelectorFromSet(labels.Set{SourceLabel: s.SourceID})
	all, err := s.Store.List(ctx, "", selector)
	if !apierrors.IsForbidden(err) {
		return all, err
	}
	all = nil
	seen := map[string]bool{}
	for _, r := range declared {
		if seen[r.Namespace] {
			continue
		}
		seen[r.Namespace] = true
		in, err := s.Store.List(ctx, r.Namespace, selector)
		if err != nil {
			return nil, err
		}
		all = append(all, in...)
	}
	return all, nil
}

// stale lists the Releases of SourceID that keep is without.
func (s *Syncer) stale(ctx context.Context, keep []*Release) ([]*Release, error) {
	all, err := s.listOwn(ctx, keep)
	if err != nil {
		return nil, err
	}
	kept := map[string]bool{}
	for _, r := range keep {
		kept[key(r.Namespace, r.Name)] = true
	}
	return slices.DeleteFunc(all, func(r *Release) bool { return kept[key(r.Namespace, r.Name)] }), nil
}

// Finalize uninstalls a Release's release (if it has one) and deletes the
// Release.
func (s *Syncer) Finalize(ctx context.Context, rel *Release) error {
	u := release.NewUninstall(s.Reconciler.Release)
	u.Namespace, u.Wait, u.Timeout = rel.TargetNamespaceOrDefault(), true, rel.TimeoutOrDefault()
	if _, err := u.Run(ctx, rel.ReleaseNameOrDefault()); err != nil && !errors.Is(err, release.ErrReleaseNotFound) {
		return fmt.Errorf("uninstalling the release of Release %s/%s: %w", rel.Namespace, rel.Name, err)
	}
	if rel.DeletionTimestamp == nil {
		if err := s.Store.Delete(ctx, rel); err != nil && !apierrors.IsNotFound(err) {
			return err
		}
	}
	current, err := s.Store.Get(ctx, rel.Namespace, rel.Name)
	if apierrors.IsNotFound(err) {
		return nil
	}
	if err != nil {
		return err
	}
	return s.Store.DropFinalizer(ctx, current)
}

// plan says what Sync would do, changing nothing.
func (s *Syncer) plan(ctx context.Context, order []*Release, src Source, opts SyncOptions) ([]SyncResult, error) {
	var results []SyncResult
	for _, rel := range order {
		o := s.Reconciler.Plan(ctx, rel, src)
		results = append(results, SyncResult{Namespace: rel.Namespace, Name: rel.Name, Outcome: o})
	}
	if opts.Prune {
		stale, err := s.stale(ctx, order)
		if err != nil {
			return results, err
		}
		for _, rel := range stale {
			results = append(results, SyncResult{Namespace: rel.Namespace, Name: rel.Name, Outcome: Outcome{Action: ActionPruned, Message: "would uninstall " + rel.TargetNamespaceOrDefault() + "/" + rel.ReleaseNameOrDefault()}})
		}
	}
	return results, nil
}

// blockedBy says which dependency of rel is not Ready, "" if none.
func (s *Syncer) blockedBy(ctx context.Context, rel *Release, readyNow map[string]bool) string {
	for _, d := range rel.Spec.DependsOn {
		ns := d.Namespace
		if ns == "" {
			ns = rel.Namespace
		}
		if ok, seen := readyNow[key(ns, d.Name)]; seen {
			if !ok {
				return fmt.Sprintf("dependency %s/%s is not ready", ns, d.Name)
			}
			continue
		}
		dep, err := s.Store.Get(ctx, ns, d.Name)
		if err != nil {
			return fmt.Sprintf("dependency %s/%s: %v", ns, d.Name, err)
		}
		if !meta.IsStatusConditionTrue(dep.Status.Conditions, ConditionReady) {
			return fmt.Sprintf("dependency %s/%s is not ready", ns, d.Name)
		}
	}
	return ""
}

// dependencyOrder sorts releases so that each comes after the ones it
// depends on among them, keeping file order otherwise; a cycle is an error
// naming it.
func dependencyOrder(rels []*Release) ([]*Release, error) {
	byKey := map[string]*Release{}
	for _, r := range rels {
		byKey[key(r.Namespace, r.Name)] = r
	}
	const (
		visiting = 1
		done     = 2
	)
	state := map[string]int{}
	var order []*Release
	var visit func(r *Release, path []string) error
	visit = func(r *Release, path []string) error {
		k := key(r.Namespace, r.Name)
		switch state[k] {
		case done:
			return nil
		case visiting:
			return fmt.Errorf("Releases depend on each other in a cycle: %s", strings.Join(append(path, k), " -> "))
		}
		state[k] = visiting
		for _, d := range r.Spec.DependsOn {
			ns := d.Namespace
			if ns == "" {
				ns = r.Namespace
			}
			if dep := byKey[key(ns, d.Name)]; dep != nil {
				if err := visit(dep, append(path, k)); err != nil {
					return err
				}
			}
		}
		state[k] = done
		order = append(order, r)
		return nil
	}
	for _, r := range rels {
		if err := visit(r, nil); err != nil {
			return nil, err
		}
	}
	return order, nil
}

func (s *Syncer) ensureNamespace(ctx context.Context, ns *corev1.Namespace) error {
	return release.EnsureNamespace(ctx, s.Client, &corev1.Namespace{ObjectMeta: metav1.ObjectMeta{Name: ns.Name, Labels: ns.Labels, Annotations: ns.Annotations}})
}

func withLabel(m map[string]string, k, v string) map[string]string {
	out := maps.Clone(m)
	if out == nil {
		out = map[string]string{}
	}
	out[k] = v
	return out
}

func key(namespace, name string) string { return namespace + "/" + name }
