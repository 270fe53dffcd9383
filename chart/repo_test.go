package chart

import (
	"bytes"
	"context"
	"encoding/json"
	"net/http"
	"net/http/httptest"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"helm.sh/helm/v3/pkg/cli/output"
	"helm.sh/helm/v3/pkg/repo"
)

// chartRepo serves a chart repository over HTTP on the loopback: the backend
// chart in three versions (one a pre-release) and the scaffold.
func chartRepo(t *testing.T) *httptest.Server {
	t.Helper()
	ctx := context.Background()
	dir := t.TempDir()
	for _, v := range []string{"0.2.0", "0.3.0", "1.0.0-beta.1"} {
		if _, err := Package(ctx, umbrellaDir+"/charts/backend", PackageOptions{Version: v, Destination: dir}); err != nil {
			t.Fatal(err)
		}
	}
	if _, err := Package(ctx, "../testdata/charts/scaffold", PackageOptions{Destination: dir}); err != nil {
		t.Fatal(err)
	}
	srv := httptest.NewServer(http.FileServer(http.Dir(dir)))
	t.Cleanup(srv.Close)
	idx, err := repo.IndexDirectory(dir, srv.URL)
	if err != nil {
		t.Fatal(err)
	}
	idx.SortEntries()
	if err := idx.WriteFile(filepath.Join(dir, "index.yaml"), 0o644); err != nil {
		t.Fatal(err)
	}
	return srv
}

func testSettings(t *testing.T) *Settings {
	dir := t.TempDir()
	return &Settings{
		RepositoryConfig: filepath.Join(dir, "config", "repositories.yaml"),
		RepositoryCache:  filepath.Join(dir, "cache"),
	}
}

func TestRepositories(t *testing.T) {
	ctx := context.Background()
	srv := chartRepo(t)
	settings := testSettings(t)
	var out bytes.Buffer

	// add
	if err := AddRepo(ctx, &out, settings, RepoAddOptions{Name: "test", URL: srv.URL}); err != nil {
		t.Fatal(err)
	}
	if err := AddRepo(ctx, &out, settings, RepoAddOptions{Name: "test", URL: srv.URL}); err != nil {
		t.Fatal(err)
	}
	want := "\"test\" has been added to your repositories\n\"test\" already exists with the same configuration, skipping\n"
	if out.String() != want {
		t.Errorf("repo add said:\n%s\nwant:\n%s", out.String(), want)
	}
	for _, tc := range []struct {
		name string
		opts RepoAddOptions
		want string
	}{
		{"same name, other URL", RepoAddOptions{Name: "test", URL: srv.URL + "/other"}, "repository name (test) already exists, please specify a different name"},
		{"slash in name", RepoAddOptions{Name: "a/b", URL: srv.URL}, "contains '/'"},
		{"not a repository", RepoAddOptions{Name: "nope", URL: srv.URL + "/nothing-here"}, `looks like "` + srv.URL + `/nothing-here" is not a valid chart repository or cannot be reached`},
		{"retired repository", RepoAddOptions{Name: "stable", URL: "https://kubernetes-charts.storage.googleapis.com"}, `try "https://charts.helm.sh/stable" instead`},
	} {
		t.Run(tc.name, func(t *testing.T) {
			err := AddRepo(ctx, &bytes.Buffer{}, settings, tc.opts)
			if err == nil || !strings.Contains(err.Error(), tc.want) {
				t.Errorf("error %v, want one containing %q", err, tc.want)
			}
		})
	}

	// list
	out.Reset()
	if err := ListRepos(&out, settings, output.JSON); err != nil {
		t.Fatal(err)
	}
	if want := `[{"name":"test","url":"` + srv.URL + `"}]` + "\n"; out.String() != want {
		t.Errorf("repo list -o json:\n%s\nwant:\n%s", out.String(), want)
	}

	// update
	out.Reset()
	if err := UpdateRepos(ctx, &out, settings, UpdateOptions{}); err != nil {
		t.Fatal(err)
	}
	want = "Hang tight while we grab the latest from your chart repositories...\n...Successfully got an update from the \"test\" chart repository\nUpdate Complete. ⎈Happy Helming!⎈\n"
	if out.String() != want {
		t.Errorf("repo update said:\n%s\nwant:\n%s", out.String(), want)
	}
	if err := UpdateRepos(ctx, &out, settings, UpdateOptions{Names: []string{"other"}}); err == nil || !strings.Contains(err.Error(), "no repositories found matching 'other'") {
		t.Errorf("updating an unknown repository: %v", err)
	}

	// REPO/CHART as a chart source, with a version range.
	for _, tc := range []struct{ version, want string }{{"", "0.3.0"}, {"~0.2", "0.2.0"}, {"0.2.0", "0.2.0"}} {
		ch, err := Load(ctx, "test/backend", LoadOptions{Version: tc.version, Settings: settings})
		if err != nil {
			t.Fatalf("loading test/backend --version %q: %v", tc.version, err)
		}
		if ch.Metadata.Version != tc.want {
			t.Errorf("test/backend --version %q loaded %s, want %s", tc.version, ch.Metadata.Version, tc.want)
		}
	}
	ch, err := Load(ctx, "test/backend", LoadOptions{Devel: true, Settings: settings})
	if err != nil || ch.Metadata.Version != "1.0.0-beta.1" {
		t.Errorf("test/backend --devel: %v, %v", ch, err)
	}
	if _, err := Load(ctx, "test/backend", LoadOptions{Version: "^5", Settings: settings}); err == nil || !strings.Contains(err.Error(), `fetching chart "test/backend" version "^5"`) {
		t.Errorf("loading an absent version: %v", err)
	}
	if _, err := Load(ctx, "nope/backend", LoadOptions{Settings: settings}); err == nil || !strings.Contains(err.Error(), "nope") {
		t.Errorf("loading from an unknown repository: %v", err)
	}
	var tmpl bytes.Buffer
	tc := TemplateCommand{Settings: settings, Version: "^0.1", ShowOnly: []string{"templates/service.yaml"}, Values: ValueOptions{Values: []string{"service.port=8080"}}}
	if err := tc.Run(ctx, &tmpl, &bytes.Buffer{}, []string{"test/scaffold"}); err != nil {
		t.Fatal(err)
	}
	if !strings.Contains(tmpl.String(), "helm.sh/chart: scaffold-0.1.0") || !strings.Contains(tmpl.String(), "port: 8080") {
		t.Errorf("berth template test/scaffold --version ^0.1:\n%s", tmpl.String())
	}

	// remove
	out.Reset()
	if err := RemoveRepos(ctx, &out, settings, []string{"test"}); err != nil {
		t.Fatal(err)
	}
	if out.String() != "\"test\" has been removed from your repositories\n" {
		t.Errorf("repo remove said %q", out.String())
	}
	if _, err := os.Stat(filepath.Join(settings.RepositoryCache, "test-index.yaml")); !os.IsNotExist(err) {
		t.Errorf("the index of a removed repository is still cached (stat: %v)", err)
	}
	if err := RemoveRepos(ctx, &out, settings, []string{"test"}); err == nil || err.Error() != "no repositories configured" {
		t.Errorf("removing again: %v", err)
	}
	if err := ListRepos(&out, settings, output.Table); err == nil || err.Error() != "no repositories to show" {
		t.Errorf("listing none: %v", err)
	}
}

