// Package loop runs the workers of a controller, as every upstream controller does:
// wait for the informers' caches, then take keys from a rate-limited queue and hand
// each to the controller's sync, requeueing with back-off when sync fails. It must
// not know what a key means.
package loop

import (
	"context"
	"log/slog"
	"time"

	utilruntime "k8s.io/apimachinery/pkg/util/runtime"
	"k8s.io/apimachinery/pkg/util/wait"
	"k8s.io/client-go/tools/cache"
	"k8s.io/client-go/util/workqueue"
)

// Run processes queue with workers goroutines until ctx ends, then shuts the queue
// down. name says which controller logs.
func Run(ctx context.Context, name string, queue workqueue.TypedRateLimitingInterface[string], workers int,
	sync func(ctx context.Context, key string) error, synced ...cache.InformerSynced) {
	defer utilruntime.HandleCrash()
	defer queue.ShutDown()
	if !cache.WaitForCacheSync(ctx.Done(), synced...) {
		return
	}
	for i := 0; i < workers; i++ {
		go wait.UntilWithContext(ctx, func(ctx context.Context) {
			for next(ctx, name, queue, sync) {
			}
		}, time.Second)
	}
	<-ctx.Done()
}

func next(ctx context.Context, name string, queue workqueue.TypedRateLimitingInterface[string], sync func(context.Context, string) error) bool {
	key, quit := queue.Get()
	if quit {
		return false
	}
	defer queue.Done(key)
	if err := sync(ctx, key); err != nil {
		slog.Debug("requeueing", "controller", name, "key", key, "err", err)
		queue.AddRateLimited(key)
		return true
	}
	queue.Forget(key)
	return true
}
