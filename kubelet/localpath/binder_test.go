package localpath_test

import (
	"context"
	"log/slog"
	"os"
	"path/filepath"
	"testing"
	"time"

	corev1 "k8s.io/api/core/v1"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	"k8s.io/apimachinery/pkg/api/resource"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/util/wait"
	"k8s.io/client-go/informers"
	"k8s.io/client-go/kubernetes/fake"
	"k8s.io/client-go/tools/record"

	"berth.dev/berth/kubelet/localpath"
	"berth.dev/berth/orchestrator/controller/persistentvolume"
)

// TestWithTheBinder runs the provisioner and the PersistentVolume binder over
// one fake API, through their informers and queues: a claim that names no class
// and is used by a pod on this node gets the default class, a directory and a
// bound volume; deleting the claim removes both.
func TestWithTheBinder(t *testing.T) {
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	client := fake.NewClientset(&corev1.Node{ObjectMeta: metav1.ObjectMeta{Name: "node-a", Labels: map[string]string{corev1.LabelHostname: "node-a"}}})
	if err := localpath.EnsureStorageClass(ctx, client); err != nil {
		t.Fatal(err)
	}

	factory := informers.NewSharedInformerFactory(client, 0)
	binder := persistentvolume.New(client, factory, &record.FakeRecorder{})
	factory.Start(ctx.Done())
	defer factory.Shutdown()
	dir := filepath.Join(t.TempDir(), "storage")
	p, err := localpath.New(localpath.Config{Client: client, NodeName: "node-a", Dir: dir, Recorder: &record.FakeRecorder{}, Log: slog.New(slog.DiscardHandler)})
	if err != nil {
		t.Fatal(err)
	}
	done := make(chan error, 1)
	go binder.Run(ctx, 1)
	go func() { done <- p.Run(ctx) }()
	defer func() {
		cancel()
		if err := <-done; err != nil {
			t.Errorf("provisioner: %v", err)
		}
	}()

	claim := &corev1.PersistentVolumeClaim{
		ObjectMeta: metav1.ObjectMeta{Name: "data", Namespace: "work", UID: "0b9c2a8e-5f43-4c1e-9d51-3a7e6f0c2b14"},
		Spec: corev1.PersistentVolumeClaimSpec{
			AccessModes: []corev1.PersistentVolumeAccessMode{corev1.ReadWriteOnce},
			Resources:   corev1.VolumeResourceRequirements{Requests: corev1.ResourceList{corev1.ResourceStorage: resource.MustParse("1Gi")}},
		},
	}
	pod := &corev1.Pod{
		ObjectMeta: metav1.ObjectMeta{Name: "web-0", Namespace: "work"},
		Spec: corev1.PodSpec{NodeName: "node-a", Volumes: []corev1.Volume{{Name: "data", VolumeSource: corev1.VolumeSource{
			PersistentVolumeClaim: &corev1.PersistentVolumeClaimVolumeSource{ClaimName: "data"}}}}},
	}
	if _, err := client.CoreV1().PersistentVolumeClaims("work").Create(ctx, claim, metav1.CreateOptions{}); err != nil {
		t.Fatal(err)
	}
	if _, err := client.CoreV1().Pods("work").Create(ctx, pod, metav1.CreateOptions{}); err != nil {
		t.Fatal(err)
	}

	var bound *corev1.PersistentVolumeClaim
	if err := wait.PollUntilContextTimeout(ctx, 10*time.Millisecond, 30*time.Second, true, func(ctx context.Context) (bool, error) {
		bound, err = client.CoreV1().PersistentVolumeClaims("work").Get(ctx, "data", metav1.GetOptions{})
		return err == nil && bound.Status.Phase == corev1.ClaimBound, err
	}); err != nil {
		t.Fatalf("claim not bound: %v (%+v)", err, bound)
	}
	pv, err := client.CoreV1().PersistentVolumes().Get(ctx, bound.Spec.VolumeName, metav1.GetOptions{})
	if err != nil {
		t.Fatal(err)
	}
	if *bound.Spec.StorageClassName != localpath.ClassName || bound.Annotations[persistentvolume.AnnSelectedNode] != "node-a" {
		t.Errorf("claim class %q annotations %v", *bound.Spec.StorageClassName, bound.Annotations)
	}
	if fi, err := os.Stat(pv.Spec.Local.Path); err != nil || !fi.IsDir() || filepath.Dir(pv.Spec.Local.Path) != dir {
		t.Fatalf("volume directory %s: %v", pv.Spec.Local.Path, err)
	}

	if err := client.CoreV1().PersistentVolumeClaims("work").Delete(ctx, "data", metav1.DeleteOptions{}); err != nil {
		t.Fatal(err)
	}
	if err := client.CoreV1().Pods("work").Delete(ctx, "web-0", metav1.DeleteOptions{}); err != nil {
		t.Fatal(err)
	}
	if err := wait.PollUntilContextTimeout(ctx, 10*time.Millisecond, 30*time.Second, true, func(ctx context.Context) (bool, error) {
		_, err := client.CoreV1().PersistentVolumes().Get(ctx, pv.Name, metav1.GetOptions{})
		return apierrors.IsNotFound(err), nil
	}); err != nil {
		t.Fatalf("volume %s not deleted: %v", pv.Name, err)
	}
	if _, err := os.Stat(pv.Spec.Local.Path); !os.IsNotExist(err) {
		t.Errorf("volume directory still there: %v", err)
	}
}
