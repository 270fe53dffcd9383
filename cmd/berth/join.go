package main

import (
	"context"
	"crypto/tls"
	"crypto/x509"
	"errors"
	"fmt"
	"log/slog"
	"net"
	"os"
	"path/filepath"
	"time"

	apierrors "k8s.io/apimachinery/pkg/api/errors"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/client-go/kubernetes"
	"k8s.io/client-go/rest"

	"berth.dev/berth/kubelet/bootstrap"
	"berth.dev/berth/orchestrator/auth/bootstraptoken"
	"berth.dev/berth/orchestrator/pki"
)

// nodeTokenFile is where the server keeps the token nodes join with, as k3s
// keeps server/node-token: readable by root only.
func nodeTokenFile(dataDir string) string { return filepath.Join(dataDir, "node-token") }

// ensureJoinToken makes the token nodes join with on the server's first
// start, keeps it in the data directory and says how to join. A token whose
// Secret is gone was revoked (berth token delete): it is not made again.
func ensureJoinToken(ctx context.Context, client kubernetes.Interface, dataDir string, ca *pki.CA, server string) error {
	path := nodeTokenFile(dataDir)
	data, err := os.ReadFile(path)
	switch {
	case errors.Is(err, os.ErrNotExist):
		join, err := createJoinToken(ctx, client, ca.Cert, "The token berth agents join the cluster with.", 0)
		if err != nil {
			return err
		}
		if err := os.WriteFile(path, []byte(join.String()+"\n"), 0o600); err != nil {
			// A token nobody knows must not stay valid.
			delErr := client.CoreV1().Secrets(metav1.NamespaceSystem).Delete(ctx, join.Token.SecretName(), metav1.DeleteOptions{})
			return errors.Join(fmt.Errorf("saving the join token: %w", err), delErr)
		}
		slog.Info("nodes join this cluster with: berth agent --server " + server + " --token " + join.String())
		return nil
	case err != nil:
		return fmt.Errorf("reading the join token: %w", err)
	}
	join, err := bootstraptoken.ParseJoinToken(string(data))
	if err != nil {
		return fmt.Errorf("%s: %w (remove it to make a new token)", path, err)
	}
	_, err = client.CoreV1().Secrets(metav1.NamespaceSystem).Get(ctx, join.Token.SecretName(), metav1.GetOptions{})
	switch {
	case apierrors.IsNotFound(err):
		slog.Warn("the join token in "+path+" was revoked: berth token create makes another", "token", join.Token.ID)
	case err != nil:
		return fmt.Errorf("reading the join token's secret: %w", err)
	default:
		slog.Info("nodes join this cluster with: berth agent --server "+server+" --token $(cat "+path+")", "token-file", path)
	}
	return nil
}

// createJoinToken makes a join token for the cluster of ca that expires after
// ttl (never when 0).
func createJoinToken(ctx context.Context, client kubernetes.Interface, ca *x509.Certificate, description string, ttl time.Duration) (bootstraptoken.JoinToken, error) {
	token, err := bootstraptoken.Generate()
	if err != nil {
		return bootstraptoken.JoinToken{}, err
	}
	var expires time.Time
	if ttl > 0 {
		expires = time.Now().Add(ttl)
	}
	secret := bootstraptoken.Secret(token, description, []string{bootstraptoken.NodeGroup}, expires)
	if _, err := client.CoreV1().Secrets(metav1.NamespaceSystem).Create(ctx, secret, metav1.CreateOptions{}); err != nil {
		return bootstraptoken.JoinToken{}, fmt.Errorf("creating the join token's secret %s/%s: %w", metav1.NamespaceSystem, secret.Name, err)
	}
	return bootstraptoken.JoinToken{CAHash: bootstraptoken.CAHash(ca), Token: token}, nil
}

// joinCluster gets this node's identity from the server with the join
// token, or the one an earlier join kept under dir.
func joinCluster(ctx context.Context, server, token, nodeName, dir string) (*rest.Config, error) {
	join, err := bootstraptoken.ParseJoinToken(token)
	if err != nil {
		return nil, fmt.Errorf("--token: %w", err)
	}
	config, err := bootstrap.Join(ctx, bootstrap.Config{
		Server:   server,
		CAHash:   join.CAHash,
		Token:    join.Token.String(),
		NodeName: nodeName,
		Dir:      dir,
	})
	if err != nil {
		return nil, fmt.Errorf("joining the cluster at %s: %w", server, err)
	}
	return config, nil
}

// joinedKubeletTLS is the kubelet server's TLS configuration on a joined
// node: a certificate the cluster signs for the node's addresses, and until
// then the one own makes.
func joinedKubeletTLS(ctx context.Context, client kubernetes.Interface, nodeName, dir string, own func(ips []net.IP, names []string) (*tls.Config, error)) func(ips []net.IP, names []string) (*tls.Config, error) {
	return func(ips []net.IP, names []string) (*tls.Config, error) {
		fallback, err := own(ips, names)
		if err != nil {
			return nil, err
		}
		// The approver signs only what the Node says: its addresses and name.
		var nodeIPs []net.IP
		for _, ip := range ips {
			if !ip.IsLoopback() {
				nodeIPs = append(nodeIPs, ip)
			}
		}
		return bootstrap.ServingTLS(ctx, bootstrap.ServingConfig{
			Client:   client,
			NodeName: nodeName,
			IPs:      nodeIPs,
			DNSNames: []string{nodeName},
			Dir:      dir,
			Fallback: fallback,
		})
	}
}
