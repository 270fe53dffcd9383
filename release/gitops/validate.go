package gitops

import (
	"errors"
	"fmt"
	"net/url"
	"os"
	"path/filepath"
	"slices"
	"strings"

	"github.com/Masterminds/semver/v3"
	"helm.sh/helm/v3/pkg/chartutil"
	"k8s.io/apimachinery/pkg/util/validation"

	"berth.dev/berth/release/kube"
)

// FieldError is a problem with one field of a Release: the Release must be
// changed before it can be reconciled, retrying does not help.
type FieldError struct {
	// Object is "Release namespace/name".
	Object string
	// Field is the field's path: spec.chart.path, spec.valuesFrom[1].name.
	Field  string
	Detail string
}

func (e *FieldError) Error() string { return e.Object + ": " + e.Field + ": " + e.Detail }

// Validate checks every field of a Release, the server schema's checks
// included, so that a Release read from Git is refused before it is
// applied; when root is the checkout it was read from ("" otherwise), the
// chart directory and values files it names must be in it. It returns every
// problem found, each a *FieldError, joined.
func (r *Release) Validate(root string) error {
	v := &validator{object: fmt.Sprintf("Release %s/%s", r.Namespace, r.Name)}
	s := &r.Spec
	v.label("metadata.name", r.Name)
	v.label("metadata.namespace", r.Namespace)
	switch {
	case s.ReleaseName != "" && chartutil.ValidateReleaseName(s.ReleaseName) != nil:
		v.add("spec.releaseName", "%q is not a valid release name: at most %d lowercase letters, digits, '-' and '.', starting and ending with a letter or digit", s.ReleaseName, maxReleaseName)
	case s.ReleaseName == "" && len(r.Name) > maxReleaseName:
		v.add("metadata.name", "%q is longer than a release name may be (%d characters): set spec.releaseName", r.Name, maxReleaseName)
	}
	if s.TargetNamespace != "" {
		v.label("spec.targetNamespace", s.TargetNamespace)
	}
	v.chart(&s.Chart, root)

	for i, ref := range s.ValuesFrom {
		v.valuesFrom(fmt.Sprintf("spec.valuesFrom[%d]", i), ref, root)
	}
	for i, dep := range s.DependsOn {
		field := fmt.Sprintf("spec.dependsOn[%d]", i)
		v.label(field+".name", dep.Name)
		if dep.Namespace != "" {
			v.label(field+".namespace", dep.Namespace)
		}
		if dep.Name == r.Name && (dep.Namespace == "" || dep.Namespace == r.Namespace) {
			v.add(field, "a Release cannot depend on itself")
		}
	}
	if s.Interval != nil && s.Interval.Duration <= 0 {
		v.add("spec.interval", "must be positive, not %s", s.Interval.Duration)
	}
	if s.Timeout != nil && s.Timeout.Duration <= 0 {
		v.add("spec.timeout", "must be positive, not %s", s.Timeout.Duration)
	}
	if s.Install != nil && s.Install.Remediation != nil {
		v.remediation("spec.install.remediation", s.Install.Remediation, RemediateUninstall)
	}
	if s.Upgrade != nil && s.Upgrade.Remediation != nil {
		v.remediation("spec.upgrade.remediation", s.Upgrade.Remediation, RemediateRollback, RemediateUninstall)
	}
	if d := s.DriftDetection; d != nil {
		v.enum("spec.driftDetection.mode", string(d.Mode), string(DriftOff), string(DriftWarn), string(DriftCorrect))
		for i, rule := range d.Ignore {
			field := fmt.Sprintf("spec.driftDetection.ignore[%d].paths", i)
			if len(rule.Paths) == 0 {
				v.add(field, "must name at least one JSON pointer, such as /spec/replicas")
			}
			for j, p := range rule.Paths {
				// What the diff refuses: not a pointer, or the whole object.
				if tokens, err := kube.ParsePointer(p); err != nil {
					v.add(fmt.Sprintf("%s[%d]", field, j), "%v", err)
				} else if len(tokens) == 0 {
					v.add(fmt.Sprintf("%s[%d]", field, j), "\"\" names the whole object, not a field: give a path such as /spec/replicas")
				}
			}
		}
	}
	v.enum("spec.crds", string(s.CRDs), string(CRDsSkip), string(CRDsCreate), string(CRDsCreateReplace))
	return errors.Join(v.errs...)
}

// maxReleaseName is Helm's limit on a release's name.
const maxReleaseName = 53

// validator collects the problems of one object.
type validator struct {
	object string
	errs   []error
}

func (v *validator) add(field, format string, args ...any) {
	v.errs = append(v.errs, &FieldError{Object: v.object, Field: field, Detail: fmt.Sprintf(format, args...)})
}

func (v *validator) label(field, value string) {
	if value == "" {
		v.add(field, "must be set")
		return
	}
	if msgs := validation.IsDNS1123Label(value); len(msgs) > 0 {
		v.add(field, "%q is not a valid name: %s", value, strings.Join(msgs, "; "))
	}
}

// enum accepts value when it is empty (the default) or one of allowed.
func (v *validator) enum(field, value string, allowed ...string) {
	if value != "" && !slices.Contains(allowed, value) {
		v.add(field, "%q is not one of %s", value, strings.Join(allowed, ", "))
	}
}

