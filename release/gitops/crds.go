package gitops

import (
	"context"
	"encoding/json"
	"fmt"

	apiextensionsv1 "k8s.io/apiextensions-apiserver/pkg/apis/apiextensions/v1"
	apiextensionsclient "k8s.io/apiextensions-apiserver/pkg/client/clientset/clientset"
	apiequality "k8s.io/apimachinery/pkg/api/equality"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/runtime/schema"
	"k8s.io/client-go/util/retry"
	"k8s.io/utils/ptr"

	"berth.dev/berth/release/storage"
)

// The API group, version and kinds of the GitOps resources.
const (
	Group         = storage.Group
	Version       = "v1"
	APIVersion    = Group + "/" + Version
	KindRelease   = "Release"
	KindGitSource = "GitSource"
)

// ReleasesResource is the resource Releases are served as.
func ReleasesResource() schema.GroupVersionResource {
	return schema.GroupVersionResource{Group: Group, Version: Version, Resource: "releases"}
}

// GitSourcesResource is the resource GitSources are served as.
func GitSourcesResource() schema.GroupVersionResource {
	return schema.GroupVersionResource{Group: Group, Version: Version, Resource: "gitsources"}
}

// durationPattern accepts what metav1.Duration writes (time.Duration's
// String, "1m30s") and refuses a sign, so that no interval is negative.
const durationPattern = `^([0-9]+(\.[0-9]+)?(ns|us|µs|ms|s|m|h))+$`

// CRDs returns the definitions of the Release and GitSource resources. Their
// schemas mirror types.go and refuse what a single field can get wrong
// (enums, patterns, minimums) and a chart source or Git ref that is not
// exactly one; Release.Validate checks the rest (names, the repository's
// files) before a Release is applied.
func CRDs() []*apiextensionsv1.CustomResourceDefinition {
	ready := `.status.conditions[?(@.type=="Ready")]`
	age := apiextensionsv1.CustomResourceColumnDefinition{Name: "Age", Type: "date", JSONPath: ".metadata.creationTimestamp"}
	return []*apiextensionsv1.CustomResourceDefinition{
		definition("releases", KindRelease, releaseSpecSchema(), releaseStatusSchema(), []apiextensionsv1.CustomResourceColumnDefinition{
			age,
			{Name: "Ready", Type: "string", JSONPath: ready + ".status"},
			{Name: "Status", Type: "string", JSONPath: ready + ".message"},
			{Name: "Revision", Type: "integer", JSONPath: ".status.lastAppliedRevision"},
			{Name: "Chart", Type: "string", JSONPath: ".status.lastAppliedChart"},
		}),
		definition("gitsources", KindGitSource, gitSourceSpecSchema(), gitSourceStatusSchema(), []apiextensionsv1.CustomResourceColumnDefinition{
			{Name: "URL", Type: "string", JSONPath: ".spec.url"},
			age,
			{Name: "Ready", Type: "string", JSONPath: ready + ".status"},
			{Name: "Status", Type: "string", JSONPath: ready + ".message"},
			{Name: "Commit", Type: "string", JSONPath: ".status.lastAppliedCommit"},
		}),
	}
}

func definition(plural, kind string, spec, status apiextensionsv1.JSONSchemaProps, columns []apiextensionsv1.CustomResourceColumnDefinition) *apiextensionsv1.CustomResourceDefinition {
	return &apiextensionsv1.CustomResourceDefinition{
		ObjectMeta: metav1.ObjectMeta{Name: plural + "." + Group},
		Spec: apiextensionsv1.CustomResourceDefinitionSpec{
			Group: Group,
			Scope: apiextensionsv1.NamespaceScoped,
			Names: apiextensionsv1.CustomResourceDefinitionNames{
				Plural: plural, Singular: plural[:len(plural)-1], Kind: kind, ListKind: kind + "List",
			},
			Versions: []apiextensionsv1.CustomResourceDefinitionVersion{{
				Name: Version, Served: true, Storage: true,
				Schema: &apiextensionsv1.CustomResourceValidation{OpenAPIV3Schema: &apiextensionsv1.JSONSchemaProps{
					Type: "object",
					Properties: map[string]apiextensionsv1.JSONSchemaProps{
						"apiVersion": {Type: "string"},
						"kind":       {Type: "string"},
						"metadata":   {Type: "object"},
						"spec":       spec,
						"status":     status,
					},
					Required: []string{"spec"},
				}},
				Subresources:             &apiextensionsv1.CustomResourceSubresources{Status: &apiextensionsv1.CustomResourceSubresourceStatus{}},
				AdditionalPrinterColumns: columns,
			}},
		},
	}
}

