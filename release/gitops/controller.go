package gitops

import (
	"context"
	"crypto/sha256"
	"encoding/hex"
	"errors"
	"fmt"
	"io/fs"
	"log/slog"
	"maps"
	"os"
	"path/filepath"
	"slices"
	"sync"
	"time"

	apierrors "k8s.io/apimachinery/pkg/api/errors"
	"k8s.io/apimachinery/pkg/api/meta"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/apis/meta/v1/unstructured"
	"k8s.io/client-go/dynamic"
	"k8s.io/client-go/dynamic/dynamicinformer"
	"k8s.io/client-go/tools/cache"
	"k8s.io/client-go/util/workqueue"

	"berth.dev/berth/release/gitops/checkout"
)

// ControllerConfig configures the GitOps controller of berth server.
type ControllerConfig struct {
	// Reconciler reconciles the Releases; it also reads the Secrets of
	// GitSource credentials through its Client.
	Reconciler *Reconciler
	Dynamic    dynamic.Interface
	// CacheDir holds the checkouts of the GitSources.
	CacheDir string
	// Workers is how many Releases are reconciled at once (default 4).
	Workers int
	Log     *slog.Logger
}

// Controller fetches GitSources, applies the Releases and Namespaces they
// declare (pruning those a new commit drops), and reconciles every Release,
// Git-sourced or applied by hand, each at its interval and at once on a
// change or a `berth reconcile`.
type Controller struct {
	cfg      ControllerConfig
	log      *slog.Logger
	store    *Store
	sources  cache.SharedIndexInformer
	releases cache.SharedIndexInformer
	factory  dynamicinformer.DynamicSharedInformerFactory
	sourceQ  workqueue.TypedRateLimitingInterface[string]
	releaseQ workqueue.TypedRateLimitingInterface[string]

	mu sync.Mutex
	// snapshots maps a GitSource's SourceID to the directory holding the
	// files of the commit it applied last: Releases read their charts there
	// while the next fetch goes on in the checkout.
	snapshots map[string]snapshot
}

type snapshot struct{ dir, commit string }

// NewController returns a Controller; Run starts it.
func NewController(cfg ControllerConfig) (*Controller, error) {
	if cfg.Reconciler == nil || cfg.Dynamic == nil || cfg.CacheDir == "" {
		return nil, errors.New("gitops controller: reconciler, dynamic client and cache directory are required")
	}
	if cfg.Workers <= 0 {
		cfg.Workers = 4
	}
	if cfg.Log == nil {
		cfg.Log = slog.Default()
	}
	factory := dynamicinformer.NewDynamicSharedInformerFactory(cfg.Dynamic, 0)
	c := &Controller{
		cfg:       cfg,
		log:       cfg.Log.With("component", "gitops"),
		store:     NewStore(cfg.Dynamic, "berth-gitops"),
		factory:   factory,
		sources:   factory.ForResource(GitSourcesResource()).Informer(),
		releases:  factory.ForResource(ReleasesResource()).Informer(),
		sourceQ:   workqueue.NewTypedRateLimitingQueueWithConfig(workqueue.DefaultTypedControllerRateLimiter[string](), workqueue.TypedRateLimitingQueueConfig[string]{Name: "gitsources"}),
		releaseQ:  workqueue.NewTypedRateLimitingQueueWithConfig(workqueue.DefaultTypedControllerRateLimiter[string](), workqueue.TypedRateLimitingQueueConfig[string]{Name: "releases"}),
		snapshots: map[string]snapshot{},
	}
	for _, h := range []struct {
		inf cache.SharedIndexInformer
		q   workqueue.TypedRateLimitingInterface[string]
	}{{c.sources, c.sourceQ}, {c.releases, c.releaseQ}} {
		q := h.q
		_, err := h.inf.AddEventHandler(cache.ResourceEventHandlerFuncs{
			AddFunc: func(obj any) { enqueue(q, obj) },
			UpdateFunc: func(old, cur any) {
				// Status writes, ours included, are no reason to act.
				if wantsAction(old, cur) {
					enqueue(q, cur)
				}
			},
			DeleteFunc: func(obj any) { enqueue(q, obj) },
		})
		if err != nil {
			return nil, fmt.Errorf("gitops controller: %w", err)
		}
	}
	return c, nil
}

func enqueue(q workqueue.TypedRateLimitingInterface[string], obj any) {
	if key, err := cache.DeletionHandlingMetaNamespaceKeyFunc(obj); err == nil {
		q.Add(key)
	}
}

// wantsAction says whether an update changed what the object asks for: its
// spec (generation), labels, annotations or deletion.
func wantsAction(old, cur any) bool {
	o, ok1 := old.(*unstructured.Unstructured)
	n, ok2 := cur.(*unstructured.Unstructured)
	if !ok1 || !ok2 {
		return true
	}
	return o.GetGeneration() != n.GetGeneration() || !maps.Equal(o.GetLabels(), n.GetLabels()) ||
		!maps.Equal(o.GetAnnotations(), n.GetAnnotations()) || (o.GetDeletionTimestamp() == nil) != (n.GetDeletionTimestamp() == nil)
}

