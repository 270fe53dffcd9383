package validation

import (
	"testing"

	appsv1 "k8s.io/api/apps/v1"
	corev1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/util/intstr"
	"k8s.io/utils/ptr"
)

func TestDeploymentCreate(t *testing.T) {
	zero, half, more := intstr.FromInt32(0), intstr.FromString("50%"), intstr.FromString("150%")
	for name, tc := range map[string]struct {
		mutate func(*appsv1.Deployment)
		want   []fieldErr
	}{
		"selector missing": {
			mutate: func(d *appsv1.Deployment) { d.Spec.Selector = nil },
			want:   []fieldErr{required("spec.selector")},
		},
		"selector empty": {
			mutate: func(d *appsv1.Deployment) { d.Spec.Selector = &metav1.LabelSelector{} },
			want:   []fieldErr{invalid("spec.selector", "empty selector is invalid for deployment")},
		},
		"selector does not match": {
			mutate: func(d *appsv1.Deployment) { d.Spec.Template.Labels = map[string]string{"app": "frontend"} },
			want:   []fieldErr{invalid("spec.template.metadata.labels", "`selector` does not match template `labels`")},
		},
		"selector expression": {
			mutate: func(d *appsv1.Deployment) {
				d.Spec.Selector = &metav1.LabelSelector{MatchExpressions: []metav1.LabelSelectorRequirement{{Key: "app", Operator: "Near"}}}
			},
			want: []fieldErr{
				invalid("spec.selector.matchExpressions[0].operator", "not a valid selector operator"),
				invalid("spec.selector", "invalid label selector"),
			},
		},
		"negative replicas": {
			mutate: func(d *appsv1.Deployment) { d.Spec.Replicas = ptr.To[int32](-1) },
			want:   []fieldErr{invalid("spec.replicas", "must be greater than or equal to 0")},
		},
		"scaled to zero": {mutate: func(d *appsv1.Deployment) { d.Spec.Replicas = ptr.To[int32](0) }},
		"restart policy": {
			mutate: func(d *appsv1.Deployment) { d.Spec.Template.Spec.RestartPolicy = corev1.RestartPolicyOnFailure },
			want:   []fieldErr{notSupported("spec.template.spec.restartPolicy")},
		},
		"active deadline": {
			mutate: func(d *appsv1.Deployment) { d.Spec.Template.Spec.ActiveDeadlineSeconds = ptr.To[int64](60) },
			want:   []fieldErr{forbidden("spec.template.spec.activeDeadlineSeconds", "activeDeadlineSeconds in Deployment is not Supported")},
		},
		"template image": {
			mutate: func(d *appsv1.Deployment) { d.Spec.Template.Spec.Containers[0].Image = "" },
			want:   []fieldErr{required("spec.template.spec.containers[0].image")},
		},
		"template labels": {
			mutate: func(d *appsv1.Deployment) { d.Spec.Template.Labels["tier"] = "back end" },
			want:   []fieldErr{invalid("spec.template.labels", "a valid label must be")},
		},
		"surge and unavailable both zero": {
			mutate: func(d *appsv1.Deployment) {
				d.Spec.Strategy.RollingUpdate = &appsv1.RollingUpdateDeployment{MaxSurge: &zero, MaxUnavailable: &zero}
			},
			want: []fieldErr{invalid("spec.strategy.rollingUpdate.maxUnavailable", "may not be 0 when `maxSurge` is 0")},
		},
		"unavailable above 100%": {
			mutate: func(d *appsv1.Deployment) {
				d.Spec.Strategy.RollingUpdate = &appsv1.RollingUpdateDeployment{MaxSurge: &half, MaxUnavailable: &more}
			},
			want: []fieldErr{invalid("spec.strategy.rollingUpdate.maxUnavailable", "must not be greater than 100%")},
		},
		"bad percentage": {
			mutate: func(d *appsv1.Deployment) {
				bad := intstr.FromString("half")
				d.Spec.Strategy.RollingUpdate.MaxSurge = &bad
			},
			want: []fieldErr{invalid("spec.strategy.rollingUpdate.maxSurge", "a valid percent string must be")},
		},
		"recreate with rolling parameters": {
			mutate: func(d *appsv1.Deployment) { d.Spec.Strategy.Type = appsv1.RecreateDeploymentStrategyType },
			want:   []fieldErr{forbidden("spec.strategy.rollingUpdate", "may not be specified when strategy `type` is 'Recreate'")},
		},
		"recreate": {
			mutate: func(d *appsv1.Deployment) {
				d.Spec.Strategy = appsv1.DeploymentStrategy{Type: appsv1.RecreateDeploymentStrategyType}
			},
		},
		"strategy type": {
			mutate: func(d *appsv1.Deployment) { d.Spec.Strategy.Type = "BlueGreen" },
			want:   []fieldErr{notSupported("spec.strategy")},
		},
		"progress deadline": {
			mutate: func(d *appsv1.Deployment) { d.Spec.MinReadySeconds = 600 },
			want:   []fieldErr{invalid("spec.progressDeadlineSeconds", "must be greater than minReadySeconds")},
		},
		"revision history": {
			mutate: func(d *appsv1.Deployment) { d.Spec.RevisionHistoryLimit = ptr.To[int32](-1) },
			want:   []fieldErr{invalid("spec.revisionHistoryLimit", "must be greater than or equal to 0")},
		},
	} {
		t.Run(name, func(t *testing.T) {
			expect(t, Create(updated(deployment(), tc.mutate)), tc.want...)
		})
	}
}

