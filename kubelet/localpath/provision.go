package localpath

import (
	"context"
	"errors"
	"fmt"
	"io/fs"
	"os"
	"path/filepath"
	"slices"

	corev1 "k8s.io/api/core/v1"
	storagev1 "k8s.io/api/storage/v1"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/client-go/tools/cache"
)

// dirMode lets containers running as any user write to their volume, as
// rancher's local-path provisioner does.
const dirMode = 0o777

// maxNameLen is the longest file name Linux file systems take.
const maxNameLen = 255

// Event reasons, as external-provisioner records them.
const (
	reasonProvisioning          = "Provisioning"
	reasonProvisioningSucceeded = "ProvisioningSucceeded"
	reasonProvisioningFailed    = "ProvisioningFailed"
	reasonVolumeFailedDelete    = "VolumeFailedDelete"
)

// syncClaim makes the volume of the claim with key, if it is handed to this
// provisioner on this node and has none yet.
func (p *Provisioner) syncClaim(ctx context.Context, key string) error {
	ns, name, err := cache.SplitMetaNamespaceKey(key)
	if err != nil {
		return nil
	}
	claim, err := p.claims.PersistentVolumeClaims(ns).Get(name)
	if apierrors.IsNotFound(err) {
		return nil
	}
	if err != nil {
		return err
	}
	if !p.handedToMe(claim) {
		return nil
	}
	pvName := "pvc-" + string(claim.UID)
	if _, err := p.volumes.Get(pvName); err == nil {
		return nil // made already; the binder binds it
	}
	className := claimClass(claim)
	class, err := p.classes.Get(className)
	if apierrors.IsNotFound(err) {
		p.recorder.Eventf(claim, corev1.EventTypeWarning, reasonProvisioningFailed, "storageclass.storage.k8s.io %q not found", className)
		return fmt.Errorf("provisioning claim %s: storage class %q not found", key, className)
	}
	if err != nil {
		return err
	}
	if class.Provisioner != p.name {
		return nil // annotated for us by hand, but its class says otherwise
	}
	if claim.Annotations[annSelectedNode] == "" && class.VolumeBindingMode != nil && *class.VolumeBindingMode == storagev1.VolumeBindingWaitForFirstConsumer {
		return nil // no node chosen yet
	}
	if err := supported(claim); err != nil {
		// The claim's spec cannot change: no retry would help.
		p.recorder.Eventf(claim, corev1.EventTypeWarning, reasonProvisioningFailed, "failed to provision volume with StorageClass %q: %v", class.Name, err)
		return nil
	}

	p.recorder.Eventf(claim, corev1.EventTypeNormal, reasonProvisioning, "External provisioner is provisioning volume for claim %q", key)
	host, err := p.hostname(ctx)
	if err != nil {
		return err
	}
	dir := filepath.Join(p.dir, dirName(pvName, claim))
	created, err := makeDir(p.dir, dir)
	if err != nil {
		p.recorder.Eventf(claim, corev1.EventTypeWarning, reasonProvisioningFailed, "failed to provision volume with StorageClass %q: %v", class.Name, err)
		return err
	}
	pv := p.volumeFor(claim, class, pvName, dir, host)
	_, err = p.client.CoreV1().PersistentVolumes().Create(ctx, pv, metav1.CreateOptions{})
	if apierrors.IsAlreadyExists(err) {
		// Made by an earlier sync the cache has not caught up with, or by
		// another node's agent: the directory stays only if the volume is here.
		// Read from the cache: a node may not get volumes its pods do not
		// use, and this one is no pod's yet. A volume the cache has not seen
		// yet is not known to be this node's: the sync its arrival starts
		// decides again.
		existing, getErr := p.volumes.Get(pvName)
		if getErr != nil || !p.mine(existing) || volumePath(existing) != dir {
			p.removeIfEmpty(dir, created)
		}
		if apierrors.IsNotFound(getErr) {
			return nil
		}
		return getErr
	}
	if err != nil {
		p.removeIfEmpty(dir, created)
		p.recorder.Eventf(claim, corev1.EventTypeWarning, reasonProvisioningFailed, "failed to provision volume with StorageClass %q: %v", class.Name, err)
		return fmt.Errorf("creating volume %s for claim %s: %w", pvName, key, err)
	}
	p.log.Info("provisioned", "claim", key, "volume", pvName, "path", dir)
	p.recorder.Eventf(claim, corev1.EventTypeNormal, reasonProvisioningSucceeded, "Successfully provisioned volume %s", pvName)
	return nil
}

// supported says why a claim's volume cannot be a local-path one, nil if it can.
func supported(claim *corev1.PersistentVolumeClaim) error {
	for _, m := range claim.Spec.AccessModes {
		if m != corev1.ReadWriteOnce && m != corev1.ReadWriteOncePod {
			return fmt.Errorf("local-path volumes only support the ReadWriteOnce and ReadWriteOncePod access modes, not %s: they live on one node", m)
		}
	}
	switch {
	case claim.Spec.VolumeMode != nil && *claim.Spec.VolumeMode == corev1.PersistentVolumeBlock:
		return errors.New("local-path volumes are directories: volumeMode Block is not supported")
	case claim.Spec.Selector != nil:
		return errors.New("claim Selector is not supported")
	case claim.Spec.DataSource != nil || claim.Spec.DataSourceRef != nil:
		return errors.New("local-path volumes cannot be populated from a data source")
	}
	if _, ok := claim.Spec.Resources.Requests[corev1.ResourceStorage]; !ok {
		return errors.New("the claim requests no storage")
	}
	return nil
}

