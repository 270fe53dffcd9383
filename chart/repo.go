package chart

import (
	"context"
	"errors"
	"fmt"
	"io"
	"io/fs"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"sync"
	"time"

	"github.com/gofrs/flock"
	"github.com/gosuri/uitable"
	"helm.sh/helm/v3/pkg/cli/output"
	"helm.sh/helm/v3/pkg/getter"
	"helm.sh/helm/v3/pkg/helmpath"
	"helm.sh/helm/v3/pkg/repo"
	"sigs.k8s.io/yaml"
)

// DefaultRepoTimeout bounds downloading one repository's index file.
const DefaultRepoTimeout = getter.DefaultHTTPTimeout * time.Second

// retiredRepos are the chart repositories that are gone for good, with where
// their charts went.
var retiredRepos = map[string]string{
	"//kubernetes-charts.storage.googleapis.com":           "https://charts.helm.sh/stable",
	"//kubernetes-charts-incubator.storage.googleapis.com": "https://charts.helm.sh/incubator",
}

// RepoAddOptions describe a chart repository to add, as `helm repo add`'s
// arguments and flags.
type RepoAddOptions struct {
	Name, URL             string
	Username, Password    string
	CertFile, KeyFile     string
	CAFile                string
	InsecureSkipTLSVerify bool
	PassCredentialsAll    bool
	// ForceUpdate replaces a repository of the same name.
	ForceUpdate bool
	// AllowDeprecatedRepos allows the retired Kubernetes chart repositories.
	AllowDeprecatedRepos bool
	// Timeout bounds the index download; 0 means DefaultRepoTimeout.
	Timeout time.Duration
}

// AddRepo downloads the repository's index.yaml into the cache and records the
// repository in repositories.yaml, writing Helm's messages to w.
func AddRepo(ctx context.Context, w io.Writer, settings *Settings, opts RepoAddOptions) error {
	if !opts.AllowDeprecatedRepos {
		for old, replacement := range retiredRepos {
			if strings.Contains(opts.URL, old) {
				return fmt.Errorf("repo %q is no longer available; try %q instead", opts.URL, replacement)
			}
		}
	}
	if strings.Contains(opts.Name, "/") {
		return fmt.Errorf("repository name (%s) contains '/', please specify a different name without '/'", opts.Name)
	}
	unlock, err := lockRepoFile(ctx, settings.RepositoryConfig)
	if err != nil {
		return err
	}
	defer unlock()

	f, err := loadRepoFile(settings.RepositoryConfig)
	if err != nil {
		return err
	}
	entry := repo.Entry{
		Name:                  opts.Name,
		URL:                   opts.URL,
		Username:              opts.Username,
		Password:              opts.Password,
		PassCredentialsAll:    opts.PassCredentialsAll,
		CertFile:              opts.CertFile,
		KeyFile:               opts.KeyFile,
		CAFile:                opts.CAFile,
		InsecureSkipTLSverify: opts.InsecureSkipTLSVerify,
	}
	if existing := f.Get(opts.Name); existing != nil && !opts.ForceUpdate {
		if *existing != entry {
			return fmt.Errorf("repository name (%s) already exists, please specify a different name", opts.Name)
		}
		_, err := fmt.Fprintf(w, "%q already exists with the same configuration, skipping\n", opts.Name)
		return err
	}
	r, err := chartRepository(&entry, settings, opts.Timeout)
	if err != nil {
		return err
	}
	if _, err := r.DownloadIndexFile(); err != nil {
		return fmt.Errorf("looks like %q is not a valid chart repository or cannot be reached: %w", opts.URL, err)
	}
	f.Update(&entry)
	if err := f.WriteFile(settings.RepositoryConfig, 0o600); err != nil {
		return fmt.Errorf("writing %s: %w", settings.RepositoryConfig, err)
	}
	_, err = fmt.Fprintf(w, "%q has been added to your repositories\n", opts.Name)
	return err
}

// ListRepos writes the repositories added, as `helm repo list` in format.
func ListRepos(w io.Writer, settings *Settings, format output.Format) error {
	f, err := loadRepoFile(settings.RepositoryConfig)
	if err != nil {
		return err
	}
	if len(f.Repositories) == 0 && format == output.Table {
		return errors.New("no repositories to show")
	}
	return format.Write(w, repoList(f.Repositories))
}

