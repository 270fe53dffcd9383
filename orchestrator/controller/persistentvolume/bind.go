package persistentvolume

import (
	"context"
	"fmt"

	corev1 "k8s.io/api/core/v1"
	"k8s.io/apimachinery/pkg/api/equality"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
)

// bind binds a volume and a claim in upstream's order: the volume's claimRef,
// the volume's phase, the claim's volumeName, the claim's phase. Each step is
// written only when it changes something; a failed step leaves the rest to the
// next sync, which picks the same volume (it is now claimed for this claim).
func (c *Controller) bind(ctx context.Context, pv *corev1.PersistentVolume, claim *corev1.PersistentVolumeClaim) error {
	pv, err := c.bindVolumeToClaim(ctx, pv, claim)
	if err != nil {
		return err
	}
	if pv, err = c.updateVolumePhase(ctx, pv, corev1.VolumeBound, ""); err != nil {
		return err
	}
	if claim, err = c.bindClaimToVolume(ctx, claim, pv); err != nil {
		return err
	}
	_, err = c.updateClaimStatus(ctx, claim, corev1.ClaimBound, pv)
	return err
}

// bindVolumeToClaim points the volume's claimRef at the claim, marking the
// binding as the binder's unless a user or provisioner had reserved the volume
// for this claim.
func (c *Controller) bindVolumeToClaim(ctx context.Context, pv *corev1.PersistentVolume, claim *corev1.PersistentVolumeClaim) (*corev1.PersistentVolume, error) {
	ref := pv.Spec.ClaimRef
	if ref != nil && ref.Namespace == claim.Namespace && ref.Name == claim.Name && ref.UID == claim.UID {
		return pv, nil
	}
	reserved := boundTo(pv, claim)
	pv = pv.DeepCopy()
	pv.Spec.ClaimRef = &corev1.ObjectReference{
		Kind:            "PersistentVolumeClaim",
		APIVersion:      "v1",
		Namespace:       claim.Namespace,
		Name:            claim.Name,
		UID:             claim.UID,
		ResourceVersion: claim.ResourceVersion,
	}
	if !reserved {
		metav1.SetMetaDataAnnotation(&pv.ObjectMeta, AnnBoundByController, "yes")
	}
	stored, err := c.client.CoreV1().PersistentVolumes().Update(ctx, pv, metav1.UpdateOptions{})
	if err != nil {
		return nil, fmt.Errorf("binding volume %s to claim %s/%s: %w", pv.Name, claim.Namespace, claim.Name, err)
	}
	return stored, nil
}

// bindClaimToVolume sets the claim's volumeName and bind annotations.
func (c *Controller) bindClaimToVolume(ctx context.Context, claim *corev1.PersistentVolumeClaim, pv *corev1.PersistentVolume) (*corev1.PersistentVolumeClaim, error) {
	if claim.Spec.VolumeName == pv.Name && hasAnnotation(claim.ObjectMeta, AnnBindCompleted) {
		return claim, nil
	}
	claim = claim.DeepCopy()
	if claim.Spec.VolumeName != pv.Name {
		claim.Spec.VolumeName = pv.Name
		metav1.SetMetaDataAnnotation(&claim.ObjectMeta, AnnBoundByController, "yes")
	}
	metav1.SetMetaDataAnnotation(&claim.ObjectMeta, AnnBindCompleted, "yes")
	stored, err := c.client.CoreV1().PersistentVolumeClaims(claim.Namespace).Update(ctx, claim, metav1.UpdateOptions{})
	if err != nil {
		return nil, fmt.Errorf("binding claim %s/%s to volume %s: %w", claim.Namespace, claim.Name, pv.Name, err)
	}
	return stored, nil
}

