package apiserver

import (
	"sort"

	apiextensionsv1 "k8s.io/apiextensions-apiserver/pkg/apis/apiextensions/v1"
	apiextensionsinformers "k8s.io/apiextensions-apiserver/pkg/client/informers/externalversions/apiextensions/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/labels"
	"k8s.io/apimachinery/pkg/version"
	"k8s.io/apiserver/pkg/endpoints/discovery"
	genericapiserver "k8s.io/apiserver/pkg/server"
	"k8s.io/client-go/tools/cache"
)

// crdGroupDiscovery lists the groups of CustomResourceDefinitions in the legacy
// /apis answer. apiextensions serves /apis/<group> and the aggregated /apis itself;
// upstream's aggregator adds the rest, and berth has no aggregator.
type crdGroupDiscovery struct {
	crds   apiextensionsinformers.CustomResourceDefinitionInformer
	groups discovery.GroupManager
}

func newCRDGroupDiscovery(crds apiextensionsinformers.CustomResourceDefinitionInformer, groups discovery.GroupManager) *crdGroupDiscovery {
	return &crdGroupDiscovery{crds: crds, groups: groups}
}

func (d *crdGroupDiscovery) run(genericapiserver.PostStartHookContext) error {
	handler := func(obj any) {
		crd, ok := obj.(*apiextensionsv1.CustomResourceDefinition)
		if !ok {
			if tomb, ok := obj.(cache.DeletedFinalStateUnknown); ok {
				crd, _ = tomb.Obj.(*apiextensionsv1.CustomResourceDefinition)
			}
		}
		if crd != nil {
			d.sync(crd.Spec.Group)
		}
	}
	_, err := d.crds.Informer().AddEventHandler(cache.ResourceEventHandlerFuncs{
		AddFunc:    handler,
		UpdateFunc: func(_, obj any) { handler(obj) },
		DeleteFunc: handler,
	})
	return err
}

// sync publishes the served versions of group, highest priority first, or removes
// the group when no CRD serves it any more.
func (d *crdGroupDiscovery) sync(group string) {
	crds, err := d.crds.Lister().List(labels.Everything())
	if err != nil {
		return
	}
	seen := map[string]bool{}
	var versions []string
	for _, crd := range crds {
		if crd.Spec.Group != group || !established(crd) {
			continue
		}
		for _, v := range crd.Spec.Versions {
			if v.Served && !seen[v.Name] {
				seen[v.Name] = true
				versions = append(versions, v.Name)
			}
		}
	}
	if len(versions) == 0 {
		d.groups.RemoveGroup(group)
		return
	}
	sort.Slice(versions, func(i, j int) bool { return version.CompareKubeAwareVersionStrings(versions[i], versions[j]) > 0 })
	apiGroup := metav1.APIGroup{Name: group}
	for _, v := range versions {
		apiGroup.Versions = append(apiGroup.Versions, metav1.GroupVersionForDiscovery{GroupVersion: group + "/" + v, Version: v})
	}
	apiGroup.PreferredVersion = apiGroup.Versions[0]
	d.groups.AddGroup(apiGroup)
}

func established(crd *apiextensionsv1.CustomResourceDefinition) bool {
	for _, c := range crd.Status.Conditions {
		if c.Type == apiextensionsv1.Established {
			return c.Status == apiextensionsv1.ConditionTrue
		}
	}
	return false
}