// Run runs the controller until ctx ends.
func (c *Controller) Run(ctx context.Context) error {
	defer c.sourceQ.ShutDown()
	defer c.releaseQ.ShutDown()
	c.factory.Start(ctx.Done())
	if !cache.WaitForCacheSync(ctx.Done(), c.sources.HasSynced, c.releases.HasSynced) {
		return ctx.Err()
	}
	var wg sync.WaitGroup
	worker := func(q workqueue.TypedRateLimitingInterface[string], sync func(context.Context, string) (time.Duration, error)) {
		defer wg.Done()
		for {
			key, shutdown := q.Get()
			if shutdown {
				return
			}
			after, err := sync(ctx, key)
			switch {
			case err != nil:
				c.log.Error("reconciling", "key", key, "err", err)
				q.AddRateLimited(key)
			case after > 0:
				q.Forget(key)
				q.AddAfter(key, after)
			default:
				q.Forget(key)
			}
			q.Done(key)
		}
	}
	wg.Add(1 + c.cfg.Workers)
	go worker(c.sourceQ, c.syncSource)
	for range c.cfg.Workers {
		go worker(c.releaseQ, c.syncRelease)
	}
	<-ctx.Done()
	c.sourceQ.ShutDown()
	c.releaseQ.ShutDown()
	wg.Wait()
	c.factory.Shutdown()
	return nil
}

// syncSource fetches a GitSource and applies what its commit declares.
func (c *Controller) syncSource(ctx context.Context, key string) (time.Duration, error) {
	obj, exists, err := c.sources.GetIndexer().GetByKey(key)
	if err != nil || !exists {
		return 0, err
	}
	src := &GitSource{}
	if err := FromUnstructured(obj.(*unstructured.Unstructured), src); err != nil {
		return 0, err
	}
	if src.Spec.Suspend || src.DeletionTimestamp != nil {
		return 0, nil
	}
	interval := src.IntervalOrDefault()
	src.Status.LastHandledReconcileAt = src.Annotations[ReconcileRequestAnnotation]
	snap, err := c.fetch(ctx, src)
	if err != nil {
		return interval, c.sourceStatus(ctx, src, metav1.ConditionFalse, ReasonFetchFailed, err.Error())
	}
	src.Status.LastFetchedCommit = snap.commit
	m, err := ReadManifests(snap.dir, src.Spec.Path, src.Namespace)
	if err != nil {
		// A broken commit changes nothing: what the last good one applied
		// stays, and is reconciled from its own files.
		return interval, c.sourceStatus(ctx, src, metav1.ConditionFalse, ReasonInvalidManifests,
			fmt.Sprintf("commit %.12s: %v", snap.commit, err))
	}
	syncer := &Syncer{Reconciler: c.cfg.Reconciler, Store: c.store, Client: c.cfg.Reconciler.Client, SourceID: SourceID(src.Namespace, src.Name)}
	applied, err := syncer.Apply(ctx, m, src.PruneOrDefault())
	if err != nil {
		return interval, c.sourceStatus(ctx, src, metav1.ConditionFalse, ReasonFailed, err.Error())
	}
	c.mu.Lock()
	id := SourceID(src.Namespace, src.Name)
	old := c.snapshots[id]
	c.snapshots[id] = snap
	c.mu.Unlock()
	if old.dir != "" && old.dir != snap.dir {
		os.RemoveAll(old.dir)
	}
	names := make([]string, 0, len(applied))
	for _, r := range applied {
		names = append(names, r.Namespace+"/"+r.Name)
		if old.commit != snap.commit {
			// A new commit may change a chart in Git and not the Release.
			c.releaseQ.Add(r.Namespace + "/" + r.Name)
		}
	}
	src.Status.LastAppliedCommit, src.Status.Releases = snap.commit, names
	return interval, c.sourceStatus(ctx, src, metav1.ConditionTrue, ReasonSucceeded,
		fmt.Sprintf("applied %d Releases from commit %.12s", len(applied), snap.commit))
}

// fetch updates the GitSource's checkout and returns a snapshot of the
// fetched commit's files.
func (c *Controller) fetch(ctx context.Context, src *GitSource) (snapshot, error) {
	var auth checkout.Auth
	if src.Spec.SecretRef != nil {
		sec, err := c.cfg.Reconciler.Client.CoreV1().Secrets(src.Namespace).Get(ctx, src.Spec.SecretRef.Name, metav1.GetOptions{})
		if err != nil {
			return snapshot{}, fmt.Errorf("reading the credentials of GitSource %s/%s: %w", src.Namespace, src.Name, err)
		}
		if auth, err = checkout.AuthFromSecret(sec.Data); err != nil {
			return snapshot{}, fmt.Errorf("Secret %s/%s: %w", src.Namespace, src.Spec.SecretRef.Name, err)
		}
	}
	var ref checkout.Ref
	if r := src.Spec.Ref; r != nil {
		ref = checkout.Ref{Branch: r.Branch, Tag: r.Tag, Commit: r.Commit}
	}
	base := filepath.Join(c.cfg.CacheDir, src.Namespace, src.Name)
	res, err := checkout.Fetch(ctx, checkout.Options{URL: src.Spec.URL, Ref: ref, Auth: auth, Dir: filepath.Join(base, "checkout")})
	if err != nil {
		return snapshot{}, err
	}
	dir := filepath.Join(base, "commit-"+res.Commit)
	if _, err := os.Stat(dir); err == nil {
		return snapshot{dir: dir, commit: res.Commit}, nil
	}
	if err := copyTree(res.Dir, dir); err != nil {
		os.RemoveAll(dir)
		return snapshot{}, fmt.Errorf("keeping the files of commit %.12s: %w", res.Commit, err)
	}
	return snapshot{dir: dir, commit: res.Commit}, nil
}

