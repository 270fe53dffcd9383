package gitops

import (
	apiextensionsv1 "k8s.io/apiextensions-apiserver/pkg/apis/apiextensions/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
)

// Release declares a release of a chart that berth keeps installed, as
// Flux's HelmRelease does.
type Release struct {
	metav1.TypeMeta   `json:",inline"`
	metav1.ObjectMeta `json:"metadata,omitempty"`

	Spec   ReleaseSpec   `json:"spec"`
	Status ReleaseStatus `json:"status,omitempty"`
}

// ReleaseSpec is what a Release wants.
type ReleaseSpec struct {
	Chart ChartSource `json:"chart"`
	// ReleaseName is the release's name, the Release's own if empty.
	ReleaseName string `json:"releaseName,omitempty"`
	// TargetNamespace is where the release goes, the Release's namespace if
	// empty; it is created when missing.
	TargetNamespace string `json:"targetNamespace,omitempty"`
	// Values are the release's values, merged over those of ValuesFrom.
	Values *apiextensionsv1.JSON `json:"values,omitempty"`
	// ValuesFrom are merged in order, each over the ones before.
	ValuesFrom []ValuesReference `json:"valuesFrom,omitempty"`
	// DependsOn are Releases that must be Ready before this one is
	// reconciled.
	DependsOn []DependencyReference `json:"dependsOn,omitempty"`
	// Suspend stops reconciling the Release; what is installed stays.
	Suspend bool `json:"suspend,omitempty"`
	// Interval is how often the Release is reconciled without a change
	// (drift detection, retries), 10m if unset.
	Interval *metav1.Duration `json:"interval,omitempty"`
	// Timeout bounds each install, upgrade, rollback or uninstall and its
	// wait, 5m if unset.
	Timeout *metav1.Duration `json:"timeout,omitempty"`
	Install *InstallSpec     `json:"install,omitempty"`
	Upgrade *UpgradeSpec     `json:"upgrade,omitempty"`
	// DriftDetection says what to do when live objects differ from the
	// release's manifest.
	DriftDetection *DriftDetection `json:"driftDetection,omitempty"`
	// CRDs is the policy for the chart's crds/ directory: Skip, Create
	// (default: install those missing, at install and upgrade, never update
	// one) or CreateReplace (also update existing ones to the chart's).
	CRDs CRDPolicy `json:"crds,omitempty"`
}

// ChartSource says where the chart comes from: exactly one of Path, OCI and
// Repo.
type ChartSource struct {
	// Path is a chart directory in the Git repository the Release was
	// declared in, relative to the repository's root.
	Path string `json:"path,omitempty"`
	// OCI is an oci:// reference (oci://host/repo/chart).
	OCI string `json:"oci,omitempty"`
	// Repo is the URL of a classic chart repository, Name the chart's name
	// in it.
	Repo string `json:"repo,omitempty"`
	Name string `json:"name,omitempty"`
	// Version is a version or a semver range (1.2.x, ^1.2) for OCI and Repo
	// charts; the latest stable version if empty.
	Version string `json:"version,omitempty"`
}

// ValuesReference points at values: a key of a ConfigMap or Secret in the
// Release's namespace, or a file of the Git repository.
type ValuesReference struct {
	// Kind is ConfigMap, Secret or File.
	Kind string `json:"kind"`
	// Name is the ConfigMap's or Secret's name, or the file's path relative
	// to the repository's root.
	Name string `json:"name"`
	// Key is the key holding the values, values.yaml if empty.
	Key string `json:"key,omitempty"`
	// Optional makes a missing reference count as no values.
	Optional bool `json:"optional,omitempty"`
}

// DependencyReference names a Release, in the same namespace if Namespace
// is empty.
type DependencyReference struct {
	Name      string `json:"name"`
	Namespace string `json:"namespace,omitempty"`
}

// InstallSpec configures installs.
type InstallSpec struct {
	Remediation *Remediation `json:"remediation,omitempty"`
}

// UpgradeSpec configures upgrades.
type UpgradeSpec struct {
	Remediation *Remediation `json:"remediation,omitempty"`
}

// Remediation says what a failed install or upgrade leads to.
type Remediation struct {
	// Retries is how many more times a failed action is tried, with
	// back-off, before the Release is Stalled. 0: none.
	Retries int `json:"retries,omitempty"`
	// Strategy is what a failed upgrade or install is followed by:
	// rollback (to the last deployed revision; upgrades only) or uninstall.
	// Empty leaves the failed revision as it is.
	Strategy RemediationStrategy `json:"strategy,omitempty"`
}

// RemediationStrategy is what follows a failed action.
type RemediationStrategy string

const (
	RemediateRollback  RemediationStrategy = "rollback"
	RemediateUninstall RemediationStrategy = "uninstall"
)

// DriftDetection configures the comparison of live objects with the
// release's manifest at every reconcile.
type DriftDetection struct {
	// Mode is off (default), warn (report it in the Ready condition and an
	// event) or correct (put the objects back).
	Mode DriftMode `json:"mode,omitempty"`
	// Ignore are fields left out of the comparison.
	Ignore []IgnoreRule `json:"ignore,omitempty"`
}

// DriftMode is off, warn or correct.
type DriftMode string

const (
	DriftOff     DriftMode = "off"
	DriftWarn    DriftMode = "warn"
	DriftCorrect DriftMode = "correct"
)

// IgnoreRule leaves JSON pointer Paths (/spec/replicas) of the objects that
// Target selects (all, if empty) out of drift detection.
type IgnoreRule struct {
	Paths  []string      `json:"paths"`
	Target *ObjectTarget `json:"target,omitempty"`
}

// ObjectTarget selects objects by kind and name; empty fields match all.
type ObjectTarget struct {
	Kind string `json:"kind,omitempty"`
	Name string `json:"name,omitempty"`
}

