package priority

import (
	"context"
	"testing"

	corev1 "k8s.io/api/core/v1"
	schedulingv1 "k8s.io/api/scheduling/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/runtime"
	"k8s.io/apiserver/pkg/admission"
	"k8s.io/client-go/informers"
	"k8s.io/client-go/kubernetes/fake"
	"k8s.io/utils/ptr"
)

func class(name string, value int32, globalDefault bool, policy corev1.PreemptionPolicy) *schedulingv1.PriorityClass {
	pc := &schedulingv1.PriorityClass{ObjectMeta: metav1.ObjectMeta{Name: name}, Value: value, GlobalDefault: globalDefault}
	if policy != "" {
		pc.PreemptionPolicy = &policy
	}
	return pc
}

// newPlugin returns the plugin over informers synced from a fake API holding objs.
func newPlugin(t *testing.T, objs ...runtime.Object) *Plugin {
	t.Helper()
	f := informers.NewSharedInformerFactory(fake.NewClientset(objs...), 0)
	p := New(f)
	ctx, cancel := context.WithCancel(context.Background())
	t.Cleanup(cancel)
	f.Start(ctx.Done())
	f.WaitForCacheSync(ctx.Done())
	return p
}

func podAttributes(pod, old *corev1.Pod, op admission.Operation) admission.Attributes {
	var oldObj runtime.Object
	if old != nil {
		oldObj = old
	}
	return admission.NewAttributesRecord(pod, oldObj, corev1.SchemeGroupVersion.WithKind("Pod"), "work", pod.Name,
		corev1.SchemeGroupVersion.WithResource("pods"), "", op, nil, false, nil)
}

func TestAdmitPod(t *testing.T) {
	high := class("high", 1000, false, "")
	never := class("batch", 10, false, corev1.PreemptNever)
	low := class("low", -5, true, "")
	tests := []struct {
		name       string
		classes    []runtime.Object
		spec       corev1.PodSpec
		wantClass  string
		wantValue  int32
		wantPolicy corev1.PreemptionPolicy
		wantErr    string
	}{{
		name:       "no class and no default means priority 0",
		wantValue:  0,
		wantPolicy: corev1.PreemptLowerPriority,
	}, {
		name:       "no class takes the global default",
		classes:    []runtime.Object{high, low},
		wantClass:  "low",
		wantValue:  -5,
		wantPolicy: corev1.PreemptLowerPriority,
	}, {
		name:       "named class",
		classes:    []runtime.Object{high, low},
		spec:       corev1.PodSpec{PriorityClassName: "high"},
		wantClass:  "high",
		wantValue:  1000,
		wantPolicy: corev1.PreemptLowerPriority,
	}, {
		name:       "preemption policy comes from the class",
		classes:    []runtime.Object{never},
		spec:       corev1.PodSpec{PriorityClassName: "batch"},
		wantClass:  "batch",
		wantValue:  10,
		wantPolicy: corev1.PreemptNever,
	}, {
		name:       "system-node-critical is built in",
		spec:       corev1.PodSpec{PriorityClassName: SystemNodeCritical},
		wantClass:  SystemNodeCritical,
		wantValue:  2000001000,
		wantPolicy: corev1.PreemptLowerPriority,
	}, {
		name:       "system-cluster-critical is built in",
		spec:       corev1.PodSpec{PriorityClassName: SystemClusterCritical},
		wantClass:  SystemClusterCritical,
		wantValue:  2000000000,
		wantPolicy: corev1.PreemptLowerPriority,
	}, {
		name:    "missing class",
		spec:    corev1.PodSpec{PriorityClassName: "x"},
		wantErr: `pods "app" is forbidden: no PriorityClass with name x was found`,
	}, {
		name:       "a priority equal to the class's is accepted",
		classes:    []runtime.Object{high},
		spec:       corev1.PodSpec{PriorityClassName: "high", Priority: ptr.To[int32](1000)},
		wantClass:  "high",
		wantValue:  1000,
		wantPolicy: corev1.PreemptLowerPriority,
	}, {
		name:    "a priority differing from the class's is refused",
		classes: []runtime.Object{high},
		spec:    corev1.PodSpec{PriorityClassName: "high", Priority: ptr.To[int32](7)},
		wantErr: `pods "app" is forbidden: the integer value of priority (7) must not be provided in pod spec; priority admission controller computed 1000 from the given PriorityClass name`,
	}, {
		name:    "a preemption policy differing from the class's is refused",
		classes: []runtime.Object{high},
		spec:    corev1.PodSpec{PriorityClassName: "high", PreemptionPolicy: ptr.To(corev1.PreemptNever)},
		wantErr: `pods "app" is forbidden: the string value of PreemptionPolicy (Never) must not be provided in pod spec; priority admission controller computed PreemptLowerPriority from the given PriorityClass name`,
	}}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			pod := &corev1.Pod{ObjectMeta: metav1.ObjectMeta{Name: "app", Namespace: "work"}, Spec: tt.spec}
			err := newPlugin(t, tt.classes...).Admit(context.Background(), podAttributes(pod, nil, admission.Create), nil)
			if tt.wantErr != "" {
				if err == nil || err.Error() != tt.wantErr {
					t.Fatalf("got %v, want %q", err, tt.wantErr)
				}
				return
			}
			if err != nil {
				t.Fatal(err)
			}
			s := pod.Spec
			if s.PriorityClassName != tt.wantClass || s.Priority == nil || *s.Priority != tt.wantValue ||
				s.PreemptionPolicy == nil || *s.PreemptionPolicy != tt.wantPolicy {
				t.Errorf("got class %q priority %v policy %v; want %q %d %s",
					s.PriorityClassName, ptr.Deref(s.Priority, -1), ptr.Deref(s.PreemptionPolicy, ""), tt.wantClass, tt.wantValue, tt.wantPolicy)
			}
		})
	}
}

