package gitops

import (
	"context"
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"io/fs"
	"log/slog"
	"os"
	"path/filepath"
	"reflect"
	"strings"
	"time"

	helmchart "helm.sh/helm/v3/pkg/chart"
	"helm.sh/helm/v3/pkg/chartutil"
	"helm.sh/helm/v3/pkg/getter"
	helmrelease "helm.sh/helm/v3/pkg/release"
	"helm.sh/helm/v3/pkg/repo"
	corev1 "k8s.io/api/core/v1"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	"k8s.io/apimachinery/pkg/api/meta"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/client-go/kubernetes"
	"sigs.k8s.io/yaml"

	"berth.dev/berth/chart"
	"berth.dev/berth/release"
	"berth.dev/berth/release/storage"
)

// Reconciler makes releases match their Releases through the release
// actions.
type Reconciler struct {
	// Release runs the actions; Client reads the ConfigMaps and Secrets of
	// valuesFrom.
	Release *release.Config
	Client  kubernetes.Interface
	// Settings and Registry locate repository and OCI charts.
	Settings *chart.Settings
	Registry chart.RegistryOptions
	Log      *slog.Logger
	Now      func() time.Time
}

// Source is what a pass of reconciles reads from: the checkout the Releases
// were declared in (chart.path and File values are read under Root; Commit
// is recorded in the status), and optionally the release index's heads as
// the pass began, by namespace/name, which spare an unchanged Release's
// reads.
type Source struct {
	Root, Commit string
	Heads        map[string]storage.Summary
}

// Action says what a reconcile did.
type Action string

const (
	ActionInstalled      Action = "installed"
	ActionUpgraded       Action = "upgraded"
	ActionUnchanged      Action = "unchanged"
	ActionDriftCorrected Action = "drift corrected"
	ActionDriftDetected  Action = "drift detected"
	ActionFailed         Action = "failed"
	ActionStalled        Action = "stalled"
	ActionSuspended      Action = "suspended"
	ActionWaiting        Action = "waiting for dependencies"
)

// Outcome is the result of one reconcile.
type Outcome struct {
	Action Action
	// Revision is the release's deployed revision afterwards (0: none).
	Revision int
	// Message says what happened, for reports and conditions.
	Message string
	// Err is set when the Release is not Ready.
	Err error
	// RequeueAfter is when to reconcile again.
	RequeueAfter time.Duration
}

// retryBase is the first back-off after a failure; it doubles with each
// one, up to the Release's interval.
const retryBase = 5 * time.Second

// Reconcile makes rel's release match it: installs or upgrades it when its
// chart or values changed (or it does not exist), leaves it alone when not
// (writing no revision), and detects or corrects drift as rel says. Failures
// are retried with back-off up to the remediation's retries, then
// remediated and Stalled. It updates rel.Status; saving it is the caller's.
func (r *Reconciler) Reconcile(ctx context.Context, rel *Release, src Source) Outcome {
	o := r.reconcile(ctx, rel, src)
	r.setConditions(rel, o)
	rel.Status.ObservedGeneration = rel.Generation
	return o
}

