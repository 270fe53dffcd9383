package main

import (
	"context"
	"fmt"
	"log/slog"
	"net"
	"sort"
	"strings"
	"time"

	corev1 "k8s.io/api/core/v1"
	"k8s.io/client-go/informers"
	"k8s.io/client-go/kubernetes"
	"k8s.io/client-go/kubernetes/scheme"
	typedcorev1 "k8s.io/client-go/kubernetes/typed/core/v1"
	"k8s.io/client-go/metadata"
	"k8s.io/client-go/rest"
	"k8s.io/client-go/tools/record"
	metricsclient "k8s.io/metrics/pkg/client/clientset/versioned"

	"berth.dev/berth/orchestrator/controller/certificates/approver"
	"berth.dev/berth/orchestrator/controller/certificates/signer"
	"berth.dev/berth/orchestrator/controller/clusterroleaggregation"
	"berth.dev/berth/orchestrator/controller/cronjob"
	"berth.dev/berth/orchestrator/controller/daemonset"
	"berth.dev/berth/orchestrator/controller/deployment"
	"berth.dev/berth/orchestrator/controller/disruption"
	"berth.dev/berth/orchestrator/controller/endpoints"
	"berth.dev/berth/orchestrator/controller/garbagecollector"
	"berth.dev/berth/orchestrator/controller/job"
	"berth.dev/berth/orchestrator/controller/namespace"
	"berth.dev/berth/orchestrator/controller/nodeipam"
	"berth.dev/berth/orchestrator/controller/nodelifecycle"
	"berth.dev/berth/orchestrator/controller/persistentvolume"
	"berth.dev/berth/orchestrator/controller/podautoscaler"
	"berth.dev/berth/orchestrator/controller/replicaset"
	"berth.dev/berth/orchestrator/controller/resourcequota"
	"berth.dev/berth/orchestrator/controller/rootcacert"
	"berth.dev/berth/orchestrator/controller/serviceaccount"
	"berth.dev/berth/orchestrator/controller/servicelb"
	"berth.dev/berth/orchestrator/controller/statefulset"
	"berth.dev/berth/orchestrator/controller/tainteviction"
	"berth.dev/berth/orchestrator/pki"
	"berth.dev/berth/orchestrator/quota"
	"berth.dev/berth/orchestrator/scheduler"
)

// controllerSettings are what the server tells the controllers: its flags that
// tune them, named as kube-controller-manager names them, and the cluster CA.
type controllerSettings struct {
	nodeMonitorGracePeriod time.Duration
	hpaSyncPeriod          time.Duration
	clusterCA              []byte // PEM
	// clusterSigner signs the certificates CertificateSigningRequests ask
	// for, clusterSigningDuration is the longest it signs for.
	clusterSigner          *pki.CA
	clusterSigningDuration time.Duration
	// clusterCIDRs are the pods' address ranges, each node getting a subnet
	// of the mask size of its family.
	clusterCIDRs         []*net.IPNet
	nodeCIDRMaskSizeIPv4 int
	nodeCIDRMaskSizeIPv6 int
	// gitopsDir holds the GitOps controller's Git checkouts.
	gitopsDir string
}

// controllerDeps is what the controllers are built from: clients of the API, one
// informer factory they share, event recorders and the settings.
type controllerDeps struct {
	loopback  *rest.Config
	client    kubernetes.Interface
	metadata  metadata.Interface
	informers informers.SharedInformerFactory
	events    record.EventBroadcaster
	controllerSettings
}

// recorder records events as component, as upstream's controllers name
// themselves (deployment-controller, default-scheduler, ...).
func (d *controllerDeps) recorder(component string) record.EventRecorder {
	return d.events.NewRecorder(scheme.Scheme, corev1.EventSource{Component: component})
}

// runner is a controller, built and ready to run.
type runner interface {
	Run(ctx context.Context, workers int)
}

// runnerFunc is a runner that runs one loop of its own, whatever workers says.
type runnerFunc func(ctx context.Context)

func (f runnerFunc) Run(ctx context.Context, _ int) { f(ctx) }

// schedulerComponent is the scheduler, built as the controllers are and
// sharing their informers; --disable-scheduler leaves it out.
var schedulerComponent = controller{name: "scheduler", build: func(d *controllerDeps) (runner, error) {
	s, err := scheduler.New(d.client, d.informers, d.recorder(corev1.DefaultSchedulerName), scheduler.Config{SchedulerName: corev1.DefaultSchedulerName})
	if err != nil {
		return nil, err
	}
	return runnerFunc(s.Run), nil
}}

