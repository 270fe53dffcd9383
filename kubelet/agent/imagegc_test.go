package agent

import (
	"context"
	"io"
	"log/slog"
	"reflect"
	"sort"
	"testing"

	digest "github.com/opencontainers/go-digest"
	ocispec "github.com/opencontainers/image-spec/specs-go/v1"
	corev1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	corelisters "k8s.io/client-go/listers/core/v1"
	"k8s.io/client-go/tools/cache"

	"berth.dev/berth/kubelet/images"
)

// gcStore is a store whose disk usage the test sets and whose Prune records
// what it was asked and which of its images the caller said were in use.
type gcStore struct {
	usage  images.DiskUsage
	images map[string]images.Image
	asked  int64
	spared []string
	pruned bool
}

func (s *gcStore) DiskUsage(context.Context) (images.DiskUsage, error) { return s.usage, nil }

func (s *gcStore) Get(_ context.Context, ref string) (images.Image, error) {
	if img, ok := s.images[ref]; ok {
		return img, nil
	}
	return images.Image{}, images.ErrNotFound
}

func (s *gcStore) Prune(_ context.Context, bytes int64, inUse func(images.Image) bool) ([]string, images.GCResult, error) {
	s.pruned, s.asked = true, bytes
	for name, img := range s.images {
		if inUse(img) {
			s.spared = append(s.spared, name)
		}
	}
	sort.Strings(s.spared)
	return nil, images.GCResult{}, nil
}

func image(name string) images.Image {
	return images.Image{Name: name, ConfigDescriptor: ocispec.Descriptor{Digest: digest.FromString(name)}}
}

func TestImageGC(t *testing.T) {
	pods := cache.NewIndexer(cache.MetaNamespaceKeyFunc, cache.Indexers{})
	_ = pods.Add(&corev1.Pod{ObjectMeta: metav1.ObjectMeta{Name: "web", Namespace: "a"}, Spec: corev1.PodSpec{
		InitContainers: []corev1.Container{{Image: "init:1"}},
		Containers:     []corev1.Container{{Image: "web:1"}, {Image: "missing:1"}},
	}})
	store := &gcStore{images: map[string]images.Image{"init:1": image("init:1"), "web:1": image("web:1"), "old:1": image("old:1")}}
	gc := &imageGC{store: store, pods: corelisters.NewPodLister(pods), log: slog.New(slog.NewTextHandler(io.Discard, nil))}

	store.usage = images.DiskUsage{Capacity: 1000, Available: 160} // 84% used
	if _, err := gc.collect(context.Background()); err != nil || store.pruned {
		t.Fatalf("below the high threshold: pruned %v, err %v", store.pruned, err)
	}
	store.usage = images.DiskUsage{Capacity: 1000, Available: 100} // 90% used
	if _, err := gc.collect(context.Background()); err != nil || !store.pruned {
		t.Fatalf("above the high threshold: pruned %v, err %v", store.pruned, err)
	}
	if store.asked != 100 {
		t.Errorf("asked to free %d bytes, want 100 (from 90%% down to 80%%)", store.asked)
	}
	if want := []string{"init:1", "web:1"}; !reflect.DeepEqual(store.spared, want) {
		t.Errorf("images spared: %v, want the pods' %v", store.spared, want)
	}
}
