package volume

import (
	"context"
	"fmt"

	authenticationv1 "k8s.io/api/authentication/v1"
	corev1 "k8s.io/api/core/v1"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	utilerrors "k8s.io/apimachinery/pkg/util/errors"

	"berth.dev/berth/kubelet/envvars"
)

// defaultFileMode is the API's default mode of projected files.
const defaultFileMode int32 = 0o644

func modeOr(mode *int32, def int32) int32 {
	if mode != nil {
		return *mode
	}
	return def
}

// getObject reads a ConfigMap or Secret (resource names it in errors, as
// upstream: `configmap "x" not found`); a missing optional one is nil.
func getObject[T any](ctx context.Context, resource, ns, name string, optional bool, get func(context.Context, string, string) (*T, error)) (*T, error) {
	obj, err := get(ctx, ns, name)
	switch {
	case err == nil:
		return obj, nil
	case apierrors.IsNotFound(err) && optional:
		return nil, nil
	case apierrors.IsNotFound(err):
		return nil, apierrors.NewNotFound(corev1.Resource(resource), name)
	}
	return nil, fmt.Errorf("getting %s %s/%s: %w", resource, ns, name, err)
}

func secretData(s *corev1.Secret) map[string][]byte {
	if s == nil {
		return nil
	}
	return s.Data
}

// keysPayload projects a ConfigMap's or Secret's keys: all of them, or the
// listed items (a missing item key is an error unless optional).
func keysPayload(kind string, data map[string][]byte, items []corev1.KeyToPath, defaultMode int32, optional bool) (map[string]FileProjection, error) {
	out := map[string]FileProjection{}
	if len(items) == 0 {
		for k, v := range data {
			out[k] = FileProjection{Data: v, Mode: defaultMode}
		}
		return out, nil
	}
	for _, it := range items {
		v, ok := data[it.Key]
		if !ok {
			if optional {
				continue
			}
			return nil, fmt.Errorf("%s references non-existent %s key: %s", kind, keyNoun(kind), it.Key)
		}
		out[it.Path] = FileProjection{Data: v, Mode: modeOr(it.Mode, defaultMode)}
	}
	return out, nil
}

func keyNoun(kind string) string {
	if kind == "configmap" {
		return "config"
	}
	return "secret"
}

func configMapData(cm *corev1.ConfigMap) map[string][]byte {
	out := map[string][]byte{}
	if cm == nil {
		return out
	}
	for k, v := range cm.BinaryData {
		out[k] = v
	}
	for k, v := range cm.Data {
		out[k] = []byte(v)
	}
	return out
}

func (m *Manager) configMapPayload(ctx context.Context, pod *corev1.Pod, src *corev1.ConfigMapVolumeSource) (map[string]FileProjection, error) {
	optional := src.Optional != nil && *src.Optional
	cm, err := getObject(ctx, "configmap", pod.Namespace, src.Name, optional, m.cfg.Objects.ConfigMap)
	if err != nil {
		return nil, err
	}
	return keysPayload("configmap", configMapData(cm), src.Items, modeOr(src.DefaultMode, defaultFileMode), optional)
}

func (m *Manager) secretPayload(ctx context.Context, pod *corev1.Pod, src *corev1.SecretVolumeSource) (map[string]FileProjection, error) {
	optional := src.Optional != nil && *src.Optional
	s, err := getObject(ctx, "secret", pod.Namespace, src.SecretName, optional, m.cfg.Objects.Secret)
	if err != nil {
		return nil, err
	}
	return keysPayload("secret", secretData(s), src.Items, modeOr(src.DefaultMode, defaultFileMode), optional)
}

