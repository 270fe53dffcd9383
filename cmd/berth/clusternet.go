package main

import (
	"context"
	"fmt"
	"net"
	"strings"

	corev1 "k8s.io/api/core/v1"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/client-go/kubernetes"
)

// clusterConfigMap is where the server publishes what every node of the
// cluster must agree on, for agents that join it (as kubeadm keeps its
// ClusterConfiguration in kube-system/kubeadm-config).
const clusterConfigMap = "berth-config"

// clusterNetwork is the cluster's network, as every node must see it.
type clusterNetwork struct {
	// clusterCIDRs are the pods' ranges (each node gets a subnet),
	// serviceCIDRs the Services'.
	clusterCIDRs, serviceCIDRs []*net.IPNet
	// clusterDNS is kube-dns's cluster IP, pods' nameserver, in
	// clusterDomain.
	clusterDNS    net.IP
	clusterDomain string
}

const (
	keyClusterCIDR   = "cluster-cidr"
	keyServiceCIDR   = "service-cidr"
	keyClusterDNS    = "cluster-dns"
	keyClusterDomain = "cluster-domain"
)

func cidrList(nets []*net.IPNet) string {
	s := make([]string, len(nets))
	for i, n := range nets {
		s[i] = n.String()
	}
	return strings.Join(s, ",")
}

// publish creates or updates the cluster's ConfigMap.
func (n clusterNetwork) publish(ctx context.Context, client kubernetes.Interface) error {
	data := map[string]string{
		keyClusterCIDR:   cidrList(n.clusterCIDRs),
		keyServiceCIDR:   cidrList(n.serviceCIDRs),
		keyClusterDNS:    n.clusterDNS.String(),
		keyClusterDomain: n.clusterDomain,
	}
	cms := client.CoreV1().ConfigMaps(metav1.NamespaceSystem)
	cm, err := cms.Get(ctx, clusterConfigMap, metav1.GetOptions{})
	switch {
	case apierrors.IsNotFound(err):
		cm = &corev1.ConfigMap{ObjectMeta: metav1.ObjectMeta{Name: clusterConfigMap, Namespace: metav1.NamespaceSystem}, Data: data}
		_, err = cms.Create(ctx, cm, metav1.CreateOptions{})
	case err == nil:
		cm.Data = data
		_, err = cms.Update(ctx, cm, metav1.UpdateOptions{})
	}
	if err != nil {
		return fmt.Errorf("publishing the cluster's network in configmap %s/%s: %w", metav1.NamespaceSystem, clusterConfigMap, err)
	}
	return nil
}

// readClusterNetwork reads what the server published.
func readClusterNetwork(ctx context.Context, client kubernetes.Interface) (clusterNetwork, error) {
	cm, err := client.CoreV1().ConfigMaps(metav1.NamespaceSystem).Get(ctx, clusterConfigMap, metav1.GetOptions{})
	if err != nil {
		return clusterNetwork{}, fmt.Errorf("reading the cluster's network from configmap %s/%s (is the server a berth server?): %w", metav1.NamespaceSystem, clusterConfigMap, err)
	}
	bad := func(key string, err error) error {
		return fmt.Errorf("configmap %s/%s: %s %q: %w", metav1.NamespaceSystem, clusterConfigMap, key, cm.Data[key], err)
	}
	var n clusterNetwork
	for key, into := range map[string]*[]*net.IPNet{keyClusterCIDR: &n.clusterCIDRs, keyServiceCIDR: &n.serviceCIDRs} {
		for _, s := range strings.Split(cm.Data[key], ",") {
			_, cidr, err := net.ParseCIDR(strings.TrimSpace(s))
			if err != nil {
				return clusterNetwork{}, bad(key, err)
			}
			*into = append(*into, cidr)
		}
	}
	if n.clusterDNS = net.ParseIP(cm.Data[keyClusterDNS]); n.clusterDNS == nil {
		return clusterNetwork{}, bad(keyClusterDNS, fmt.Errorf("not an IP address"))
	}
	if n.clusterDomain = cm.Data[keyClusterDomain]; n.clusterDomain == "" {
		return clusterNetwork{}, bad(keyClusterDomain, fmt.Errorf("empty"))
	}
	return n, nil
}