func TestDeploymentUpdate(t *testing.T) {
	for name, tc := range map[string]struct {
		mutate func(*appsv1.Deployment)
		want   []fieldErr
	}{
		"set image": {mutate: func(d *appsv1.Deployment) { d.Spec.Template.Spec.Containers[0].Image = "taobeier/saythx-backend:v2" }},
		"scale":     {mutate: func(d *appsv1.Deployment) { d.Spec.Replicas = ptr.To[int32](2) }},
		"selector is fixed": {
			mutate: func(d *appsv1.Deployment) {
				d.Spec.Selector.MatchLabels["tier"] = "backend"
				d.Spec.Template.Labels["tier"] = "backend"
			},
			want: []fieldErr{invalid("spec.selector", "field is immutable")},
		},
	} {
		t.Run(name, func(t *testing.T) {
			old := deployment()
			obj := updated(old, tc.mutate)
			obj.ResourceVersion = "2"
			expect(t, Update(obj, old), tc.want...)
		})
	}
}

func TestDeploymentStatusUpdate(t *testing.T) {
	for name, tc := range map[string]struct {
		status appsv1.DeploymentStatus
		want   []fieldErr
	}{
		"rolled out": {status: appsv1.DeploymentStatus{ObservedGeneration: 1, Replicas: 1, UpdatedReplicas: 1, ReadyReplicas: 1, AvailableReplicas: 1}},
		"negative": {
			status: appsv1.DeploymentStatus{Replicas: 1, UpdatedReplicas: -1},
			want:   []fieldErr{invalid("status.updatedReplicas", "must be greater than or equal to 0")},
		},
		"more ready than replicas": {
			status: appsv1.DeploymentStatus{Replicas: 1, ReadyReplicas: 2, AvailableReplicas: 1},
			want:   []fieldErr{invalid("status.readyReplicas", "cannot be greater than status.replicas")},
		},
		"more available than ready": {
			status: appsv1.DeploymentStatus{Replicas: 2, ReadyReplicas: 1, AvailableReplicas: 2},
			want:   []fieldErr{invalid("status.availableReplicas", "cannot be greater than readyReplicas")},
		},
	} {
		t.Run(name, func(t *testing.T) {
			old := deployment()
			obj := updated(old, func(d *appsv1.Deployment) { d.Status = tc.status })
			expect(t, StatusUpdate(obj, old), tc.want...)
		})
	}
}

func TestReplicaSet(t *testing.T) {
	expect(t, Create(updated(replicaSet(), func(rs *appsv1.ReplicaSet) { rs.Spec.Selector = nil })),
		required("spec.selector"))
	old := replicaSet()
	obj := updated(old, func(rs *appsv1.ReplicaSet) { rs.Spec.Selector.MatchLabels["pod-template-hash"] = "x" })
	expect(t, Update(obj, old),
		invalid("spec.selector", "field is immutable"),
		invalid("spec.template.metadata.labels", "`selector` does not match template `labels`"))
	obj = updated(old, func(rs *appsv1.ReplicaSet) {
		rs.Status = appsv1.ReplicaSetStatus{Replicas: 1, FullyLabeledReplicas: 2}
	})
	expect(t, StatusUpdate(obj, old), invalid("status.fullyLabeledReplicas", "cannot be greater than status.replicas"))
}