func (r *Reconciler) reconcile(ctx context.Context, rel *Release, src Source) Outcome {
	rel.takeReconcileRequest()
	if rel.Spec.Suspend {
		return Outcome{Action: ActionSuspended, Message: "reconciliation is suspended", Revision: rel.Status.LastAppliedRevision}
	}
	ch, vals, err := r.desired(ctx, rel, src)
	if err != nil {
		return r.failed(ctx, rel, err)
	}
	digest, err := desiredDigest(ch, vals, rel)
	if err != nil {
		return r.failed(ctx, rel, err)
	}
	st := &rel.Status
	if st.LastAttemptedDigest != digest {
		// A new desired state gets fresh retries.
		st.LastAttemptedDigest, st.Failures, st.LastFailure = digest, 0, ""
	}
	name, ns := rel.ReleaseNameOrDefault(), rel.TargetNamespaceOrDefault()
	deployed, history, err := r.deployedRevision(ctx, ns, name, src.Heads)
	if err != nil {
		return r.failed(ctx, rel, err)
	}
	if deployed != nil {
		same, err := r.unchanged(ctx, rel, digest, *deployed, ch, vals)
		if err != nil {
			return r.failed(ctx, rel, err)
		}
		if same {
			st.LastAppliedDigest, st.LastAppliedRevision, st.Failures, st.LastFailure = digest, deployed.Revision, 0, ""
			return r.checkDrift(ctx, rel, src, ch, vals, *deployed)
		}
	}
	if st.Failures > rel.remediation(deployed != nil).Retries {
		return Outcome{Action: ActionStalled, Revision: st.LastAppliedRevision, Err: errors.New(st.LastFailure),
			Message: fmt.Sprintf("%s (retries exhausted; a new commit or berth reconcile tries again)", st.LastFailure)}
	}
	var (
		applied *helmrelease.Release
		action  Action
	)
	if deployed == nil && (len(history) == 0 || history[len(history)-1].Status == helmrelease.StatusUninstalled) {
		applied, err = r.install(ctx, rel, src, ch, vals)
		action = ActionInstalled
	} else {
		applied, err = r.upgrade(ctx, rel, src, ch, vals, "")
		action = ActionUpgraded
	}
	if err != nil {
		return r.failed(ctx, rel, err)
	}
	r.applied(rel, src, digest, applied)
	return Outcome{Action: action, Revision: applied.Version, Message: fmt.Sprintf("%s %s/%s: revision %d (%s)", action, ns, name, applied.Version, chartName(applied.Chart)), RequeueAfter: rel.IntervalOrDefault()}
}

// deployedRevision finds the release's deployed revision: from the index
// heads read at the start of the pass when the newest revision is the
// deployed one, else from its history (returned too, nil when heads
// answered).
func (r *Reconciler) deployedRevision(ctx context.Context, ns, name string, heads map[string]storage.Summary) (*storage.Summary, []storage.Summary, error) {
	if h, ok := heads[key(ns, name)]; ok && h.Status == helmrelease.StatusDeployed {
		return &h, nil, nil
	}
	history, err := r.Release.History(ctx, ns, name, 0)
	if err != nil && !errors.Is(err, release.ErrReleaseNotFound) {
		return nil, nil, fmt.Errorf("reading the history of release %s/%s: %w", ns, name, err)
	}
	return storage.LastDeployed(history), history, nil
}

// unchanged says whether the deployed revision is what rel wants: the digest
// recorded when rel deployed it, or (a Release whose status was lost, or a
// release first installed by hand) the same chart and values, read from the
// revision.
func (r *Reconciler) unchanged(ctx context.Context, rel *Release, digest string, deployed storage.Summary, ch *helmchart.Chart, vals map[string]any) (bool, error) {
	if rel.Status.LastAppliedDigest != "" && rel.Status.LastAppliedRevision == deployed.Revision {
		return rel.Status.LastAppliedDigest == digest, nil
	}
	live, err := r.Release.Get(ctx, deployed.Namespace, deployed.Name, deployed.Revision)
	if err != nil {
		return false, fmt.Errorf("reading release %s/%s: %w", deployed.Namespace, deployed.Name, err)
	}
	d, err := chartDigest(live.Chart)
	if err != nil {
		return false, nil
	}
	want, err := chartDigest(ch)
	return err == nil && d == want && reflect.DeepEqual(normalized(live.Config), normalized(vals)), nil
}

// normalized makes values compare equal whether they were decoded from YAML
// or JSON (numbers, empty maps).
func normalized(v map[string]any) any {
	if len(v) == 0 {
		return nil
	}
	b, err := json.Marshal(v)
	if err != nil {
		return v
	}
	var out any
	if err := json.Unmarshal(b, &out); err != nil {
		return v
	}
	return out
}