// controller is one control loop the server can run, by the name
// --controllers knows it by.
type controller struct {
	name    string
	workers int
	build   func(d *controllerDeps) (runner, error)
}

// controllers lists every control loop, in the order they start.
var controllers = []controller{
	{name: "namespace", workers: 2, build: func(d *controllerDeps) (runner, error) {
		return namespace.New(d.client, d.metadata, d.informers.Core().V1().Namespaces()), nil
	}},
	{name: "clusterrole-aggregation", workers: 1, build: func(d *controllerDeps) (runner, error) {
		return clusterroleaggregation.New(d.client, d.informers), nil
	}},
	{name: "serviceaccount", workers: 1, build: func(d *controllerDeps) (runner, error) {
		core := d.informers.Core().V1()
		return serviceaccount.New(d.client, core.Namespaces(), core.ServiceAccounts()), nil
	}},
	{name: "root-ca-cert-publisher", workers: 1, build: func(d *controllerDeps) (runner, error) {
		return rootcacert.New(d.client, d.informers, d.clusterCA), nil
	}},
	{name: "csrapproving", workers: 5, build: func(d *controllerDeps) (runner, error) {
		return approver.New(d.client, d.informers), nil
	}},
	{name: "csrsigning", workers: 5, build: func(d *controllerDeps) (runner, error) {
		return signer.New(d.client, d.informers, signer.Config{Authority: d.clusterSigner, MaxDuration: d.clusterSigningDuration})
	}},
	{name: "resourcequota", workers: 2, build: func(d *controllerDeps) (runner, error) {
		return resourcequota.New(d.client, d.informers, quota.NewConfiguration(d.informers)), nil
	}},
	{name: "replicaset", workers: 5, build: func(d *controllerDeps) (runner, error) {
		return replicaset.New(d.client, d.informers, d.recorder("replicaset-controller")), nil
	}},
	{name: "replicationcontroller", workers: 5, build: func(d *controllerDeps) (runner, error) {
		return replicaset.NewForReplicationControllers(d.client, d.informers, d.recorder("replication-controller")), nil
	}},
	{name: "deployment", workers: 5, build: func(d *controllerDeps) (runner, error) {
		return deployment.New(d.client, d.informers, d.recorder("deployment-controller")), nil
	}},
	{name: "daemonset", workers: 2, build: func(d *controllerDeps) (runner, error) {
		return daemonset.New(d.client, d.informers, d.recorder("daemonset-controller")), nil
	}},
	{name: "statefulset", workers: 5, build: func(d *controllerDeps) (runner, error) {
		return statefulset.New(d.client, d.informers, d.recorder("statefulset-controller")), nil
	}},
	{name: "job", workers: 5, build: func(d *controllerDeps) (runner, error) {
		return job.New(d.client, d.informers, d.recorder("job-controller")), nil
	}},
	{name: "cronjob", workers: 5, build: func(d *controllerDeps) (runner, error) {
		return cronjob.New(d.client, d.informers, d.recorder("cronjob-controller")), nil
	}},
	{name: "endpoints", workers: 5, build: func(d *controllerDeps) (runner, error) {
		return endpoints.New(d.client, d.informers, d.recorder("endpoint-controller")), nil
	}},
	// k3s's name for its service load balancer: LoadBalancer Services get
	// the nodes' addresses, which kube-proxy serves them on.
	{name: "servicelb", workers: 1, build: func(d *controllerDeps) (runner, error) {
		return servicelb.New(d.client, d.informers, d.recorder("service-controller"), servicelb.Config{})
	}},
	{name: "garbagecollector", workers: 20, build: func(d *controllerDeps) (runner, error) {
		return garbagecollector.New(d.metadata, d.client.Discovery(),
			garbagecollector.WithRecorder(d.recorder("garbage-collector-controller"))), nil
	}},
	{name: "persistentvolume-binder", workers: 1, build: func(d *controllerDeps) (runner, error) {
		return persistentvolume.New(d.client, d.informers, d.recorder("persistentvolume-controller")), nil
	}},
	{name: "nodeipam", workers: 5, build: func(d *controllerDeps) (runner, error) {
		c, err := nodeipam.New(d.client, d.informers, d.recorder("cidrAllocator"), nodeipam.Config{
			ClusterCIDRs: d.clusterCIDRs, NodeMaskSizeIPv4: d.nodeCIDRMaskSizeIPv4, NodeMaskSizeIPv6: d.nodeCIDRMaskSizeIPv6})
		if err != nil {
			return nil, err
		}
		return runnerFunc(func(ctx context.Context) {
			if err := c.Run(ctx, 5); err != nil {
				slog.Error("node IPAM controller stopped", "err", err)
			}
		}), nil
	}},
	{name: "nodelifecycle", workers: 5, build: func(d *controllerDeps) (runner, error) {
		return nodelifecycle.New(d.client, d.informers, d.recorder("node-controller"),
			nodelifecycle.WithGracePeriod(d.nodeMonitorGracePeriod)), nil
	}},
	{name: "tainteviction", workers: 8, build: func(d *controllerDeps) (runner, error) {
		return tainteviction.New(d.client, d.informers, d.recorder("taint-eviction-controller")), nil
	}},
	{name: "horizontalpodautoscaling", workers: 5, build: func(d *controllerDeps) (runner, error) {
		scales, mapper, err := podautoscaler.NewScaleClient(d.loopback)
		if err != nil {
			return nil, err
		}
		usage, err := metricsclient.NewForConfig(d.loopback)
		if err != nil {
			return nil, err
		}
		return podautoscaler.New(d.client, d.informers, d.recorder("horizontal-pod-autoscaler"),
			podautoscaler.APIMetrics{Client: usage}, scales, mapper, podautoscaler.WithSyncPeriod(d.hpaSyncPeriod)), nil
	}},
	{name: "disruption", workers: 1, build: func(d *controllerDeps) (runner, error) {
		return disruption.New(d.client, d.informers, d.recorder("controllermanager")), nil
	}},
	// berth's own: Releases declared in Git or by hand, reconciled through
	// the release actions.
	{name: "gitops", workers: 4, build: newGitOpsController},
}

