package nodestatus

import (
	"context"
	"fmt"

	coordinationv1 "k8s.io/api/coordination/v1"
	corev1 "k8s.io/api/core/v1"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/utils/ptr"
)

// leaseTries bounds the attempts of one renewal that meet a stale Lease (a
// conflict, or one deleted meanwhile) before waiting for the next interval.
const leaseTries = 3

// renewLease renews the node's Lease in kube-node-lease, creating it when
// missing. Only this goroutine touches n.lease.
func (n *Node) renewLease(ctx context.Context) error {
	var err error
	for range leaseTries {
		err = n.tryRenewLease(ctx)
		if err == nil {
			return nil
		}
		n.lease = nil // read it again
		if !apierrors.IsConflict(err) && !apierrors.IsNotFound(err) {
			break
		}
	}
	return err
}

func (n *Node) tryRenewLease(ctx context.Context) error {
	leases := n.cfg.Client.CoordinationV1().Leases(corev1.NamespaceNodeLease)
	name := n.cfg.NodeName
	if n.lease == nil {
		lease, err := leases.Get(ctx, name, metav1.GetOptions{})
		if apierrors.IsNotFound(err) {
			lease = &coordinationv1.Lease{ObjectMeta: metav1.ObjectMeta{Name: name, Namespace: corev1.NamespaceNodeLease}}
			n.fillLease(ctx, lease)
			created, err := leases.Create(ctx, lease, metav1.CreateOptions{})
			if err != nil {
				return fmt.Errorf("creating lease %s/%s: %w", corev1.NamespaceNodeLease, name, err)
			}
			n.lease = created
			return nil
		}
		if err != nil {
			return fmt.Errorf("reading lease %s/%s: %w", corev1.NamespaceNodeLease, name, err)
		}
		n.lease = lease
	}
	lease := n.lease.DeepCopy()
	n.fillLease(ctx, lease)
	updated, err := leases.Update(ctx, lease, metav1.UpdateOptions{})
	if err != nil {
		return fmt.Errorf("renewing lease %s/%s: %w", corev1.NamespaceNodeLease, name, err)
	}
	n.lease = updated
	return nil
}

// fillLease sets what the node's Lease says: held by the node, for
// LeaseDuration from now, owned by the Node so that it goes with it. A Node
// that cannot be read leaves the owner for the next renewal to set.
func (n *Node) fillLease(ctx context.Context, lease *coordinationv1.Lease) {
	now := metav1.NewMicroTime(n.clock.Now())
	lease.Spec.HolderIdentity = ptr.To(n.cfg.NodeName)
	lease.Spec.LeaseDurationSeconds = ptr.To(int32(n.cfg.LeaseDuration.Seconds()))
	lease.Spec.RenewTime = &now
	if len(lease.OwnerReferences) > 0 {
		return
	}
	node, err := n.cfg.Client.CoreV1().Nodes().Get(ctx, n.cfg.NodeName, metav1.GetOptions{})
	if err != nil {
		n.log.Debug("lease left without an owner for now", "node", n.cfg.NodeName, "err", err)
		return
	}
	lease.OwnerReferences = []metav1.OwnerReference{{
		APIVersion: corev1.SchemeGroupVersion.String(),
		Kind:       "Node",
		Name:       node.Name,
		UID:        node.UID,
	}}
}
