package nodeipam

import (
	"context"
	"encoding/json"
	"fmt"
	"net/netip"
	"slices"
	"strings"

	corev1 "k8s.io/api/core/v1"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/types"

	"berth.dev/berth/orchestrator/controller/nodeipam/cidrset"
)

// Event reasons, upstream's.
const (
	// ReasonCIDRNotAvailable: a cluster CIDR is full, or a node holds a CIDR
	// outside every cluster CIDR.
	ReasonCIDRNotAvailable = "CIDRNotAvailable"
	// ReasonCIDRAssignmentFailed: writing a node's pod CIDRs failed.
	ReasonCIDRAssignmentFailed = "CIDRAssignmentFailed"
)

// sync brings one node's CIDRs and the record of taken CIDRs in line: a node
// that is gone gives its CIDRs back, a node with CIDRs has them marked taken,
// a node without gets one from each cluster CIDR.
func (c *Controller) sync(ctx context.Context, name string) error {
	node, err := c.nodes.Get(name)
	if apierrors.IsNotFound(err) {
		c.release(name)
		return nil
	}
	if err != nil {
		return fmt.Errorf("getting node %s from the cache: %w", name, err)
	}
	if cidrs := nodeCIDRs(node); len(cidrs) > 0 {
		c.adopt(node, cidrs)
		return nil
	}
	if !node.DeletionTimestamp.IsZero() {
		// Going away: its pods need no new range.
		return nil
	}
	return c.allocate(ctx, node)
}

// nodeCIDRs is a node's pod CIDRs; podCIDRs, or podCIDR for a node written
// before podCIDRs existed.
func nodeCIDRs(node *corev1.Node) []string {
	if len(node.Spec.PodCIDRs) > 0 {
		return node.Spec.PodCIDRs
	}
	if node.Spec.PodCIDR != "" {
		return []string{node.Spec.PodCIDR}
	}
	return nil
}

// adopt marks the CIDRs a node already has as taken, and reports those outside
// every cluster CIDR, which it leaves alone.
func (c *Controller) adopt(node *corev1.Node, cidrs []string) {
	c.mu.Lock()
	outside := c.adoptLocked(node, cidrs)
	c.mu.Unlock()
	msgs := make([]string, len(outside))
	for i, cidr := range outside {
		msgs[i] = fmt.Sprintf("Node %s has CIDR %s, which is not in the cluster CIDR", node.Name, cidr)
	}
	c.report(node, ReasonCIDRNotAvailable, msgs...)
}

// adoptLocked records cidrs as node's and returns those it cannot hold
// because no cluster CIDR has them.
func (c *Controller) adoptLocked(node *corev1.Node, cidrs []string) (outside []string) {
	var inside []netip.Prefix
	for _, s := range cidrs {
		p, err := parseCIDR(s)
		if err != nil || c.setFor(p) == nil {
			// The API refuses unparsable CIDRs; one here is foreign all the same.
			outside = append(outside, s)
			continue
		}
		inside = append(inside, p)
	}
	c.holdLocked(node.Name, node.UID, inside)
	delete(c.waiting, node.Name)
	return outside
}

// release gives back the CIDRs of a node that is gone.
func (c *Controller) release(name string) {
	c.mu.Lock()
	defer c.mu.Unlock()
	if h, ok := c.held[name]; ok {
		c.log.Info("node gone, releasing its CIDRs", "node", name, "podCIDRs", h.cidrs)
	}
	c.holdLocked(name, "", nil)
	delete(c.reported, name)
	delete(c.waiting, name)
}

// allocate takes a node CIDR of each cluster CIDR for node and writes them to
// its spec. A full cluster CIDR is reported and retried with back-off; so is a
// failed write, which keeps the reservation so that the retry writes the same.
func (c *Controller) allocate(ctx context.Context, node *corev1.Node) error {
	cidrs, err := c.reserve(node)
	if err != nil {
		c.report(node, ReasonCIDRNotAvailable, fmt.Sprintf("Node %s status is now: %s", node.Name, ReasonCIDRNotAvailable))
		return fmt.Errorf("allocating pod CIDRs for node %s: %w", node.Name, err)
	}
	if err := c.patch(ctx, node.Name, cidrs); err != nil {
		if apierrors.IsNotFound(err) {
			// Deleted meanwhile; its delete event releases the reservation.
			return nil
		}
		c.report(node, ReasonCIDRAssignmentFailed, fmt.Sprintf("Node %s status is now: %s", node.Name, ReasonCIDRAssignmentFailed))
		return fmt.Errorf("setting the pod CIDRs of node %s to %v: %w", node.Name, cidrs, err)
	}
	c.log.Info("set node pod CIDRs", "node", node.Name, "podCIDRs", cidrs)
	c.report(node, "")
	return nil
}

