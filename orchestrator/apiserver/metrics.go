package apiserver

import (
	"context"
	"fmt"
	"sort"
	"time"

	corev1 "k8s.io/api/core/v1"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	metainternalversion "k8s.io/apimachinery/pkg/apis/meta/internalversion"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/fields"
	"k8s.io/apimachinery/pkg/labels"
	"k8s.io/apimachinery/pkg/runtime"
	"k8s.io/apimachinery/pkg/runtime/schema"
	"k8s.io/apimachinery/pkg/runtime/serializer"
	genericapirequest "k8s.io/apiserver/pkg/endpoints/request"
	"k8s.io/apiserver/pkg/registry/rest"
	genericapiserver "k8s.io/apiserver/pkg/server"
	"k8s.io/client-go/informers"
	corelisters "k8s.io/client-go/listers/core/v1"
	"k8s.io/metrics/pkg/apis/metrics"
	metricsv1beta1 "k8s.io/metrics/pkg/apis/metrics/v1beta1"
)

// ResourceMetrics is where the resource metrics API (metrics.k8s.io) reads
// usage: the latest report of a node or of a pod, false when there is none
// (package orchestrator/metrics keeps them).
type ResourceMetrics interface {
	Node(name string) (metricsv1beta1.NodeMetrics, bool)
	Pod(namespace, name string) (metricsv1beta1.PodMetrics, bool)
}

// newMetricsScheme knows the metrics.k8s.io kinds. The group has its own scheme,
// apart from package apis, because it is served from memory with the upstream
// internal types and generated conversions, as metrics-server serves it.
func newMetricsScheme() (*runtime.Scheme, error) {
	s := runtime.NewScheme()
	for _, add := range []func(*runtime.Scheme) error{metrics.AddToScheme, metricsv1beta1.AddToScheme, metav1.AddMetaToScheme} {
		if err := add(s); err != nil {
			return nil, fmt.Errorf("building the metrics.k8s.io scheme: %w", err)
		}
	}
	metav1.AddToGroupVersion(s, schema.GroupVersion{Version: "v1"})
	return s, nil
}

// installMetrics serves metrics.k8s.io/v1beta1 nodes and pods from source: list
// and get only, as metrics-server serves them. Which nodes and pods exist, and
// their labels, come from informers, so that label selectors work and usage of
// deleted objects is not served.
func installMetrics(server *genericapiserver.GenericAPIServer, scheme *runtime.Scheme, informers informers.SharedInformerFactory, source ResourceMetrics) error {
	codecs := serializer.NewCodecFactory(scheme)
	info := genericapiserver.NewDefaultAPIGroupInfo(metrics.GroupName, scheme, runtime.NewParameterCodec(scheme), codecs)
	info.PrioritizedVersions = []schema.GroupVersion{metricsv1beta1.SchemeGroupVersion}
	info.VersionedResourcesStorageMap[metricsv1beta1.SchemeGroupVersion.Version] = map[string]rest.Storage{
		"nodes": &nodeMetricsREST{source: source, nodes: informers.Core().V1().Nodes().Lister()},
		"pods":  &podMetricsREST{source: source, pods: informers.Core().V1().Pods().Lister()},
	}
	if err := server.InstallAPIGroup(&info); err != nil {
		return fmt.Errorf("installing metrics.k8s.io: %w", err)
	}
	return nil
}

// metricsREST is what node and pod metrics share: they are read-only, kept by
// no one but the source, and have no singular name.
type metricsREST struct{}

func (metricsREST) Destroy()                {}
func (metricsREST) GetSingularName() string { return "" }

// selectors returns the label and field selectors of a list request, which
// select everything when absent.
func selectors(options *metainternalversion.ListOptions) (labels.Selector, fields.Selector) {
	l, f := labels.Everything(), fields.Everything()
	if options != nil && options.LabelSelector != nil {
		l = options.LabelSelector
	}
	if options != nil && options.FieldSelector != nil {
		f = options.FieldSelector
	}
	return l, f
}

// nodeMetricsREST serves metrics.k8s.io/v1beta1 nodes.
type nodeMetricsREST struct {
	metricsREST
	source ResourceMetrics
	nodes  corelisters.NodeLister
}

