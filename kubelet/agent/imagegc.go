package agent

import (
	"context"
	"log/slog"
	"time"

	corev1 "k8s.io/api/core/v1"
	"k8s.io/apimachinery/pkg/labels"
	corelisters "k8s.io/client-go/listers/core/v1"

	"berth.dev/berth/kubelet/images"
)

// Image garbage collection thresholds, upstream's defaults: above 85% of the
// image file system in use, unused images go, least recently stored first,
// until 80% is.
const (
	imageGCHighPercent = 85
	imageGCLowPercent  = 80
	imageGCPeriod      = 5 * time.Minute
)

// imageStore is what image garbage collection needs of the store.
type imageStore interface {
	DiskUsage(ctx context.Context) (images.DiskUsage, error)
	Prune(ctx context.Context, bytes int64, inUse func(images.Image) bool) ([]string, images.GCResult, error)
	Get(ctx context.Context, ref string) (images.Image, error)
}

// imageGC frees the image file system when it fills up, sparing the images
// of the pods bound to this node.
type imageGC struct {
	store imageStore
	pods  corelisters.PodLister
	log   *slog.Logger
}

func (g *imageGC) run(ctx context.Context) error {
	t := time.NewTicker(imageGCPeriod)
	defer t.Stop()
	for {
		select {
		case <-ctx.Done():
			return nil
		case <-t.C:
			if _, err := g.collect(ctx); err != nil {
				g.log.Warn("image garbage collection", "err", err)
			}
		}
	}
}

// collect prunes images if the file system is above the high threshold and
// returns the names removed.
func (g *imageGC) collect(ctx context.Context) ([]string, error) {
	u, err := g.store.DiskUsage(ctx)
	if err != nil || u.Capacity == 0 {
		return nil, err
	}
	used := u.Capacity - u.Available
	if used*100 < u.Capacity*imageGCHighPercent {
		return nil, nil
	}
	inUse, err := g.inUse(ctx)
	if err != nil {
		return nil, err
	}
	free := used - u.Capacity*imageGCLowPercent/100
	removed, res, err := g.store.Prune(ctx, free, func(img images.Image) bool { return inUse[img.ID().String()] })
	g.log.Info("image garbage collection", "usedPercent", used*100/u.Capacity, "removed", removed, "freedBytes", res.Bytes)
	return removed, err
}

// inUse is the ids of the images the node's pods name.
func (g *imageGC) inUse(ctx context.Context) (map[string]bool, error) {
	pods, err := g.pods.List(labels.Everything())
	if err != nil {
		return nil, err
	}
	ids := map[string]bool{}
	for _, p := range pods {
		for _, list := range [][]corev1.Container{p.Spec.InitContainers, p.Spec.Containers} {
			for _, c := range list {
				if img, err := g.store.Get(ctx, c.Image); err == nil {
					ids[img.ID().String()] = true
				}
			}
		}
	}
	return ids, nil
}
