package release

import (
	"context"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"os"
	"regexp"
	"time"

	"helm.sh/helm/v3/pkg/release"
	apiextensionsclient "k8s.io/apiextensions-apiserver/pkg/client/clientset/clientset"
	"k8s.io/apimachinery/pkg/util/rand"
	"k8s.io/client-go/kubernetes"
	"k8s.io/client-go/rest"

	"berth.dev/berth/release/kube"
	"berth.dev/berth/release/storage"
)

// lockDuration is how long a release's lock outlives its holder's last renewal:
// the longest a killed client can block the next operation.
const lockDuration = 15 * time.Second

// Config is what every action needs: the cluster and where releases are kept.
type Config struct {
	REST   *rest.Config
	Client kubernetes.Interface
	Kube   *kube.Client
	Store  *storage.Store
	Locker *storage.Locker
	// Progress receives what a waiting action reports (object readiness); nil
	// discards it.
	Progress func([]kube.ObjectStatus)
	Log      *slog.Logger
	Now      func() time.Time
	crds     apiextensionsclient.Interface
}

// NewConfig connects the actions to the API server of restConfig.
func NewConfig(restConfig *rest.Config) (*Config, error) {
	client, err := kubernetes.NewForConfig(restConfig)
	if err != nil {
		return nil, err
	}
	store, err := storage.New(restConfig)
	if err != nil {
		return nil, err
	}
	crds, err := apiextensionsclient.NewForConfig(restConfig)
	if err != nil {
		return nil, err
	}
	kc, err := kube.New(restConfig)
	if err != nil {
		return nil, err
	}
	host, _ := os.Hostname()
	holder := fmt.Sprintf("%s/%d/%s", host, os.Getpid(), rand.String(5))
	return &Config{
		REST:   restConfig,
		Client: client,
		Kube:   kc,
		Store:  store,
		Locker: storage.NewLocker(client.CoordinationV1(), holder, lockDuration),
		Log:    slog.New(slog.NewTextHandler(io.Discard, nil)),
		Now:    time.Now,
		crds:   crds,
	}, nil
}

// ensureStorage defines berth's release resources in a cluster that lacks them
// (berth server defines them at start; another cluster on first write).
func (c *Config) ensureStorage(ctx context.Context) error {
	return storage.EnsureCRDs(ctx, c.crds)
}

func (c *Config) progress(statuses []kube.ObjectStatus) {
	if c.Progress != nil {
		c.Progress(statuses)
	}
}

// Errors users meet, worded as Helm words them.
var (
	ErrReleaseNotFound = errors.New("release: not found")
	errPending         = errors.New("another operation (install/upgrade/rollback) is in progress")
)

// releaseNameMaxLen is Helm's limit: names end up in labels with suffixes.
const releaseNameMaxLen = 53

var validName = regexp.MustCompile(`^[a-z0-9]([-a-z0-9]*[a-z0-9])?(\.[a-z0-9]([-a-z0-9]*[a-z0-9])?)*$`)

func validateName(name string) error {
	if name == "" {
		return errors.New("no release name provided")
	}
	if len(name) > releaseNameMaxLen || !validName.MatchString(name) {
		return fmt.Errorf("invalid release name %q: names must be lowercase RFC 1123 subdomains of at most %d characters, e.g. my-app", name, releaseNameMaxLen)
	}
	return nil
}

// latest returns the newest revision of a release from the index and its body.
func (c *Config) latest(ctx context.Context, namespace, name string) (*release.Release, []storage.Summary, error) {
	history, err := c.Store.History(ctx, namespace, name)
	if errors.Is(err, storage.ErrNotFound) {
		return nil, nil, notFound(namespace, name)
	}
	if err != nil {
		return nil, nil, err
	}
	last := history[len(history)-1]
	rel, err := c.Store.Get(ctx, namespace, name, last.Revision)
	return rel, history, err
}

// notFound says, in Helm's words and naming it, that a release does not exist.
func notFound(namespace, name string) error {
	return fmt.Errorf("%w: %q in namespace %q", ErrReleaseNotFound, name, namespace)
}