func releaseSpecSchema() apiextensionsv1.JSONSchemaProps {
	remediation := func(strategies ...string) apiextensionsv1.JSONSchemaProps {
		return object("", map[string]apiextensionsv1.JSONSchemaProps{
			"remediation": object("What a failed action leads to.", map[string]apiextensionsv1.JSONSchemaProps{
				"retries":  {Type: "integer", Minimum: ptr.To(0.0), Description: "How many more times a failed action is tried, with back-off, before the Release is Stalled."},
				"strategy": enum("What follows a failed action once retries are exhausted; empty leaves the failed revision as it is.", strategies...),
			}),
		})
	}
	chart := object("Where the chart comes from: exactly one of path, oci and repo.", map[string]apiextensionsv1.JSONSchemaProps{
		"path":    str("A chart directory in the Git repository the Release is declared in, relative to its root."),
		"oci":     {Type: "string", Pattern: "^oci://.+", Description: "An oci:// reference: oci://host/repository/chart."},
		"repo":    {Type: "string", Pattern: "^https?://.+", Description: "The URL of a chart repository; name is the chart's name in it."},
		"name":    str("The chart's name in repo."),
		"version": str("A version or a semver range (1.2.x, ^1.2) of an oci or repo chart; the latest stable version if empty."),
	})
	chart.XValidations = apiextensionsv1.ValidationRules{
		{
			Rule:    `[has(self.path) && self.path != '', has(self.oci) && self.oci != '', has(self.repo) && self.repo != ''].filter(x, x).size() == 1`,
			Message: "exactly one of path, oci and repo must be set",
		},
		{
			Rule:    `!has(self.repo) || self.repo == '' || has(self.name) && self.name != ''`,
			Message: "name is required with repo",
		},
	}
	spec := object("What the Release wants.", map[string]apiextensionsv1.JSONSchemaProps{
		"chart":           chart,
		"releaseName":     {Type: "string", MaxLength: ptr.To(int64(maxReleaseName)), Description: "The release's name, the Release's own if empty."},
		"targetNamespace": {Type: "string", MaxLength: ptr.To(int64(63)), Description: "Where the release goes, the Release's namespace if empty; created when missing."},
		"values": {Type: "object", XPreserveUnknownFields: ptr.To(true),
			Description: "The release's values, merged over those of valuesFrom."},
		"valuesFrom": list("Values merged in order, each over the ones before.", object("", map[string]apiextensionsv1.JSONSchemaProps{
			"kind":     enum("ConfigMap or Secret in the Release's namespace, or File of the Git repository.", "ConfigMap", "Secret", "File"),
			"name":     {Type: "string", MinLength: ptr.To(int64(1)), Description: "The ConfigMap's or Secret's name, or the file's path relative to the repository's root."},
			"key":      str("The key holding the values, values.yaml if empty."),
			"optional": {Type: "boolean", Description: "Makes a missing reference count as no values."},
		}, "kind", "name")),
		"dependsOn": list("Releases that must be Ready before this one is reconciled.", object("", map[string]apiextensionsv1.JSONSchemaProps{
			"name":      {Type: "string", MinLength: ptr.To(int64(1))},
			"namespace": str("The Release's namespace if empty."),
		}, "name")),
		"suspend":  {Type: "boolean", Description: "Stops reconciling the Release; what is installed stays."},
		"interval": duration("How often the Release is reconciled without a change (drift detection, retries), 10m if unset."),
		"timeout":  duration("Bounds each install, upgrade, rollback or uninstall and its wait, 5m if unset."),
		// A failed install has no deployed revision to roll back to.
		"install": remediation(string(RemediateUninstall)),
		"upgrade": remediation(string(RemediateRollback), string(RemediateUninstall)),
		"driftDetection": object("What to do when live objects differ from the release's manifest.", map[string]apiextensionsv1.JSONSchemaProps{
			"mode": enum("off (default), warn (report it in the Ready condition and an event) or correct (put the objects back).",
				string(DriftOff), string(DriftWarn), string(DriftCorrect)),
			"ignore": list("Fields left out of the comparison.", object("", map[string]apiextensionsv1.JSONSchemaProps{
				"paths": list("JSON pointers (/spec/replicas).", str("")),
				"target": object("Selects objects by kind and name; empty fields match all.", map[string]apiextensionsv1.JSONSchemaProps{
					"kind": str(""),
					"name": str(""),
				}),
			}, "paths")),
		}),
		"crds": enum("The policy for the chart's crds/ directory: Skip, Create (default: install, never update) or CreateReplace.",
			string(CRDsSkip), string(CRDsCreate), string(CRDsCreateReplace)),
	}, "chart")
	return spec
}