// reserve takes a node CIDR from each cluster CIDR for node, or returns those
// it reserved for node before (a retried write). When one cluster CIDR is
// full it takes none and fails with cidrset.ErrFull.
func (c *Controller) reserve(node *corev1.Node) ([]netip.Prefix, error) {
	c.mu.Lock()
	defer c.mu.Unlock()
	if h, ok := c.held[node.Name]; ok {
		if h.uid == node.UID && len(h.cidrs) == len(c.sets) {
			return h.cidrs, nil
		}
		// A node of the same name that is gone, or a partial record.
		c.holdLocked(node.Name, "", nil)
	}
	cidrs := make([]netip.Prefix, 0, len(c.sets))
	for _, set := range c.sets {
		p, err := set.Allocate()
		if err != nil {
			// Give back what this call took, directly: nobody else holds it,
			// and waking the waiting nodes (this one among them) would spin.
			for _, q := range cidrs {
				_ = c.setFor(q).Release(q)
			}
			c.waiting[node.Name] = true
			return nil, err
		}
		cidrs = append(cidrs, p)
	}
	c.held[node.Name] = holding{uid: node.UID, cidrs: cidrs}
	delete(c.waiting, node.Name)
	return cidrs, nil
}

// patch writes cidrs to the node's spec.podCIDR and spec.podCIDRs, and nothing
// else, as upstream does: a strategic merge patch of those two fields. The API
// refuses it when the node has other CIDRs by then.
func (c *Controller) patch(ctx context.Context, name string, cidrs []netip.Prefix) error {
	s := make([]string, len(cidrs))
	for i, p := range cidrs {
		s[i] = p.String()
	}
	data, err := json.Marshal(map[string]any{"spec": map[string]any{"podCIDR": s[0], "podCIDRs": s}})
	if err != nil {
		return fmt.Errorf("encoding the patch: %w", err)
	}
	_, err = c.client.CoreV1().Nodes().Patch(ctx, name, types.StrategicMergePatchType, data, metav1.PatchOptions{})
	return err
}

// holdLocked records cidrs (all inside cluster CIDRs) as the node's, marks
// them taken and frees what the node held before and holds no longer. No
// cidrs forget the node.
func (c *Controller) holdLocked(name string, uid types.UID, cidrs []netip.Prefix) {
	old := c.held[name]
	if len(cidrs) == 0 {
		delete(c.held, name)
	} else {
		c.held[name] = holding{uid: uid, cidrs: cidrs}
	}
	for _, p := range old.cidrs {
		if !slices.Contains(cidrs, p) {
			c.freeLocked(p)
		}
	}
	for _, p := range cidrs {
		if err := c.setFor(p).Occupy(p); err != nil {
			c.log.Error("marking a node CIDR taken", "node", name, "err", err)
		}
	}
}

// freeLocked frees p, except for what other nodes still hold of it (two
// nodes given one CIDR by hand keep it taken while either exists), and queues
// the nodes waiting for a free CIDR.
func (c *Controller) freeLocked(p netip.Prefix) {
	set := c.setFor(p)
	if set == nil {
		return
	}
	if err := set.Release(p); err != nil {
		c.log.Error("freeing a node CIDR", "cidr", p, "err", err)
		return
	}
	for _, h := range c.held {
		for _, q := range h.cidrs {
			if q.Overlaps(p) {
				_ = set.Occupy(q) // q overlaps p, which is in set: cannot fail.
			}
		}
	}
	for name := range c.waiting {
		c.queue.Add(name)
	}
}

// setFor is the set of the cluster CIDR that p shares addresses with, or nil.
func (c *Controller) setFor(p netip.Prefix) *cidrset.Set {
	for _, s := range c.sets {
		if s.Overlaps(p) {
			return s
		}
	}
	return nil
}

// report records an event of reason for each message on node, once for as
// long as the node stays in that state; no messages say the node is fine now.
func (c *Controller) report(node *corev1.Node, reason string, msgs ...string) {
	key := reason + "\n" + strings.Join(msgs, "\n")
	c.mu.Lock()
	same := c.reported[node.Name] == key
	if len(msgs) == 0 {
		delete(c.reported, node.Name)
	} else {
		c.reported[node.Name] = key
	}
	c.mu.Unlock()
	if same || len(msgs) == 0 {
		return
	}
	for _, msg := range msgs {
		c.log.Warn(msg, "node", node.Name, "reason", reason)
		c.recorder.Event(node, corev1.EventTypeWarning, reason, msg)
	}
}
