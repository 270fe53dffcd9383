package main

import (
	"os"

	"github.com/spf13/cobra"
	"github.com/spf13/pflag"
	"helm.sh/helm/v3/pkg/cli/output"
	"k8s.io/client-go/tools/clientcmd"
)

// chartNamespace is the namespace a chart command renders for: -n/--namespace,
// else $BERTH_NAMESPACE, else the kubeconfig context's, else "default", as
// Helm finds it.
func chartNamespace(cmd *cobra.Command) string {
	flags := cmd.Flags()
	if ns, err := flags.GetString("namespace"); err == nil && ns != "" {
		return ns
	}
	if ns := os.Getenv("BERTH_NAMESPACE"); ns != "" {
		return ns
	}
	rules := clientcmd.NewDefaultClientConfigLoadingRules()
	overrides := &clientcmd.ConfigOverrides{}
	if v, err := flags.GetString("kubeconfig"); err == nil {
		rules.ExplicitPath = v
	}
	if v, err := flags.GetString("kube-context"); err == nil {
		overrides.CurrentContext = v
	}
	if ns, _, err := clientcmd.NewNonInteractiveDeferredLoadingClientConfig(rules, overrides).Namespace(); err == nil && ns != "" {
		return ns
	}
	return "default"
}

// chartOutput is -o table|json|yaml, as Helm's.
type chartOutput struct{ format output.Format }

func (o *chartOutput) addFlag(fs *pflag.FlagSet) {
	o.format = output.Table
	fs.VarP(o, "output", "o", "prints the output in the specified format. Allowed values: table, json, yaml")
}

func (o *chartOutput) String() string { return o.format.String() }
func (o *chartOutput) Type() string   { return "format" }
func (o *chartOutput) Set(s string) error {
	f, err := output.ParseFormat(s)
	if err != nil {
		return err
	}
	o.format = f
	return nil
}