func TestAdmitPodUpdateKeepsPriority(t *testing.T) {
	old := &corev1.Pod{ObjectMeta: metav1.ObjectMeta{Name: "app", Namespace: "work"},
		Spec: corev1.PodSpec{Priority: ptr.To[int32](1000), PreemptionPolicy: ptr.To(corev1.PreemptNever)}}
	pod := old.DeepCopy()
	pod.Spec.Priority, pod.Spec.PreemptionPolicy = nil, nil
	if err := newPlugin(t).Admit(context.Background(), podAttributes(pod, old, admission.Update), nil); err != nil {
		t.Fatal(err)
	}
	if ptr.Deref(pod.Spec.Priority, 0) != 1000 || ptr.Deref(pod.Spec.PreemptionPolicy, "") != corev1.PreemptNever {
		t.Errorf("priority %v, policy %v not carried over", pod.Spec.Priority, pod.Spec.PreemptionPolicy)
	}
}

func TestValidatePriorityClass(t *testing.T) {
	existing := class("low", 1, true, "")
	tests := []struct {
		name    string
		op      admission.Operation
		pc      *schedulingv1.PriorityClass
		wantErr string
	}{
		{"a non-default class", admission.Create, class("high", 10, false, ""), ""},
		{"updating the default itself", admission.Update, class("low", 2, true, ""), ""},
		{"a second default", admission.Create, class("other", 5, true, ""),
			`priorityclasses.scheduling.k8s.io "other" is forbidden: PriorityClass low is already marked as default. Only one default can exist`},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			a := admission.NewAttributesRecord(tt.pc, nil, schedulingv1.SchemeGroupVersion.WithKind("PriorityClass"), "", tt.pc.Name,
				schedulingv1.SchemeGroupVersion.WithResource("priorityclasses"), "", tt.op, nil, false, nil)
			err := newPlugin(t, existing).Validate(context.Background(), a, nil)
			got := ""
			if err != nil {
				got = err.Error()
			}
			if got != tt.wantErr {
				t.Errorf("got %q, want %q", got, tt.wantErr)
			}
		})
	}
}
