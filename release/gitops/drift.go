package gitops

import "berth.dev/berth/release/kube"

// driftOptions leaves the fields spec.driftDetection.ignore names out of the
// comparison of live objects with the release's manifest.
func (rel *Release) driftOptions() kube.DiffOptions {
	d := rel.Spec.DriftDetection
	if d == nil {
		return kube.DiffOptions{}
	}
	rules := make([]kube.IgnoreRule, len(d.Ignore))
	for i, r := range d.Ignore {
		rules[i].Paths = r.Paths
		if r.Target != nil {
			rules[i].Kind, rules[i].Name = r.Target.Kind, r.Target.Name
		}
	}
	return kube.DiffOptions{Ignore: rules}
}