func TestStatefulSetCreate(t *testing.T) {
	for name, tc := range map[string]struct {
		mutate func(*appsv1.StatefulSet)
		want   []fieldErr
	}{
		"mount of a claim template": {},
		"mount of nothing": {
			mutate: func(s *appsv1.StatefulSet) { s.Spec.VolumeClaimTemplates = nil },
			want:   []fieldErr{notFound("spec.template.spec.containers[0].volumeMounts[0].name")},
		},
		"empty selector": {
			mutate: func(s *appsv1.StatefulSet) { s.Spec.Selector = &metav1.LabelSelector{} },
			want:   []fieldErr{invalid("spec.selector", "empty selector is invalid for statefulset")},
		},
		"pod management policy": {
			mutate: func(s *appsv1.StatefulSet) { s.Spec.PodManagementPolicy = "Random" },
			want:   []fieldErr{invalid("spec.podManagementPolicy", "must be 'OrderedReady' or 'Parallel'")},
		},
		"update strategy": {
			mutate: func(s *appsv1.StatefulSet) { s.Spec.UpdateStrategy.Type = "" },
			want:   []fieldErr{required("spec.updateStrategy")},
		},
		"partition": {
			mutate: func(s *appsv1.StatefulSet) { s.Spec.UpdateStrategy.RollingUpdate.Partition = ptr.To[int32](-1) },
			want:   []fieldErr{invalid("spec.updateStrategy.rollingUpdate.partition", "must be greater than or equal to 0")},
		},
		"retention policy": {
			mutate: func(s *appsv1.StatefulSet) { s.Spec.PersistentVolumeClaimRetentionPolicy.WhenScaled = "Keep" },
			want:   []fieldErr{notSupported("spec.persistentVolumeClaimRetentionPolicy.whenScaled")},
		},
		"restart policy": {
			mutate: func(s *appsv1.StatefulSet) { s.Spec.Template.Spec.RestartPolicy = corev1.RestartPolicyNever },
			want:   []fieldErr{notSupported("spec.template.spec.restartPolicy")},
		},
	} {
		t.Run(name, func(t *testing.T) {
			s := statefulSet()
			if tc.mutate != nil {
				tc.mutate(s)
			}
			expect(t, Create(s), tc.want...)
		})
	}
}

func TestStatefulSetUpdate(t *testing.T) {
	for name, tc := range map[string]struct {
		mutate func(*appsv1.StatefulSet)
		want   []fieldErr
	}{
		"scale":             {mutate: func(s *appsv1.StatefulSet) { s.Spec.Replicas = ptr.To[int32](3) }},
		"image":             {mutate: func(s *appsv1.StatefulSet) { s.Spec.Template.Spec.Containers[0].Image = "redis:7" }},
		"min ready seconds": {mutate: func(s *appsv1.StatefulSet) { s.Spec.MinReadySeconds = 10 }},
		"on delete strategy": {mutate: func(s *appsv1.StatefulSet) {
			s.Spec.UpdateStrategy = appsv1.StatefulSetUpdateStrategy{Type: appsv1.OnDeleteStatefulSetStrategyType}
		}},
		"claim templates": {
			mutate: func(s *appsv1.StatefulSet) {
				s.Spec.VolumeClaimTemplates[0].Spec.AccessModes = []corev1.PersistentVolumeAccessMode{corev1.ReadWriteMany}
			},
			want: []fieldErr{forbidden("spec", "updates to statefulset spec for fields other than 'replicas', 'ordinals', 'template', 'updateStrategy', 'persistentVolumeClaimRetentionPolicy' and 'minReadySeconds' are forbidden")},
		},
		"service name": {
			mutate: func(s *appsv1.StatefulSet) { s.Spec.ServiceName = "redis" },
			want:   []fieldErr{forbidden("spec", "updates to statefulset spec for fields other than")},
		},
	} {
		t.Run(name, func(t *testing.T) {
			old := statefulSet()
			obj := updated(old, tc.mutate)
			obj.ResourceVersion = "2"
			expect(t, Update(obj, old), tc.want...)
		})
	}
}

