package envvars

import (
	"context"
	"fmt"
	"sort"
	"strings"

	corev1 "k8s.io/api/core/v1"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	"k8s.io/apimachinery/pkg/runtime"
	"k8s.io/apimachinery/pkg/util/validation"
)

// masterNamespace and masterService name the Service whose variables every
// container gets, whatever its namespace and enableServiceLinks.
const (
	masterNamespace = "default"
	masterService   = "kubernetes"
)

// ReasonInvalidEnvironmentVariableNames is the reason of the warning event for
// envFrom keys that are not valid variable names.
const ReasonInvalidEnvironmentVariableNames = "InvalidEnvironmentVariableNames"

// Objects reads the API objects a container's environment refers to. A missing
// object is reported with an error for which apierrors.IsNotFound is true.
type Objects interface {
	ConfigMap(ctx context.Context, namespace, name string) (*corev1.ConfigMap, error)
	Secret(ctx context.Context, namespace, name string) (*corev1.Secret, error)
	// Services lists the Services of a namespace.
	Services(ctx context.Context, namespace string) ([]*corev1.Service, error)
}

// Recorder records events on the pod; client-go's record.EventRecorder is one.
type Recorder interface {
	Eventf(object runtime.Object, eventtype, reason, messageFmt string, args ...any)
}

// Builder builds containers' environments.
type Builder struct {
	objects  Objects
	recorder Recorder
}

// NewBuilder returns a Builder reading objects through objects and recording
// events with recorder.
func NewBuilder(objects Objects, recorder Recorder) *Builder {
	return &Builder{objects: objects, recorder: recorder}
}

// Input is what a container's environment is built from besides API objects.
type Input struct {
	Pod       *corev1.Pod
	Container *corev1.Container
	// PodIPs and HostIPs answer status.podIP(s) and status.hostIP(s); the kubelet
	// knows them before the status is written.
	PodIPs  []string
	HostIPs []string
	// NodeAllocatable stands in for the limits a container does not set
	// (resourceFieldRef limits.cpu and the like).
	NodeAllocatable corev1.ResourceList
}

// Env returns the container's environment, sorted by name. Its errors are those
// the kubelet reports as CreateContainerConfigError, with upstream's text:
// `configmap "x" not found`, `couldn't find key k in ConfigMap ns/x`.
func (b *Builder) Env(ctx context.Context, in Input) ([]corev1.EnvVar, error) {
	pod, ctr := in.Pod, in.Container
	svcEnv, err := b.serviceEnv(ctx, pod)
	if err != nil {
		return nil, fmt.Errorf("listing services for the environment of container %q of pod %s/%s: %w", ctr.Name, pod.Namespace, pod.Name, err)
	}
	r := resolver{b: b, in: in, configMaps: map[string]*corev1.ConfigMap{}, secrets: map[string]*corev1.Secret{}}
	env := map[string]string{}
	for _, from := range ctr.EnvFrom {
		if err := r.envFrom(ctx, from, env); err != nil {
			return nil, err
		}
	}
	for _, ev := range ctr.Env {
		if ev.Value != "" {
			env[ev.Name] = Expand(ev.Value, mappingOf(env, svcEnv))
			continue
		}
		if ev.ValueFrom == nil {
			env[ev.Name] = ""
			continue
		}
		v, ok, err := r.valueFrom(ctx, ev)
		if err != nil {
			return nil, err
		}
		if ok {
			env[ev.Name] = v
		}
	}
	for k, v := range svcEnv {
		if _, set := env[k]; !set {
			env[k] = v
		}
	}
	out := make([]corev1.EnvVar, 0, len(env))
	for k, v := range env {
		out = append(out, corev1.EnvVar{Name: k, Value: v})
	}
	sort.Slice(out, func(i, j int) bool { return out[i].Name < out[j].Name })
	return out, nil
}

