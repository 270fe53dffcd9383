package localpath

import (
	"context"
	"errors"
	"fmt"
	"io/fs"
	"os"
	"path/filepath"
	"slices"
	"strings"

	corev1 "k8s.io/api/core/v1"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/labels"
)

// errNotMine refuses to remove a path this provisioner did not make.
var errNotMine = errors.New("not a volume directory this provisioner made")

// syncVolume removes the volume with name, and its directory, once its claim
// has let it go and its reclaim policy says so:
//
//   - Released (or Failed) with reclaimPolicy Delete: the directory, then the
//     volume;
//   - being deleted with reclaimPolicy Delete: the directory, then the
//     finalizer, once the volume is not Bound (a Bound volume being deleted
//     keeps its data until its claim goes);
//   - being deleted with any other policy: only the finalizer; the data stays.
//
// The directory waits while a pod on this node that may have it mounted runs.
func (p *Provisioner) syncVolume(ctx context.Context, name string) error {
	pv, err := p.volumes.Get(name)
	if apierrors.IsNotFound(err) {
		return nil
	}
	if err != nil {
		return err
	}
	if !p.mine(pv) {
		return nil
	}
	deleting := pv.DeletionTimestamp != nil
	released := pv.Status.Phase == corev1.VolumeReleased || pv.Status.Phase == corev1.VolumeFailed
	switch {
	case pv.Spec.PersistentVolumeReclaimPolicy != corev1.PersistentVolumeReclaimDelete:
		if deleting {
			return p.dropFinalizer(ctx, pv)
		}
		return nil
	case !released && !(deleting && pv.Status.Phase != corev1.VolumeBound):
		return nil
	}
	users, err := p.users(pv)
	if err != nil {
		return err
	}
	if len(users) > 0 {
		// Their end queues the volume again.
		p.log.Info("waiting for pods to stop before removing a released volume", "volume", pv.Name, "pods", users)
		return nil
	}
	if err := p.removeDir(pv); err != nil {
		if errors.Is(err, errNotMine) {
			// Leave volume and data for an administrator to look at.
			p.recorder.Eventf(pv, corev1.EventTypeWarning, reasonVolumeFailedDelete, "refusing to delete %q: %v", volumePath(pv), err)
			return nil
		}
		p.recorder.Eventf(pv, corev1.EventTypeWarning, reasonVolumeFailedDelete, "%v", err)
		return err
	}
	if err := p.dropFinalizer(ctx, pv); err != nil {
		return err
	}
	if deleting {
		return nil
	}
	uid := pv.UID
	err = p.client.CoreV1().PersistentVolumes().Delete(ctx, pv.Name, metav1.DeleteOptions{Preconditions: &metav1.Preconditions{UID: &uid}})
	if err != nil && !apierrors.IsNotFound(err) {
		return fmt.Errorf("deleting volume %s: %w", pv.Name, err)
	}
	p.log.Info("deleted released volume", "volume", pv.Name, "path", volumePath(pv))
	return nil
}

// users names the pods on this node that may have a volume's directory
// mounted: running (or about to) with its claim, and made before the volume
// was let go. A pod made since then cannot have been given this volume.
func (p *Provisioner) users(pv *corev1.PersistentVolume) ([]string, error) {
	ref := pv.Spec.ClaimRef
	if ref == nil {
		return nil, nil
	}
	pods, err := p.pods.Pods(ref.Namespace).List(labels.Everything())
	if err != nil {
		return nil, fmt.Errorf("listing pods in namespace %s: %w", ref.Namespace, err)
	}
	released := pv.Status.LastPhaseTransitionTime
	var names []string
	for _, pod := range pods {
		if podDone(pod) || !slices.Contains(podClaims(pod), ref.Name) {
			continue
		}
		if released != nil && pv.Status.Phase != corev1.VolumeBound && released.Before(&pod.CreationTimestamp) {
			continue
		}
		names = append(names, pod.Name)
	}
	return names, nil
}

// volumePath is where a volume's data is.
func volumePath(pv *corev1.PersistentVolume) string {
	switch {
	case pv.Spec.Local != nil:
		return pv.Spec.Local.Path
	case pv.Spec.HostPath != nil:
		return pv.Spec.HostPath.Path
	}
	return ""
}

// removeDir removes a volume's directory and all in it, if it is one this
// provisioner made: a directory (not a link) directly inside Dir named for the
// volume. One already gone is fine.
func (p *Provisioner) removeDir(pv *corev1.PersistentVolume) error {
	path := volumePath(pv)
	if path == "" || !filepath.IsAbs(path) {
		return errNotMine
	}
	clean := filepath.Clean(path)
	if filepath.Dir(clean) != p.dir || !strings.HasPrefix(filepath.Base(clean), pv.Name+"_") {
		return fmt.Errorf("%w: it is not %s/%s_*", errNotMine, p.dir, pv.Name)
	}
	fi, err := os.Lstat(clean)
	if errors.Is(err, fs.ErrNotExist) {
		return nil
	}
	if err != nil {
		return fmt.Errorf("removing volume directory %s: %w", clean, err)
	}
	if !fi.IsDir() {
		return fmt.Errorf("%w: %s is not a directory", errNotMine, clean)
	}
	// RemoveAll does not follow links: a link inside the volume to elsewhere
	// is removed, not what it points at.
	if err := os.RemoveAll(clean); err != nil {
		return fmt.Errorf("removing volume directory %s: %w", clean, err)
	}
	return nil
}

// dropFinalizer lets the API delete a volume whose data is dealt with.
func (p *Provisioner) dropFinalizer(ctx context.Context, pv *corev1.PersistentVolume) error {
	if !slices.Contains(pv.Finalizers, Finalizer) {
		return nil
	}
	pv = pv.DeepCopy()
	pv.Finalizers = slices.DeleteFunc(pv.Finalizers, func(f string) bool { return f == Finalizer })
	if _, err := p.client.CoreV1().PersistentVolumes().Update(ctx, pv, metav1.UpdateOptions{}); err != nil && !apierrors.IsNotFound(err) {
		return fmt.Errorf("removing the finalizer of volume %s: %w", pv.Name, err)
	}
	return nil
}