// checkDrift compares the deployed revision's objects with the live ones, as
// rel's drift detection says, and corrects them by an upgrade with the same
// chart and values in correct mode.
func (r *Reconciler) checkDrift(ctx context.Context, rel *Release, src Source, ch *helmchart.Chart, vals map[string]any, deployed storage.Summary) Outcome {
	unchanged := Outcome{Action: ActionUnchanged, Revision: deployed.Revision, Message: fmt.Sprintf("release %s is at revision %d (%s)", deployed.Name, deployed.Revision, deployed.Chart), RequeueAfter: rel.IntervalOrDefault()}
	mode := rel.DriftModeOrDefault()
	if mode == DriftOff {
		return unchanged
	}
	diff, err := r.Release.DiffLiveWithOptions(ctx, deployed.Namespace, deployed.Name, rel.driftOptions())
	if err != nil {
		return r.failed(ctx, rel, fmt.Errorf("detecting drift of release %s/%s: %w", deployed.Namespace, deployed.Name, err))
	}
	if diff == "" {
		return unchanged
	}
	if mode == DriftWarn {
		return Outcome{Action: ActionDriftDetected, Revision: deployed.Revision, RequeueAfter: rel.IntervalOrDefault(), Err: errors.New("drift detected"),
			Message: fmt.Sprintf("live objects of release %s/%s differ from revision %d (driftDetection.mode warn leaves them):\n%s", deployed.Namespace, deployed.Name, deployed.Revision, diff)}
	}
	applied, err := r.upgrade(ctx, rel, src, ch, vals, "Drift corrected")
	if err != nil {
		return r.failed(ctx, rel, fmt.Errorf("correcting drift: %w", err))
	}
	r.applied(rel, src, rel.Status.LastAppliedDigest, applied)
	return Outcome{Action: ActionDriftCorrected, Revision: applied.Version, RequeueAfter: rel.IntervalOrDefault(),
		Message: fmt.Sprintf("corrected drift of release %s/%s with revision %d:\n%s", deployed.Namespace, deployed.Name, applied.Version, diff)}
}

func (r *Reconciler) install(ctx context.Context, rel *Release, src Source, ch *helmchart.Chart, vals map[string]any) (*helmrelease.Release, error) {
	i := release.NewInstall(r.Release)
	i.ReleaseName, i.Namespace, i.CreateNamespace = rel.ReleaseNameOrDefault(), rel.TargetNamespaceOrDefault(), true
	i.Wait, i.Timeout = true, rel.TimeoutOrDefault()
	i.SkipCRDs, i.ReplaceCRDs = rel.Spec.CRDs == CRDsSkip, rel.Spec.CRDs == CRDsCreateReplace
	i.Replace = true // over an uninstalled release kept in history
	i.Description = description("Install", src)
	return i.Run(ctx, ch, vals)
}

func (r *Reconciler) upgrade(ctx context.Context, rel *Release, src Source, ch *helmchart.Chart, vals map[string]any, why string) (*helmrelease.Release, error) {
	u := release.NewUpgrade(r.Release)
	u.Namespace = rel.TargetNamespaceOrDefault()
	u.Wait, u.Timeout = true, rel.TimeoutOrDefault()
	// Unlike Helm's upgrade, a Release's installs the CRDs its chart gains,
	// and with CreateReplace updates the others.
	u.InstallCRDs, u.ReplaceCRDs = rel.Spec.CRDs != CRDsSkip, rel.Spec.CRDs == CRDsCreateReplace
	u.ResetValues = true // the Release's values are the whole truth
	u.Description = description("Upgrade", src)
	if why != "" {
		u.Description = why + ": " + u.Description
	}
	return u.Run(ctx, rel.ReleaseNameOrDefault(), ch, vals)
}