func releaseStatusSchema() apiextensionsv1.JSONSchemaProps {
	return object("What the reconciler last saw and did.", map[string]apiextensionsv1.JSONSchemaProps{
		"observedGeneration":     {Type: "integer", Format: "int64"},
		"conditions":             conditions(),
		"lastAppliedRevision":    {Type: "integer", Description: "The release revision the Release last deployed."},
		"lastAppliedChart":       str("The chart (name-version) last deployed."),
		"lastAppliedCommit":      str("The Git commit the Release was last deployed from."),
		"lastAppliedDigest":      str("Identifies the chart and values last deployed."),
		"lastAttemptedDigest":    str("Identifies the chart and values last tried."),
		"failures":               {Type: "integer", Description: "Failed attempts at the current digest."},
		"lastFailure":            str("Why the last attempt failed."),
		"lastHandledReconcileAt": str("The value of the reconcile.berth.dev/requestedAt annotation last acted on."),
	})
}

func gitSourceSpecSchema() apiextensionsv1.JSONSchemaProps {
	ref := object("A branch, tag or commit; the default branch if unset.", map[string]apiextensionsv1.JSONSchemaProps{
		"branch": str(""),
		"tag":    str(""),
		"commit": str(""),
	})
	ref.XValidations = apiextensionsv1.ValidationRules{{
		Rule:    `[has(self.branch) && self.branch != '', has(self.tag) && self.tag != '', has(self.commit) && self.commit != ''].filter(x, x).size() == 1`,
		Message: "exactly one of branch, tag and commit must be set",
	}}
	return object("Which repository, ref and path.", map[string]apiextensionsv1.JSONSchemaProps{
		"url":      {Type: "string", MinLength: ptr.To(int64(1)), Description: "file://, https:// or ssh:// (or scp-like git@host:path)."},
		"ref":      ref,
		"path":     str("The directory whose manifests are applied, the root if empty."),
		"interval": duration("How often the repository is fetched, 1m if unset."),
		"secretRef": object("A Secret in the GitSource's namespace with credentials: username and password, or identity and known_hosts.",
			map[string]apiextensionsv1.JSONSchemaProps{"name": {Type: "string", MinLength: ptr.To(int64(1))}}, "name"),
		"prune":   {Type: "boolean", Description: "Deletes the Releases applied from an earlier commit that the current one no longer has (true if unset)."},
		"suspend": {Type: "boolean", Description: "Stops fetching."},
	}, "url")
}

func gitSourceStatusSchema() apiextensionsv1.JSONSchemaProps {
	return object("What the last fetch found and applied.", map[string]apiextensionsv1.JSONSchemaProps{
		"observedGeneration":     {Type: "integer", Format: "int64"},
		"conditions":             conditions(),
		"lastAppliedCommit":      str("The commit whose manifests were applied last."),
		"lastFetchedCommit":      str("The commit fetched last; it differs from lastAppliedCommit when its manifests were refused."),
		"releases":               list("The Releases applied from lastAppliedCommit, as namespace/name.", str("")),
		"lastHandledReconcileAt": str("The value of the reconcile.berth.dev/requestedAt annotation last acted on."),
	})
}