func (v *validator) chart(c *ChartSource, root string) {
	set := 0
	for _, s := range []string{c.Path, c.OCI, c.Repo} {
		if s != "" {
			set++
		}
	}
	if set != 1 {
		v.add("spec.chart", "exactly one of path, oci and repo must be set")
	}
	switch {
	case c.Path != "":
		if v.relative("spec.chart.path", c.Path) && root != "" {
			v.chartDir(c.Path, root)
		}
		if c.Version != "" {
			v.add("spec.chart.version", "applies only to oci and repo charts: a path chart's version is that of its Chart.yaml")
		}
	case c.OCI != "":
		if rest, ok := strings.CutPrefix(c.OCI, "oci://"); !ok || rest == "" {
			v.add("spec.chart.oci", "%q is not an oci:// reference (oci://host/repository/chart)", c.OCI)
		}
	case c.Repo != "":
		if u, err := url.Parse(c.Repo); err != nil || (u.Scheme != "http" && u.Scheme != "https") || u.Host == "" {
			v.add("spec.chart.repo", "%q is not the http:// or https:// URL of a chart repository", c.Repo)
		}
		if c.Name == "" {
			v.add("spec.chart.name", "is required with spec.chart.repo: the chart's name in the repository")
		}
	}
	if c.Name != "" && c.Repo == "" {
		v.add("spec.chart.name", "applies only to repo charts")
	}
	if c.Version != "" && c.Path == "" {
		if _, err := semver.NewConstraint(c.Version); err != nil {
			v.add("spec.chart.version", "%q is neither a version nor a range (1.2.3, 1.2.x, ^1.2): %v", c.Version, err)
		}
	}
}

// relative reports whether p is a path inside the repository: relative and
// without "..".
func (v *validator) relative(field, p string) bool {
	if filepath.IsAbs(p) || strings.HasPrefix(p, "/") {
		v.add(field, "%q must be relative to the repository's root", p)
		return false
	}
	if slices.Contains(strings.Split(filepath.ToSlash(p), "/"), "..") {
		v.add(field, "%q must not contain \"..\"", p)
		return false
	}
	return true
}

func (v *validator) chartDir(p, root string) {
	dir, err := inRoot(root, p)
	if err != nil {
		v.add("spec.chart.path", "%v", err)
		return
	}
	info, err := os.Stat(dir)
	switch {
	case err != nil:
		v.add("spec.chart.path", "no directory %q in the repository", p)
	case !info.IsDir():
		v.add("spec.chart.path", "%q is a file, not a chart directory", p)
	default:
		if _, err := os.Stat(filepath.Join(dir, "Chart.yaml")); err != nil {
			v.add("spec.chart.path", "%q holds no Chart.yaml: it is not a chart", p)
		}
	}
}

func (v *validator) valuesFrom(field string, ref ValuesReference, root string) {
	switch ref.Kind {
	case "ConfigMap", "Secret":
		if ref.Name == "" {
			v.add(field+".name", "must be set")
		} else if msgs := validation.IsDNS1123Subdomain(ref.Name); len(msgs) > 0 {
			v.add(field+".name", "%q is not a valid %s name: %s", ref.Name, ref.Kind, strings.Join(msgs, "; "))
		}
	case "File":
		if ref.Key != "" {
			v.add(field+".key", "applies only to ConfigMap and Secret")
		}
		if ref.Name == "" {
			v.add(field+".name", "must be set: the file's path relative to the repository's root")
			return
		}
		if root == "" {
			v.add(field, "kind File needs the Release to be read from a Git repository; use a ConfigMap or Secret")
			return
		}
		if !v.relative(field+".name", ref.Name) {
			return
		}
		file, err := inRoot(root, ref.Name)
		if err != nil {
			v.add(field+".name", "%v", err)
			return
		}
		info, err := os.Stat(file)
		switch {
		case err != nil && !ref.Optional:
			v.add(field+".name", "no file %q in the repository (set optional: true if it may be missing)", ref.Name)
		case err == nil && info.IsDir():
			v.add(field+".name", "%q is a directory, not a values file", ref.Name)
		}
	case "":
		v.add(field+".kind", "must be set: ConfigMap, Secret or File")
	default:
		v.add(field+".kind", "%q is not one of ConfigMap, Secret, File", ref.Kind)
	}
}

func (v *validator) remediation(field string, r *Remediation, allowed ...RemediationStrategy) {
	if r.Retries < 0 {
		v.add(field+".retries", "must not be negative, not %d", r.Retries)
	}
	switch {
	case r.Strategy == "" || slices.Contains(allowed, r.Strategy):
	case r.Strategy == RemediateRollback:
		v.add(field+".strategy", "rollback applies only to upgrades: a failed install has no revision to roll back to; use uninstall")
	default:
		names := make([]string, len(allowed))
		for i, a := range allowed {
			names[i] = string(a)
		}
		v.add(field+".strategy", "%q is not one of %s", r.Strategy, strings.Join(names, ", "))
	}
}

// inRoot returns the path of rel under root, refusing one that symbolic
// links lead out of the repository. A path that does not exist is returned
// as it is, for the caller to report.
func inRoot(root, rel string) (string, error) {
	p := filepath.Join(root, rel)
	resolved, err := filepath.EvalSymlinks(p)
	if err != nil {
		return p, nil
	}
	realRoot, err := filepath.EvalSymlinks(root)
	if err != nil {
		return "", fmt.Errorf("resolving the repository's root: %w", err)
	}
	if r, err := filepath.Rel(realRoot, resolved); err != nil || !filepath.IsLocal(r) {
		return "", fmt.Errorf("%q leads out of the repository through a symbolic link", rel)
	}
	return resolved, nil
}