// description says where a GitOps revision came from, in berth history.
func description(verb string, src Source) string {
	if src.Commit == "" {
		return verb + " by berth gitops"
	}
	return fmt.Sprintf("%s by berth gitops from commit %.12s", verb, src.Commit)
}

// applied records a successful deploy.
func (r *Reconciler) applied(rel *Release, src Source, digest string, applied *helmrelease.Release) {
	s := &rel.Status
	s.LastAppliedRevision, s.LastAppliedChart, s.LastAppliedDigest = applied.Version, chartName(applied.Chart), digest
	if src.Commit != "" {
		s.LastAppliedCommit = src.Commit
	}
	s.Failures, s.LastFailure = 0, ""
}

// failed records a failed attempt. Once the remediation's retries are spent
// it carries out the remediation's strategy and the Release is Stalled until
// its chart or values change.
func (r *Reconciler) failed(ctx context.Context, rel *Release, err error) Outcome {
	s := &rel.Status
	s.Failures++
	s.LastFailure = summary(err)
	rem := rel.remediation(s.LastAppliedRevision > 0)
	if s.Failures <= rem.Retries {
		backoff := min(retryBase<<(s.Failures-1), rel.IntervalOrDefault())
		return Outcome{Action: ActionFailed, Err: err, Revision: s.LastAppliedRevision, RequeueAfter: backoff,
			Message: fmt.Sprintf("%v (attempt %d of %d, next in %s)", err, s.Failures, rem.Retries+1, backoff)}
	}
	msg := fmt.Sprintf("%v (%d of %d attempts failed", err, s.Failures, rem.Retries+1)
	if remErr := r.remediate(ctx, rel, rem.Strategy); remErr != nil {
		msg += fmt.Sprintf("; %s failed too: %v", rem.Strategy, remErr)
	} else if rem.Strategy != "" {
		msg += fmt.Sprintf("; remediated by %s", rem.Strategy)
	}
	return Outcome{Action: ActionStalled, Err: err, Revision: s.LastAppliedRevision, Message: msg + ")"}
}

// remediate rolls the release back to its last deployed revision or
// uninstalls it.
func (r *Reconciler) remediate(ctx context.Context, rel *Release, strategy RemediationStrategy) error {
	name, ns := rel.ReleaseNameOrDefault(), rel.TargetNamespaceOrDefault()
	switch strategy {
	case RemediateRollback:
		rb := release.NewRollback(r.Release)
		rb.Namespace, rb.Wait, rb.Timeout = ns, true, rel.TimeoutOrDefault()
		applied, err := rb.Run(ctx, name)
		if err == nil {
			rel.Status.LastAppliedRevision = applied.Version
		}
		return err
	case RemediateUninstall:
		u := release.NewUninstall(r.Release)
		u.Namespace, u.Wait, u.Timeout = ns, true, rel.TimeoutOrDefault()
		_, err := u.Run(ctx, name)
		if err == nil {
			rel.Status.LastAppliedRevision = 0
		}
		return err
	}
	return nil
}

// takeReconcileRequest acts on a new ReconcileRequestAnnotation (berth
// reconcile): Stalled or not, the Release is tried afresh.
func (rel *Release) takeReconcileRequest() {
	if req := rel.Annotations[ReconcileRequestAnnotation]; req != "" && req != rel.Status.LastHandledReconcileAt {
		rel.Status.LastHandledReconcileAt, rel.Status.Failures, rel.Status.LastFailure = req, 0, ""
	}
}

// remediation is the install's or, once the release exists, the upgrade's.
func (rel *Release) remediation(upgrade bool) Remediation {
	var r *Remediation
	switch {
	case upgrade && rel.Spec.Upgrade != nil:
		r = rel.Spec.Upgrade.Remediation
	case !upgrade && rel.Spec.Install != nil:
		r = rel.Spec.Install.Remediation
	}
	if r == nil {
		return Remediation{}
	}
	return *r
}

