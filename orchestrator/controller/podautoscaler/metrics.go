package podautoscaler

import (
	"context"
	"fmt"

	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/labels"
	metricsv1beta1 "k8s.io/metrics/pkg/apis/metrics/v1beta1"
	metricsclient "k8s.io/metrics/pkg/client/clientset/versioned"
)

// MetricsSource gives the latest usage of the pods selector selects in
// namespace, as the resource metrics API does.
type MetricsSource interface {
	PodMetrics(ctx context.Context, namespace string, selector labels.Selector) ([]metricsv1beta1.PodMetrics, error)
}

// APIMetrics reads pod usage from the resource metrics API (metrics.k8s.io),
// as upstream's controller does: the controller stays a client of the API
// like any other, wherever it runs and whoever serves the figures.
type APIMetrics struct {
	Client metricsclient.Interface
}

// PodMetrics lists the pod metrics selector selects.
func (m APIMetrics) PodMetrics(ctx context.Context, namespace string, selector labels.Selector) ([]metricsv1beta1.PodMetrics, error) {
	list, err := m.Client.MetricsV1beta1().PodMetricses(namespace).List(ctx, metav1.ListOptions{LabelSelector: selector.String()})
	if err != nil {
		return nil, fmt.Errorf("listing pod metrics in %q matching %q: %w", namespace, selector, err)
	}
	return list.Items, nil
}
