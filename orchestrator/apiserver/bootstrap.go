package apiserver

import (
	"context"
	"fmt"
	"net"
	"time"

	corev1 "k8s.io/api/core/v1"
	discoveryv1 "k8s.io/api/discovery/v1"
	schedulingv1 "k8s.io/api/scheduling/v1"
	apiextensionsv1 "k8s.io/apiextensions-apiserver/pkg/apis/apiextensions/v1"
	apiextensionsclient "k8s.io/apiextensions-apiserver/pkg/client/clientset/clientset"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/util/intstr"
	"k8s.io/apimachinery/pkg/util/wait"
	genericapiserver "k8s.io/apiserver/pkg/server"
	"k8s.io/client-go/kubernetes"
	"k8s.io/utils/ptr"
)

// systemNamespaces every cluster has.
var systemNamespaces = []string{metav1.NamespaceDefault, metav1.NamespaceSystem, metav1.NamespacePublic, corev1.NamespaceNodeLease}

// bootstrap creates the objects every cluster starts with: the system namespaces,
// the kubernetes Service with its endpoints, the system priority classes, and the
// definitions the server was configured with.
type bootstrap struct {
	client      kubernetes.Interface
	crds        apiextensionsclient.Interface
	definitions []*apiextensionsv1.CustomResourceDefinition
	serviceCIDR *net.IPNet
	advertise   net.IP
	port        int
}

func (b *bootstrap) run(hook genericapiserver.PostStartHookContext) error {
	// The API is served but may not answer yet; keep trying until it does.
	return wait.PollUntilContextTimeout(hook.Context, 200*time.Millisecond, time.Minute, true, func(ctx context.Context) (bool, error) {
		if err := b.ensure(ctx); err != nil {
			return false, nil
		}
		return true, nil
	})
}

func (b *bootstrap) ensure(ctx context.Context) error {
	for _, name := range systemNamespaces {
		ns := &corev1.Namespace{ObjectMeta: metav1.ObjectMeta{Name: name}}
		if _, err := b.client.CoreV1().Namespaces().Create(ctx, ns, metav1.CreateOptions{}); err != nil && !apierrors.IsAlreadyExists(err) {
			return fmt.Errorf("creating namespace %s: %w", name, err)
		}
	}
	for _, pc := range systemPriorityClasses {
		if _, err := b.client.SchedulingV1().PriorityClasses().Create(ctx, pc, metav1.CreateOptions{}); err != nil && !apierrors.IsAlreadyExists(err) {
			return fmt.Errorf("creating priority class %s: %w", pc.Name, err)
		}
	}
	if err := b.ensureDefinitions(ctx); err != nil {
		return err
	}
	return b.ensureKubernetesService(ctx)
}

// ensureDefinitions creates the configured CRDs that do not exist yet and waits
// until each is established. Existing ones are left as they are.
func (b *bootstrap) ensureDefinitions(ctx context.Context) error {
	for _, want := range b.definitions {
		got, err := b.crds.ApiextensionsV1().CustomResourceDefinitions().Create(ctx, want, metav1.CreateOptions{})
		if apierrors.IsAlreadyExists(err) {
			got, err = b.crds.ApiextensionsV1().CustomResourceDefinitions().Get(ctx, want.Name, metav1.GetOptions{})
		}
		if err != nil {
			return fmt.Errorf("defining %s: %w", want.Name, err)
		}
		established := false
		for _, c := range got.Status.Conditions {
			established = established || c.Type == apiextensionsv1.Established && c.Status == apiextensionsv1.ConditionTrue
		}
		if !established {
			return fmt.Errorf("%s is not established yet", want.Name)
		}
	}
	return nil
}

var systemPriorityClasses = []*schedulingv1.PriorityClass{
	{
		ObjectMeta:  metav1.ObjectMeta{Name: "system-node-critical"},
		Value:       2000001000,
		Description: "Used for system critical pods that must not be moved from their current node.",
	},
	{
		ObjectMeta:  metav1.ObjectMeta{Name: "system-cluster-critical"},
		Value:       2000000000,
		Description: "Used for system critical pods that must run in the cluster, but can be moved to another node if necessary.",
	},
}

