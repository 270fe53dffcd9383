package volume

import (
	"context"
	"testing"

	authenticationv1 "k8s.io/api/authentication/v1"
	corev1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/runtime"
	"k8s.io/client-go/kubernetes/fake"
	k8stesting "k8s.io/client-go/testing"
)

func TestClientTokensUsesTheTokenSubresource(t *testing.T) {
	client := fake.NewClientset()
	var got k8stesting.CreateAction
	client.PrependReactor("create", "serviceaccounts", func(a k8stesting.Action) (bool, runtime.Object, error) {
		got = a.(k8stesting.CreateAction)
		tr := got.GetObject().(*authenticationv1.TokenRequest).DeepCopy()
		tr.Status.Token = "tok"
		return true, tr, nil
	})
	tr, err := ClientTokens{Client: client}.CreateToken(context.Background(), "ns", "builder", &authenticationv1.TokenRequest{})
	if err != nil {
		t.Fatal(err)
	}
	if tr.Status.Token != "tok" {
		t.Errorf("token = %q", tr.Status.Token)
	}
	if got.GetNamespace() != "ns" || got.GetSubresource() != "token" || got.GetResource().Resource != "serviceaccounts" {
		t.Errorf("request: namespace %q, resource %v, subresource %q", got.GetNamespace(), got.GetResource(), got.GetSubresource())
	}
}

func TestSourcesReadClaimsOncePerPod(t *testing.T) {
	dir := t.TempDir()
	client := fake.NewClientset(
		&corev1.PersistentVolumeClaim{
			ObjectMeta: metav1.ObjectMeta{Namespace: "ns", Name: "data"},
			Spec:       corev1.PersistentVolumeClaimSpec{VolumeName: "pv"},
			Status:     corev1.PersistentVolumeClaimStatus{Phase: corev1.ClaimBound},
		},
		&corev1.PersistentVolume{
			ObjectMeta: metav1.ObjectMeta{Name: "pv"},
			Spec:       corev1.PersistentVolumeSpec{PersistentVolumeSource: corev1.PersistentVolumeSource{Local: &corev1.LocalVolumeSource{Path: dir}}},
		},
	)
	m, _, _ := newTestManager(t, testObjects(), false)
	m.cfg.Objects = Sources{SecretsAndConfigMaps: testObjects(), Client: client}
	pod := testPod(
		corev1.Volume{Name: "data", VolumeSource: corev1.VolumeSource{PersistentVolumeClaim: &corev1.PersistentVolumeClaimVolumeSource{ClaimName: "data"}}},
		corev1.Volume{Name: "cfg", VolumeSource: corev1.VolumeSource{ConfigMap: &corev1.ConfigMapVolumeSource{LocalObjectReference: corev1.LocalObjectReference{Name: "cfg"}}}},
	)
	gets := func() (claims, volumes int) {
		for _, a := range client.Actions() {
			if a.GetVerb() != "get" {
				continue
			}
			switch a.GetResource().Resource {
			case "persistentvolumeclaims":
				claims++
			case "persistentvolumes":
				volumes++
			}
		}
		return claims, volumes
	}
	ctx := context.Background()
	for range 3 {
		paths, err := m.SetUp(ctx, pod)
		if err != nil {
			t.Fatal(err)
		}
		if paths["data"] != dir || paths["cfg"] == "" {
			t.Fatalf("paths %v, want data at %s and cfg", paths, dir)
		}
	}
	if c, v := gets(); c != 1 || v != 1 {
		t.Errorf("%d claim and %d volume GETs for three set-ups, want one each", c, v)
	}
	// A torn down pod's claims are read again should it come back.
	if err := m.TearDown(ctx, pod.UID); err != nil {
		t.Fatal(err)
	}
	if _, err := m.SetUp(ctx, pod); err != nil {
		t.Fatal(err)
	}
	if c, v := gets(); c != 2 || v != 2 {
		t.Errorf("%d claim and %d volume GETs after a teardown, want two each", c, v)
	}
	if err := m.TearDown(ctx, pod.UID); err != nil {
		t.Fatal(err)
	}
}
