package gitops

import (
	"errors"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"testing"
	"time"

	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
)

// writeRepo writes files (path: content, with forward slashes) under a new
// directory and returns it.
func writeRepo(t *testing.T, files map[string]string) string {
	t.Helper()
	root := t.TempDir()
	for name, content := range files {
		p := filepath.Join(root, filepath.FromSlash(name))
		if err := os.MkdirAll(filepath.Dir(p), 0o755); err != nil {
			t.Fatal(err)
		}
		if err := os.WriteFile(p, []byte(content), 0o644); err != nil {
			t.Fatal(err)
		}
	}
	return root
}

const webChartYAML = "apiVersion: v2\nname: web\nversion: 1.0.0\n"

// releaseYAML returns a Release manifest named name in namespace ns (none if
// empty) whose spec is the YAML lines of spec, indented by the caller's
// two spaces.
func releaseYAML(name, ns string, spec ...string) string {
	meta := "metadata:\n  name: " + name + "\n"
	if ns != "" {
		meta += "  namespace: " + ns + "\n"
	}
	return "apiVersion: berth.dev/v1\nkind: Release\n" + meta + "spec:\n  " + strings.Join(spec, "\n  ") + "\n"
}

func TestReadManifests(t *testing.T) {
	root := writeRepo(t, map[string]string{
		"README.md": "# not a manifest",
		"apps/releases.yaml": "# the shop\n---\n" +
			releaseYAML("web", "", "chart:", "  path: charts/web", "valuesFrom:", "- kind: File", "  name: apps/web-values.yaml", "dependsOn:", "- name: db") +
			"---\n" +
			releaseYAML("db", "shop", "chart:", "  oci: oci://registry.example/charts/postgres", "  version: ^15.0", "driftDetection:", "  mode: warn") +
			"---\n",
		"apps/web-values.yaml":             "replicas: 3\n",
		"apps/zz-namespace.yml":            "apiVersion: v1\nkind: Namespace\nmetadata:\n  name: shop\n",
		"apps/other.json":                  `{"apiVersion": "berth.dev/v1", "kind": "Release", "metadata": {"name": "cache", "namespace": "shop"}, "spec": {"chart": {"repo": "https://charts.example", "name": "redis"}}}`,
		"charts/web/Chart.yaml":            webChartYAML,
		"charts/web/values.yaml":           "replicas: 1\n",
		"charts/web/templates/deploy.yaml": "apiVersion: apps/v1\nkind: Deployment\nmetadata:\n  name: {{ .Release.Name }}\n",
		".git/config.yaml":                 "not: [a manifest",
		".github/workflows/ci.yml":         "on: push\n",
		".pre-commit-config.yaml":          "repos: []\n",
	})
	m, err := ReadManifests(root, "", "shop")
	if err != nil {
		t.Fatal(err)
	}
	var names []string
	for _, r := range m.Releases {
		names = append(names, r.Namespace+"/"+r.Name)
	}
	if want := []string{"shop/cache", "shop/web", "shop/db"}; !slices.Equal(names, want) {
		t.Errorf("Releases %v, want %v (lexical file order, then document order)", names, want)
	}
	if len(m.Namespaces) != 1 || m.Namespaces[0].Name != "shop" {
		t.Errorf("Namespaces %v, want shop", m.Namespaces)
	}
	if got := m.Releases[1].Spec.Chart.Path; got != "charts/web" {
		t.Errorf("web's chart path %q", got)
	}

	t.Run("Subdirectory", func(t *testing.T) {
		m, err := ReadManifests(root, "apps", "other")
		if err != nil {
			t.Fatal(err)
		}
		if len(m.Releases) != 3 || m.Releases[1].Namespace != "other" {
			t.Errorf("Releases %v: want 3, web in the default namespace other", m.Releases)
		}
	})
	t.Run("DirectoryOutside", func(t *testing.T) {
		if _, err := ReadManifests(root, "../x", "shop"); err == nil || !strings.Contains(err.Error(), `"../x" must be relative`) {
			t.Errorf("got %v, want the directory refused", err)
		}
	})
	t.Run("MissingDirectory", func(t *testing.T) {
		if _, err := ReadManifests(root, "clusters/prod", "shop"); err == nil || !strings.Contains(err.Error(), `no directory "clusters/prod"`) {
			t.Errorf("got %v, want the directory named", err)
		}
	})
}

