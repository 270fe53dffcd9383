package framework

import (
	"fmt"
	"sort"
	"strings"
)

// Code says how a pod failed on a node.
type Code uint8

const (
	// Success: the pod fits.
	Success Code = iota
	// Unschedulable: the pod does not fit, but might once lower-priority
	// pods are preempted.
	Unschedulable
	// UnschedulableAndUnresolvable: preempting pods would not help.
	UnschedulableAndUnresolvable
	// Error: something went wrong; not the pod's fault.
	Error
)

// Plugin names a filter, as a bit so that sets of them are cheap. The queue
// uses the set that rejected a pod to decide which cluster events may help it.
type Plugin uint32

// The filters, in the order upstream's framework runs them.
const (
	NodeUnschedulable Plugin = 1 << iota
	NodeName
	TaintToleration
	NodeAffinity
	NodePorts
	NodeResourcesFit
	VolumeBinding
	PodTopologySpread
	InterPodAffinity
	// DefaultPreemption is no filter: it marks pods waiting on preemption.
	DefaultPreemption
)

// AllPlugins is every filter.
const AllPlugins = DefaultPreemption<<1 - 1

var pluginNames = []string{"NodeUnschedulable", "NodeName", "TaintToleration", "NodeAffinity", "NodePorts",
	"NodeResourcesFit", "VolumeBinding", "PodTopologySpread", "InterPodAffinity", "DefaultPreemption"}

// String lists the plugins in the set.
func (p Plugin) String() string {
	var names []string
	for i, name := range pluginNames {
		if p&(1<<i) != 0 {
			names = append(names, name)
		}
	}
	return strings.Join(names, ",")
}

// Status is the outcome of a filter on a node; a nil *Status is Success.
type Status struct {
	Code    Code
	Reasons []string
	// Plugin is the filter that failed.
	Plugin Plugin
}

// NewStatus returns a failure of plugin with reasons.
func NewStatus(plugin Plugin, code Code, reasons ...string) *Status {
	return &Status{Code: code, Reasons: reasons, Plugin: plugin}
}

// IsSuccess says whether s is nil or Success.
func (s *Status) IsSuccess() bool { return s == nil || s.Code == Success }

// CodeOf is s's code, Success for nil.
func (s *Status) CodeOf() Code {
	if s == nil {
		return Success
	}
	return s.Code
}

// Message joins the reasons.
func (s *Status) Message() string {
	if s == nil {
		return ""
	}
	return strings.Join(s.Reasons, ", ")
}

// Messages of upstream's scheduler that more than one package uses.
const (
	// NoNodesAvailable is the error when the cluster has no nodes.
	NoNodesAvailable = "no nodes available to schedule pods"
	// PreemptionNotHelpful is a node's reason when preempting on it cannot
	// help: its filters failed in a way preemption cannot resolve.
	PreemptionNotHelpful = "Preemption is not helpful for scheduling"
)

// FitError says why no node fits a pod, node by node, in upstream's words:
// "0/3 nodes are available: 1 node(s) had untolerated taint(s), 2 Insufficient
// cpu. preemption: 0/3 nodes are available: 3 No preemption victims found for
// incoming pod."
type FitError struct {
	NumAllNodes int
	// PreFilterMsg is set when the pod failed before nodes were looked at;
	// then node statuses are left out of the message.
	PreFilterMsg string
	// Statuses holds the nodes that failed; Absent stands for every other
	// node (nil when none).
	Statuses map[string]*Status
	Absent   *Status
	// PostFilterMsg is what preemption reported.
	PostFilterMsg string
}

// Plugins is the set of filters that rejected the pod.
func (f *FitError) Plugins() Plugin {
	var p Plugin
	for _, s := range f.Statuses {
		p |= s.Plugin
	}
	if f.Absent != nil {
		p |= f.Absent.Plugin
	}
	return p
}

func (f *FitError) Error() string {
	msg := fmt.Sprintf("0/%d nodes are available:", f.NumAllNodes)
	if f.PreFilterMsg != "" {
		msg += " " + f.PreFilterMsg + "."
	} else if histogram := f.histogram(); histogram != "" {
		msg += " " + histogram + "."
	}
	if f.PostFilterMsg != "" {
		msg += " " + f.PostFilterMsg
	}
	return msg
}

// histogram counts each reason over the nodes, sorted as strings ("10 ..."
// before "3 ...", as upstream sorts them).
func (f *FitError) histogram() string {
	counts := map[string]int{}
	for _, s := range f.Statuses {
		for _, r := range s.Reasons {
			counts[r]++
		}
	}
	if absent := f.NumAllNodes - len(f.Statuses); absent > 0 && f.Absent != nil {
		for _, r := range f.Absent.Reasons {
			counts[r] += absent
		}
	}
	parts := make([]string, 0, len(counts))
	for r, n := range counts {
		parts = append(parts, fmt.Sprintf("%d %s", n, r))
	}
	sort.Strings(parts)
	return strings.Join(parts, ", ")
}