var (
	_ rest.Getter         = &nodeMetricsREST{}
	_ rest.Lister         = &nodeMetricsREST{}
	_ rest.Scoper         = &nodeMetricsREST{}
	_ rest.KindProvider   = &nodeMetricsREST{}
	_ rest.TableConvertor = &nodeMetricsREST{}
)

func (r *nodeMetricsREST) New() runtime.Object     { return &metrics.NodeMetrics{} }
func (r *nodeMetricsREST) NewList() runtime.Object { return &metrics.NodeMetricsList{} }
func (r *nodeMetricsREST) Kind() string            { return "NodeMetrics" }
func (r *nodeMetricsREST) NamespaceScoped() bool   { return false }

func (r *nodeMetricsREST) Get(ctx context.Context, name string, _ *metav1.GetOptions) (runtime.Object, error) {
	node, err := r.nodes.Get(name)
	if apierrors.IsNotFound(err) {
		return nil, apierrors.NewNotFound(metrics.Resource("nodemetrics"), name)
	}
	if err != nil {
		return nil, fmt.Errorf("reading node %s: %w", name, err)
	}
	m, ok := r.metricsOf(node)
	if !ok {
		return nil, apierrors.NewNotFound(metrics.Resource("nodemetrics"), name)
	}
	return m, nil
}

func (r *nodeMetricsREST) List(ctx context.Context, options *metainternalversion.ListOptions) (runtime.Object, error) {
	selector, fieldSelector := selectors(options)
	nodes, err := r.nodes.List(selector)
	if err != nil {
		return nil, fmt.Errorf("listing nodes: %w", err)
	}
	sort.Slice(nodes, func(i, j int) bool { return nodes[i].Name < nodes[j].Name })
	list := &metrics.NodeMetricsList{Items: []metrics.NodeMetrics{}}
	for _, node := range nodes {
		if !fieldSelector.Matches(fields.Set{"metadata.name": node.Name}) {
			continue
		}
		// A node without a recent report is left out, as metrics-server leaves
		// out nodes it could not scrape.
		if m, ok := r.metricsOf(node); ok {
			list.Items = append(list.Items, *m)
		}
	}
	return list, nil
}

func (r *nodeMetricsREST) metricsOf(node *corev1.Node) (*metrics.NodeMetrics, bool) {
	usage, ok := r.source.Node(node.Name)
	if !ok {
		return nil, false
	}
	out := &metrics.NodeMetrics{}
	// The generated conversion copies field by field and cannot fail.
	_ = metricsv1beta1.Convert_v1beta1_NodeMetrics_To_metrics_NodeMetrics(&usage, out, nil)
	stamp(&out.ObjectMeta, node.ObjectMeta)
	return out, true
}

func (r *nodeMetricsREST) ConvertToTable(ctx context.Context, obj runtime.Object, _ runtime.Object) (*metav1.Table, error) {
	var items []metrics.NodeMetrics
	switch o := obj.(type) {
	case *metrics.NodeMetrics:
		items = []metrics.NodeMetrics{*o}
	case *metrics.NodeMetricsList:
		items = o.Items
	default:
		return nil, fmt.Errorf("converting %T to a table of node metrics", obj)
	}
	table := &metav1.Table{ColumnDefinitions: usageColumns}
	for i := range items {
		m := &items[i]
		table.Rows = append(table.Rows, usageRow(m, m.Name, m.Usage, m.Window.Duration))
	}
	return table, nil
}

// podMetricsREST serves metrics.k8s.io/v1beta1 pods.
type podMetricsREST struct {
	metricsREST
	source ResourceMetrics
	pods   corelisters.PodLister
}

var (
	_ rest.Getter         = &podMetricsREST{}
	_ rest.Lister         = &podMetricsREST{}
	_ rest.Scoper         = &podMetricsREST{}
	_ rest.KindProvider   = &podMetricsREST{}
	_ rest.TableConvertor = &podMetricsREST{}
)

func (r *podMetricsREST) New() runtime.Object     { return &metrics.PodMetrics{} }
func (r *podMetricsREST) NewList() runtime.Object { return &metrics.PodMetricsList{} }
func (r *podMetricsREST) Kind() string            { return "PodMetrics" }
func (r *podMetricsREST) NamespaceScoped() bool   { return true }

