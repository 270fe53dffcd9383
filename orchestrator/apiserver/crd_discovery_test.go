package apiserver

import (
	"testing"

	"github.com/google/go-cmp/cmp"
	apiextensionsv1 "k8s.io/apiextensions-apiserver/pkg/apis/apiextensions/v1"
	"k8s.io/apiextensions-apiserver/pkg/client/clientset/clientset/fake"
	"k8s.io/apiextensions-apiserver/pkg/client/informers/externalversions"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apiserver/pkg/endpoints/discovery"
)

// fakeGroups records what discovery is told. Only AddGroup and RemoveGroup are
// implemented; the embedded interface is nil.
type fakeGroups struct {
	discovery.GroupManager
	added   []metav1.APIGroup
	removed []string
}

func (f *fakeGroups) AddGroup(g metav1.APIGroup) { f.added = append(f.added, g) }
func (f *fakeGroups) RemoveGroup(name string)    { f.removed = append(f.removed, name) }

// crdOption changes a CustomResourceDefinition built by newCRD.
type crdOption func(*apiextensionsv1.CustomResourceDefinition)

func newCRD(name, group string, opts ...crdOption) *apiextensionsv1.CustomResourceDefinition {
	crd := &apiextensionsv1.CustomResourceDefinition{
		ObjectMeta: metav1.ObjectMeta{Name: name},
		Spec:       apiextensionsv1.CustomResourceDefinitionSpec{Group: group},
		Status: apiextensionsv1.CustomResourceDefinitionStatus{Conditions: []apiextensionsv1.CustomResourceDefinitionCondition{
			{Type: apiextensionsv1.NamesAccepted, Status: apiextensionsv1.ConditionTrue},
			{Type: apiextensionsv1.Established, Status: apiextensionsv1.ConditionTrue},
		}},
	}
	for _, o := range opts {
		o(crd)
	}
	return crd
}

func served(versions ...string) crdOption {
	return func(crd *apiextensionsv1.CustomResourceDefinition) {
		for _, v := range versions {
			crd.Spec.Versions = append(crd.Spec.Versions, apiextensionsv1.CustomResourceDefinitionVersion{Name: v, Served: true})
		}
	}
}

func notServed(versions ...string) crdOption {
	return func(crd *apiextensionsv1.CustomResourceDefinition) {
		for _, v := range versions {
			crd.Spec.Versions = append(crd.Spec.Versions, apiextensionsv1.CustomResourceDefinitionVersion{Name: v})
		}
	}
}

func establishedStatus(s apiextensionsv1.ConditionStatus) crdOption {
	return func(crd *apiextensionsv1.CustomResourceDefinition) {
		crd.Status.Conditions[1].Status = s
	}
}

func withoutConditions(crd *apiextensionsv1.CustomResourceDefinition) { crd.Status.Conditions = nil }

// apiGroup is the discovery entry of group serving versions, preferred first.
func apiGroup(group string, versions ...string) metav1.APIGroup {
	g := metav1.APIGroup{Name: group}
	for _, v := range versions {
		g.Versions = append(g.Versions, metav1.GroupVersionForDiscovery{GroupVersion: group + "/" + v, Version: v})
	}
	g.PreferredVersion = g.Versions[0]
	return g
}

func TestCRDGroupDiscoverySync(t *testing.T) {
	const group = "stable.example.com"
	cases := []struct {
		name        string
		crds        []*apiextensionsv1.CustomResourceDefinition
		wantAdded   []metav1.APIGroup
		wantRemoved []string
	}{
		{
			name:      "one version",
			crds:      []*apiextensionsv1.CustomResourceDefinition{newCRD("crontabs."+group, group, served("v1"))},
			wantAdded: []metav1.APIGroup{apiGroup(group, "v1")},
		},
		{
			name: "versions by Kubernetes priority",
			crds: []*apiextensionsv1.CustomResourceDefinition{
				newCRD("crontabs."+group, group, served("v1alpha1", "foo", "v1", "v2beta1", "bar", "v1beta1", "v10", "v2", "v1beta2")),
			},
			wantAdded: []metav1.APIGroup{apiGroup(group, "v10", "v2", "v1", "v2beta1", "v1beta2", "v1beta1", "v1alpha1", "bar", "foo")},
		},
		{
			name:      "versions not served are left out",
			crds:      []*apiextensionsv1.CustomResourceDefinition{newCRD("crontabs."+group, group, notServed("v2"), served("v1beta1"))},
			wantAdded: []metav1.APIGroup{apiGroup(group, "v1beta1")},
		},
		{
			name: "versions of several CRDs of the group are merged once each",
			crds: []*apiextensionsv1.CustomResourceDefinition{
				newCRD("crontabs."+group, group, served("v1", "v1beta1")),
				newCRD("backups."+group, group, served("v1beta1", "v2alpha1")),
			},
			wantAdded: []metav1.APIGroup{apiGroup(group, "v1", "v1beta1", "v2alpha1")},
		},
		{
			name: "CRDs of other groups are left out",
			crds: []*apiextensionsv1.CustomResourceDefinition{
				newCRD("crontabs."+group, group, served("v1beta1")),
				newCRD("widgets.other.example.com", "other.example.com", served("v1")),
			},
			wantAdded: []metav1.APIGroup{apiGroup(group, "v1beta1")},
		},
		{
			name: "CRDs not yet established are left out",
			crds: []*apiextensionsv1.CustomResourceDefinition{
				newCRD("crontabs."+group, group, served("v1beta1")),
				newCRD("backups."+group, group, served("v1"), establishedStatus(apiextensionsv1.ConditionFalse)),
				newCRD("snapshots."+group, group, served("v2"), withoutConditions),
			},
			wantAdded: []metav1.APIGroup{apiGroup(group, "v1beta1")},
		},
		{
			name:        "group removed when no CRD is established",
			crds:        []*apiextensionsv1.CustomResourceDefinition{newCRD("crontabs."+group, group, served("v1"), establishedStatus(apiextensionsv1.ConditionUnknown))},
			wantRemoved: []string{group},
		},
		{
			name:        "group removed when no version is served",
			crds:        []*apiextensionsv1.CustomResourceDefinition{newCRD("crontabs."+group, group, notServed("v1", "v2"))},
			wantRemoved: []string{group},
		},
		{
			name:        "group removed when its last CRD is gone",
			crds:        []*apiextensionsv1.CustomResourceDefinition{newCRD("widgets.other.example.com", "other.example.com", served("v1"))},
			wantRemoved: []string{group},
		},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			informer := externalversions.NewSharedInformerFactory(fake.NewClientset(), 0).Apiextensions().V1().CustomResourceDefinitions()
			for _, crd := range c.crds {
				if err := informer.Informer().GetIndexer().Add(crd); err != nil {
					t.Fatal(err)
				}
			}
			groups := &fakeGroups{}
			newCRDGroupDiscovery(informer, groups).sync(group)
			if diff := cmp.Diff(c.wantAdded, groups.added); diff != "" {
				t.Errorf("groups added (-want +got):\n%s", diff)
			}
			if diff := cmp.Diff(c.wantRemoved, groups.removed); diff != "" {
				t.Errorf("groups removed (-want +got):\n%s", diff)
			}
		})
	}
}