func TestSearchRepos(t *testing.T) {
	ctx := context.Background()
	srv := chartRepo(t)
	settings := testSettings(t)
	if err := AddRepo(ctx, &bytes.Buffer{}, settings, RepoAddOptions{Name: "test", URL: srv.URL}); err != nil {
		t.Fatal(err)
	}
	type row struct{ Name, Version string }
	for _, tc := range []struct {
		name string
		opts SearchOptions
		want []row
	}{
		{"everything", SearchOptions{}, []row{{"test/backend", "0.3.0"}, {"test/scaffold", "0.1.0"}}},
		{"by name", SearchOptions{Keyword: "BACK"}, []row{{"test/backend", "0.3.0"}}},
		{"by description", SearchOptions{Keyword: "kubernetes"}, []row{{"test/scaffold", "0.1.0"}}},
		{"regexp", SearchOptions{Keyword: "^sca", Regexp: true}, []row{{"test/scaffold", "0.1.0"}}},
		{"devel", SearchOptions{Keyword: "backend", Devel: true}, []row{{"test/backend", "1.0.0-beta.1"}}},
		{"versions", SearchOptions{Keyword: "backend", Versions: true}, []row{{"test/backend", "0.3.0"}, {"test/backend", "0.2.0"}}},
		{"constraint", SearchOptions{Keyword: "backend", Version: "<0.3"}, []row{{"test/backend", "0.2.0"}}},
		{"nothing", SearchOptions{Keyword: "nginx"}, nil},
	} {
		t.Run(tc.name, func(t *testing.T) {
			var out bytes.Buffer
			tc.opts.Format = output.JSON
			if err := SearchRepos(&out, &bytes.Buffer{}, settings, tc.opts); err != nil {
				t.Fatal(err)
			}
			var got []row
			if err := json.Unmarshal(out.Bytes(), &got); err != nil {
				t.Fatal(err)
			}
			if len(got) != len(tc.want) {
				t.Fatalf("found %v, want %v", got, tc.want)
			}
			for i := range got {
				if got[i] != tc.want[i] {
					t.Errorf("found %v, want %v", got, tc.want)
				}
			}
		})
	}
	var out bytes.Buffer
	if err := SearchRepos(&out, &bytes.Buffer{}, settings, SearchOptions{Keyword: "backend"}); err != nil {
		t.Fatal(err)
	}
	lines := strings.Split(out.String(), "\n")
	if !strings.HasPrefix(lines[0], "NAME") || !strings.Contains(lines[0], "CHART VERSION") || !strings.Contains(lines[0], "APP VERSION") || !strings.Contains(lines[0], "DESCRIPTION") {
		t.Errorf("search table header: %q", lines[0])
	}
	if f := strings.Fields(lines[1]); len(f) < 3 || f[0] != "test/backend" || f[1] != "0.3.0" || f[2] != "2.0" {
		t.Errorf("search table row: %q", lines[1])
	}
	out.Reset()
	if err := SearchRepos(&out, &bytes.Buffer{}, settings, SearchOptions{Keyword: "nginx"}); err != nil || out.String() != "No results found\n" {
		t.Errorf("searching for nothing: %q, %v", out.String(), err)
	}
	if err := SearchRepos(&out, &bytes.Buffer{}, settings, SearchOptions{Keyword: "nginx", FailOnNoResult: true}); err == nil {
		t.Error("--fail-on-no-result found nothing and did not fail")
	}
}