// copyTree copies a worktree's files, without .git, into a new directory.
func copyTree(from, to string) error {
	return filepath.WalkDir(from, func(p string, d fs.DirEntry, err error) error {
		if err != nil {
			return err
		}
		rel, err := filepath.Rel(from, p)
		if err != nil {
			return err
		}
		if d.IsDir() && d.Name() == ".git" {
			return fs.SkipDir
		}
		target := filepath.Join(to, rel)
		switch {
		case d.IsDir():
			return os.MkdirAll(target, 0o755)
		case d.Type()&fs.ModeSymlink != 0:
			link, err := os.Readlink(p)
			if err != nil {
				return err
			}
			return os.Symlink(link, target)
		}
		b, err := os.ReadFile(p)
		if err != nil {
			return err
		}
		return os.WriteFile(target, b, 0o644)
	})
}

func (c *Controller) sourceStatus(ctx context.Context, src *GitSource, status metav1.ConditionStatus, reason, msg string) error {
	meta.SetStatusCondition(&src.Status.Conditions, metav1.Condition{Type: ConditionReady, Status: status, Reason: reason, Message: truncate(msg), ObservedGeneration: src.Generation})
	src.Status.ObservedGeneration = src.Generation
	u, err := ToUnstructured(src)
	if err != nil {
		return err
	}
	_, err = c.cfg.Dynamic.Resource(GitSourcesResource()).Namespace(src.Namespace).UpdateStatus(ctx, u, metav1.UpdateOptions{})
	if apierrors.IsNotFound(err) || apierrors.IsConflict(err) {
		return nil // gone, or changed: its next event brings it back
	}
	if err != nil {
		return fmt.Errorf("writing the status of GitSource %s/%s: %w", src.Namespace, src.Name, err)
	}
	return nil
}

// syncRelease reconciles one Release, or finalizes one being deleted.
func (c *Controller) syncRelease(ctx context.Context, key string) (time.Duration, error) {
	obj, exists, err := c.releases.GetIndexer().GetByKey(key)
	if err != nil || !exists {
		return 0, err
	}
	rel, err := decode(obj.(*unstructured.Unstructured).DeepCopy())
	if err != nil {
		return 0, err
	}
	syncer := &Syncer{Reconciler: c.cfg.Reconciler, Store: c.store, Client: c.cfg.Reconciler.Client}
	if rel.DeletionTimestamp != nil {
		if !slices.Contains(rel.Finalizers, Finalizer) {
			return 0, nil
		}
		return 0, syncer.Finalize(ctx, rel)
	}
	if !slices.Contains(rel.Finalizers, Finalizer) {
		// A Release applied by hand: uninstall it when it goes.
		return 0, c.store.AddFinalizer(ctx, rel)
	}
	var src Source
	if id := rel.Labels[SourceLabel]; id != "" {
		snap, ok := c.snapshotOf(id)
		if !ok {
			return 5 * time.Second, nil // its GitSource has not been fetched yet
		}
		src = Source{Root: snap.dir, Commit: snap.commit}
	}
	before := rel.Status.DeepCopy()
	o := syncer.ReconcileOne(ctx, rel, src, nil)
	if !sameJSON(before, &rel.Status) {
		if _, err := c.store.UpdateStatus(ctx, rel); err != nil {
			if apierrors.IsConflict(err) || apierrors.IsNotFound(err) {
				return time.Second, nil
			}
			return 0, err
		}
	}
	if o.Action == ActionWaiting {
		return 5 * time.Second, nil
	}
	return o.RequeueAfter, nil
}

// snapshotOf finds the files of the commit the GitSource with id applied.
func (c *Controller) snapshotOf(id string) (snapshot, bool) {
	c.mu.Lock()
	defer c.mu.Unlock()
	s, ok := c.snapshots[id]
	return s, ok
}

// SourceID is the SourceLabel value of the Releases of GitSource
// namespace/name, hashed when too long for a label.
func SourceID(namespace, name string) string {
	id := namespace + "." + name
	if len(id) <= 63 {
		return id
	}
	sum := sha256.Sum256([]byte(id))
	return namespace[:min(len(namespace), 40)] + "." + hex.EncodeToString(sum[:10])
}