// serviceEnv returns the Service variables of the pod: the kubernetes Service of
// the default namespace always, the pod's namespace's Services unless
// enableServiceLinks is false (a Service of the pod's namespace named kubernetes
// wins over the default one).
func (b *Builder) serviceEnv(ctx context.Context, pod *corev1.Pod) (map[string]string, error) {
	byName := map[string]*corev1.Service{}
	links := pod.Spec.EnableServiceLinks == nil || *pod.Spec.EnableServiceLinks
	if links {
		svcs, err := b.objects.Services(ctx, pod.Namespace)
		if err != nil {
			return nil, err
		}
		for _, s := range svcs {
			if hasClusterIP(s) {
				byName[s.Name] = s
			}
		}
	}
	if _, ok := byName[masterService]; !ok || !links {
		svcs, err := b.objects.Services(ctx, masterNamespace)
		if err != nil {
			return nil, err
		}
		for _, s := range svcs {
			if s.Name == masterService && hasClusterIP(s) {
				byName[masterService] = s
			}
		}
	}
	list := make([]*corev1.Service, 0, len(byName))
	for _, s := range byName {
		list = append(list, s)
	}
	return serviceVars(list), nil
}

// resolver resolves one container's envFrom and valueFrom, reading each object
// once.
type resolver struct {
	b          *Builder
	in         Input
	configMaps map[string]*corev1.ConfigMap
	secrets    map[string]*corev1.Secret
}

func (r *resolver) configMap(ctx context.Context, name string) (*corev1.ConfigMap, error) {
	if cm, ok := r.configMaps[name]; ok {
		return cm, nil
	}
	cm, err := r.b.objects.ConfigMap(ctx, r.in.Pod.Namespace, name)
	if err != nil {
		if apierrors.IsNotFound(err) {
			return nil, apierrors.NewNotFound(corev1.Resource("configmap"), name)
		}
		return nil, fmt.Errorf("getting configmap %s/%s for container %q: %w", r.in.Pod.Namespace, name, r.in.Container.Name, err)
	}
	r.configMaps[name] = cm
	return cm, nil
}

func (r *resolver) secret(ctx context.Context, name string) (*corev1.Secret, error) {
	if s, ok := r.secrets[name]; ok {
		return s, nil
	}
	s, err := r.b.objects.Secret(ctx, r.in.Pod.Namespace, name)
	if err != nil {
		if apierrors.IsNotFound(err) {
			return nil, apierrors.NewNotFound(corev1.Resource("secret"), name)
		}
		return nil, fmt.Errorf("getting secret %s/%s for container %q: %w", r.in.Pod.Namespace, name, r.in.Container.Name, err)
	}
	r.secrets[name] = s
	return s, nil
}

// envFrom adds the keys of an envFrom source to env, skipping (with an event)
// keys that are not valid variable names.
func (r *resolver) envFrom(ctx context.Context, from corev1.EnvFromSource, env map[string]string) error {
	var (
		kind, name string
		data       = map[string]string{}
	)
	switch {
	case from.ConfigMapRef != nil:
		kind, name = "configMap", from.ConfigMapRef.Name
		cm, err := r.configMap(ctx, name)
		if err != nil {
			if apierrors.IsNotFound(err) && isTrue(from.ConfigMapRef.Optional) {
				return nil
			}
			return err
		}
		data = cm.Data
	case from.SecretRef != nil:
		kind, name = "secret", from.SecretRef.Name
		s, err := r.secret(ctx, name)
		if err != nil {
			if apierrors.IsNotFound(err) && isTrue(from.SecretRef.Optional) {
				return nil
			}
			return err
		}
		for k, v := range s.Data {
			data[k] = string(v)
		}
	default:
		return nil
	}
	var invalid []string
	for k, v := range data {
		k = from.Prefix + k
		if errs := validation.IsEnvVarName(k); len(errs) != 0 {
			invalid = append(invalid, k)
			continue
		}
		env[k] = v
	}
	if len(invalid) > 0 && r.b.recorder != nil {
		sort.Strings(invalid)
		r.b.recorder.Eventf(r.in.Pod, corev1.EventTypeWarning, ReasonInvalidEnvironmentVariableNames,
			"Keys [%s] from the EnvFrom %s %s/%s were skipped since they are considered invalid environment variable names.",
			strings.Join(invalid, ", "), kind, r.in.Pod.Namespace, name)
	}
	return nil
}