// hostname is the value of this node's kubernetes.io/hostname label, which
// volumes' node affinity names; the node's name until the Node says otherwise.
func (p *Provisioner) hostname(ctx context.Context) (string, error) {
	node, err := p.client.CoreV1().Nodes().Get(ctx, p.node, metav1.GetOptions{})
	if apierrors.IsNotFound(err) {
		return p.node, nil
	}
	if err != nil {
		return "", fmt.Errorf("getting node %s: %w", p.node, err)
	}
	if h := node.Labels[corev1.LabelHostname]; h != "" {
		return h, nil
	}
	return p.node, nil
}

// volumeFor is the volume made for a claim: as large as it asks, with its
// access modes, the class's reclaim policy, pinned to this node and reserved
// for the claim.
func (p *Provisioner) volumeFor(claim *corev1.PersistentVolumeClaim, class *storagev1.StorageClass, name, dir, host string) *corev1.PersistentVolume {
	policy := corev1.PersistentVolumeReclaimDelete
	if class.ReclaimPolicy != nil {
		policy = *class.ReclaimPolicy
	}
	pv := &corev1.PersistentVolume{
		ObjectMeta: metav1.ObjectMeta{
			Name:        name,
			Annotations: map[string]string{annDynamicallyProvisioned: p.name, AnnNode: p.node},
		},
		Spec: corev1.PersistentVolumeSpec{
			Capacity:                      corev1.ResourceList{corev1.ResourceStorage: claim.Spec.Resources.Requests[corev1.ResourceStorage]},
			AccessModes:                   slices.Clone(claim.Spec.AccessModes),
			PersistentVolumeReclaimPolicy: policy,
			StorageClassName:              class.Name,
			VolumeMode:                    ptrTo(corev1.PersistentVolumeFilesystem),
			ClaimRef: &corev1.ObjectReference{
				Kind:            "PersistentVolumeClaim",
				APIVersion:      "v1",
				Namespace:       claim.Namespace,
				Name:            claim.Name,
				UID:             claim.UID,
				ResourceVersion: claim.ResourceVersion,
			},
			NodeAffinity: &corev1.VolumeNodeAffinity{Required: &corev1.NodeSelector{NodeSelectorTerms: []corev1.NodeSelectorTerm{{
				MatchExpressions: []corev1.NodeSelectorRequirement{{Key: corev1.LabelHostname, Operator: corev1.NodeSelectorOpIn, Values: []string{host}}},
			}}}},
			// local rather than hostPath: a directory gone missing fails the
			// mount instead of being silently recreated empty.
			PersistentVolumeSource: corev1.PersistentVolumeSource{Local: &corev1.LocalVolumeSource{Path: dir}},
		},
		Status: corev1.PersistentVolumeStatus{Phase: corev1.VolumePending},
	}
	if policy == corev1.PersistentVolumeReclaimDelete {
		pv.Finalizers = []string{Finalizer}
	}
	return pv
}

func ptrTo[T any](v T) *T { return &v }

// claimClass is the class a claim asks for, "" for none.
func claimClass(claim *corev1.PersistentVolumeClaim) string {
	if c, ok := claim.Annotations[annBetaClass]; ok {
		return c
	}
	if claim.Spec.StorageClassName != nil {
		return *claim.Spec.StorageClassName
	}
	return ""
}

// dirName is the directory of volume pvName for a claim,
// pvc-<uid>_<namespace>_<name>, cut to fit a file name: with a UID's 36
// characters only a claim's name can be that long, and only it is shortened.
func dirName(pvName string, claim *corev1.PersistentVolumeClaim) string {
	name := pvName + "_" + claim.Namespace + "_" + claim.Name
	if len(name) > maxNameLen {
		name = name[:maxNameLen]
	}
	return name
}

// makeDir makes a volume directory inside root (made too if missing), writable
// by all, and reports whether it made it rather than found it.
func makeDir(root, dir string) (bool, error) {
	if err := os.MkdirAll(root, 0o755); err != nil {
		return false, fmt.Errorf("making the volume directory %s: %w", root, err)
	}
	created := true
	if err := os.Mkdir(dir, dirMode); errors.Is(err, fs.ErrExist) {
		fi, statErr := os.Lstat(dir)
		if statErr != nil || !fi.IsDir() {
			return false, fmt.Errorf("making volume directory %s: something else is in the way", dir)
		}
		created = false
	} else if err != nil {
		return false, fmt.Errorf("making volume directory %s: %w", dir, err)
	}
	// The umask narrowed what Mkdir made.
	if err := os.Chmod(dir, dirMode); err != nil {
		return false, fmt.Errorf("making volume directory %s writable: %w", dir, err)
	}
	return created, nil
}

// removeIfEmpty removes a directory this sync made for a volume that did not
// come to be; one with anything in it is left alone.
func (p *Provisioner) removeIfEmpty(dir string, created bool) {
	if !created {
		return
	}
	if err := os.Remove(dir); err != nil && !errors.Is(err, fs.ErrNotExist) {
		p.log.Warn("leaving a volume directory behind", "path", dir, "err", err)
	}
}
