package agent

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"net"
	"sync/atomic"
	"time"

	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"

	"berth.dev/berth/kubelet/podnet"
	"berth.dev/berth/kubelet/pods"
)

// podNetwork is the pod sync's view of the node's pod network, which exists
// once the control plane has given the node its pod range.
type podNetwork struct {
	net atomic.Pointer[podnet.Network]
}

// errNetworkNotReady is the Node's Ready message until the network is up, in
// the words of upstream's kubelet.
var errNetworkNotReady = errors.New("container runtime network not ready: NetworkReady=false reason:NetworkPluginNotReady message:the node has no pod CIDR yet")

func (p *podNetwork) ready(context.Context) error {
	if p.net.Load() == nil {
		return errNetworkNotReady
	}
	return nil
}

// start waits for the Node's spec.podCIDRs and sets the network up on them.
func (p *podNetwork) start(ctx context.Context, cfg Config, stateDir string, log *slog.Logger) error {
	var cidrs []*net.IPNet
	for cidrs == nil {
		node, err := cfg.Client.CoreV1().Nodes().Get(ctx, cfg.NodeName, metav1.GetOptions{})
		if err == nil {
			for _, c := range node.Spec.PodCIDRs {
				_, n, err := net.ParseCIDR(c)
				if err != nil {
					return fmt.Errorf("node %s has pod CIDR %q: %w", cfg.NodeName, c, err)
				}
				cidrs = append(cidrs, n)
			}
		}
		if cidrs == nil {
			select {
			case <-ctx.Done():
				return ctx.Err()
			case <-time.After(500 * time.Millisecond):
			}
		}
	}
	n, err := podnet.New(podnet.Config{
		Bridge:       cfg.Bridge,
		PodCIDRs:     cidrs,
		ClusterCIDRs: cfg.ClusterCIDRs,
		ServiceCIDRs: cfg.ServiceCIDRs,
		StateDir:     stateDir,
		Log:          log,
	})
	if err != nil {
		return err
	}
	if err := n.Setup(ctx); err != nil {
		return err
	}
	p.net.Store(n)
	log.Info("pod network ready", "bridge", cfg.Bridge, "podCIDRs", cidrs)
	return nil
}

// Add implements pods.Network.
func (p *podNetwork) Add(ctx context.Context, owner, netnsPath string, ports []pods.HostPort) ([]net.IP, error) {
	n := p.net.Load()
	if n == nil {
		return nil, errNetworkNotReady
	}
	hostPorts := make([]podnet.HostPort, 0, len(ports))
	for _, hp := range ports {
		hostPorts = append(hostPorts, podnet.HostPort{Protocol: string(hp.Protocol), HostIP: hp.HostIP, HostPort: hp.HostPort, ContainerPort: hp.ContainerPort})
	}
	return n.Add(ctx, owner, netnsPath, hostPorts)
}

// Remove implements pods.Network.
func (p *podNetwork) Remove(ctx context.Context, owner string) error {
	n := p.net.Load()
	if n == nil {
		return errNetworkNotReady
	}
	return n.Remove(ctx, owner)
}
