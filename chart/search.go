package chart

import (
	"errors"
	"fmt"
	"io"
	"path/filepath"
	"regexp"
	"sort"
	"strings"

	"github.com/Masterminds/semver/v3"
	"github.com/gosuri/uitable"
	"helm.sh/helm/v3/pkg/cli/output"
	"helm.sh/helm/v3/pkg/helmpath"
	"helm.sh/helm/v3/pkg/repo"
)

// SearchOptions configure SearchRepos, as `helm search repo`'s flags.
type SearchOptions struct {
	// Keyword is matched, case-insensitively, against each chart's name,
	// REPO/NAME, description and keywords; "" lists every chart.
	Keyword string
	// Regexp takes Keyword as a regular expression.
	Regexp bool
	// Versions lists every version, not only the newest.
	Versions bool
	// Devel includes pre-releases when Version is "".
	Devel bool
	// Version is a semver constraint the versions must meet.
	Version string
	// MaxColWidth bounds the table's columns; 0 means 50.
	MaxColWidth uint
	// FailOnNoResult makes finding nothing an error.
	FailOnNoResult bool
	// Format is table (the default), json or yaml.
	Format output.Format
}

// SearchResult is one chart version found.
type SearchResult struct {
	// Name is REPO/CHART.
	Name  string
	Chart *repo.ChartVersion
	// score is where the keyword matched: 0 in the name, 1 in REPO/NAME, 2
	// in the description, 3 in the keywords.
	score int
}

// fieldSep separates the fields a keyword is searched in.
const fieldSep = "\v"

// SearchRepos searches the cached index files of the repositories added and
// writes the charts found as `helm search repo` does: sorted by where the
// keyword matched, then by name, newest version first. Repositories whose index
// is missing or corrupt are reported on warn and skipped.
func SearchRepos(w, warn io.Writer, settings *Settings, opts SearchOptions) error {
	results, err := Search(warn, settings, opts)
	if err != nil {
		return err
	}
	width := opts.MaxColWidth
	if width == 0 {
		width = 50
	}
	format := opts.Format
	if format == "" {
		format = output.Table
	}
	return format.Write(w, searchWriter{results: results, width: width, failOnNoResult: opts.FailOnNoResult})
}

// Search returns the chart versions SearchRepos prints.
func Search(warn io.Writer, settings *Settings, opts SearchOptions) ([]SearchResult, error) {
	f, err := loadRepoFile(settings.RepositoryConfig)
	if err != nil {
		return nil, err
	}
	if len(f.Repositories) == 0 {
		return nil, errors.New("no repositories configured")
	}
	constraintText := opts.Version
	if constraintText == "" {
		constraintText = ">0.0.0"
		if opts.Devel {
			constraintText = ">0.0.0-0"
		}
	}
	constraint, err := semver.NewConstraint(constraintText)
	if err != nil {
		return nil, fmt.Errorf("an invalid version/constraint format: %w", err)
	}
	var match func(text string) int
	switch {
	case opts.Keyword == "":
		match = func(string) int { return 0 }
	case opts.Regexp:
		re, err := regexp.Compile(opts.Keyword)
		if err != nil {
			return nil, fmt.Errorf("searching for %q: %w", opts.Keyword, err)
		}
		match = func(text string) int {
			loc := re.FindStringIndex(text)
			if loc == nil {
				return -1
			}
			return strings.Count(text[:loc[0]], fieldSep)
		}
	default:
		term := strings.ToLower(opts.Keyword)
		match = func(text string) int {
			text = strings.ToLower(text)
			i := strings.Index(text, term)
			if i < 0 {
				return -1
			}
			return strings.Count(text[:i], fieldSep)
		}
	}

	// Every version is searched and the constraint (always set: by default
	// ">0.0.0", no pre-releases) picks among them, so a chart whose newest
	// version is a pre-release still shows its newest stable one.
	var found []SearchResult
	for _, e := range f.Repositories {
		idx, err := repo.LoadIndexFile(filepath.Join(settings.RepositoryCache, helmpath.CacheIndexFile(e.Name)))
		if err != nil {
			fmt.Fprintf(warn, "WARNING: Repo %q is corrupt or missing. Try 'berth repo update'.\nWARNING: %s\n", e.Name, err)
			continue
		}
		idx.SortEntries()
		for name, versions := range idx.Entries {
			if len(versions) == 0 {
				continue
			}
			full := e.Name + "/" + name
			for _, v := range versions {
				text := v.Name + fieldSep + e.Name + "/" + v.Name + fieldSep + v.Description + fieldSep + strings.Join(v.Keywords, " ")
				if score := match(text); score >= 0 {
					found = append(found, SearchResult{Name: full, Chart: v, score: score})
				}
			}
		}
	}
	sort.SliceStable(found, func(i, j int) bool {
		a, b := found[i], found[j]
		if a.score != b.score {
			return a.score < b.score
		}
		if a.Name != b.Name {
			return a.Name < b.Name
		}
		va, errA := semver.NewVersion(a.Chart.Version)
		vb, errB := semver.NewVersion(b.Chart.Version)
		if errA != nil || errB != nil {
			return errA == nil
		}
		return va.GreaterThan(vb)
	})

	var out []SearchResult
	seen := map[string]bool{}
	for _, r := range found {
		if !opts.Versions && seen[r.Name] {
			continue
		}
		v, err := semver.NewVersion(r.Chart.Version)
		if err != nil || !constraint.Check(v) {
			continue
		}
		out = append(out, r)
		seen[r.Name] = true
	}
	return out, nil
}

type searchWriter struct {
	results        []SearchResult
	width          uint
	failOnNoResult bool
}

type searchElement struct {
	Name        string `json:"name"`
	Version     string `json:"version"`
	AppVersion  string `json:"app_version"`
	Description string `json:"description"`
}

func (s searchWriter) WriteTable(w io.Writer) error {
	if len(s.results) == 0 {
		if s.failOnNoResult {
			return errors.New("no results found")
		}
		_, err := io.WriteString(w, "No results found\n")
		return err
	}
	table := uitable.New()
	table.MaxColWidth = s.width
	table.AddRow("NAME", "CHART VERSION", "APP VERSION", "DESCRIPTION")
	for _, r := range s.results {
		table.AddRow(r.Name, r.Chart.Version, r.Chart.AppVersion, r.Chart.Description)
	}
	return output.EncodeTable(w, table)
}

func (s searchWriter) elements() ([]searchElement, error) {
	if len(s.results) == 0 && s.failOnNoResult {
		return nil, errors.New("no results found")
	}
	out := make([]searchElement, 0, len(s.results))
	for _, r := range s.results {
		out = append(out, searchElement{r.Name, r.Chart.Version, r.Chart.AppVersion, r.Chart.Description})
	}
	return out, nil
}

func (s searchWriter) WriteJSON(w io.Writer) error {
	e, err := s.elements()
	if err != nil {
		return err
	}
	return output.EncodeJSON(w, e)
}

func (s searchWriter) WriteYAML(w io.Writer) error {
	e, err := s.elements()
	if err != nil {
		return err
	}
	return output.EncodeYAML(w, e)
}
