package persistentvolume

import (
	"context"
	"fmt"
	"sort"
	"strings"

	corev1 "k8s.io/api/core/v1"
	storagev1 "k8s.io/api/storage/v1"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/labels"
	"k8s.io/client-go/tools/cache"

	"berth.dev/berth/orchestrator/admission/storageclass"
)

func hasAnnotation(m metav1.ObjectMeta, key string) bool {
	_, ok := m.Annotations[key]
	return ok
}

// syncClaim binds the claim with key, or keeps its binding and phase.
func (c *Controller) syncClaim(ctx context.Context, key string) error {
	ns, name, err := cache.SplitMetaNamespaceKey(key)
	if err != nil {
		return nil
	}
	claim, err := c.claims.PersistentVolumeClaims(ns).Get(name)
	if apierrors.IsNotFound(err) {
		return nil // its volume was queued when it went
	}
	if err != nil {
		return err
	}
	if hasAnnotation(claim.ObjectMeta, AnnBindCompleted) {
		return c.syncBoundClaim(ctx, claim)
	}
	if claim.Spec.VolumeName != "" {
		return c.syncRequestedVolume(ctx, claim)
	}
	return c.syncUnboundClaim(ctx, claim)
}

// syncUnboundClaim finds a volume for a claim that names none, or asks its
// class's provisioner for one.
func (c *Controller) syncUnboundClaim(ctx context.Context, claim *corev1.PersistentVolumeClaim) error {
	class, err := c.class(claim)
	if err != nil {
		return err
	}
	delay := class != nil && class.VolumeBindingMode != nil && *class.VolumeBindingMode == storagev1.VolumeBindingWaitForFirstConsumer
	nodeName, consumerNode := "", ""
	if delay {
		nodeName = claim.Annotations[AnnSelectedNode]
		if nodeName == "" {
			// The scheduler does not pick nodes for volumes yet: once a pod
			// using the claim is on a node, that node is the one it selected.
			consumerNode, err = c.consumerNode(claim)
			if err != nil {
				return err
			}
			nodeName = consumerNode
		}
	}
	var node *corev1.Node
	if nodeName != "" {
		if node, err = c.node(nodeName); err != nil {
			return err
		}
	}
	volumes, err := c.volumes.List(labels.Everything())
	if err != nil {
		return fmt.Errorf("listing persistent volumes: %w", err)
	}
	pv, err := bestMatch(claim, volumes, delay, node)
	if err != nil {
		return err
	}
	if pv != nil {
		return c.bind(ctx, pv, claim)
	}

	if assigned, err := c.assignDefaultClass(ctx, claim); err != nil || assigned {
		return err // the update brings the claim back with its class
	}
	switch {
	case delay && nodeName == "":
		if err := c.waitForConsumer(claim); err != nil {
			return err
		}
	case claimClass(claim) != "":
		if claim, err = c.provision(ctx, claim, class, consumerNode); err != nil {
			return err
		}
	default:
		c.recorder.Event(claim, corev1.EventTypeNormal, reasonFailedBinding, "no persistent volumes available for this claim and no storage class is set")
	}
	_, err = c.updateClaimStatus(ctx, claim, corev1.ClaimPending, nil)
	return err
}

// syncRequestedVolume binds a claim to the volume it names in spec.volumeName,
// if that volume is free or meant for it.
func (c *Controller) syncRequestedVolume(ctx context.Context, claim *corev1.PersistentVolumeClaim) error {
	pv, err := c.volumes.Get(claim.Spec.VolumeName)
	if apierrors.IsNotFound(err) {
		// It may yet be created: its creation queues the claim again.
		_, err = c.updateClaimStatus(ctx, claim, corev1.ClaimPending, nil)
		return err
	}
	if err != nil {
		return err
	}
	switch {
	case pv.Spec.ClaimRef == nil:
		if err := satisfies(pv, claim); err != nil {
			c.recorder.Eventf(claim, corev1.EventTypeWarning, reasonVolumeMismatch, "Cannot bind to requested volume %q: %s", pv.Name, err)
			_, err = c.updateClaimStatus(ctx, claim, corev1.ClaimPending, nil)
			return err
		}
		return c.bind(ctx, pv, claim)
	case boundTo(pv, claim):
		return c.bind(ctx, pv, claim)
	}
	c.recorder.Eventf(claim, corev1.EventTypeWarning, reasonFailedBinding, "volume %q already bound to a different claim.", pv.Name)
	if hasAnnotation(claim.ObjectMeta, AnnBoundByController) {
		// Only a binding completed and then undone by hand gets here.
		return fmt.Errorf("binding claim %s/%s to volume %s: the volume is already claimed by %s/%s",
			claim.Namespace, claim.Name, pv.Name, pv.Spec.ClaimRef.Namespace, pv.Spec.ClaimRef.Name)
	}
	_, err = c.updateClaimStatus(ctx, claim, corev1.ClaimPending, nil)
	return err
}