func TestReadManifestsErrors(t *testing.T) {
	chart := map[string]string{"charts/web/Chart.yaml": webChartYAML}
	with := func(files map[string]string) map[string]string {
		out := map[string]string{}
		for k, v := range chart {
			out[k] = v
		}
		for k, v := range files {
			out[k] = v
		}
		return out
	}
	pathChart := []string{"chart:", "  path: charts/web"}
	tests := []struct {
		name  string
		files map[string]string
		// want holds, for every problem expected, words that one line of
		// the error must hold together.
		want [][]string
	}{
		{
			name:  "UnknownKind",
			files: with(map[string]string{"apps/deploy.yaml": "apiVersion: apps/v1\nkind: Deployment\nmetadata:\n  name: web\n"}),
			want:  [][]string{{"apps/deploy.yaml:", `Deployment "web" (apps/v1)`, "only Release (berth.dev/v1) and Namespace (v1) manifests are applied"}},
		},
		{
			name:  "FluxKind",
			files: with(map[string]string{"apps/hr.yaml": "apiVersion: helm.toolkit.fluxcd.io/v2\nkind: Release\nmetadata:\n  name: web\n"}),
			want:  [][]string{{"apps/hr.yaml:", "Release", "helm.toolkit.fluxcd.io/v2", "only Release (berth.dev/v1)"}},
		},
		{
			name:  "NoKind",
			files: with(map[string]string{"apps/values.yaml": "replicas: 3\n"}),
			want:  [][]string{{"apps/values.yaml:", "no kind"}},
		},
		{
			name:  "BadYAML",
			files: with(map[string]string{"apps/a.yaml": releaseYAML("web", "", pathChart...) + "---\nkind: [Release\n"}),
			want:  [][]string{{"apps/a.yaml (document 2):", "invalid YAML"}},
		},
		{
			name:  "UnknownField",
			files: with(map[string]string{"apps/a.yaml": releaseYAML("web", "", "chart:", "  path: charts/web", "  bogus: 1", "intervall: 5m")}),
			want: [][]string{
				{"apps/a.yaml:", "Release shop/web", `unknown field "spec.chart.bogus"`},
				{"apps/a.yaml:", "Release shop/web", `unknown field "spec.intervall"`},
			},
		},
		{
			name:  "TwoChartSources",
			files: with(map[string]string{"apps/a.yaml": releaseYAML("web", "", "chart:", "  path: charts/web", "  oci: oci://r.example/web")}),
			want:  [][]string{{"apps/a.yaml:", "Release shop/web: spec.chart: exactly one of path, oci and repo must be set"}},
		},
		{
			name:  "NoChartSource",
			files: with(map[string]string{"apps/a.yaml": releaseYAML("web", "", "chart:", "  version: 1.0.0")}),
			want:  [][]string{{"apps/a.yaml:", "spec.chart: exactly one of path, oci and repo must be set"}},
		},
		{
			name:  "MissingChartDirectory",
			files: with(map[string]string{"apps/a.yaml": releaseYAML("web", "", "chart:", "  path: charts/api")}),
			want:  [][]string{{"apps/a.yaml:", "spec.chart.path", `no directory "charts/api"`}},
		},
		{
			name: "NotAChart",
			files: with(map[string]string{
				"apps/a.yaml":      releaseYAML("web", "", "chart:", "  path: charts"),
				"charts/notes.txt": "",
			}),
			want: [][]string{{"apps/a.yaml:", "spec.chart.path", `"charts" holds no Chart.yaml`}},
		},
		{
			name:  "PathWithDotDot",
			files: with(map[string]string{"apps/a.yaml": releaseYAML("web", "", "chart:", "  path: charts/../../web")}),
			want:  [][]string{{"apps/a.yaml:", "spec.chart.path", `must not contain ".."`}},
		},
		{
			name:  "AbsolutePath",
			files: with(map[string]string{"apps/a.yaml": releaseYAML("web", "", "chart:", "  path: /charts/web")}),
			want:  [][]string{{"apps/a.yaml:", "spec.chart.path", "must be relative to the repository's root"}},
		},
		{
			name: "DuplicateNames",
			files: with(map[string]string{
				"apps/a.yaml": releaseYAML("web", "", pathChart...),
				"apps/b.yaml": releaseYAML("web", "shop", pathChart...),
			}),
			want: [][]string{{"apps/b.yaml:", "Release shop/web is also declared in apps/a.yaml"}},
		},
		{
			name: "DuplicateInOneFile",
			files: with(map[string]string{
				"apps/a.yaml": releaseYAML("web", "", pathChart...) + "---\n" + releaseYAML("web", "", pathChart...),
			}),
			want: [][]string{{"apps/a.yaml (document 2):", "Release shop/web is also declared in apps/a.yaml (document 1)"}},
		},
		{
			name:  "BadDriftMode",
			files: with(map[string]string{"apps/a.yaml": releaseYAML("web", "", append(pathChart, "driftDetection:", "  mode: bogus")...)}),
			want:  [][]string{{"apps/a.yaml:", "spec.driftDetection.mode", `"bogus" is not one of off, warn, correct`}},
		},
		{
			name:  "DependsOnItself",
			files: with(map[string]string{"apps/a.yaml": releaseYAML("web", "", append(pathChart, "dependsOn:", "- name: db", "- name: web", "  namespace: shop")...)}),
			want:  [][]string{{"apps/a.yaml:", "spec.dependsOn[1]", "cannot depend on itself"}},
		},
		{
			name:  "InstallRollback",
			files: with(map[string]string{"apps/a.yaml": releaseYAML("web", "", append(pathChart, "install:", "  remediation:", "    strategy: rollback")...)}),
			want:  [][]string{{"apps/a.yaml:", "spec.install.remediation.strategy", "rollback applies only to upgrades"}},
		},
		{
			name:  "MissingValuesFile",
			files: with(map[string]string{"apps/a.yaml": releaseYAML("web", "", append(pathChart, "valuesFrom:", "- kind: File", "  name: values/web.yaml")...)}),
			want:  [][]string{{"apps/a.yaml:", "spec.valuesFrom[0].name", `no file "values/web.yaml"`}},
		},
		{
			name: "NoNamespace",
			files: with(map[string]string{
				"apps/a.yaml": "apiVersion: berth.dev/v1\nkind: Release\nmetadata:\n  name: web\n  namespace: Shop\nspec:\n  chart:\n    path: charts/web\n",
			}),
			want: [][]string{{"apps/a.yaml:", "metadata.namespace", `"Shop" is not a valid name`}},
		},
		{
			name: "SeveralProblems",
			files: with(map[string]string{
				"apps/a.yaml": releaseYAML("web", "", "chart:", "  path: charts/web", "  repo: https://charts.example") +
					"---\n" + releaseYAML("db", "", "chart:", "  oci: oci://r.example/db", "driftDetection:", "  mode: bogus"),
				"apps/b.yaml":   "apiVersion: v1\nkind: ConfigMap\nmetadata:\n  name: settings\n",
				"apps/c.yaml":   releaseYAML("web", "", pathChart...),
				"apps/d/e.json": `{"apiVersion": "v1", "kind": "Namespace", "metadata": {"name": "shop"}, "spec": {"finalizers": ["kubernetes"]}, "extra": true}`,
			}),
			want: [][]string{
				{"apps/a.yaml (document 1):", "Release shop/web: spec.chart: exactly one of path, oci and repo"},
				{"apps/a.yaml (document 2):", "Release shop/db: spec.driftDetection.mode"},
				{"apps/b.yaml:", "ConfigMap", "only Release"},
				{"apps/c.yaml:", "Release shop/web is also declared in apps/a.yaml (document 1)"},
				{"apps/d/e.json:", "Namespace shop", `unknown field "extra"`},
			},
		},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			root := writeRepo(t, tt.files)
			m, err := ReadManifests(root, "", "shop")
			if err == nil {
				t.Fatalf("no error; read %d Releases", len(m.Releases))
			}
			if m != nil {
				t.Errorf("manifests returned with an error")
			}
			t.Log(err)
			lines := strings.Split(err.Error(), "\n")
			if len(lines) != len(tt.want) {
				t.Errorf("%d problems reported, want %d:\n%v", len(lines), len(tt.want), err)
			}
			for _, words := range tt.want {
				if !slices.ContainsFunc(lines, func(line string) bool {
					return !slices.ContainsFunc(words, func(w string) bool { return !strings.Contains(line, w) })
				}) {
					t.Errorf("no problem reported with %q in:\n%v", words, err)
				}
			}
		})
	}
}