// conditions is the schema of []metav1.Condition, as Kubernetes' own types
// declare it.
func conditions() apiextensionsv1.JSONSchemaProps {
	c := list("Ready, Reconciling and Stalled, as kstatus reads them.", object("", map[string]apiextensionsv1.JSONSchemaProps{
		"type": {Type: "string", MaxLength: ptr.To(int64(316)),
			Pattern: `^([a-z0-9]([-a-z0-9]*[a-z0-9])?(\.[a-z0-9]([-a-z0-9]*[a-z0-9])?)*/)?(([A-Za-z0-9][-A-Za-z0-9_.]*)?[A-Za-z0-9])$`},
		"status":             enum("", string(metav1.ConditionTrue), string(metav1.ConditionFalse), string(metav1.ConditionUnknown)),
		"observedGeneration": {Type: "integer", Format: "int64", Minimum: ptr.To(0.0)},
		"lastTransitionTime": {Type: "string", Format: "date-time"},
		"reason": {Type: "string", MinLength: ptr.To(int64(1)), MaxLength: ptr.To(int64(1024)),
			Pattern: `^[A-Za-z]([A-Za-z0-9_,:]*[A-Za-z0-9_])?$`},
		"message": {Type: "string", MaxLength: ptr.To(int64(32768))},
	}, "type", "status", "lastTransitionTime", "reason", "message"))
	c.XListType = ptr.To("map")
	c.XListMapKeys = []string{"type"}
	return c
}

func object(description string, properties map[string]apiextensionsv1.JSONSchemaProps, required ...string) apiextensionsv1.JSONSchemaProps {
	return apiextensionsv1.JSONSchemaProps{Type: "object", Description: description, Properties: properties, Required: required}
}

func list(description string, items apiextensionsv1.JSONSchemaProps) apiextensionsv1.JSONSchemaProps {
	return apiextensionsv1.JSONSchemaProps{Type: "array", Description: description, Items: &apiextensionsv1.JSONSchemaPropsOrArray{Schema: &items}}
}

func str(description string) apiextensionsv1.JSONSchemaProps {
	return apiextensionsv1.JSONSchemaProps{Type: "string", Description: description}
}

func duration(description string) apiextensionsv1.JSONSchemaProps {
	return apiextensionsv1.JSONSchemaProps{Type: "string", Pattern: durationPattern, Description: description + " A Go duration: 30s, 5m, 1h30m."}
}

func enum(description string, values ...string) apiextensionsv1.JSONSchemaProps {
	p := apiextensionsv1.JSONSchemaProps{Type: "string", Description: description}
	for _, v := range values {
		raw, _ := json.Marshal(v) // a string always marshals
		p.Enum = append(p.Enum, apiextensionsv1.JSON{Raw: raw})
	}
	return p
}

func ptrTo[T any](v T) *T { return &v }

// EnsureCRDs creates the definitions, updates those that differ from CRDs()
// (an older berth's), and waits until the API serves them. A user who may
// not write definitions, which are cluster-wide, works with those the API
// serves (berth server defines them at start).
func EnsureCRDs(ctx context.Context, client apiextensionsclient.Interface) error {
	crds := client.ApiextensionsV1().CustomResourceDefinitions()
	want := CRDs()
	for _, crd := range want {
		_, err := crds.Create(ctx, crd, metav1.CreateOptions{})
		if apierrors.IsAlreadyExists(err) {
			err = updateCRD(ctx, client, crd)
		}
		if apierrors.IsForbidden(err) && storage.Served(client, APIVersion, ReleasesResource().Resource, GitSourcesResource().Resource) {
			return nil
		}
		if err != nil {
			return fmt.Errorf("defining CustomResourceDefinition %s: %w", crd.Name, err)
		}
	}
	for _, crd := range want {
		if err := storage.WaitEstablished(ctx, client, crd.Name); err != nil {
			return err
		}
	}
	return nil
}

// updateCRD replaces the spec of an existing definition when it differs from
// want's, defaulted as the server defaults it so that an unchanged one is not
// rewritten at every start.
func updateCRD(ctx context.Context, client apiextensionsclient.Interface, want *apiextensionsv1.CustomResourceDefinition) error {
	want = want.DeepCopy()
	apiextensionsv1.SetObjectDefaults_CustomResourceDefinition(want)
	crds := client.ApiextensionsV1().CustomResourceDefinitions()
	return retry.RetryOnConflict(retry.DefaultRetry, func() error {
		got, err := crds.Get(ctx, want.Name, metav1.GetOptions{})
		if err != nil {
			return err
		}
		if apiequality.Semantic.DeepEqual(got.Spec, want.Spec) {
			return nil
		}
		got.Spec = want.Spec
		_, err = crds.Update(ctx, got, metav1.UpdateOptions{})
		return err
	})
}