// unbindVolume undoes a binding the claim side never completed or no longer
// holds: a binding the binder made is dropped, a user's reservation is kept
// without the UID of the claim that has gone. The volume is Available again.
func (c *Controller) unbindVolume(ctx context.Context, pv *corev1.PersistentVolume) error {
	pv = pv.DeepCopy()
	if hasAnnotation(pv.ObjectMeta, AnnBoundByController) {
		pv.Spec.ClaimRef = nil
		delete(pv.Annotations, AnnBoundByController)
		if len(pv.Annotations) == 0 {
			pv.Annotations = nil
		}
	} else {
		pv.Spec.ClaimRef.UID = ""
	}
	stored, err := c.client.CoreV1().PersistentVolumes().Update(ctx, pv, metav1.UpdateOptions{})
	if err != nil {
		return fmt.Errorf("unbinding volume %s: %w", pv.Name, err)
	}
	_, err = c.updateVolumePhase(ctx, stored, corev1.VolumeAvailable, "")
	return err
}

// updateVolumePhase writes a volume's phase and message, if they change.
func (c *Controller) updateVolumePhase(ctx context.Context, pv *corev1.PersistentVolume, phase corev1.PersistentVolumePhase, message string) (*corev1.PersistentVolume, error) {
	if pv.Status.Phase == phase && pv.Status.Message == message {
		return pv, nil
	}
	pv = pv.DeepCopy()
	if pv.Status.Phase != phase {
		now := metav1.NewTime(c.now())
		pv.Status.LastPhaseTransitionTime = &now
	}
	pv.Status.Phase, pv.Status.Message = phase, message
	stored, err := c.client.CoreV1().PersistentVolumes().UpdateStatus(ctx, pv, metav1.UpdateOptions{})
	if err != nil {
		return nil, fmt.Errorf("setting the phase of volume %s to %s: %w", pv.Name, phase, err)
	}
	return stored, nil
}

// updateVolumePhaseWithEvent moves a volume to phase and records why, once.
func (c *Controller) updateVolumePhaseWithEvent(ctx context.Context, pv *corev1.PersistentVolume, phase corev1.PersistentVolumePhase, eventType, reason, message string) (*corev1.PersistentVolume, error) {
	if pv.Status.Phase == phase {
		return pv, nil
	}
	stored, err := c.updateVolumePhase(ctx, pv, phase, message)
	if err != nil {
		return nil, err
	}
	c.recorder.Event(stored, eventType, reason, message)
	return stored, nil
}

// updateClaimStatus writes a claim's phase and, from its volume, its access
// modes and capacity (nil when it has no volume). The capacity is copied only as
// the claim becomes Bound: an expanded claim's may differ on purpose later.
func (c *Controller) updateClaimStatus(ctx context.Context, claim *corev1.PersistentVolumeClaim, phase corev1.PersistentVolumeClaimPhase, pv *corev1.PersistentVolume) (*corev1.PersistentVolumeClaim, error) {
	status := claim.Status.DeepCopy()
	status.Phase = phase
	if pv == nil {
		status.AccessModes, status.Capacity = nil, nil
	} else {
		status.AccessModes = pv.Spec.AccessModes
		if claim.Status.Phase != phase {
			size, ok := pv.Spec.Capacity[corev1.ResourceStorage]
			if !ok {
				return nil, fmt.Errorf("volume %s of claim %s/%s has no storage capacity", pv.Name, claim.Namespace, claim.Name)
			}
			status.Capacity = corev1.ResourceList{corev1.ResourceStorage: size}
		}
	}
	if equality.Semantic.DeepEqual(*status, claim.Status) {
		return claim, nil
	}
	claim = claim.DeepCopy()
	claim.Status = *status
	stored, err := c.client.CoreV1().PersistentVolumeClaims(claim.Namespace).UpdateStatus(ctx, claim, metav1.UpdateOptions{})
	if err != nil {
		return nil, fmt.Errorf("setting the status of claim %s/%s to %s: %w", claim.Namespace, claim.Name, phase, err)
	}
	return stored, nil
}

// updateClaimStatusWithEvent moves a claim to phase, without a volume, and
// records why, once.
func (c *Controller) updateClaimStatusWithEvent(ctx context.Context, claim *corev1.PersistentVolumeClaim, phase corev1.PersistentVolumeClaimPhase, eventType, reason, message string) (*corev1.PersistentVolumeClaim, error) {
	if claim.Status.Phase == phase {
		return claim, nil
	}
	stored, err := c.updateClaimStatus(ctx, claim, phase, nil)
	if err != nil {
		return nil, err
	}
	c.recorder.Event(stored, eventType, reason, message)
	return stored, nil
}