func (r *podMetricsREST) Get(ctx context.Context, name string, _ *metav1.GetOptions) (runtime.Object, error) {
	namespace := genericapirequest.NamespaceValue(ctx)
	pod, err := r.pods.Pods(namespace).Get(name)
	if apierrors.IsNotFound(err) {
		return nil, apierrors.NewNotFound(metrics.Resource("podmetrics"), name)
	}
	if err != nil {
		return nil, fmt.Errorf("reading pod %s/%s: %w", namespace, name, err)
	}
	m, ok := r.metricsOf(pod)
	if !ok {
		return nil, apierrors.NewNotFound(metrics.Resource("podmetrics"), name)
	}
	return m, nil
}

func (r *podMetricsREST) List(ctx context.Context, options *metainternalversion.ListOptions) (runtime.Object, error) {
	namespace := genericapirequest.NamespaceValue(ctx)
	selector, fieldSelector := selectors(options)
	pods, err := r.pods.Pods(namespace).List(selector)
	if err != nil {
		return nil, fmt.Errorf("listing pods in %q: %w", namespace, err)
	}
	sort.Slice(pods, func(i, j int) bool {
		if pods[i].Namespace != pods[j].Namespace {
			return pods[i].Namespace < pods[j].Namespace
		}
		return pods[i].Name < pods[j].Name
	})
	list := &metrics.PodMetricsList{Items: []metrics.PodMetrics{}}
	for _, pod := range pods {
		if !fieldSelector.Matches(fields.Set{"metadata.name": pod.Name, "metadata.namespace": pod.Namespace}) {
			continue
		}
		// Pods not running yet, or whose node has not reported them, have no
		// usage and are left out, as metrics-server leaves them out.
		if m, ok := r.metricsOf(pod); ok {
			list.Items = append(list.Items, *m)
		}
	}
	return list, nil
}

func (r *podMetricsREST) metricsOf(pod *corev1.Pod) (*metrics.PodMetrics, bool) {
	usage, ok := r.source.Pod(pod.Namespace, pod.Name)
	if !ok {
		return nil, false
	}
	out := &metrics.PodMetrics{}
	// The generated conversion copies field by field and cannot fail.
	_ = metricsv1beta1.Convert_v1beta1_PodMetrics_To_metrics_PodMetrics(&usage, out, nil)
	stamp(&out.ObjectMeta, pod.ObjectMeta)
	return out, true
}

func (r *podMetricsREST) ConvertToTable(ctx context.Context, obj runtime.Object, _ runtime.Object) (*metav1.Table, error) {
	var items []metrics.PodMetrics
	switch o := obj.(type) {
	case *metrics.PodMetrics:
		items = []metrics.PodMetrics{*o}
	case *metrics.PodMetricsList:
		items = o.Items
	default:
		return nil, fmt.Errorf("converting %T to a table of pod metrics", obj)
	}
	table := &metav1.Table{ColumnDefinitions: usageColumns}
	for i := range items {
		m := &items[i]
		usage := corev1.ResourceList{}
		for _, c := range m.Containers {
			for name, q := range c.Usage {
				sum := usage[name]
				sum.Add(q)
				usage[name] = sum
			}
		}
		table.Rows = append(table.Rows, usageRow(m, m.Name, usage, m.Window.Duration))
	}
	return table, nil
}

// stamp gives the metrics of an object that object's identity and labels, and
// the time they were read as their creation, as metrics-server does.
func stamp(out *metav1.ObjectMeta, of metav1.ObjectMeta) {
	out.Name, out.Namespace, out.Labels = of.Name, of.Namespace, of.Labels
	out.CreationTimestamp = metav1.Now()
}

// usageColumns are the columns of `kubectl get nodes.metrics.k8s.io` and
// `kubectl get pods.metrics.k8s.io`.
var usageColumns = []metav1.TableColumnDefinition{
	{Name: "Name", Type: "string", Format: "name", Description: "Name of the resource"},
	{Name: "CPU", Type: "string", Description: "CPU usage"},
	{Name: "Memory", Type: "string", Description: "Memory usage"},
	{Name: "Window", Type: "string", Description: "Interval the usage was measured over"},
}

func usageRow(obj runtime.Object, name string, usage corev1.ResourceList, window time.Duration) metav1.TableRow {
	return metav1.TableRow{
		Cells:  []any{name, usage.Cpu().String(), usage.Memory().String(), window.String()},
		Object: runtime.RawExtension{Object: obj},
	}
}