func TestReadManifestsSymlinks(t *testing.T) {
	outside := writeRepo(t, map[string]string{"secret.yaml": "password: hunter2\n", "Chart.yaml": webChartYAML})
	root := writeRepo(t, map[string]string{
		"charts/web/Chart.yaml": webChartYAML,
		"apps/a.yaml":           releaseYAML("web", "", "chart:", "  path: linked-chart"),
		"apps/b.yaml":           releaseYAML("api", "", "chart:", "  path: charts/web"),
	})
	for link, target := range map[string]string{
		"apps/leak.yaml": filepath.Join(outside, "secret.yaml"),
		"linked-chart":   outside,
		"apps/c.yaml":    filepath.Join(root, "apps", "b.yaml"),
	} {
		if err := os.Symlink(target, filepath.Join(root, link)); err != nil {
			t.Fatal(err)
		}
	}
	_, err := ReadManifests(root, "", "shop")
	if err == nil {
		t.Fatal("no error")
	}
	for _, want := range []string{
		`apps/leak.yaml: "apps/leak.yaml" leads out of the repository`,
		`apps/a.yaml: Release shop/web: spec.chart.path: "linked-chart" leads out of the repository`,
		// A link inside the repository is followed.
		`apps/c.yaml: Release shop/api is also declared in apps/b.yaml`,
	} {
		if !strings.Contains(err.Error(), want) {
			t.Errorf("error lacks %q:\n%v", want, err)
		}
	}
	if strings.Contains(err.Error(), "hunter2") {
		t.Errorf("error shows a file outside the repository:\n%v", err)
	}
}

