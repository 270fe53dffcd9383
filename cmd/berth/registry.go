package main

import (
	"context"
	"crypto/tls"
	"errors"
	"fmt"
	"log/slog"
	"net"
	"path/filepath"
	"strconv"

	"github.com/spf13/cobra"

	"berth.dev/berth/registry/server"
)

// newRegistryCommand is `berth registry`, the parent of the commands that
// log in to and out of OCI registries, and serve and maintain one.
func newRegistryCommand() *cobra.Command {
	cmd := &cobra.Command{
		Use:   "registry",
		Short: "Log in to and out of OCI registries; serve and maintain one of charts and images",
		Args:  cobra.NoArgs,
	}
	cmd.AddCommand(newRegistryLoginCommand(), newRegistryLogoutCommand(), newRegistryServeCommand(), newRegistryGCCommand())
	return cmd
}

// registryDir is where berth server keeps its registry's blobs and manifests.
func registryDir(dataDir string) string { return filepath.Join(dataDir, "registry") }

// startRegistry serves the embedded registry of berth server on bind:port
// until ctx ends.
func startRegistry(ctx context.Context, dataDir string, bind net.IP, port int) error {
	if port < 0 || port > 65535 {
		return fmt.Errorf("--registry-port %d is out of range 0-65535", port)
	}
	s, err := server.New(ctx, server.Config{Root: registryDir(dataDir), Addr: net.JoinHostPort(bind.String(), strconv.Itoa(port)), Log: slog.Default()})
	if err != nil {
		return fmt.Errorf("the embedded registry (--registry-port picks another port, --disable-registry turns it off): %w", err)
	}
	slog.Info("registry is serving", "addr", s.Addr().String())
	go func() {
		if err := s.Run(ctx); err != nil {
			slog.Error("registry stopped", "err", err)
		}
	}()
	return nil
}

type registryServeOptions struct {
	root, addr        string
	certFile, keyFile string
	htpasswd          string
}

func newRegistryServeCommand() *cobra.Command {
	o := registryServeOptions{}
	cmd := &cobra.Command{
		Use:   "serve",
		Short: "Serve an OCI registry (Distribution Specification v1.1) from a directory",
		Long: `Serve an OCI registry from --root until interrupted: pull, push (monolithic,
chunked, cross-repository mount), tags, deletion and the referrers API, for
charts (berth push, helm push) and images alike.

--root is in the layout of Distribution (docker-registry), so either can serve
it. With --htpasswd every request needs the credentials of one of the file's
users (bcrypt entries, as written by htpasswd -B); use TLS with it, since Basic
auth sends passwords in the clear.`,
		Args: cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			if (o.certFile == "") != (o.keyFile == "") {
				return errors.New("--tls-cert-file and --tls-key-file go together")
			}
			var tlsConfig *tls.Config
			if o.certFile != "" {
				cert, err := tls.LoadX509KeyPair(o.certFile, o.keyFile)
				if err != nil {
					return fmt.Errorf("loading --tls-cert-file/--tls-key-file: %w", err)
				}
				tlsConfig = &tls.Config{Certificates: []tls.Certificate{cert}, MinVersion: tls.VersionTLS12}
			}
			s, err := server.New(cmd.Context(), server.Config{
				Root:     o.root,
				Addr:     o.addr,
				TLS:      tlsConfig,
				Htpasswd: o.htpasswd,
				Log:      slog.Default(),
			})
			if err != nil {
				return err
			}
			return s.Run(cmd.Context())
		},
	}
	f := cmd.Flags()
	f.StringVar(&o.root, "root", "/var/lib/berth/registry", "directory the registry stores its blobs and manifests in (created if missing)")
	f.StringVar(&o.addr, "addr", "127.0.0.1:5000", "host:port to listen on (port 0 picks a free one)")
	f.StringVar(&o.certFile, "tls-cert-file", "", "serve HTTPS with this PEM certificate (chain)")
	f.StringVar(&o.keyFile, "tls-key-file", "", "private key of --tls-cert-file")
	f.StringVar(&o.htpasswd, "htpasswd", "", "require Basic auth by the users of this htpasswd file (bcrypt)")
	return cmd
}

type registryGCOptions struct {
	root           string
	dryRun         bool
	deleteUntagged bool
}

func newRegistryGCCommand() *cobra.Command {
	o := registryGCOptions{}
	cmd := &cobra.Command{
		Use:   "gc",
		Short: "Delete the blobs no manifest references from a registry's directory",
		Long: `Delete from --root the blobs that no manifest references, links to them, and
abandoned uploads. With --delete-untagged, manifests that no tag reaches
(directly or through an index) go too, except those whose subject is kept,
such as signatures of a tagged image.

The registry must not be served while gc runs: gc refuses to start if it is.`,
		Args: cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			res, err := server.GC(cmd.Context(), o.root, server.GCOptions{
				DryRun:         o.dryRun,
				DeleteUntagged: o.deleteUntagged,
				Log:            slog.Default(),
			})
			if err != nil {
				return err
			}
			out := cmd.OutOrStdout()
			verb := "deleted"
			if o.dryRun {
				verb = "would delete"
			}
			for _, m := range res.Manifests {
				fmt.Fprintf(out, "%s manifest %s@%s\n", verb, m.Repository, m.Digest)
			}
			for _, b := range res.Blobs {
				fmt.Fprintf(out, "%s blob %s\n", verb, b)
			}
			_, err = fmt.Fprintf(out, "%s %d manifests, %d blobs, %d blob links, %d uploads in %d repositories: %d bytes\n",
				verb, len(res.Manifests), len(res.Blobs), res.LayerLinks, res.Uploads, res.Repositories, res.BytesFreed)
			return err
		},
	}
	f := cmd.Flags()
	f.StringVar(&o.root, "root", "/var/lib/berth/registry", "the registry's directory")
	f.BoolVar(&o.dryRun, "dry-run", false, "report what would be deleted and delete nothing")
	f.BoolVar(&o.deleteUntagged, "delete-untagged", false, "also delete manifests no tag reaches")
	return cmd
}
