package main

import (
	"fmt"
	"os"

	"github.com/spf13/pflag"
	"k8s.io/client-go/rest"
	"k8s.io/client-go/tools/clientcmd"
)

// clusterFlags say which cluster and namespace a command works on, with Helm's
// flag names; the kubeconfig comes from --kubeconfig, else $KUBECONFIG, else
// ~/.kube/config, as kubectl and helm find it.
type clusterFlags struct {
	kubeconfig  string
	kubeContext string
	namespace   string
}

func (f *clusterFlags) addFlags(fs *pflag.FlagSet) {
	fs.StringVar(&f.kubeconfig, "kubeconfig", "", "path to the kubeconfig file")
	fs.StringVar(&f.kubeContext, "kube-context", "", "name of the kubeconfig context to use")
	fs.StringVarP(&f.namespace, "namespace", "n", os.Getenv("BERTH_NAMESPACE"), "namespace scope for this request")
}

func (f *clusterFlags) loader() clientcmd.ClientConfig {
	rules := clientcmd.NewDefaultClientConfigLoadingRules()
	rules.ExplicitPath = f.kubeconfig
	return clientcmd.NewNonInteractiveDeferredLoadingClientConfig(rules, &clientcmd.ConfigOverrides{CurrentContext: f.kubeContext})
}

// restConfig is how to reach the cluster.
func (f *clusterFlags) restConfig() (*rest.Config, error) {
	config, err := f.loader().ClientConfig()
	if err != nil {
		return nil, fmt.Errorf("kubernetes cluster unreachable: %w", err)
	}
	config.QPS, config.Burst = 100, 200
	return config, nil
}

// ns is the namespace of the command: -n, else the context's, else default.
func (f *clusterFlags) ns() string {
	if f.namespace != "" {
		return f.namespace
	}
	if ns, _, err := f.loader().Namespace(); err == nil && ns != "" {
		return ns
	}
	return "default"
}