type repoList []*repo.Entry

type repoListElement struct {
	Name string `json:"name"`
	URL  string `json:"url"`
}

func (l repoList) WriteTable(w io.Writer) error {
	table := uitable.New()
	table.AddRow("NAME", "URL")
	for _, r := range l {
		table.AddRow(r.Name, r.URL)
	}
	return output.EncodeTable(w, table)
}

func (l repoList) elements() []repoListElement {
	out := make([]repoListElement, 0, len(l))
	for _, r := range l {
		out = append(out, repoListElement{Name: r.Name, URL: r.URL})
	}
	return out
}

func (l repoList) WriteJSON(w io.Writer) error { return output.EncodeJSON(w, l.elements()) }
func (l repoList) WriteYAML(w io.Writer) error { return output.EncodeYAML(w, l.elements()) }

// UpdateOptions configure UpdateRepos.
type UpdateOptions struct {
	// Names limits the update to these repositories; empty means all.
	Names []string
	// FailOnError fails when any repository could not be updated.
	FailOnError bool
	// Timeout bounds each index download; 0 means DefaultRepoTimeout.
	Timeout time.Duration
}

// UpdateRepos downloads the repositories' index files again, in parallel, and
// reports each as `helm repo update` does.
func UpdateRepos(ctx context.Context, w io.Writer, settings *Settings, opts UpdateOptions) error {
	f, err := loadRepoFile(settings.RepositoryConfig)
	if err != nil {
		return err
	}
	if len(f.Repositories) == 0 {
		return errors.New("no repositories found. You must add one before updating")
	}
	for _, name := range opts.Names {
		if !f.Has(name) {
			return fmt.Errorf("no repositories found matching '%s'.  Nothing will be updated", name)
		}
	}
	var repos []*repo.ChartRepository
	for _, e := range f.Repositories {
		if len(opts.Names) > 0 && !slices.Contains(opts.Names, e.Name) {
			continue
		}
		r, err := chartRepository(e, settings, opts.Timeout)
		if err != nil {
			return err
		}
		repos = append(repos, r)
	}
	fmt.Fprintln(w, "Hang tight while we grab the latest from your chart repositories...")
	errs := make([]error, len(repos))
	var wg sync.WaitGroup
	for i, r := range repos {
		wg.Add(1)
		go func() {
			defer wg.Done()
			if err := ctx.Err(); err != nil {
				errs[i] = err
				return
			}
			_, errs[i] = r.DownloadIndexFile()
		}()
	}
	wg.Wait()
	var failed []string
	for i, r := range repos {
		if errs[i] != nil {
			fmt.Fprintf(w, "...Unable to get an update from the %q chart repository (%s):\n\t%s\n", r.Config.Name, r.Config.URL, errs[i])
			failed = append(failed, r.Config.URL)
			continue
		}
		fmt.Fprintf(w, "...Successfully got an update from the %q chart repository\n", r.Config.Name)
	}
	if len(failed) > 0 && opts.FailOnError {
		return fmt.Errorf("failed to update the following repositories: %s", failed)
	}
	_, err = fmt.Fprintln(w, "Update Complete. ⎈Happy Helming!⎈")
	return err
}

// RemoveRepos removes repositories and their cached index files.
func RemoveRepos(ctx context.Context, w io.Writer, settings *Settings, names []string) error {
	unlock, err := lockRepoFile(ctx, settings.RepositoryConfig)
	if err != nil {
		return err
	}
	defer unlock()
	f, err := loadRepoFile(settings.RepositoryConfig)
	if err != nil {
		return err
	}
	if len(f.Repositories) == 0 {
		return errors.New("no repositories configured")
	}
	for _, name := range names {
		if !f.Remove(name) {
			return fmt.Errorf("no repo named %q found", name)
		}
		if err := f.WriteFile(settings.RepositoryConfig, 0o600); err != nil {
			return fmt.Errorf("writing %s: %w", settings.RepositoryConfig, err)
		}
		for _, cached := range []string{helmpath.CacheChartsFile(name), helmpath.CacheIndexFile(name)} {
			p := filepath.Join(settings.RepositoryCache, cached)
			if err := os.Remove(p); err != nil && !errors.Is(err, fs.ErrNotExist) {
				return fmt.Errorf("can't remove index file %s: %w", p, err)
			}
		}
		fmt.Fprintf(w, "%q has been removed from your repositories\n", name)
	}
	return nil
}

