package main

import (
	"context"
	"fmt"
	"strconv"
	"sync"
	"syscall"
	"testing"
	"time"

	clientv3 "go.etcd.io/etcd/client/v3"
	"go.uber.org/zap"
	corev1 "k8s.io/api/core/v1"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/watch"
)

// TestRestart runs one server of its own through clean restarts, a kill -9 and an
// etcd compaction.
func TestRestart(t *testing.T) {
	etcdPort, err := freePort()
	if err != nil {
		t.Fatal(err)
	}
	c, err := newCluster(clusterOptions{extraArgs: []string{"--etcd-client-port", strconv.Itoa(etcdPort)}})
	if err != nil {
		t.Fatal(err)
	}
	defer c.stop()
	ctx := ctxFor(t)

	t.Run("objects survive a clean restart", func(t *testing.T) {
		ns := c.namespace(t)
		c.kubectlStdin(t, webDeployment, "apply", "-n", ns, "-f", "-")
		before := c.kubectl(t, "get", "deployment", "web", "-n", ns, "-o", "jsonpath={.metadata.uid} {.spec.replicas}")
		c.server.signal(syscall.SIGTERM)
		if code := c.server.cmd.ProcessState.ExitCode(); code != 0 {
			t.Fatalf("berth server exited with %d on SIGTERM:\n%s", code, c.server.output)
		}
		if err := c.start(); err != nil {
			t.Fatal(err)
		}
		if after := c.kubectl(t, "get", "deployment", "web", "-n", ns, "-o", "jsonpath={.metadata.uid} {.spec.replicas}"); after != before {
			t.Fatalf("after restart %q, before %q", after, before)
		}
	})

	t.Run("kill -9 loses no acknowledged write", func(t *testing.T) {
		ns := c.namespace(t)
		var mu sync.Mutex
		var acked []string
		writeCtx, stop := context.WithCancel(ctx)
		var wg sync.WaitGroup
		for w := 0; w < 4; w++ {
			wg.Add(1)
			go func() {
				defer wg.Done()
				for i := 0; writeCtx.Err() == nil; i++ {
					name := fmt.Sprintf("w%d-%d", w, i)
					_, err := c.client.CoreV1().ConfigMaps(ns).Create(writeCtx, &corev1.ConfigMap{ObjectMeta: metav1.ObjectMeta{Name: name}}, metav1.CreateOptions{})
					if err != nil {
						return // the server is gone; this write was not acknowledged
					}
					mu.Lock()
					acked = append(acked, name)
					mu.Unlock()
				}
			}()
		}
		time.Sleep(time.Second)
		c.server.signal(syscall.SIGKILL)
		stop()
		wg.Wait()
		if len(acked) == 0 {
			t.Fatal("no write was acknowledged before the kill")
		}
		if err := c.start(); err != nil {
			t.Fatal(err)
		}
		for _, name := range acked {
			if _, err := c.client.CoreV1().ConfigMaps(ns).Get(ctx, name, metav1.GetOptions{}); err != nil {
				t.Fatalf("acknowledged write %s lost after kill -9 (%d acknowledged): %v", name, len(acked), err)
			}
		}
	})

	t.Run("a watch from a compacted version gets 410 Gone", func(t *testing.T) {
		ns := c.namespace(t)
		cms := c.client.CoreV1().ConfigMaps(ns)
		cm, err := cms.Create(ctx, &corev1.ConfigMap{ObjectMeta: metav1.ObjectMeta{Name: "old"}}, metav1.CreateOptions{})
		if err != nil {
			t.Fatal(err)
		}
		old := cm.ResourceVersion
		for i := 0; i < 3; i++ {
			cm.Data = map[string]string{"i": strconv.Itoa(i)}
			if cm, err = cms.Update(ctx, cm, metav1.UpdateOptions{}); err != nil {
				t.Fatal(err)
			}
		}
		etcd, err := clientv3.New(clientv3.Config{Endpoints: []string{fmt.Sprintf("http://127.0.0.1:%d", etcdPort)}, Logger: zap.NewNop()})
		if err != nil {
			t.Fatal(err)
		}
		defer etcd.Close()
		resp, err := etcd.Get(ctx, "compaction-probe")
		if err != nil {
			t.Fatal(err)
		}
		if _, err := etcd.Compact(ctx, resp.Header.Revision); err != nil {
			t.Fatal(err)
		}
		// The restarted server's watch cache starts after the compaction, as a
		// long-running one's moves past it.
		if err := c.restart(syscall.SIGTERM); err != nil {
			t.Fatal(err)
		}
		w, err := cms.Watch(ctx, metav1.ListOptions{ResourceVersion: old})
		if err == nil {
			defer w.Stop()
			select {
			case ev := <-w.ResultChan():
				if ev.Type != watch.Error {
					t.Fatalf("watch from compacted version %s: %s event", old, ev.Type)
				}
				err = apierrors.FromObject(ev.Object)
			case <-time.After(10 * time.Second):
				t.Fatal("watch from a compacted version neither failed nor sent an event")
			}
		}
		if !apierrors.IsResourceExpired(err) && !apierrors.IsGone(err) {
			t.Fatalf("watch from compacted version %s: %v, want 410 Gone", old, err)
		}
	})
}
