package pods

import (
	"context"
	"errors"
	"fmt"
	"time"

	corev1 "k8s.io/api/core/v1"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	"k8s.io/utils/clock"

	"berth.dev/berth/kubelet/images"
)

// Image waiting and event reasons, as upstream's.
const (
	reasonErrImagePull      = "ErrImagePull"
	reasonImagePullBackOff  = "ImagePullBackOff"
	reasonErrImageNeverPull = "ErrImageNeverPull"
	reasonInvalidImageName  = "InvalidImageName"
	reasonPulling           = "Pulling"
	reasonPulled            = "Pulled"
	reasonInspectFailed     = "InspectFailed"
)

// containerRecorder records events about a container of a pod.
type containerRecorder interface {
	containerEvent(pod *corev1.Pod, container, eventtype, reason, format string, args ...any)
}

// imagePuller makes a container's image present as its imagePullPolicy asks,
// backing off failed pulls per pod and image.
type imagePuller struct {
	store    ImageService
	secrets  SecretGetter
	recorder containerRecorder
	back     *backoff
	clock    clock.PassiveClock
}

// ensure returns c's image, or why the container has to wait for it and when
// to try again.
func (p *imagePuller) ensure(ctx context.Context, pod *corev1.Pod, c *corev1.Container) (images.Image, *corev1.ContainerStateWaiting, time.Duration) {
	ref := c.Image
	event := func(eventtype, reason, format string, args ...any) {
		p.recorder.containerEvent(pod, c.Name, eventtype, reason, format, args...)
	}
	if _, err := images.NormalizeName(ref); err != nil {
		msg := fmt.Sprintf("Failed to apply default image tag %q: couldn't parse image name %q: %v", ref, ref, err)
		event(corev1.EventTypeWarning, reasonInspectFailed, "%s", msg)
		return images.Image{}, &corev1.ContainerStateWaiting{Reason: reasonInvalidImageName, Message: msg}, 0
	}
	img, err := p.store.Get(ctx, ref)
	present := err == nil
	if err != nil && !errors.Is(err, images.ErrNotFound) {
		event(corev1.EventTypeWarning, reasonInspectFailed, "Failed to inspect image %q: %v", ref, err)
		return images.Image{}, &corev1.ContainerStateWaiting{Reason: reasonErrImagePull, Message: err.Error()}, 5 * time.Second
	}
	switch c.ImagePullPolicy {
	case corev1.PullNever:
		if present {
			event(corev1.EventTypeNormal, reasonPulled, "Container image %q already present on machine", ref)
			return img, nil, 0
		}
		msg := fmt.Sprintf("Container image %q is not present with pull policy of Never", ref)
		event(corev1.EventTypeWarning, reasonErrImageNeverPull, "%s", msg)
		return images.Image{}, &corev1.ContainerStateWaiting{Reason: reasonErrImageNeverPull, Message: msg}, 10 * time.Second
	case corev1.PullIfNotPresent, "":
		if present {
			event(corev1.EventTypeNormal, reasonPulled, "Container image %q already present on machine", ref)
			return img, nil, 0
		}
	}
	key := string(pod.UID) + "/image/" + ref
	if wait := p.back.remaining(key, time.Time{}); wait > 0 {
		event(corev1.EventTypeNormal, reasonBackOff, "Back-off pulling image %q", ref)
		return images.Image{}, &corev1.ContainerStateWaiting{Reason: reasonImagePullBackOff, Message: fmt.Sprintf("Back-off pulling image %q", ref)}, wait
	}
	opts, err := p.pullSecrets(ctx, pod)
	if err != nil {
		event(corev1.EventTypeWarning, reasonFailed, "Unable to retrieve some image pull secrets (%v); attempting to pull the image may not succeed.", err)
	}
	event(corev1.EventTypeNormal, reasonPulling, "Pulling image %q", ref)
	start := p.clock.Now()
	img, err = p.store.Pull(ctx, ref, opts...)
	if err != nil {
		p.back.next(key)
		event(corev1.EventTypeWarning, reasonFailed, "Failed to pull image %q: %v", ref, err)
		event(corev1.EventTypeWarning, reasonFailed, "Error: %s", reasonErrImagePull)
		return images.Image{}, &corev1.ContainerStateWaiting{Reason: reasonErrImagePull, Message: fmt.Sprintf("failed to pull image %q: %v", ref, err)}, p.back.remaining(key, time.Time{})
	}
	took := p.clock.Since(start).Round(time.Millisecond)
	event(corev1.EventTypeNormal, reasonPulled, "Successfully pulled image %q in %s (%s including waiting). Image size: %d bytes.", ref, took, took, img.Size)
	return img, nil, 0
}

// pullSecrets are the pod's imagePullSecrets as pull options; missing ones
// are reported and skipped, as upstream does.
func (p *imagePuller) pullSecrets(ctx context.Context, pod *corev1.Pod) ([]images.PullOption, error) {
	var opts []images.PullOption
	var errs []error
	for _, ref := range pod.Spec.ImagePullSecrets {
		s, err := p.secrets.Secret(ctx, pod.Namespace, ref.Name)
		if apierrors.IsNotFound(err) {
			errs = append(errs, fmt.Errorf("secret %q not found", ref.Name))
			continue
		}
		if err != nil {
			errs = append(errs, err)
			continue
		}
		for _, key := range []string{corev1.DockerConfigJsonKey, corev1.DockerConfigKey} {
			if data, ok := s.Data[key]; ok {
				opts = append(opts, images.WithDockerConfig(data))
			}
		}
	}
	return opts, errors.Join(errs...)
}