// summary is the first line of err: a failed wait goes on with the pods'
// events and logs, too long for a status field.
func summary(err error) string {
	first, _, _ := strings.Cut(err.Error(), "\n")
	return first
}

// desired loads rel's chart and values.
func (r *Reconciler) desired(ctx context.Context, rel *Release, src Source) (*helmchart.Chart, map[string]any, error) {
	ch, err := r.loadChart(ctx, rel, src)
	if err != nil {
		return nil, nil, err
	}
	vals, err := r.values(ctx, rel, src)
	if err != nil {
		return nil, nil, err
	}
	return ch, vals, nil
}

func (r *Reconciler) loadChart(ctx context.Context, rel *Release, src Source) (*helmchart.Chart, error) {
	c := rel.Spec.Chart
	opts := chart.LoadOptions{Version: c.Version, Settings: r.Settings, Registry: r.Registry}
	var ref string
	switch {
	case c.Path != "":
		if src.Root == "" {
			return nil, fmt.Errorf("Release %s/%s: spec.chart.path %q needs the Git repository it was declared in; give an oci or repo chart to a Release applied by hand", rel.Namespace, rel.Name, c.Path)
		}
		ref = filepath.Join(src.Root, filepath.FromSlash(c.Path))
	case c.OCI != "":
		ref = c.OCI
	case c.Repo != "":
		url, err := repo.FindChartInRepoURL(c.Repo, c.Name, c.Version, "", "", "", getter.Getters())
		if err != nil {
			return nil, fmt.Errorf("Release %s/%s: finding chart %s %s in %s: %w", rel.Namespace, rel.Name, c.Name, c.Version, c.Repo, err)
		}
		ref, opts.Version = url, ""
	default:
		return nil, fmt.Errorf("Release %s/%s: spec.chart names no chart: set path, oci or repo", rel.Namespace, rel.Name)
	}
	ch, err := chart.Load(ctx, ref, opts)
	if err != nil {
		return nil, fmt.Errorf("Release %s/%s: %w", rel.Namespace, rel.Name, err)
	}
	return ch, nil
}

// values merges valuesFrom in order and spec.values over them.
func (r *Reconciler) values(ctx context.Context, rel *Release, src Source) (map[string]any, error) {
	vals := map[string]any{}
	for i, ref := range rel.Spec.ValuesFrom {
		data, err := r.valuesData(ctx, rel, src, ref)
		if err != nil {
			return nil, fmt.Errorf("Release %s/%s: spec.valuesFrom[%d]: %w", rel.Namespace, rel.Name, i, err)
		}
		if data == nil {
			continue
		}
		var m map[string]any
		if err := yaml.Unmarshal(data, &m); err != nil {
			return nil, fmt.Errorf("Release %s/%s: spec.valuesFrom[%d]: values of %s %s are not a YAML map: %w", rel.Namespace, rel.Name, i, ref.Kind, ref.Name, err)
		}
		vals = chartutil.MergeTables(m, vals)
	}
	if rel.Spec.Values != nil && len(rel.Spec.Values.Raw) > 0 {
		var m map[string]any
		if err := json.Unmarshal(rel.Spec.Values.Raw, &m); err != nil {
			return nil, fmt.Errorf("Release %s/%s: spec.values is not a map: %w", rel.Namespace, rel.Name, err)
		}
		vals = chartutil.MergeTables(m, vals)
	}
	return vals, nil
}