// syncBoundClaim keeps a claim that was bound once: Bound while its volume is
// bound to it, Lost when the volume is gone or belongs to another claim.
func (c *Controller) syncBoundClaim(ctx context.Context, claim *corev1.PersistentVolumeClaim) error {
	if claim.Spec.VolumeName == "" {
		_, err := c.updateClaimStatusWithEvent(ctx, claim, corev1.ClaimLost, corev1.EventTypeWarning, reasonClaimLost,
			"Bound claim has lost reference to PersistentVolume. Data on the volume is lost!")
		return err
	}
	pv, err := c.volumes.Get(claim.Spec.VolumeName)
	if apierrors.IsNotFound(err) {
		// Ask the API before declaring data lost: the cache may lag.
		pv, err = c.client.CoreV1().PersistentVolumes().Get(ctx, claim.Spec.VolumeName, metav1.GetOptions{})
	}
	if apierrors.IsNotFound(err) {
		_, err := c.updateClaimStatusWithEvent(ctx, claim, corev1.ClaimLost, corev1.EventTypeWarning, reasonClaimLost,
			"Bound claim has lost its PersistentVolume. Data on the volume is lost!")
		return err
	}
	if err != nil {
		return fmt.Errorf("getting persistent volume %s of claim %s/%s: %w", claim.Spec.VolumeName, claim.Namespace, claim.Name, err)
	}
	if pv.Spec.ClaimRef == nil || pv.Spec.ClaimRef.UID == claim.UID {
		// Unbound volume: the binder's first write was lost; finish the job.
		// Bound to this claim: make sure every half says so.
		return c.bind(ctx, pv, claim)
	}
	_, err = c.updateClaimStatusWithEvent(ctx, claim, corev1.ClaimLost, corev1.EventTypeWarning, reasonClaimMisbound,
		"Two claims are bound to the same volume, this one is bound incorrectly")
	return err
}

// class returns the StorageClass a claim names, nil for none or one that does
// not exist (yet).
func (c *Controller) class(claim *corev1.PersistentVolumeClaim) (*storagev1.StorageClass, error) {
	name := claimClass(claim)
	if name == "" {
		return nil, nil
	}
	class, err := c.classes.Get(name)
	if apierrors.IsNotFound(err) {
		return nil, nil
	}
	if err != nil {
		return nil, fmt.Errorf("getting storage class %s: %w", name, err)
	}
	return class, nil
}

// node returns the named node, or a node with only that name when it is not
// known: then only volumes without node affinity fit it.
func (c *Controller) node(name string) (*corev1.Node, error) {
	node, err := c.nodes.Get(name)
	if apierrors.IsNotFound(err) {
		return &corev1.Node{ObjectMeta: metav1.ObjectMeta{Name: name}}, nil
	}
	if err != nil {
		return nil, fmt.Errorf("getting node %s: %w", name, err)
	}
	return node, nil
}

// claimUsers returns the pods still running or to run that use a claim,
// oldest first.
func (c *Controller) claimUsers(claim *corev1.PersistentVolumeClaim) ([]*corev1.Pod, error) {
	pods, err := c.pods.Pods(claim.Namespace).List(labels.Everything())
	if err != nil {
		return nil, fmt.Errorf("listing pods in namespace %s: %w", claim.Namespace, err)
	}
	var users []*corev1.Pod
	for _, pod := range pods {
		if pod.DeletionTimestamp != nil || pod.Status.Phase == corev1.PodSucceeded || pod.Status.Phase == corev1.PodFailed {
			continue
		}
		for _, name := range podClaims(pod) {
			if name == claim.Name {
				users = append(users, pod)
				break
			}
		}
	}
	sort.Slice(users, func(i, j int) bool {
		ti, tj := users[i].CreationTimestamp, users[j].CreationTimestamp
		if !ti.Equal(&tj) {
			return ti.Before(&tj)
		}
		return users[i].Name < users[j].Name
	})
	return users, nil
}