// ensureKubernetesService makes default/kubernetes point at this API server: the
// first address of the service range, port 443, with endpoints on the advertised
// address.
func (b *bootstrap) ensureKubernetesService(ctx context.Context) error {
	ip, err := firstServiceIP(b.serviceCIDR)
	if err != nil {
		return err
	}
	const name = "kubernetes"
	svc := &corev1.Service{
		ObjectMeta: metav1.ObjectMeta{Name: name, Namespace: metav1.NamespaceDefault,
			Labels: map[string]string{"component": "apiserver", "provider": "kubernetes"}},
		Spec: corev1.ServiceSpec{
			Type:      corev1.ServiceTypeClusterIP,
			ClusterIP: ip.String(),
			Ports: []corev1.ServicePort{{Name: "https", Protocol: corev1.ProtocolTCP, Port: 443,
				TargetPort: intstr.FromInt32(int32(b.port))}},
			SessionAffinity: corev1.ServiceAffinityNone,
		},
	}
	if _, err := b.client.CoreV1().Services(metav1.NamespaceDefault).Create(ctx, svc, metav1.CreateOptions{}); err != nil && !apierrors.IsAlreadyExists(err) {
		return fmt.Errorf("creating the kubernetes service: %w", err)
	}

	if b.advertise.IsLoopback() {
		// Endpoints may not hold loopback addresses; a host without a network has
		// nothing else to offer, and no pod could reach it anyway.
		return nil
	}
	port := int32(b.port)
	endpoints := &corev1.Endpoints{
		ObjectMeta: metav1.ObjectMeta{Name: name, Namespace: metav1.NamespaceDefault,
			Labels: map[string]string{discoveryv1.LabelSkipMirror: "true"}},
		Subsets: []corev1.EndpointSubset{{
			Addresses: []corev1.EndpointAddress{{IP: b.advertise.String()}},
			Ports:     []corev1.EndpointPort{{Name: "https", Port: port, Protocol: corev1.ProtocolTCP}},
		}},
	}
	if err := apply(ctx, endpoints, b.client.CoreV1().Endpoints(metav1.NamespaceDefault)); err != nil {
		return fmt.Errorf("writing the kubernetes endpoints: %w", err)
	}
	family := discoveryv1.AddressTypeIPv4
	if b.advertise.To4() == nil {
		family = discoveryv1.AddressTypeIPv6
	}
	slice := &discoveryv1.EndpointSlice{
		ObjectMeta: metav1.ObjectMeta{Name: name, Namespace: metav1.NamespaceDefault,
			Labels: map[string]string{discoveryv1.LabelServiceName: name}},
		AddressType: family,
		Endpoints: []discoveryv1.Endpoint{{
			Addresses:  []string{b.advertise.String()},
			Conditions: discoveryv1.EndpointConditions{Ready: ptr.To(true)},
		}},
		Ports: []discoveryv1.EndpointPort{{Name: ptr.To("https"), Port: &port, Protocol: ptr.To(corev1.ProtocolTCP)}},
	}
	if err := apply(ctx, slice, b.client.DiscoveryV1().EndpointSlices(metav1.NamespaceDefault)); err != nil {
		return fmt.Errorf("writing the kubernetes endpoint slice: %w", err)
	}
	return nil
}

// typedClient is the part of a client-go typed client that apply needs.
type typedClient[T any] interface {
	Get(ctx context.Context, name string, opts metav1.GetOptions) (T, error)
	Create(ctx context.Context, obj T, opts metav1.CreateOptions) (T, error)
	Update(ctx context.Context, obj T, opts metav1.UpdateOptions) (T, error)
}

// apply creates obj, or replaces what is stored under its name.
func apply[T interface {
	metav1.Object
	comparable
}](ctx context.Context, obj T, client typedClient[T]) error {
	current, err := client.Get(ctx, obj.GetName(), metav1.GetOptions{})
	switch {
	case apierrors.IsNotFound(err):
		_, err = client.Create(ctx, obj, metav1.CreateOptions{})
		return err
	case err != nil:
		return err
	}
	obj.SetResourceVersion(current.GetResourceVersion())
	_, err = client.Update(ctx, obj, metav1.UpdateOptions{})
	return err
}
