package gitops

import (
	"testing"

	"github.com/google/go-cmp/cmp"
	"github.com/google/go-cmp/cmp/cmpopts"

	"berth.dev/berth/release/kube"
)

func TestDriftOptions(t *testing.T) {
	for _, tt := range []struct {
		name  string
		drift *DriftDetection
		want  kube.DiffOptions
	}{
		{"None", nil, kube.DiffOptions{}},
		{"NoRules", &DriftDetection{Mode: DriftWarn}, kube.DiffOptions{}},
		{"Rules", &DriftDetection{Mode: DriftCorrect, Ignore: []IgnoreRule{
			{Paths: []string{"/spec/replicas"}, Target: &ObjectTarget{Kind: "Deployment", Name: "web"}},
			{Paths: []string{"/metadata/annotations/example.com~1note"}},
			{Paths: []string{"/data"}, Target: &ObjectTarget{Kind: "ConfigMap"}},
		}}, kube.DiffOptions{Ignore: []kube.IgnoreRule{
			{Kind: "Deployment", Name: "web", Paths: []string{"/spec/replicas"}},
			{Paths: []string{"/metadata/annotations/example.com~1note"}},
			{Kind: "ConfigMap", Paths: []string{"/data"}},
		}}},
	} {
		t.Run(tt.name, func(t *testing.T) {
			rel := &Release{Spec: ReleaseSpec{DriftDetection: tt.drift}}
			if diff := cmp.Diff(tt.want, rel.driftOptions(), cmpopts.EquateEmpty()); diff != "" {
				t.Errorf("options (-want +got):\n%s", diff)
			}
		})
	}
}