// valuesData reads one values reference; nil for a missing optional one.
func (r *Reconciler) valuesData(ctx context.Context, rel *Release, src Source, ref ValuesReference) ([]byte, error) {
	key := ref.Key
	if key == "" {
		key = "values.yaml"
	}
	var (
		data  []byte
		found bool
		err   error
	)
	switch ref.Kind {
	case "ConfigMap":
		var cm *corev1.ConfigMap
		cm, err = r.Client.CoreV1().ConfigMaps(rel.Namespace).Get(ctx, ref.Name, metav1.GetOptions{})
		if err == nil {
			var s string
			s, found = cm.Data[key]
			data = []byte(s)
		}
	case "Secret":
		var sec *corev1.Secret
		sec, err = r.Client.CoreV1().Secrets(rel.Namespace).Get(ctx, ref.Name, metav1.GetOptions{})
		if err == nil {
			data, found = sec.Data[key]
		}
	case "File":
		if src.Root == "" {
			return nil, fmt.Errorf("File %s needs the Git repository the Release was declared in", ref.Name)
		}
		// Validate keeps the path inside the repository.
		data, err = os.ReadFile(filepath.Join(src.Root, filepath.FromSlash(ref.Name)))
		found = err == nil
		if errors.Is(err, fs.ErrNotExist) {
			err = nil
		}
	default:
		return nil, fmt.Errorf("kind %q: use ConfigMap, Secret or File", ref.Kind)
	}
	if apierrors.IsNotFound(err) {
		err = nil
	}
	if err != nil {
		return nil, fmt.Errorf("reading %s %s: %w", ref.Kind, ref.Name, err)
	}
	if !found {
		if ref.Optional {
			return nil, nil
		}
		return nil, fmt.Errorf("%s %s has no key %q (mark it optional if it may be missing)", ref.Kind, ref.Name, key)
	}
	return data, nil
}

// desiredDigest identifies what rel deploys: the chart's content, the values
// and where it goes.
func desiredDigest(ch *helmchart.Chart, vals map[string]any, rel *Release) (string, error) {
	cd, err := chartDigest(ch)
	if err != nil {
		return "", err
	}
	h := sha256.New()
	enc := json.NewEncoder(h)
	for _, v := range []any{cd, vals, rel.ReleaseNameOrDefault(), rel.TargetNamespaceOrDefault(), rel.Spec.CRDs} {
		if err := enc.Encode(v); err != nil {
			return "", fmt.Errorf("hashing the desired release: %w", err)
		}
	}
	return "sha256:" + hex.EncodeToString(h.Sum(nil)), nil
}

// chartDigest hashes a chart's content, its dependencies' included: a chart
// in Git changes without a new version when its templates change.
func chartDigest(ch *helmchart.Chart) (string, error) {
	h := sha256.New()
	if err := hashChart(h, ch); err != nil {
		return "", fmt.Errorf("hashing chart %s: %w", chartName(ch), err)
	}
	return hex.EncodeToString(h.Sum(nil)), nil
}

func hashChart(w io.Writer, ch *helmchart.Chart) error {
	enc := json.NewEncoder(w)
	for _, v := range []any{ch.Metadata, ch.Templates, ch.Files, ch.Values, ch.Schema, len(ch.Dependencies())} {
		if err := enc.Encode(v); err != nil {
			return err
		}
	}
	for _, d := range ch.Dependencies() {
		if err := hashChart(w, d); err != nil {
			return err
		}
	}
	return nil
}

func chartName(ch *helmchart.Chart) string {
	if ch == nil || ch.Metadata == nil {
		return ""
	}
	return ch.Metadata.Name + "-" + ch.Metadata.Version
}

