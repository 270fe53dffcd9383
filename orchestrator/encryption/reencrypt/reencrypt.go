// Package reencrypt rewrites, through the API server, every stored object of the
// resources encrypted at rest, unchanged, so that the server stores each with the
// key it now encrypts with: an update that changes nothing is still written when
// the stored object was read with an older key or none (kube-apiserver's recipe,
// `kubectl get secrets -A -o json | kubectl replace -f -`). It must not read or
// write etcd or the encryption configuration (package encryption owns that).
package reencrypt

import (
	"bufio"
	"bytes"
	"context"
	"fmt"
	"strings"
	"time"

	apierrors "k8s.io/apimachinery/pkg/api/errors"
	"k8s.io/apimachinery/pkg/api/meta"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/runtime/schema"
	"k8s.io/apimachinery/pkg/util/wait"
	"k8s.io/client-go/dynamic"
	"k8s.io/client-go/rest"
)

// loadedMetric is the API server's metric whose hash label names the
// encryption configuration it encrypts with.
const loadedMetric = "apiserver_encryption_config_controller_last_config_info"

// pageSize bounds each list, so that many or large objects are never one
// response.
const pageSize = 500

// Count is what the rewrite of one resource did.
type Count struct {
	// Resource is as the encryption configuration names it.
	Resource string
	// Rewritten objects were written back unchanged; Skipped ones changed or
	// went away meanwhile, which wrote them with the current key already.
	Rewritten, Skipped int
}

// Rewrite rewrites every object of resources, named as an EncryptionConfiguration
// names them ("secrets", "releaserevisions.berth.dev"). The server must encrypt
// with the wanted key already (WaitLoaded).
func Rewrite(ctx context.Context, client dynamic.Interface, mapper meta.RESTMapper, resources []string) ([]Count, error) {
	var counts []Count
	for _, name := range resources {
		if strings.Contains(name, "*") {
			return counts, fmt.Errorf("rewriting %s: a wildcard names no resource to list; name each resource in the encryption configuration", name)
		}
		gvr, err := mapper.ResourceFor(schema.ParseGroupResource(name).WithVersion(""))
		if err != nil {
			return counts, fmt.Errorf("finding resource %s in the API: %w", name, err)
		}
		count := Count{Resource: name}
		err = rewrite(ctx, client.Resource(gvr), &count)
		counts = append(counts, count)
		if err != nil {
			return counts, err
		}
	}
	return counts, nil
}

func rewrite(ctx context.Context, resource dynamic.NamespaceableResourceInterface, count *Count) error {
	opts := metav1.ListOptions{Limit: pageSize}
	for {
		list, err := resource.List(ctx, opts)
		if err != nil {
			return fmt.Errorf("listing %s: %w", count.Resource, err)
		}
		for i := range list.Items {
			obj := &list.Items[i]
			_, err := resource.Namespace(obj.GetNamespace()).Update(ctx, obj, metav1.UpdateOptions{})
			switch {
			case err == nil:
				count.Rewritten++
			case apierrors.IsConflict(err), apierrors.IsNotFound(err):
				count.Skipped++
			default:
				return fmt.Errorf("rewriting %s %s: %w", count.Resource, objectName(obj.GetNamespace(), obj.GetName()), err)
			}
		}
		if list.GetContinue() == "" {
			return nil
		}
		opts.Continue = list.GetContinue()
	}
}

func objectName(namespace, name string) string {
	if namespace == "" {
		return name
	}
	return namespace + "/" + name
}

// WaitLoaded returns once the API server reports, in its metrics, that it
// encrypts with the encryption configuration whose content has hash, polling
// every interval until ctx ends. A server reloads its file within a minute of a
// change.
func WaitLoaded(ctx context.Context, client rest.Interface, hash string, interval time.Duration) error {
	// Why the metrics could not be read, when they never could.
	var unread error
	read := false
	err := wait.PollUntilContextCancel(ctx, interval, true, func(ctx context.Context) (bool, error) {
		raw, err := client.Get().AbsPath("/metrics").DoRaw(ctx)
		if err != nil {
			unread = err
			return false, nil
		}
		read = true
		return reportsHash(raw, hash), nil
	})
	switch {
	case err == nil:
		return nil
	case !read && unread != nil:
		return fmt.Errorf("reading the API server's metrics: %w", unread)
	}
	return fmt.Errorf("the API server has not loaded the encryption configuration with hash %s: it rereads its file every minute, but a server started without that file, or with another one, never will", hash)
}

// reportsHash says whether metrics, in Prometheus' text format, have the
// loaded-configuration metric with hash as its hash label.
func reportsHash(metrics []byte, hash string) bool {
	label := `hash="` + hash + `"`
	scanner := bufio.NewScanner(bytes.NewReader(metrics))
	scanner.Buffer(nil, 1<<20)
	for scanner.Scan() {
		line, ok := strings.CutPrefix(scanner.Text(), loadedMetric+"{")
		if !ok {
			continue
		}
		labels, _, _ := strings.Cut(line, "}")
		for l := range strings.SplitSeq(labels, ",") {
			if l == label {
				return true
			}
		}
	}
	return false
}