func TestStatefulSetStatusUpdate(t *testing.T) {
	old := updated(statefulSet(), func(s *appsv1.StatefulSet) { s.Status.CollisionCount = ptr.To[int32](2) })
	obj := updated(old, func(s *appsv1.StatefulSet) {
		s.Status.CollisionCount = ptr.To[int32](1)
		s.Status.Replicas, s.Status.CurrentReplicas = 1, 2
	})
	expect(t, StatusUpdate(obj, old),
		invalid("status.collisionCount", "cannot be decremented"),
		invalid("status.currentReplicas", "cannot be greater than status.replicas"))
}

func TestDaemonSet(t *testing.T) {
	one := intstr.FromInt32(1)
	for name, tc := range map[string]struct {
		mutate func(*appsv1.DaemonSet)
		want   []fieldErr
	}{
		"host port differs on the host network": {
			mutate: func(d *appsv1.DaemonSet) { d.Spec.Template.Spec.Containers[0].Ports[0].HostPort = 9100 },
			want:   []fieldErr{invalid("spec.template.spec.containers[0].ports[0].hostPort", "must match `containerPort` when `hostNetwork` is true")},
		},
		"host port left to defaulting": {
			mutate: func(d *appsv1.DaemonSet) { d.Spec.Template.Spec.Containers[0].Ports[0].HostPort = 0 },
		},
		"surge and unavailable both set": {
			mutate: func(d *appsv1.DaemonSet) { d.Spec.UpdateStrategy.RollingUpdate.MaxSurge = &one },
			want:   []fieldErr{invalid("spec.updateStrategy.rollingUpdate.maxSurge", "may not be set when maxUnavailable is non-zero")},
		},
		"rolling update parameters missing": {
			mutate: func(d *appsv1.DaemonSet) { d.Spec.UpdateStrategy.RollingUpdate = nil },
			want:   []fieldErr{required("spec.updateStrategy.rollingUpdate")},
		},
		"strategy type": {
			mutate: func(d *appsv1.DaemonSet) { d.Spec.UpdateStrategy = appsv1.DaemonSetUpdateStrategy{Type: "Surge"} },
			want:   []fieldErr{notSupported("spec.updateStrategy")},
		},
	} {
		t.Run(name, func(t *testing.T) {
			expect(t, Create(updated(daemonSet(), tc.mutate)), tc.want...)
		})
	}
}

func TestReplicationController(t *testing.T) {
	for name, tc := range map[string]struct {
		mutate func(*corev1.ReplicationController)
		want   []fieldErr
	}{
		"selector required": {
			mutate: func(rc *corev1.ReplicationController) { rc.Spec.Selector = nil },
			want:   []fieldErr{required("spec.selector")},
		},
		"template required": {
			mutate: func(rc *corev1.ReplicationController) { rc.Spec.Template = nil },
			want:   []fieldErr{required("spec.template")},
		},
		"selector does not match": {
			mutate: func(rc *corev1.ReplicationController) { rc.Spec.Selector = map[string]string{"app": "backend"} },
			want:   []fieldErr{invalid("spec.template.metadata.labels", "`selector` does not match template `labels`")},
		},
		"negative replicas": {
			mutate: func(rc *corev1.ReplicationController) { rc.Spec.Replicas = ptr.To[int32](-2) },
			want:   []fieldErr{invalid("spec.replicas", "must be greater than or equal to 0")},
		},
	} {
		t.Run(name, func(t *testing.T) {
			expect(t, Create(updated(replicationController(), tc.mutate)), tc.want...)
		})
	}
}

func TestControllerRevision(t *testing.T) {
	old := goodObjects(t)["controller revision"].(*appsv1.ControllerRevision)
	expect(t, Create(updated(old, func(r *appsv1.ControllerRevision) { r.Data.Raw = nil })), required("data"))
	obj := updated(old, func(r *appsv1.ControllerRevision) { r.Data.Raw = []byte(`{"spec":{"x":1}}`) })
	obj.ResourceVersion = "2"
	expect(t, Update(obj, old), invalid("data", "field is immutable"))
}
