package pods

import (
	"context"
	"slices"
	"strings"
	"testing"

	corev1 "k8s.io/api/core/v1"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/types"
	"k8s.io/client-go/tools/cache"
)

// recordedObjects is a PodObjects that records what it is told.
type recordedObjects struct {
	calls []string // "register UID" and "unregister UID", in order
}

func (r *recordedObjects) Register(pod *corev1.Pod) {
	r.calls = append(r.calls, "register "+string(pod.UID))
}
func (r *recordedObjects) Unregister(uid types.UID) {
	r.calls = append(r.calls, "unregister "+string(uid))
}
func (r *recordedObjects) Run(ctx context.Context, _ func(types.UID)) error {
	<-ctx.Done()
	return nil
}

func TestPodsRegisteredWhileRunnable(t *testing.T) {
	onNode := func(uid string) *corev1.Pod {
		return &corev1.Pod{ObjectMeta: metav1.ObjectMeta{Namespace: "ns", Name: uid, UID: types.UID(uid)}, Spec: corev1.PodSpec{NodeName: "node-a"}}
	}
	elsewhere := onNode("elsewhere")
	elsewhere.Spec.NodeName = "node-b"
	succeeded := onNode("a")
	succeeded.Status.Phase = corev1.PodSucceeded
	tests := []struct {
		name   string
		events func(k *Kubelet)
		want   []string
	}{
		{
			name:   "added, updated, deleted",
			events: func(k *Kubelet) { k.podChanged(onNode("a")); k.podChanged(onNode("a")); k.podDeleted(onNode("a")) },
			want:   []string{"register a", "register a", "unregister a"},
		},
		{
			name: "deleted while the watch was down",
			events: func(k *Kubelet) {
				k.podChanged(onNode("a"))
				k.podDeleted(cache.DeletedFinalStateUnknown{Key: "ns/a", Obj: onNode("a")})
			},
			want: []string{"register a", "unregister a"},
		},
		{
			name:   "finished for good",
			events: func(k *Kubelet) { k.podChanged(onNode("a")); k.podChanged(succeeded); k.podDeleted(succeeded) },
			want:   []string{"register a", "unregister a", "unregister a"},
		},
		{
			name:   "bound to another node",
			events: func(k *Kubelet) { k.podChanged(elsewhere) },
		},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			objs := &recordedObjects{}
			k := &Kubelet{cfg: Config{NodeName: "node-a", Objects: objs}, workers: map[types.UID]*worker{}, statuses: map[types.UID]corev1.PodStatus{}}
			tc.events(k)
			if !slices.Equal(objs.calls, tc.want) {
				t.Errorf("calls %q, want %q", objs.calls, tc.want)
			}
		})
	}
}

// secretMap is a SecretGetter over namespace/name keys.
type secretMap map[string]*corev1.Secret

func (m secretMap) Secret(_ context.Context, ns, name string) (*corev1.Secret, error) {
	if s, ok := m[ns+"/"+name]; ok {
		return s, nil
	}
	return nil, apierrors.NewNotFound(corev1.Resource("secrets"), name)
}

func TestPullSecretsReadOneByOne(t *testing.T) {
	p := &imagePuller{secrets: secretMap{
		"ns/registry": {Type: corev1.SecretTypeDockerConfigJson, Data: map[string][]byte{
			corev1.DockerConfigJsonKey: []byte(`{"auths":{"registry.example":{"auth":"dXNlcjpwdw=="}}}`),
		}},
		"other/elsewhere": {Type: corev1.SecretTypeDockerConfigJson, Data: map[string][]byte{
			corev1.DockerConfigJsonKey: []byte(`{"auths":{}}`),
		}},
	}}
	pod := &corev1.Pod{ObjectMeta: metav1.ObjectMeta{Namespace: "ns", Name: "p"}, Spec: corev1.PodSpec{
		ImagePullSecrets: []corev1.LocalObjectReference{{Name: "registry"}, {Name: "missing"}, {Name: "elsewhere"}},
	}}
	opts, err := p.pullSecrets(context.Background(), pod)
	if len(opts) != 1 {
		t.Errorf("%d pull options, want the one of ns/registry", len(opts))
	}
	if err == nil || !strings.Contains(err.Error(), `secret "missing" not found`) || !strings.Contains(err.Error(), `secret "elsewhere" not found`) {
		t.Errorf("error %v, want both missing Secrets named", err)
	}
}