// enabledControllers resolves --controllers as kube-controller-manager does:
// "*" is every controller, "name" adds one, "-name" removes one; "-*" none.
func enabledControllers(spec []string) ([]controller, error) {
	known := map[string]bool{}
	for _, c := range controllers {
		known[c.name] = true
	}
	want := map[string]bool{}
	for _, s := range spec {
		switch name, off := strings.CutPrefix(s, "-"); {
		case s == "*":
			for n := range known {
				if _, set := want[n]; !set {
					want[n] = true
				}
			}
		case s == "-*":
			for n := range known {
				want[n] = false
			}
		case !known[name]:
			names := make([]string, 0, len(known))
			for n := range known {
				names = append(names, n)
			}
			sort.Strings(names)
			return nil, fmt.Errorf("--controllers: unknown controller %q; known: %s", name, strings.Join(names, ", "))
		default:
			want[name] = !off
		}
	}
	var out []controller
	for _, c := range controllers {
		if want[c.name] {
			out = append(out, c)
		}
	}
	return out, nil
}

// startControllers runs the enabled controllers (and the scheduler, when it is
// among them) against the API, through the loopback connection, until ctx ends.
func startControllers(ctx context.Context, loopback *rest.Config, enabled []controller, settings controllerSettings) error {
	// The controllers use deprecated APIs on purpose (v1 Endpoints); the
	// server's deprecation warnings are for users, not for our log.
	loopback = rest.CopyConfig(loopback)
	loopback.WarningHandler = rest.NoWarnings{}
	client, err := kubernetes.NewForConfig(loopback)
	if err != nil {
		return err
	}
	metadataClient, err := metadata.NewForConfig(loopback)
	if err != nil {
		return err
	}
	events := record.NewBroadcaster(record.WithContext(ctx))
	events.StartRecordingToSink(&typedcorev1.EventSinkImpl{Interface: client.CoreV1().Events("")})
	deps := &controllerDeps{loopback: loopback, client: client, metadata: metadataClient, informers: informers.NewSharedInformerFactory(client, 0), events: events, controllerSettings: settings}
	var runners []runner
	for _, c := range enabled {
		r, err := c.build(deps)
		if err != nil {
			return fmt.Errorf("starting the %s controller: %w", c.name, err)
		}
		runners = append(runners, r)
	}
	// Informers start once every controller has registered the ones it needs.
	deps.informers.Start(ctx.Done())
	for i, r := range runners {
		go r.Run(ctx, enabled[i].workers)
	}
	go func() {
		<-ctx.Done()
		events.Shutdown()
	}()
	return nil
}

func controllerNames() []string {
	var names []string
	for _, c := range controllers {
		names = append(names, c.name)
	}
	return names
}
