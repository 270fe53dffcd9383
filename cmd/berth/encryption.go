package main

import (
	"context"
	"errors"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"strings"
	"time"

	"github.com/spf13/cobra"
	"k8s.io/client-go/discovery/cached/memory"
	"k8s.io/client-go/dynamic"
	"k8s.io/client-go/kubernetes"
	"k8s.io/client-go/restmapper"

	"berth.dev/berth/orchestrator/encryption"
	"berth.dev/berth/orchestrator/encryption/reencrypt"
	"berth.dev/berth/release/storage"
)

// encryptionDir keeps the keys apart from the certificates in DATA-DIR/tls:
// whoever backs up etcd must keep these too, and rotating them is its own task.
func encryptionDir(dataDir string) string { return filepath.Join(dataDir, "encryption") }

// encryptedResources are encrypted at rest: Secrets, and the release records,
// whose bodies hold the charts' values (release indexes hold names only).
func encryptedResources() []string {
	return []string{"secrets", "releaserevisions." + storage.Group, "releaserevisionchunks." + storage.Group}
}

// serverEncryptionConfig is the encryption configuration berth server starts
// the API server with, "" when encryption is off.
func serverEncryptionConfig(dataDir string, enabled bool) (string, error) {
	dir := encryptionDir(dataDir)
	if enabled {
		return encryption.Ensure(dir, encryptedResources())
	}
	path := filepath.Join(dir, encryption.FileName)
	if _, err := os.Stat(path); err == nil {
		return "", fmt.Errorf("--secrets-encryption=false, but %s holds the keys Secrets and release records of this data directory may be stored with, which the API server could not read without them; start without --secrets-encryption=false", path)
	} else if !errors.Is(err, os.ErrNotExist) {
		return "", fmt.Errorf("checking for encryption keys: %w", err)
	}
	return "", nil
}

func newSecretsEncryptCommand(cluster *clusterFlags) *cobra.Command {
	var dataDir string
	cmd := &cobra.Command{
		Use:   "secrets-encrypt",
		Short: "Manage the keys Secrets and release records are encrypted with in etcd",
		Long: `berth server encrypts Secrets and release records (which hold charts' values) in
etcd with AES-GCM, keys in DATA-DIR/encryption/encryption-config.yaml. To change
keys: rotate (a new key encrypts from now on; the server rereads the file within
a minute), reencrypt (rewrite every stored object with it), prune (drop the old
keys). Run rotate, reencrypt and prune on the server's machine, with its
--data-dir; reencrypt reaches the cluster with the admin kubeconfig. AES-GCM
keys are meant to be rotated regularly: upstream Kubernetes advises every
200,000 writes.`,
		Args: cobra.NoArgs,
	}
	cmd.PersistentFlags().StringVar(&dataDir, "data-dir", "/var/lib/berth", "the data directory of the server")
	dir := func() (string, error) {
		abs, err := filepath.Abs(dataDir)
		if err != nil {
			return "", err
		}
		return encryptionDir(abs), nil
	}
	cmd.AddCommand(&cobra.Command{
		Use:   "status",
		Short: "Show the encryption keys, which one encrypts and whether stored objects still need the others",
		Args:  cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			d, err := dir()
			if err != nil {
				return err
			}
			state, err := encryption.Status(d)
			if err != nil {
				return err
			}
			return printEncryptionStatus(cmd.OutOrStdout(), state)
		},
	}, &cobra.Command{
		Use:   "rotate",
		Short: "Put a new key first: it encrypts what is written from now on, the old ones still decrypt",
		Args:  cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			d, err := dir()
			if err != nil {
				return err
			}
			key, err := encryption.Rotate(d)
			if err != nil {
				return err
			}
			fmt.Fprintf(cmd.OutOrStdout(), "%s is the active key; the server encrypts with it within a minute. Next: berth secrets-encrypt reencrypt\n", key)
			return nil
		},
	}, &cobra.Command{
		Use:   "prune",
		Short: "Drop every key but the active one, once reencrypt has rewritten every object with it",
		Args:  cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			d, err := dir()
			if err != nil {
				return err
			}
			dropped, err := encryption.Prune(d)
			if err != nil {
				return err
			}
			if len(dropped) == 0 {
				fmt.Fprintln(cmd.OutOrStdout(), "no old keys to drop")
				return nil
			}
			fmt.Fprintf(cmd.OutOrStdout(), "dropped %s\n", strings.Join(dropped, ", "))
			return nil
		},
	})
	var timeout time.Duration
	reencryptCmd := &cobra.Command{
		Use:   "reencrypt",
		Short: "Rewrite every encrypted object through the API server, so that it is stored with the active key",
		Long: `Wait until the API server encrypts with the active key (it rereads the key file
within a minute of a rotate), then rewrite every Secret and release record through
the API, unchanged, so that each is stored with that key; record that, which
prune requires.`,
		Args: cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			d, err := dir()
			if err != nil {
				return err
			}
			ctx, cancel := context.WithTimeout(cmd.Context(), timeout)
			defer cancel()
			return runReencrypt(ctx, cmd.OutOrStdout(), cluster, d)
		},
	}
	reencryptCmd.Flags().DurationVar(&timeout, "timeout", 5*time.Minute, "how long to wait for the API server to load the key file and rewrite everything")
	cmd.AddCommand(reencryptCmd)
	return cmd
}

