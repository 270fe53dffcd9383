package gitops

import (
	"context"
	"encoding/json"
	"fmt"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/google/go-cmp/cmp"
	corev1 "k8s.io/api/core/v1"
	apiextensionsv1 "k8s.io/apiextensions-apiserver/pkg/apis/apiextensions/v1"
	apiextensionsclient "k8s.io/apiextensions-apiserver/pkg/client/clientset/clientset"
	apiequality "k8s.io/apimachinery/pkg/api/equality"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/client-go/dynamic"

	"berth.dev/berth/orchestrator/apiserver/apiservertest"
)

// TestCRDs installs the definitions into a real API server and uses them as
// the reconciler and kubectl do.
func TestCRDs(t *testing.T) {
	s := apiservertest.Start(t)
	ctx := context.Background()
	ext := apiextensionsclient.NewForConfigOrDie(s.Config)
	if err := EnsureCRDs(ctx, ext); err != nil {
		t.Fatal(err)
	}
	dyn := dynamic.NewForConfigOrDie(s.Config)
	const ns = "shop"
	if _, err := s.Client.CoreV1().Namespaces().Create(ctx, &corev1.Namespace{ObjectMeta: metav1.ObjectMeta{Name: ns}}, metav1.CreateOptions{}); err != nil {
		t.Fatal(err)
	}
	releases := dyn.Resource(ReleasesResource()).Namespace(ns)

	t.Run("Unchanged", func(t *testing.T) {
		// EnsureCRDs rewrites a definition only when its spec differs from
		// CRDs(), defaulted: what the server stored must not.
		for _, want := range CRDs() {
			got, err := ext.ApiextensionsV1().CustomResourceDefinitions().Get(ctx, want.Name, metav1.GetOptions{})
			if err != nil {
				t.Fatal(err)
			}
			apiextensionsv1.SetObjectDefaults_CustomResourceDefinition(want)
			if !apiequality.Semantic.DeepEqual(got.Spec, want.Spec) {
				t.Errorf("%s as stored differs from CRDs() (-want +stored):\n%s", want.Name, cmp.Diff(want.Spec, got.Spec))
			}
		}
	})

	t.Run("Update", func(t *testing.T) {
		// An older berth's definition, without the printer columns.
		crds := ext.ApiextensionsV1().CustomResourceDefinitions()
		old, err := crds.Get(ctx, "gitsources.berth.dev", metav1.GetOptions{})
		if err != nil {
			t.Fatal(err)
		}
		old.Spec.Versions[0].AdditionalPrinterColumns = nil
		if _, err := crds.Update(ctx, old, metav1.UpdateOptions{}); err != nil {
			t.Fatal(err)
		}
		if err := EnsureCRDs(ctx, ext); err != nil {
			t.Fatal(err)
		}
		got, err := crds.Get(ctx, "gitsources.berth.dev", metav1.GetOptions{})
		if err != nil {
			t.Fatal(err)
		}
		if n := len(got.Spec.Versions[0].AdditionalPrinterColumns); n != 5 {
			t.Errorf("%d printer columns after EnsureCRDs, want 5", n)
		}
	})

	t.Run("RoundTrip", func(t *testing.T) {
		want := &Release{
			ObjectMeta: metav1.ObjectMeta{Name: "web", Namespace: ns, Labels: map[string]string{SourceLabel: "shop.site"}},
			Spec: ReleaseSpec{
				Chart:           ChartSource{Repo: "https://charts.example", Name: "web", Version: "^1.2"},
				ReleaseName:     "shop-web",
				TargetNamespace: "web",
				Values:          &apiextensionsv1.JSON{Raw: []byte(`{"image":{"tag":"1.2.3"},"ports":[80,443],"debug":false}`)},
				ValuesFrom: []ValuesReference{
					{Kind: "ConfigMap", Name: "web-values"},
					{Kind: "Secret", Name: "web-secrets", Key: "prod.yaml", Optional: true},
				},
				DependsOn: []DependencyReference{{Name: "db"}, {Name: "ingress", Namespace: "system"}},
				Suspend:   true,
				Interval:  &metav1.Duration{Duration: 90 * time.Second},
				Timeout:   &metav1.Duration{Duration: 10 * time.Minute},
				Install:   &InstallSpec{Remediation: &Remediation{Retries: 3, Strategy: RemediateUninstall}},
				Upgrade:   &UpgradeSpec{Remediation: &Remediation{Retries: 2, Strategy: RemediateRollback}},
				DriftDetection: &DriftDetection{Mode: DriftCorrect, Ignore: []IgnoreRule{
					{Paths: []string{"/spec/replicas"}, Target: &ObjectTarget{Kind: "Deployment"}},
				}},
				CRDs: CRDsCreateReplace,
			},
		}
		u, err := ToUnstructured(want)
		if err != nil {
			t.Fatal(err)
		}
		if _, err := releases.Create(ctx, u, metav1.CreateOptions{}); err != nil {
			t.Fatal(err)
		}
		back, err := releases.Get(ctx, "web", metav1.GetOptions{})
		if err != nil {
			t.Fatal(err)
		}
		var got Release
		if err := FromUnstructured(back, &got); err != nil {
			t.Fatal(err)
		}
		if got.APIVersion != APIVersion || got.Kind != KindRelease {
			t.Errorf("read back as %s %s", got.APIVersion, got.Kind)
		}
		if diff := cmp.Diff(want.Spec, got.Spec, cmp.Comparer(func(a, b *apiextensionsv1.JSON) bool { return sameJSON(a, b) })); diff != "" {
			t.Errorf("spec changed on the way (-sent +read):\n%s", diff)
		}
		if got.Labels[SourceLabel] != "shop.site" {
			t.Errorf("labels %v", got.Labels)
		}
	})

	t.Run("SchemaRefuses", func(t *testing.T) {
		for _, tt := range []struct {
			name   string
			change func(*Release)
			// field is what the server's message must name.
			field string
		}{
			{"DriftMode", func(r *Release) { r.Spec.DriftDetection = &DriftDetection{Mode: "bogus"} }, "spec.driftDetection.mode"},
			{"InstallRollback", func(r *Release) {
				r.Spec.Install = &InstallSpec{Remediation: &Remediation{Strategy: RemediateRollback}}
			}, "spec.install.remediation.strategy"},
			{"NegativeRetries", func(r *Release) {
				r.Spec.Upgrade = &UpgradeSpec{Remediation: &Remediation{Retries: -1}}
			}, "spec.upgrade.remediation.retries"},
			{"CRDPolicy", func(r *Release) { r.Spec.CRDs = "Replace" }, "spec.crds"},
			{"ValuesKind", func(r *Release) { r.Spec.ValuesFrom = []ValuesReference{{Kind: "Configmap", Name: "v"}} }, "spec.valuesFrom[0].kind"},
			{"NegativeInterval", func(r *Release) { r.Spec.Interval = &metav1.Duration{Duration: -time.Minute} }, "spec.interval"},
			{"TwoChartSources", func(r *Release) { r.Spec.Chart.Path = "charts/web" }, "exactly one of path, oci and repo"},
			{"RepoWithoutName", func(r *Release) { r.Spec.Chart = ChartSource{Repo: "https://charts.example"} }, "name is required with repo"},
			{"OCIScheme", func(r *Release) { r.Spec.Chart.OCI = "r.example/web" }, "spec.chart.oci"},
		} {
			t.Run(tt.name, func(t *testing.T) {
				r := &Release{
					ObjectMeta: metav1.ObjectMeta{Name: strings.ToLower(tt.name), Namespace: ns},
					Spec:       ReleaseSpec{Chart: ChartSource{OCI: "oci://r.example/web"}},
				}
				tt.change(r)
				u, err := ToUnstructured(r)
				if err != nil {
					t.Fatal(err)
				}
				_, err = releases.Create(ctx, u, metav1.CreateOptions{})
				if !apierrors.IsInvalid(err) || !strings.Contains(err.Error(), tt.field) {
					t.Errorf("got %v, want Invalid naming %s", err, tt.field)
				}
			})
		}
	})

	t.Run("Status", func(t *testing.T) {
		r := &Release{
			ObjectMeta: metav1.ObjectMeta{Name: "status", Namespace: ns},
			Spec:       ReleaseSpec{Chart: ChartSource{OCI: "oci://r.example/web"}},
		}
		created := createRelease(t, ctx, releases, r)
		created.Status = ReleaseStatus{
			ObservedGeneration: created.Generation,
			Conditions: []metav1.Condition{{Type: ConditionReady, Status: metav1.ConditionTrue, Reason: ReasonSucceeded,
				Message: "installed shop/status: revision 1", LastTransitionTime: metav1.NewTime(time.Now().Truncate(time.Second))}},
			LastAppliedRevision: 1, LastAppliedChart: "web-1.0.0", LastAppliedCommit: "0123abc", LastAppliedDigest: "sha256:00", Failures: 0,
		}
		u, err := ToUnstructured(created)
		if err != nil {
			t.Fatal(err)
		}
		out, err := releases.UpdateStatus(ctx, u, metav1.UpdateOptions{})
		if err != nil {
			t.Fatal(err)
		}
		var got Release
		if err := FromUnstructured(out, &got); err != nil {
			t.Fatal(err)
		}
		if diff := cmp.Diff(created.Status, got.Status); diff != "" {
			t.Errorf("status (-sent +stored):\n%s", diff)
		}
		if got.Generation != created.Generation {
			t.Errorf("a status update changed the generation: %d, then %d", created.Generation, got.Generation)
		}

		// Through the main resource, status is ignored: only the reconciler
		// writes it.
		got.Status.LastAppliedRevision = 7
		got.Spec.Suspend = true
		if u, err = ToUnstructured(&got); err != nil {
			t.Fatal(err)
		}
		out, err = releases.Update(ctx, u, metav1.UpdateOptions{})
		if err != nil {
			t.Fatal(err)
		}
		var updated Release
		if err := FromUnstructured(out, &updated); err != nil {
			t.Fatal(err)
		}
		if updated.Status.LastAppliedRevision != 1 || !updated.Spec.Suspend || updated.Generation != got.Generation+1 {
			t.Errorf("after a spec update: revision %d (want 1), suspend %v, generation %d (want %d)",
				updated.Status.LastAppliedRevision, updated.Spec.Suspend, updated.Generation, got.Generation+1)
		}

		updated.Status.Conditions = []metav1.Condition{{Type: ConditionReady, Status: "Maybe", Reason: ReasonProgressing,
			Message: "", LastTransitionTime: metav1.Now()}}
		if u, err = ToUnstructured(&updated); err != nil {
			t.Fatal(err)
		}
		if _, err := releases.UpdateStatus(ctx, u, metav1.UpdateOptions{}); !apierrors.IsInvalid(err) || !strings.Contains(err.Error(), "status.conditions[0].status") {
			t.Errorf("condition status Maybe: got %v, want Invalid", err)
		}
	})

	t.Run("Table", func(t *testing.T) {
		r := createRelease(t, ctx, releases, &Release{
			ObjectMeta: metav1.ObjectMeta{Name: "table", Namespace: ns},
			Spec:       ReleaseSpec{Chart: ChartSource{OCI: "oci://r.example/web"}},
		})
		r.Status = ReleaseStatus{
			Conditions: []metav1.Condition{
				{Type: ConditionReconciling, Status: metav1.ConditionFalse, Reason: ReasonSucceeded, Message: "done", LastTransitionTime: metav1.Now()},
				{Type: ConditionReady, Status: metav1.ConditionTrue, Reason: ReasonSucceeded, Message: "upgraded shop/table: revision 3", LastTransitionTime: metav1.Now()},
			},
			LastAppliedRevision: 3, LastAppliedChart: "web-1.2.0",
		}
		u, err := ToUnstructured(r)
		if err != nil {
			t.Fatal(err)
		}
		if _, err := releases.UpdateStatus(ctx, u, metav1.UpdateOptions{}); err != nil {
			t.Fatal(err)
		}
		table := getTable(t, ctx, s, "/apis/berth.dev/v1/namespaces/"+ns+"/releases/table")
		checkTable(t, table, []string{"Name", "Age", "Ready", "Status", "Revision", "Chart"},
			map[string]any{"Name": "table", "Ready": "True", "Status": "upgraded shop/table: revision 3", "Revision": float64(3), "Chart": "web-1.2.0"})

		src := &GitSource{
			ObjectMeta: metav1.ObjectMeta{Name: "site", Namespace: ns},
			Spec: GitSourceSpec{URL: "https://git.example/shop.git", Ref: &GitRef{Branch: "main"}, Path: "clusters/prod",
				Interval: &metav1.Duration{Duration: 5 * time.Minute}, SecretRef: &LocalObjectReference{Name: "git"}},
		}
		if u, err = ToUnstructured(src); err != nil {
			t.Fatal(err)
		}
		sources := dyn.Resource(GitSourcesResource()).Namespace(ns)
		out, err := sources.Create(ctx, u, metav1.CreateOptions{})
		if err != nil {
			t.Fatal(err)
		}
		var got GitSource
		if err := FromUnstructured(out, &got); err != nil {
			t.Fatal(err)
		}
		if diff := cmp.Diff(src.Spec, got.Spec); diff != "" {
			t.Errorf("GitSource spec (-sent +stored):\n%s", diff)
		}
		got.Status = GitSourceStatus{
			Conditions: []metav1.Condition{{Type: ConditionReady, Status: metav1.ConditionFalse, Reason: ReasonInvalidManifests,
				Message: "apps/a.yaml: Release shop/web: spec.chart: exactly one of path, oci and repo must be set", LastTransitionTime: metav1.Now()}},
			LastAppliedCommit: "0123abcd", LastFetchedCommit: "4567cdef", Releases: []string{"shop/web"},
		}
		if u, err = ToUnstructured(&got); err != nil {
			t.Fatal(err)
		}
		if _, err := sources.UpdateStatus(ctx, u, metav1.UpdateOptions{}); err != nil {
			t.Fatal(err)
		}
		table = getTable(t, ctx, s, "/apis/berth.dev/v1/namespaces/"+ns+"/gitsources")
		checkTable(t, table, []string{"Name", "URL", "Age", "Ready", "Status", "Commit"},
			map[string]any{"Name": "site", "URL": "https://git.example/shop.git", "Ready": "False", "Commit": "0123abcd",
				"Status": "apps/a.yaml: Release shop/web: spec.chart: exactly one of path, oci and repo must be set"})
	})

	t.Run("GitSourceRefusesTwoRefs", func(t *testing.T) {
		u, err := ToUnstructured(&GitSource{
			ObjectMeta: metav1.ObjectMeta{Name: "tworefs", Namespace: ns},
			Spec:       GitSourceSpec{URL: "https://git.example/shop.git", Ref: &GitRef{Branch: "main", Tag: "v1"}},
		})
		if err != nil {
			t.Fatal(err)
		}
		_, err = dyn.Resource(GitSourcesResource()).Namespace(ns).Create(ctx, u, metav1.CreateOptions{})
		if !apierrors.IsInvalid(err) || !strings.Contains(err.Error(), "exactly one of branch, tag and commit") {
			t.Errorf("got %v, want Invalid", err)
		}
	})
}