// loadRepoFile reads repositories.yaml; a missing file is an empty one.
func loadRepoFile(path string) (*repo.File, error) {
	b, err := os.ReadFile(path)
	if errors.Is(err, fs.ErrNotExist) {
		return repo.NewFile(), nil
	}
	if err != nil {
		return nil, fmt.Errorf("reading the repositories file: %w", err)
	}
	f := repo.NewFile()
	if err := yaml.Unmarshal(b, f); err != nil {
		return nil, fmt.Errorf("reading the repositories file %s: %w", path, err)
	}
	return f, nil
}

// lockRepoFile takes repositories.yaml's lock file (beside it, .lock instead
// of its extension), as Helm does, so that concurrent adds do not lose entries.
func lockRepoFile(ctx context.Context, path string) (unlock func(), err error) {
	if err := os.MkdirAll(filepath.Dir(path), 0o755); err != nil {
		return nil, fmt.Errorf("creating the directory of %s: %w", path, err)
	}
	lockPath := strings.TrimSuffix(path, filepath.Ext(path)) + ".lock"
	if filepath.Ext(path) == "" || filepath.Ext(path) == path {
		lockPath = path + ".lock"
	}
	l := flock.New(lockPath)
	ctx, cancel := context.WithTimeout(ctx, 30*time.Second)
	defer cancel()
	locked, err := l.TryLockContext(ctx, time.Second)
	if err != nil {
		return nil, fmt.Errorf("locking %s: %w", lockPath, err)
	}
	if !locked {
		return nil, fmt.Errorf("locking %s: held by another process", lockPath)
	}
	return func() { _ = l.Unlock() }, nil
}

func chartRepository(e *repo.Entry, settings *Settings, timeout time.Duration) (*repo.ChartRepository, error) {
	if timeout == 0 {
		timeout = DefaultRepoTimeout
	}
	r, err := repo.NewChartRepository(e, getters(getter.WithTimeout(timeout)))
	if err != nil {
		return nil, fmt.Errorf("repository %q: %w", e.Name, err)
	}
	r.CachePath = settings.RepositoryCache
	return r, nil
}

// IndexOptions are those of `helm repo index`.
type IndexOptions struct {
	// URL is the repository's address, prefixed to each chart's file name.
	URL string
	// Merge is an existing index whose entries are kept where dir has no
	// chart of the same name and version.
	Merge string
	// JSON writes the index as JSON (still named index.yaml).
	JSON bool
}

// IndexRepo writes dir/index.yaml for the chart archives in dir (and its
// subdirectories), as `helm repo index` does, so that dir can be served as
// a classic chart repository.
func IndexRepo(dir string, o IndexOptions) error {
	fi, err := os.Stat(dir)
	if err != nil {
		return fmt.Errorf("indexing charts: %w", err)
	}
	if !fi.IsDir() {
		return fmt.Errorf("indexing charts: %s is not a directory", dir)
	}
	index, err := repo.IndexDirectory(dir, o.URL)
	if err != nil {
		return fmt.Errorf("indexing the charts of %s: %w", dir, err)
	}
	if o.Merge != "" {
		old := repo.NewIndexFile()
		if _, err := os.Stat(o.Merge); err == nil {
			if old, err = repo.LoadIndexFile(o.Merge); err != nil {
				return fmt.Errorf("merging index %s: %w", o.Merge, err)
			}
		}
		index.Merge(old)
	}
	index.SortEntries()
	out := filepath.Join(dir, "index.yaml")
	if o.JSON {
		err = index.WriteJSONFile(out, 0o644)
	} else {
		err = index.WriteFile(out, 0o644)
	}
	if err != nil {
		return fmt.Errorf("writing %s: %w", out, err)
	}
	return nil
}
