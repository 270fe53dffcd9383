package main

import (
	"crypto/x509"
	"encoding/pem"
	"errors"
	"fmt"
	"os"
	"strings"
	"time"

	"github.com/spf13/cobra"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/util/duration"
	"k8s.io/client-go/kubernetes"
	"k8s.io/client-go/rest"

	"berth.dev/berth/orchestrator/auth/bootstraptoken"
)

func newTokenCommand(cluster *clusterFlags) *cobra.Command {
	cmd := &cobra.Command{
		Use:   "token",
		Short: "Manage the tokens machines join the cluster with",
		Long: `Join tokens, as kubeadm's bootstrap tokens: a machine runs
berth agent --server URL --token TOKEN with one to join as a node. berth server
makes one that never expires on its first start (DATA-DIR/node-token); these
commands make more, list them and revoke them. They reach the cluster with the
kubeconfig (--kubeconfig, else $KUBECONFIG, else ~/.kube/config).`,
		Args: cobra.NoArgs,
	}
	client := func() (kubernetes.Interface, *rest.Config, error) {
		config, err := cluster.restConfig()
		if err != nil {
			return nil, nil, err
		}
		c, err := kubernetes.NewForConfig(config)
		return c, config, err
	}

	var (
		ttl         time.Duration
		description string
	)
	create := &cobra.Command{
		Use:   "create",
		Short: "Make a join token and print it",
		Args:  cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			c, config, err := client()
			if err != nil {
				return err
			}
			ca, err := clusterCA(config)
			if err != nil {
				return err
			}
			join, err := createJoinToken(cmd.Context(), c, ca, description, ttl)
			if err != nil {
				return err
			}
			fmt.Fprintln(cmd.OutOrStdout(), join)
			return nil
		},
	}
	create.Flags().DurationVar(&ttl, "ttl", 24*time.Hour, "how long the token works (0: forever)")
	create.Flags().StringVar(&description, "description", "", "what the token is for, shown by berth token list")

	list := &cobra.Command{
		Use:   "list",
		Short: "List the join tokens",
		Args:  cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			c, _, err := client()
			if err != nil {
				return err
			}
			secrets, err := c.CoreV1().Secrets(metav1.NamespaceSystem).List(cmd.Context(), metav1.ListOptions{FieldSelector: "type=" + string(bootstraptoken.SecretType)})
			if err != nil {
				return fmt.Errorf("listing the join tokens: %w", err)
			}
			now := time.Now()
			rows := [][]string{{"TOKEN", "TTL", "EXPIRES", "DESCRIPTION", "EXTRA GROUPS"}}
			for i := range secrets.Items {
				info, ok := bootstraptoken.FromSecret(&secrets.Items[i])
				if !ok {
					continue
				}
				left, expires := "<forever>", "<never>"
				if !info.Expires.IsZero() {
					left, expires = "<invalid>", info.Expires.Format(time.RFC3339)
					if info.Expires.After(now) {
						left = duration.ShortHumanDuration(info.Expires.Sub(now))
					}
				}
				rows = append(rows, []string{info.Token.String(), left, expires, info.Description, strings.Join(info.Groups, ",")})
			}
			return writeTable(cmd.OutOrStdout(), rows)
		},
	}

	del := &cobra.Command{
		Use:   "delete TOKEN|ID [...]",
		Short: "Revoke join tokens: machines that have joined keep their own credentials",
		Args:  cobra.MinimumNArgs(1),
		RunE: func(cmd *cobra.Command, args []string) error {
			c, _, err := client()
			if err != nil {
				return err
			}
			for _, arg := range args {
				id := tokenID(arg)
				name := bootstraptoken.SecretPrefix + id
				err := c.CoreV1().Secrets(metav1.NamespaceSystem).Delete(cmd.Context(), name, metav1.DeleteOptions{})
				if apierrors.IsNotFound(err) {
					return fmt.Errorf("join token %q not found (berth token list shows them)", id)
				}
				if err != nil {
					return fmt.Errorf("deleting join token %q: %w", id, err)
				}
				fmt.Fprintf(cmd.OutOrStdout(), "bootstrap token %q deleted\n", id)
			}
			return nil
		},
	}
	cmd.AddCommand(create, list, del)
	return cmd
}

var errNoClusterCA = errors.New("the kubeconfig holds no certificate authority of the cluster (certificate-authority or certificate-authority-data)")

// tokenID is the ID of a join token, a bootstrap token or an ID.
func tokenID(arg string) string {
	if join, err := bootstraptoken.ParseJoinToken(arg); err == nil {
		return join.Token.ID
	}
	if t, err := bootstraptoken.Parse(arg); err == nil {
		return t.ID
	}
	return arg
}

// clusterCAData is the PEM of the cluster's CA, from the kubeconfig.
func clusterCAData(config *rest.Config) ([]byte, error) {
	if len(config.CAData) > 0 || config.CAFile == "" {
		return config.CAData, nil
	}
	data, err := os.ReadFile(config.CAFile)
	if err != nil {
		return nil, fmt.Errorf("reading the cluster's CA: %w", err)
	}
	return data, nil
}

// clusterCA is the cluster's CA certificate (the first of the kubeconfig's).
func clusterCA(config *rest.Config) (*x509.Certificate, error) {
	data, err := clusterCAData(config)
	if err != nil {
		return nil, err
	}
	block, _ := pem.Decode(data)
	if block == nil {
		return nil, errNoClusterCA
	}
	return x509.ParseCertificate(block.Bytes)
}