func runReencrypt(ctx context.Context, out io.Writer, cluster *clusterFlags, dir string) error {
	state, err := encryption.Status(dir)
	if err != nil {
		return err
	}
	config, err := cluster.restConfig()
	if err != nil {
		return err
	}
	client, err := kubernetes.NewForConfig(config)
	if err != nil {
		return err
	}
	dyn, err := dynamic.NewForConfig(config)
	if err != nil {
		return err
	}
	fmt.Fprintf(out, "waiting for the API server to encrypt with %s\n", state.Keys[0])
	if err := reencrypt.WaitLoaded(ctx, client.Discovery().RESTClient(), state.Hash, time.Second); err != nil {
		return err
	}
	mapper := restmapper.NewDeferredDiscoveryRESTMapper(memory.NewMemCacheClient(client.Discovery()))
	counts, err := reencrypt.Rewrite(ctx, dyn, mapper, state.Resources)
	for _, c := range counts {
		fmt.Fprintf(out, "%s: %d rewritten, %d changed meanwhile\n", c.Resource, c.Rewritten, c.Skipped)
	}
	if err != nil {
		return err
	}
	// A rotation meanwhile leaves objects behind with the key rewritten with.
	after, err := encryption.Status(dir)
	if err != nil {
		return err
	}
	if after.Hash != state.Hash {
		return fmt.Errorf("%s changed while re-encrypting; run berth secrets-encrypt reencrypt again", state.File)
	}
	if err := encryption.MarkReencrypted(dir, state.Keys[0]); err != nil {
		return err
	}
	fmt.Fprintf(out, "every object is stored with %s; old keys can go: berth secrets-encrypt prune\n", state.Keys[0])
	return nil
}

func printEncryptionStatus(w io.Writer, s encryption.State) error {
	fmt.Fprintf(w, "Config:    %s\nResources: %s\n\n", s.File, strings.Join(s.Resources, ", "))
	rows := [][]string{{"KEY", "USE"}}
	for i, k := range s.Keys {
		use := "decrypts only"
		switch {
		case i == 0:
			use = "active: encrypts writes"
		case s.Reencrypted == s.Keys[0]:
			use = "unused since reencrypt: prune drops it"
		}
		rows = append(rows, []string{k, use})
	}
	if err := writeTable(w, rows); err != nil {
		return err
	}
	switch s.Reencrypted {
	case s.Keys[0]:
		_, err := fmt.Fprintf(w, "\nEvery object was rewritten with %s.\n", s.Keys[0])
		return err
	case "":
		_, err := fmt.Fprintln(w, "\nNever re-encrypted: objects written before the active key may use older keys or none.")
		return err
	default:
		_, err := fmt.Fprintf(w, "\nLast re-encrypted with %s: objects may use it or older keys; run reencrypt.\n", s.Reencrypted)
		return err
	}
}
