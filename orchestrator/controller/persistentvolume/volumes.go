package persistentvolume

import (
	"context"
	"fmt"
	"strings"

	corev1 "k8s.io/api/core/v1"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
)

// syncVolume keeps the phase of the volume with name and reclaims it once its
// claim has gone.
func (c *Controller) syncVolume(ctx context.Context, name string) error {
	pv, err := c.volumes.Get(name)
	if apierrors.IsNotFound(err) {
		return nil // its claim was queued when it went
	}
	if err != nil {
		return err
	}
	if pv.Spec.ClaimRef == nil || pv.Spec.ClaimRef.UID == "" {
		// Free, or reserved by a user for a claim not bound yet.
		_, err := c.updateVolumePhase(ctx, pv, corev1.VolumeAvailable, "")
		return err
	}
	claim, err := c.claimOf(ctx, pv)
	if err != nil {
		return err
	}
	switch {
	case claim == nil:
		// The claim has gone. Keep a Failed phase: it says reclaiming went wrong.
		if pv.Status.Phase != corev1.VolumeReleased && pv.Status.Phase != corev1.VolumeFailed {
			if pv, err = c.updateVolumePhase(ctx, pv, corev1.VolumeReleased, ""); err != nil {
				return err
			}
		}
		return c.reclaim(ctx, pv)
	case claim.Spec.VolumeName == "":
		if modeMismatch(claim, pv) {
			c.recorder.Eventf(pv, corev1.EventTypeWarning, reasonVolumeMismatch,
				"Cannot bind PersistentVolume to requested PersistentVolumeClaim %q due to incompatible volumeMode.", claim.Name)
			c.recorder.Eventf(claim, corev1.EventTypeWarning, reasonVolumeMismatch,
				"Cannot bind PersistentVolume %q to requested PersistentVolumeClaim due to incompatible volumeMode.", pv.Name)
			return nil
		}
		// Half bound (by the binder, a provisioner or a user): the claim's
		// sync completes it.
		c.claimQueue.Add(claim.Namespace + "/" + claim.Name)
		return nil
	case claim.Spec.VolumeName == pv.Name:
		_, err := c.updateVolumePhase(ctx, pv, corev1.VolumeBound, "")
		return err
	case hasAnnotation(pv.ObjectMeta, AnnDynamicallyProvisioned) && pv.Spec.PersistentVolumeReclaimPolicy == corev1.PersistentVolumeReclaimDelete:
		// Made for a claim that got another volume: not needed any more.
		if pv.Status.Phase != corev1.VolumeReleased && pv.Status.Phase != corev1.VolumeFailed {
			if pv, err = c.updateVolumePhase(ctx, pv, corev1.VolumeReleased, ""); err != nil {
				return err
			}
		}
		return c.reclaim(ctx, pv)
	default:
		// The claim is bound to another volume.
		return c.unbindVolume(ctx, pv)
	}
}

// claimOf returns the claim a volume's claimRef names, nil if that claim has
// gone (or was replaced by one of the same name). Before it answers nil for a
// volume not yet Released it asks the API, since the answer may lead to deleting
// data: a claim just made by a provisioner's user may not be in the cache yet.
func (c *Controller) claimOf(ctx context.Context, pv *corev1.PersistentVolume) (*corev1.PersistentVolumeClaim, error) {
	ref := pv.Spec.ClaimRef
	claim, err := c.claims.PersistentVolumeClaims(ref.Namespace).Get(ref.Name)
	switch {
	case err != nil && !apierrors.IsNotFound(err):
		return nil, err
	case err == nil && claim.UID == ref.UID:
		return claim, nil
	case pv.Status.Phase == corev1.VolumeReleased || pv.Status.Phase == corev1.VolumeFailed:
		return nil, nil
	}
	claim, err = c.client.CoreV1().PersistentVolumeClaims(ref.Namespace).Get(ctx, ref.Name, metav1.GetOptions{})
	if apierrors.IsNotFound(err) {
		return nil, nil
	}
	if err != nil {
		return nil, fmt.Errorf("getting claim %s/%s of volume %s: %w", ref.Namespace, ref.Name, pv.Name, err)
	}
	if claim.UID != ref.UID {
		return nil, nil
	}
	return claim, nil
}

// reclaim applies a Released volume's reclaim policy. Retain keeps it Released
// for an administrator. Delete leaves a dynamically provisioned volume to its
// provisioner, which deletes the data and then the volume; a volume made by hand
// has nothing that could delete its data, so it becomes Failed, as upstream,
// rather than disappear with its data left behind. Recycle is not supported.
func (c *Controller) reclaim(ctx context.Context, pv *corev1.PersistentVolume) error {
	switch pv.Spec.PersistentVolumeReclaimPolicy {
	case corev1.PersistentVolumeReclaimDelete:
		if p := pv.Annotations[AnnDynamicallyProvisioned]; p != "" && !strings.HasPrefix(p, "kubernetes.io/") {
			return nil // the provisioner's to delete
		}
		_, err := c.updateVolumePhaseWithEvent(ctx, pv, corev1.VolumeFailed, corev1.EventTypeWarning, reasonVolumeFailedDelete,
			fmt.Sprintf("error getting deleter volume plugin for volume %q: no deletable volume plugin matched", pv.Name))
		return err
	case corev1.PersistentVolumeReclaimRecycle:
		_, err := c.updateVolumePhaseWithEvent(ctx, pv, corev1.VolumeFailed, corev1.EventTypeWarning, reasonVolumeFailedRecycle,
			"No recycler plugin found for the volume!")
		return err
	}
	return nil
}