func TestDependencies(t *testing.T) {
	ctx := context.Background()
	srv := chartRepo(t)
	settings := testSettings(t)
	dir := writeChart(t, "app", map[string]string{
		"Chart.yaml": "apiVersion: v2\nname: app\nversion: 1.0.0\ndependencies:\n" +
			"  - name: backend\n    version: ^0.2.0\n    repository: " + srv.URL + "\n" +
			"  - name: scaffold\n    version: 0.1.0\n    repository: file://../../testdata/charts/scaffold\n",
	})
	// file:// is relative to the chart: point it at the repository's scaffold.
	abs, err := filepath.Abs("../testdata/charts/scaffold")
	if err != nil {
		t.Fatal(err)
	}
	chartYAML := filepath.Join(dir, "Chart.yaml")
	b, err := os.ReadFile(chartYAML)
	if err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(chartYAML, bytes.Replace(b, []byte("file://../../testdata/charts/scaffold"), []byte("file://"+abs), 1), 0o644); err != nil {
		t.Fatal(err)
	}

	var list bytes.Buffer
	if err := ListDependencies(&list, dir, 80); err != nil {
		t.Fatal(err)
	}
	if !strings.Contains(list.String(), "missing") {
		t.Errorf("dependency list before update:\n%s", list.String())
	}
	if _, err := Load(ctx, dir, LoadOptions{Settings: settings}); err == nil {
		t.Error("loaded a chart whose dependencies are missing")
	}

	var out bytes.Buffer
	if err := UpdateDependencies(ctx, dir, DependencyOptions{Settings: settings, Out: &out}); err != nil {
		t.Fatalf("%v\n%s", err, out.String())
	}
	for _, f := range []string{"Chart.lock", "charts/backend-0.2.0.tgz", "charts/scaffold-0.1.0.tgz"} {
		if _, err := os.Stat(filepath.Join(dir, f)); err != nil {
			t.Errorf("dependency update did not write %s: %v", f, err)
		}
	}
	list.Reset()
	if err := ListDependencies(&list, dir, 80); err != nil {
		t.Fatal(err)
	}
	if strings.Count(list.String(), "\tok") != 2 {
		t.Errorf("dependency list after update:\n%s", list.String())
	}

	// build restores charts/ from Chart.lock, from repositories added.
	if err := AddRepo(ctx, &bytes.Buffer{}, settings, RepoAddOptions{Name: "test", URL: srv.URL}); err != nil {
		t.Fatal(err)
	}
	if err := os.RemoveAll(filepath.Join(dir, "charts")); err != nil {
		t.Fatal(err)
	}
	if err := BuildDependencies(ctx, dir, DependencyOptions{Settings: settings, SkipRefresh: true}); err != nil {
		t.Fatal(err)
	}
	ch, err := Load(ctx, dir, LoadOptions{Settings: settings})
	if err != nil {
		t.Fatal(err)
	}
	if len(ch.Dependencies()) != 2 {
		t.Errorf("built %d dependencies, want 2", len(ch.Dependencies()))
	}

	// Load with DependencyUpdate fetches what is missing.
	if err := os.RemoveAll(filepath.Join(dir, "charts")); err != nil {
		t.Fatal(err)
	}
	if _, err := Load(ctx, dir, LoadOptions{Settings: settings, DependencyUpdate: true}); err != nil {
		t.Fatal(err)
	}
}

func TestDependencyOnOCIRegistryIsRefused(t *testing.T) {
	dir := writeChart(t, "app", map[string]string{
		"Chart.yaml": "apiVersion: v2\nname: app\nversion: 1.0.0\ndependencies:\n  - name: db\n    version: 1.0.0\n    repository: oci://registry.example.com/charts\n",
	})
	err := UpdateDependencies(context.Background(), dir, DependencyOptions{Settings: testSettings(t)})
	if err == nil || !strings.Contains(err.Error(), "oci://") {
		t.Errorf("error %v, want the OCI refusal", err)
	}
}