// setConditions sets Ready, Reconciling and Stalled from an outcome.
func (r *Reconciler) setConditions(rel *Release, o Outcome) {
	now := metav1.NewTime(r.now())
	set := func(typ string, status metav1.ConditionStatus, reason, msg string) {
		meta.SetStatusCondition(&rel.Status.Conditions, metav1.Condition{
			Type: typ, Status: status, Reason: reason, Message: truncate(msg), ObservedGeneration: rel.Generation, LastTransitionTime: now,
		})
	}
	switch o.Action {
	case ActionFailed:
		set(ConditionReady, metav1.ConditionFalse, ReasonFailed, o.Message)
		set(ConditionReconciling, metav1.ConditionTrue, ReasonProgressing, "retrying")
		meta.RemoveStatusCondition(&rel.Status.Conditions, ConditionStalled)
	case ActionStalled:
		set(ConditionReady, metav1.ConditionFalse, ReasonRetriesExhausted, o.Message)
		set(ConditionStalled, metav1.ConditionTrue, ReasonRetriesExhausted, o.Message)
		meta.RemoveStatusCondition(&rel.Status.Conditions, ConditionReconciling)
	case ActionWaiting:
		set(ConditionReady, metav1.ConditionFalse, ReasonDependencyNotReady, o.Message)
		set(ConditionReconciling, metav1.ConditionTrue, ReasonDependencyNotReady, o.Message)
	case ActionSuspended:
		meta.RemoveStatusCondition(&rel.Status.Conditions, ConditionReconciling)
	case ActionDriftDetected:
		set(ConditionReady, metav1.ConditionFalse, ReasonDriftDetected, o.Message)
		meta.RemoveStatusCondition(&rel.Status.Conditions, ConditionReconciling)
		meta.RemoveStatusCondition(&rel.Status.Conditions, ConditionStalled)
	default:
		set(ConditionReady, metav1.ConditionTrue, ReasonSucceeded, o.Message)
		meta.RemoveStatusCondition(&rel.Status.Conditions, ConditionReconciling)
		meta.RemoveStatusCondition(&rel.Status.Conditions, ConditionStalled)
	}
}

func (r *Reconciler) now() time.Time {
	if r.Now != nil {
		return r.Now()
	}
	return time.Now()
}

// truncate keeps a condition message within what users read (a drift diff
// can be long).
func truncate(s string) string {
	const max = 4096
	if len(s) <= max {
		return s
	}
	return s[:max] + "\n[...]"
}

// Plan says what Reconcile would do now, changing nothing (berth sync
// --dry-run).
func (r *Reconciler) Plan(ctx context.Context, rel *Release, src Source) Outcome {
	ch, vals, err := r.desired(ctx, rel, src)
	if err == nil {
		var digest string
		if digest, err = desiredDigest(ch, vals, rel); err == nil {
			return r.plan(ctx, rel, digest, ch, vals)
		}
	}
	return Outcome{Action: ActionFailed, Err: err, Message: err.Error()}
}

func (r *Reconciler) plan(ctx context.Context, rel *Release, digest string, ch *helmchart.Chart, vals map[string]any) Outcome {
	name, ns := rel.ReleaseNameOrDefault(), rel.TargetNamespaceOrDefault()
	fail := func(err error) Outcome { return Outcome{Action: ActionFailed, Err: err, Message: err.Error()} }
	deployed, _, err := r.deployedRevision(ctx, ns, name, nil)
	if err != nil {
		return fail(err)
	}
	if deployed == nil {
		return Outcome{Action: "would install", Message: fmt.Sprintf("would install %s/%s (%s)", ns, name, chartName(ch))}
	}
	same, err := r.unchanged(ctx, rel, digest, *deployed, ch, vals)
	if err != nil {
		return fail(err)
	}
	if !same {
		return Outcome{Action: "would upgrade", Revision: deployed.Revision, Message: fmt.Sprintf("would upgrade %s/%s from revision %d (%s) to %s", ns, name, deployed.Revision, deployed.Chart, chartName(ch))}
	}
	if rel.DriftModeOrDefault() != DriftOff {
		diff, err := r.Release.DiffLiveWithOptions(ctx, ns, name, rel.driftOptions())
		if err != nil {
			return fail(err)
		}
		if diff != "" {
			return Outcome{Action: ActionDriftDetected, Revision: deployed.Revision, Message: fmt.Sprintf("live objects of %s/%s differ from revision %d:\n%s", ns, name, deployed.Revision, diff)}
		}
	}
	return Outcome{Action: ActionUnchanged, Revision: deployed.Revision, Message: fmt.Sprintf("release %s/%s is at revision %d (%s)", ns, name, deployed.Revision, deployed.Chart)}
}