// valueFrom resolves an env entry's valueFrom; ok is false for an optional
// reference to something missing (the variable is then not set).
func (r *resolver) valueFrom(ctx context.Context, ev corev1.EnvVar) (value string, ok bool, err error) {
	pod, ctr := r.in.Pod, r.in.Container
	src := ev.ValueFrom
	switch {
	case src.FieldRef != nil:
		v, err := PodFieldValue(pod, src.FieldRef.FieldPath, r.in.PodIPs, r.in.HostIPs)
		if err != nil {
			return "", false, fmt.Errorf("env %q of container %q: %w", ev.Name, ctr.Name, err)
		}
		return v, true, nil
	case src.ResourceFieldRef != nil:
		target := ctr
		if n := src.ResourceFieldRef.ContainerName; n != "" && n != ctr.Name {
			if target = ContainerByName(pod, n); target == nil {
				return "", false, fmt.Errorf("env %q of container %q: no container named %q in pod %s/%s", ev.Name, ctr.Name, n, pod.Namespace, pod.Name)
			}
		}
		v, err := ResourceValue(src.ResourceFieldRef, target, r.in.NodeAllocatable)
		if err != nil {
			return "", false, fmt.Errorf("env %q of container %q: %w", ev.Name, ctr.Name, err)
		}
		return v, true, nil
	case src.ConfigMapKeyRef != nil:
		ref := src.ConfigMapKeyRef
		cm, err := r.configMap(ctx, ref.Name)
		return lookupKey("ConfigMap", pod.Namespace, ref.Name, ref.Key, isTrue(ref.Optional), err, func(k string) (string, bool) {
			v, ok := cm.Data[k]
			return v, ok
		})
	case src.SecretKeyRef != nil:
		ref := src.SecretKeyRef
		s, err := r.secret(ctx, ref.Name)
		return lookupKey("Secret", pod.Namespace, ref.Name, ref.Key, isTrue(ref.Optional), err, func(k string) (string, bool) {
			v, ok := s.Data[k]
			return string(v), ok
		})
	}
	return "", false, fmt.Errorf("env %q of container %q: unsupported valueFrom", ev.Name, ctr.Name)
}

// lookupKey resolves a key of a ConfigMap or Secret read with error err; ok is
// false when an optional object or key is missing.
func lookupKey(kind, namespace, name, key string, optional bool, err error, get func(string) (string, bool)) (value string, ok bool, _ error) {
	if err != nil {
		if apierrors.IsNotFound(err) && optional {
			return "", false, nil
		}
		return "", false, err
	}
	v, found := get(key)
	if !found {
		if optional {
			return "", false, nil
		}
		return "", false, fmt.Errorf("couldn't find key %v in %s %v/%v", key, kind, namespace, name)
	}
	return v, true, nil
}

// ExpandArgs expands $(VAR) references in a container's command or args with its
// environment, as the kubelet does before starting it.
func ExpandArgs(args []string, env []corev1.EnvVar) []string {
	if len(args) == 0 {
		return nil
	}
	m := make(map[string]string, len(env))
	for _, e := range env {
		m[e.Name] = e.Value
	}
	out := make([]string, len(args))
	for i, a := range args {
		out[i] = Expand(a, mappingOf(m))
	}
	return out
}

// ContainerByName returns the pod's container (or init container) named name,
// nil if it has none.
func ContainerByName(pod *corev1.Pod, name string) *corev1.Container {
	for _, list := range [][]corev1.Container{pod.Spec.Containers, pod.Spec.InitContainers} {
		for i := range list {
			if list[i].Name == name {
				return &list[i]
			}
		}
	}
	return nil
}

func isTrue(b *bool) bool { return b != nil && *b }