func createRelease(t *testing.T, ctx context.Context, client dynamic.ResourceInterface, r *Release) *Release {
	t.Helper()
	u, err := ToUnstructured(r)
	if err != nil {
		t.Fatal(err)
	}
	out, err := client.Create(ctx, u, metav1.CreateOptions{})
	if err != nil {
		t.Fatal(err)
	}
	var got Release
	if err := FromUnstructured(out, &got); err != nil {
		t.Fatal(err)
	}
	return &got
}

// getTable asks for path as kubectl get does: as a Table.
func getTable(t *testing.T, ctx context.Context, s *apiservertest.Server, path string) *metav1.Table {
	t.Helper()
	data, err := s.Client.Discovery().RESTClient().Get().AbsPath(path).
		SetHeader("Accept", "application/json;as=Table;v=v1;g=meta.k8s.io").DoRaw(ctx)
	if err != nil {
		t.Fatalf("getting %s as a Table: %v", path, err)
	}
	var table metav1.Table
	if err := json.Unmarshal(data, &table); err != nil {
		t.Fatal(err)
	}
	return &table
}

// checkTable checks the column names and the cells of the table's only row
// (Age aside).
func checkTable(t *testing.T, table *metav1.Table, columns []string, cells map[string]any) {
	t.Helper()
	var names []string
	for _, c := range table.ColumnDefinitions {
		names = append(names, c.Name)
	}
	if !slices.Equal(names, columns) {
		t.Errorf("columns %v, want %v", names, columns)
	}
	if len(table.Rows) != 1 || len(table.Rows[0].Cells) != len(names) {
		t.Fatalf("rows %v, want one of %d cells", table.Rows, len(names))
	}
	for i, name := range names {
		if want, ok := cells[name]; ok && fmt.Sprint(table.Rows[0].Cells[i]) != fmt.Sprint(want) {
			t.Errorf("column %s: %v, want %v", name, table.Rows[0].Cells[i], want)
		}
	}
}