// consumerNode is the node of the oldest scheduled pod using the claim, "" if
// none is scheduled yet.
func (c *Controller) consumerNode(claim *corev1.PersistentVolumeClaim) (string, error) {
	users, err := c.claimUsers(claim)
	if err != nil {
		return "", err
	}
	for _, pod := range users {
		if pod.Spec.NodeName != "" {
			return pod.Spec.NodeName, nil
		}
	}
	return "", nil
}

// waitForConsumer says why a WaitForFirstConsumer claim is not bound yet.
func (c *Controller) waitForConsumer(claim *corev1.PersistentVolumeClaim) error {
	users, err := c.claimUsers(claim)
	if err != nil {
		return err
	}
	var names []string
	for _, pod := range users {
		names = append(names, pod.Name)
	}
	switch len(names) {
	case 0:
		c.recorder.Event(claim, corev1.EventTypeNormal, reasonWaitForFirstConsumer, "waiting for first consumer to be created before binding")
	case 1:
		c.recorder.Eventf(claim, corev1.EventTypeNormal, reasonWaitForPodScheduled, "waiting for pod %s to be scheduled", names[0])
	default:
		c.recorder.Eventf(claim, corev1.EventTypeNormal, reasonWaitForPodScheduled, "waiting for pods %s to be scheduled", strings.Join(names, ","))
	}
	return nil
}

// assignDefaultClass gives a claim that names no class the default class, as
// the DefaultStorageClass admission plugin would have had one been default
// when the claim was made. It reports whether it updated the claim.
func (c *Controller) assignDefaultClass(ctx context.Context, claim *corev1.PersistentVolumeClaim) (bool, error) {
	if storageclass.HasClass(claim) {
		return false, nil
	}
	def, err := storageclass.Default(c.classes)
	if err != nil || def == nil {
		return false, err
	}
	claim = claim.DeepCopy()
	claim.Spec.StorageClassName = &def.Name
	if _, err := c.client.CoreV1().PersistentVolumeClaims(claim.Namespace).Update(ctx, claim, metav1.UpdateOptions{}); err != nil {
		return false, fmt.Errorf("giving claim %s/%s the default storage class %s: %w", claim.Namespace, claim.Name, def.Name, err)
	}
	return true, nil
}

// provision asks the claim's class's provisioner for a volume by annotating the
// claim with its name (and, when the binder chose the node for a
// WaitForFirstConsumer claim, with that node). It returns the claim as stored.
func (c *Controller) provision(ctx context.Context, claim *corev1.PersistentVolumeClaim, class *storagev1.StorageClass, selectNode string) (*corev1.PersistentVolumeClaim, error) {
	if class == nil {
		c.recorder.Eventf(claim, corev1.EventTypeWarning, reasonProvisioningFailed, "storageclass.storage.k8s.io %q not found", claimClass(claim))
		return claim, nil
	}
	provisioner := class.Provisioner
	if provisioner == "" || strings.HasPrefix(provisioner, "kubernetes.io/") {
		// No in-tree plugins here; kubernetes.io/no-provisioner is the usual one.
		c.recorder.Eventf(claim, corev1.EventTypeWarning, reasonProvisioningFailed, "no volume plugin matched name: %s", provisioner)
		return claim, nil
	}
	want := map[string]string{AnnStorageProvisioner: provisioner, AnnBetaStorageProvisioner: provisioner}
	if selectNode != "" {
		want[AnnSelectedNode] = selectNode
	}
	changed := false
	for k, v := range want {
		if claim.Annotations[k] != v {
			changed = true
		}
	}
	if changed {
		updated := claim.DeepCopy()
		if updated.Annotations == nil {
			updated.Annotations = map[string]string{}
		}
		for k, v := range want {
			updated.Annotations[k] = v
		}
		stored, err := c.client.CoreV1().PersistentVolumeClaims(claim.Namespace).Update(ctx, updated, metav1.UpdateOptions{})
		if err != nil {
			c.recorder.Eventf(claim, corev1.EventTypeWarning, reasonProvisioningFailed, "Error saving claim: %v", err)
			return nil, fmt.Errorf("annotating claim %s/%s for provisioner %s: %w", claim.Namespace, claim.Name, provisioner, err)
		}
		claim = stored
	}
	c.recorder.Eventf(claim, corev1.EventTypeNormal, reasonExternalProvisioning,
		"Waiting for a volume to be created either by the external provisioner '%s' or manually by the system administrator. If volume creation is delayed, please verify that the provisioner is running and correctly registered.", provisioner)
	return claim, nil
}