func TestValidate(t *testing.T) {
	valid := func() *Release {
		return &Release{
			ObjectMeta: metav1.ObjectMeta{Name: "web", Namespace: "shop"},
			Spec:       ReleaseSpec{Chart: ChartSource{OCI: "oci://r.example/charts/web", Version: "1.x"}},
		}
	}
	tests := []struct {
		name   string
		change func(*Release)
		// field is the path of the one field refused, "" for none.
		field, detail string
	}{
		{"Valid", func(*Release) {}, "", ""},
		{"ValidRepo", func(r *Release) { r.Spec.Chart = ChartSource{Repo: "https://charts.example", Name: "web"} }, "", ""},
		{"RepoWithoutName", func(r *Release) { r.Spec.Chart = ChartSource{Repo: "https://charts.example"} }, "spec.chart.name", "is required with spec.chart.repo"},
		{"RepoNotHTTP", func(r *Release) { r.Spec.Chart = ChartSource{Repo: "ftp://charts.example", Name: "web"} }, "spec.chart.repo", "http:// or https://"},
		{"OCIWithoutScheme", func(r *Release) { r.Spec.Chart.OCI = "r.example/charts/web" }, "spec.chart.oci", "not an oci:// reference"},
		{"NameWithOCI", func(r *Release) { r.Spec.Chart.Name = "web" }, "spec.chart.name", "applies only to repo charts"},
		{"BadVersion", func(r *Release) { r.Spec.Chart.Version = "one" }, "spec.chart.version", "neither a version nor a range"},
		{"VersionWithPath", func(r *Release) { r.Spec.Chart = ChartSource{Path: "charts/web", Version: "1.0.0"} }, "spec.chart.version", "applies only to oci and repo charts"},
		{"PathNotCheckedWithoutRoot", func(r *Release) { r.Spec.Chart = ChartSource{Path: "charts/none"} }, "", ""},
		{"BadName", func(r *Release) { r.Name = "Web_1" }, "metadata.name", `"Web_1" is not a valid name`},
		{"LongName", func(r *Release) { r.Name = strings.Repeat("a", 60) }, "metadata.name", "set spec.releaseName"},
		{"LongNameWithReleaseName", func(r *Release) { r.Name, r.Spec.ReleaseName = strings.Repeat("a", 60), "web" }, "", ""},
		{"LongReleaseName", func(r *Release) { r.Spec.ReleaseName = strings.Repeat("a", 54) }, "spec.releaseName", "at most 53"},
		{"BadTargetNamespace", func(r *Release) { r.Spec.TargetNamespace = "a.b" }, "spec.targetNamespace", "not a valid name"},
		{"ZeroInterval", func(r *Release) { r.Spec.Interval = &metav1.Duration{} }, "spec.interval", "must be positive"},
		{"NegativeTimeout", func(r *Release) { r.Spec.Timeout = &metav1.Duration{Duration: -time.Second} }, "spec.timeout", "must be positive"},
		{"NegativeRetries", func(r *Release) { r.Spec.Upgrade = &UpgradeSpec{Remediation: &Remediation{Retries: -1}} }, "spec.upgrade.remediation.retries", "must not be negative"},
		{"UpgradeRollback", func(r *Release) {
			r.Spec.Upgrade = &UpgradeSpec{Remediation: &Remediation{Strategy: RemediateRollback}}
		}, "", ""},
		{"BadStrategy", func(r *Release) { r.Spec.Upgrade = &UpgradeSpec{Remediation: &Remediation{Strategy: "retry"}} }, "spec.upgrade.remediation.strategy", `"retry" is not one of rollback, uninstall`},
		{"BadCRDPolicy", func(r *Release) { r.Spec.CRDs = "Replace" }, "spec.crds", "not one of Skip, Create, CreateReplace"},
		{"BadValuesKind", func(r *Release) { r.Spec.ValuesFrom = []ValuesReference{{Kind: "Configmap", Name: "v"}} }, "spec.valuesFrom[0].kind", "not one of ConfigMap, Secret, File"},
		{"FileWithoutRoot", func(r *Release) { r.Spec.ValuesFrom = []ValuesReference{{Kind: "File", Name: "v.yaml"}} }, "spec.valuesFrom[0]", "needs the Release to be read from a Git repository"},
		{"IgnoreNotAPointer", func(r *Release) {
			r.Spec.DriftDetection = &DriftDetection{Ignore: []IgnoreRule{{Paths: []string{"spec.replicas"}}}}
		}, "spec.driftDetection.ignore[0].paths[0]", "not a JSON pointer"},
		{"IgnoreBadEscape", func(r *Release) {
			r.Spec.DriftDetection = &DriftDetection{Ignore: []IgnoreRule{{Paths: []string{"/spec/replicas", "/metadata/annotations/a~2b"}}}}
		}, "spec.driftDetection.ignore[0].paths[1]", `"/metadata/annotations/a~2b" is not a JSON pointer: ~ must be followed by 0`},
		{"IgnoreWholeObject", func(r *Release) {
			r.Spec.DriftDetection = &DriftDetection{Ignore: []IgnoreRule{{Paths: []string{""}}}}
		}, "spec.driftDetection.ignore[0].paths[0]", "names the whole object"},
		{"IgnoreEscapedKey", func(r *Release) {
			r.Spec.DriftDetection = &DriftDetection{Ignore: []IgnoreRule{{Paths: []string{"/metadata/annotations/example.com~1note"}, Target: &ObjectTarget{Kind: "Deployment"}}}}
		}, "", ""},
		{"DependsOnOtherNamespace", func(r *Release) { r.Spec.DependsOn = []DependencyReference{{Name: "web", Namespace: "db"}} }, "", ""},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			r := valid()
			tt.change(r)
			err := r.Validate("")
			if tt.field == "" {
				if err != nil {
					t.Fatalf("refused: %v", err)
				}
				return
			}
			var fe *FieldError
			if !errors.As(err, &fe) {
				t.Fatalf("got %v, want a *FieldError", err)
			}
			if got := unjoin(err); len(got) != 1 {
				t.Errorf("%d problems, want 1: %v", len(got), err)
			}
			if fe.Object != "Release shop/"+r.Name || fe.Field != tt.field || !strings.Contains(fe.Detail, tt.detail) {
				t.Errorf("got %q, want %s: ...%s...", err, tt.field, tt.detail)
			}
		})
	}
}