// downwardAPIPayload projects pod fields and container resources.
func (m *Manager) downwardAPIPayload(pod *corev1.Pod, items []corev1.DownwardAPIVolumeFile, defaultMode int32) (map[string]FileProjection, error) {
	out := map[string]FileProjection{}
	var errs []error
	for _, it := range items {
		var v string
		var err error
		switch {
		case it.FieldRef != nil:
			v, err = envvars.PodFieldValue(pod, it.FieldRef.FieldPath, podIPs(pod), hostIPs(pod))
		case it.ResourceFieldRef != nil:
			ctr := envvars.ContainerByName(pod, it.ResourceFieldRef.ContainerName)
			if ctr == nil {
				err = fmt.Errorf("container %q of %s not found", it.ResourceFieldRef.ContainerName, it.Path)
				break
			}
			v, err = envvars.ResourceValue(it.ResourceFieldRef, ctr, m.cfg.NodeAllocatable)
		default:
			continue
		}
		if err != nil {
			errs = append(errs, err)
			continue
		}
		out[it.Path] = FileProjection{Data: []byte(v), Mode: modeOr(it.Mode, defaultMode)}
	}
	return out, utilerrors.NewAggregate(errs)
}

// projectedPayload merges the sources of a projected volume; the errors of all
// sources are reported together.
func (m *Manager) projectedPayload(ctx context.Context, pod *corev1.Pod, src *corev1.ProjectedVolumeSource) (map[string]FileProjection, error) {
	defaultMode := modeOr(src.DefaultMode, defaultFileMode)
	out := map[string]FileProjection{}
	var errs []error
	add := func(p map[string]FileProjection, err error) {
		if err != nil {
			errs = append(errs, err)
			return
		}
		for k, v := range p {
			out[k] = v
		}
	}
	for _, s := range src.Sources {
		switch {
		case s.ConfigMap != nil:
			optional := s.ConfigMap.Optional != nil && *s.ConfigMap.Optional
			cm, err := getObject(ctx, "configmap", pod.Namespace, s.ConfigMap.Name, optional, m.cfg.Objects.ConfigMap)
			if err != nil {
				add(nil, err)
				continue
			}
			add(keysPayload("configmap", configMapData(cm), s.ConfigMap.Items, defaultMode, optional))
		case s.Secret != nil:
			optional := s.Secret.Optional != nil && *s.Secret.Optional
			sec, err := getObject(ctx, "secret", pod.Namespace, s.Secret.Name, optional, m.cfg.Objects.Secret)
			if err != nil {
				add(nil, err)
				continue
			}
			add(keysPayload("secret", secretData(sec), s.Secret.Items, defaultMode, optional))
		case s.DownwardAPI != nil:
			add(m.downwardAPIPayload(pod, s.DownwardAPI.Items, defaultMode))
		case s.ServiceAccountToken != nil:
			tok, err := m.token(ctx, pod, s.ServiceAccountToken)
			if err != nil {
				add(nil, err)
				continue
			}
			add(map[string]FileProjection{s.ServiceAccountToken.Path: {Data: []byte(tok), Mode: defaultMode}}, nil)
		default:
			add(nil, fmt.Errorf("unsupported projected volume source (only configMap, secret, downwardAPI and serviceAccountToken are)"))
		}
	}
	return out, utilerrors.NewAggregate(errs)
}

// tokenRequest is the TokenRequest the kubelet makes for a projected token:
// bound to the pod, for the source's audience (the API server's when empty).
func tokenRequest(pod *corev1.Pod, src *corev1.ServiceAccountTokenProjection) *authenticationv1.TokenRequest {
	var auds []string
	if src.Audience != "" {
		auds = []string{src.Audience}
	}
	return &authenticationv1.TokenRequest{
		Spec: authenticationv1.TokenRequestSpec{
			Audiences:         auds,
			ExpirationSeconds: src.ExpirationSeconds,
			BoundObjectRef: &authenticationv1.BoundObjectReference{
				APIVersion: "v1", Kind: "Pod", Name: pod.Name, UID: pod.UID,
			},
		},
	}
}

func podIPs(pod *corev1.Pod) []string {
	var out []string
	for _, ip := range pod.Status.PodIPs {
		out = append(out, ip.IP)
	}
	return out
}

func hostIPs(pod *corev1.Pod) []string {
	var out []string
	for _, ip := range pod.Status.HostIPs {
		out = append(out, ip.IP)
	}
	return out
}
