package storage

import (
	"context"
	"errors"
	"fmt"
	"time"

	coordinationv1 "k8s.io/api/coordination/v1"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	coordinationclient "k8s.io/client-go/kubernetes/typed/coordination/v1"
	"k8s.io/utils/ptr"
)

// ErrLocked says another operation holds a release's lock.
var ErrLocked = errors.New("another operation (install/upgrade/rollback) is in progress")

// Locker hands out per-release operation locks, each a Lease that its holder
// renews while it works. A holder that dies stops renewing, and its lock expires
// on its own: no release is ever stuck behind an operation that is gone.
type Locker struct {
	leases   coordinationclient.LeasesGetter
	holder   string
	duration time.Duration
	now      func() time.Time
}

// NewLocker returns a locker whose locks are held by holder (an identity of this
// process) and expire duration after their last renewal.
func NewLocker(leases coordinationclient.LeasesGetter, holder string, duration time.Duration) *Locker {
	return &Locker{leases: leases, holder: holder, duration: duration, now: time.Now}
}

// Lock is a held release lock.
type Lock struct {
	locker          *Locker
	namespace, name string
	// Abandoned is the holder of an expired lock this one replaced: its operation
	// died and left the release's latest revision pending.
	Abandoned string
	stop      context.CancelFunc
	renewed   chan struct{}
}

func leaseName(release string) string { return "berth-release-" + release }

// Acquire takes the lock of a release, or fails with ErrLocked naming who holds
// it and until when. A lock whose holder stopped renewing it is taken over.
func (l *Locker) Acquire(ctx context.Context, namespace, release string) (*Lock, error) {
	leases := l.leases.Leases(namespace)
	now := metav1.NewMicroTime(l.now())
	seconds := int32(l.duration / time.Second)
	want := &coordinationv1.Lease{
		ObjectMeta: metav1.ObjectMeta{Name: leaseName(release), Namespace: namespace,
			Labels: map[string]string{LabelRelease: release, labelOwner: "berth"}},
		Spec: coordinationv1.LeaseSpec{
			HolderIdentity:       ptr.To(l.holder),
			LeaseDurationSeconds: &seconds,
			AcquireTime:          &now,
			RenewTime:            &now,
		},
	}
	lock := &Lock{locker: l, namespace: namespace, name: release}
	_, err := leases.Create(ctx, want, metav1.CreateOptions{})
	switch {
	case err == nil:
	case apierrors.IsAlreadyExists(err):
		current, err := leases.Get(ctx, want.Name, metav1.GetOptions{})
		if err != nil {
			return nil, fmt.Errorf("reading the lock of release %s: %w", release, err)
		}
		holder := ptr.Deref(current.Spec.HolderIdentity, "")
		if expires := expiry(current); holder != "" && l.now().Before(expires) {
			return nil, fmt.Errorf("release %q: %w (held by %s until %s unless renewed)",
				release, ErrLocked, holder, expires.Format(time.RFC3339))
		}
		lock.Abandoned = holder
		current.Spec = want.Spec
		current.Labels = want.Labels
		// The update carries the resourceVersion read: of two takers, one wins.
		if _, err := leases.Update(ctx, current, metav1.UpdateOptions{}); err != nil {
			if apierrors.IsConflict(err) {
				return nil, fmt.Errorf("release %q: %w", release, ErrLocked)
			}
			return nil, fmt.Errorf("taking over the lock of release %s: %w", release, err)
		}
	default:
		return nil, fmt.Errorf("locking release %s: %w", release, err)
	}
	lock.keepRenewed()
	return lock, nil
}

func expiry(lease *coordinationv1.Lease) time.Time {
	if lease.Spec.RenewTime == nil || lease.Spec.LeaseDurationSeconds == nil {
		return time.Time{}
	}
	return lease.Spec.RenewTime.Add(time.Duration(*lease.Spec.LeaseDurationSeconds) * time.Second)
}

// keepRenewed renews the lease a few times per duration until Release.
func (lock *Lock) keepRenewed() {
	ctx, stop := context.WithCancel(context.Background())
	lock.stop, lock.renewed = stop, make(chan struct{})
	go func() {
		defer close(lock.renewed)
		ticker := time.NewTicker(lock.locker.duration / 3)
		defer ticker.Stop()
		for {
			select {
			case <-ctx.Done():
				return
			case <-ticker.C:
				lock.renew(ctx)
			}
		}
	}()
}

func (lock *Lock) renew(ctx context.Context) {
	leases := lock.locker.leases.Leases(lock.namespace)
	current, err := leases.Get(ctx, leaseName(lock.name), metav1.GetOptions{})
	if err != nil || ptr.Deref(current.Spec.HolderIdentity, "") != lock.locker.holder {
		return // lost; the operation finds out when it writes the revision
	}
	now := metav1.NewMicroTime(lock.locker.now())
	current.Spec.RenewTime = &now
	leases.Update(ctx, current, metav1.UpdateOptions{})
}

// Release gives the lock up.
func (lock *Lock) Release(ctx context.Context) error {
	lock.stop()
	<-lock.renewed
	leases := lock.locker.leases.Leases(lock.namespace)
	current, err := leases.Get(ctx, leaseName(lock.name), metav1.GetOptions{})
	if apierrors.IsNotFound(err) {
		return nil
	}
	if err != nil {
		return fmt.Errorf("releasing the lock of release %s: %w", lock.name, err)
	}
	if ptr.Deref(current.Spec.HolderIdentity, "") != lock.locker.holder {
		return nil // taken over after it expired
	}
	err = leases.Delete(ctx, current.Name, metav1.DeleteOptions{Preconditions: &metav1.Preconditions{ResourceVersion: &current.ResourceVersion}})
	if err != nil && !apierrors.IsNotFound(err) && !apierrors.IsConflict(err) {
		return fmt.Errorf("releasing the lock of release %s: %w", lock.name, err)
	}
	return nil
}