func TestDefaults(t *testing.T) {
	r := &Release{ObjectMeta: metav1.ObjectMeta{Name: "web", Namespace: "shop"}}
	if r.ReleaseNameOrDefault() != "web" || r.TargetNamespaceOrDefault() != "shop" || r.IntervalOrDefault() != 10*time.Minute ||
		r.TimeoutOrDefault() != 5*time.Minute || r.DriftModeOrDefault() != DriftOff {
		t.Errorf("defaults of an empty spec: %s %s %s %s %s", r.ReleaseNameOrDefault(), r.TargetNamespaceOrDefault(), r.IntervalOrDefault(), r.TimeoutOrDefault(), r.DriftModeOrDefault())
	}
	r.Spec = ReleaseSpec{ReleaseName: "shop-web", TargetNamespace: "web", Interval: &metav1.Duration{Duration: time.Minute},
		Timeout: &metav1.Duration{Duration: time.Hour}, DriftDetection: &DriftDetection{Mode: DriftCorrect}}
	if r.ReleaseNameOrDefault() != "shop-web" || r.TargetNamespaceOrDefault() != "web" || r.IntervalOrDefault() != time.Minute ||
		r.TimeoutOrDefault() != time.Hour || r.DriftModeOrDefault() != DriftCorrect {
		t.Errorf("set fields not used: %s %s %s %s %s", r.ReleaseNameOrDefault(), r.TargetNamespaceOrDefault(), r.IntervalOrDefault(), r.TimeoutOrDefault(), r.DriftModeOrDefault())
	}
	s := &GitSource{}
	if s.IntervalOrDefault() != time.Minute || !s.PruneOrDefault() {
		t.Errorf("GitSource defaults: %s %v", s.IntervalOrDefault(), s.PruneOrDefault())
	}
	no := false
	s.Spec = GitSourceSpec{Interval: &metav1.Duration{Duration: time.Hour}, Prune: &no}
	if s.IntervalOrDefault() != time.Hour || s.PruneOrDefault() {
		t.Errorf("GitSource set fields not used: %s %v", s.IntervalOrDefault(), s.PruneOrDefault())
	}
}