// CRDPolicy is Skip, Create or CreateReplace.
type CRDPolicy string

const (
	CRDsSkip          CRDPolicy = "Skip"
	CRDsCreate        CRDPolicy = "Create"
	CRDsCreateReplace CRDPolicy = "CreateReplace"
)

// ReleaseStatus is what the reconciler last saw and did.
type ReleaseStatus struct {
	ObservedGeneration int64 `json:"observedGeneration,omitempty"`
	// Conditions are Ready, Reconciling and Stalled, as kstatus reads them.
	Conditions []metav1.Condition `json:"conditions,omitempty"`
	// LastAppliedRevision is the release revision the Release last
	// deployed, LastAppliedChart its chart (name-version) and
	// LastAppliedCommit the Git commit it came from.
	LastAppliedRevision int    `json:"lastAppliedRevision,omitempty"`
	LastAppliedChart    string `json:"lastAppliedChart,omitempty"`
	LastAppliedCommit   string `json:"lastAppliedCommit,omitempty"`
	// LastAppliedDigest identifies the chart and values last deployed: a
	// reconcile that finds them unchanged writes no revision.
	LastAppliedDigest string `json:"lastAppliedDigest,omitempty"`
	// LastAttemptedDigest identifies the chart and values last tried;
	// Failures counts the failed attempts at it and LastFailure says why the
	// last one failed.
	LastAttemptedDigest string `json:"lastAttemptedDigest,omitempty"`
	Failures            int    `json:"failures,omitempty"`
	LastFailure         string `json:"lastFailure,omitempty"`
	// LastHandledReconcileAt is the ReconcileRequestAnnotation value last
	// acted on: a new one (berth reconcile) retries a Stalled Release.
	LastHandledReconcileAt string `json:"lastHandledReconcileAt,omitempty"`
}

// GitSource is a Git repository whose Release and Namespace manifests
// berth applies.
type GitSource struct {
	metav1.TypeMeta   `json:",inline"`
	metav1.ObjectMeta `json:"metadata,omitempty"`

	Spec   GitSourceSpec   `json:"spec"`
	Status GitSourceStatus `json:"status,omitempty"`
}

// GitSourceSpec says which repository, ref and path.
type GitSourceSpec struct {
	// URL is file://, https:// or ssh:// (or scp-like git@host:path).
	URL string `json:"url"`
	// Ref picks a branch, tag or commit; the default branch if empty.
	Ref *GitRef `json:"ref,omitempty"`
	// Path is the directory whose manifests are applied, the root if empty.
	Path string `json:"path,omitempty"`
	// Interval is how often the repository is fetched, 1m if unset.
	Interval *metav1.Duration `json:"interval,omitempty"`
	// SecretRef names a Secret in the GitSource's namespace with
	// credentials: username and password, or identity and known_hosts.
	SecretRef *LocalObjectReference `json:"secretRef,omitempty"`
	// Prune deletes the Releases applied from an earlier commit that the
	// current one no longer has (true if unset).
	Prune *bool `json:"prune,omitempty"`
	// Suspend stops fetching.
	Suspend bool `json:"suspend,omitempty"`
}

// GitRef is exactly one of Branch, Tag and Commit.
type GitRef struct {
	Branch string `json:"branch,omitempty"`
	Tag    string `json:"tag,omitempty"`
	Commit string `json:"commit,omitempty"`
}

// LocalObjectReference names an object in the same namespace.
type LocalObjectReference struct {
	Name string `json:"name"`
}

// GitSourceStatus is what the last fetch found and applied.
type GitSourceStatus struct {
	ObservedGeneration int64              `json:"observedGeneration,omitempty"`
	Conditions         []metav1.Condition `json:"conditions,omitempty"`
	// LastAppliedCommit is the commit whose manifests were applied last;
	// LastFetchedCommit the one fetched last (it differs when that one's
	// manifests were refused).
	LastAppliedCommit string `json:"lastAppliedCommit,omitempty"`
	LastFetchedCommit string `json:"lastFetchedCommit,omitempty"`
	// Releases are the Releases applied from LastAppliedCommit, as
	// namespace/name.
	Releases []string `json:"releases,omitempty"`
	// LastHandledReconcileAt is the ReconcileRequestAnnotation value last
	// acted on.
	LastHandledReconcileAt string `json:"lastHandledReconcileAt,omitempty"`
}

// Condition types and reasons, as Flux and kstatus name them.
const (
	ConditionReady       = "Ready"
	ConditionReconciling = "Reconciling"
	ConditionStalled     = "Stalled"

	ReasonSucceeded          = "ReconciliationSucceeded"
	ReasonFailed             = "ReconciliationFailed"
	ReasonProgressing        = "Progressing"
	ReasonDependencyNotReady = "DependencyNotReady"
	ReasonRetriesExhausted   = "RetriesExhausted"
	ReasonDriftDetected      = "DriftDetected"
	ReasonSuspended          = "Suspended"
	ReasonInvalidManifests   = "InvalidManifests"
	ReasonFetchFailed        = "FetchFailed"
)

// ReconcileRequestAnnotation, set to a new value (a time) by berth
// reconcile, asks for a reconcile now, retries included.
const ReconcileRequestAnnotation = "reconcile.berth.dev/requestedAt"

// SourceLabel marks the Releases a GitSource (or berth sync) applied with
// the source's id, to prune those a new commit no longer has.
const SourceLabel = "gitops.berth.dev/source"

// DeepCopy copies a status, for comparing it after a reconcile.
func (s *ReleaseStatus) DeepCopy() *ReleaseStatus {
	out := *s
	out.Conditions = make([]metav1.Condition, len(s.Conditions))
	copy(out.Conditions, s.Conditions)
	return &out
}
