package apiserver

import (
	"fmt"

	"k8s.io/client-go/tools/clientcmd"
	clientcmdapi "k8s.io/client-go/tools/clientcmd/api"
)

// KubeconfigFile describes a kubeconfig to write: one cluster, one user, one
// context, all named "berth" as k3s names its own "default".
type KubeconfigFile struct {
	Server                    string
	CAFile, CertFile, KeyFile string
}

// WriteKubeconfig writes a kubeconfig with the certificates embedded, so that the
// file works when copied to another machine.
func WriteKubeconfig(path string, k KubeconfigFile) error {
	cfg := clientcmdapi.NewConfig()
	cfg.Clusters["berth"] = &clientcmdapi.Cluster{Server: k.Server, CertificateAuthority: k.CAFile}
	cfg.AuthInfos["berth"] = &clientcmdapi.AuthInfo{ClientCertificate: k.CertFile, ClientKey: k.KeyFile}
	cfg.Contexts["berth"] = &clientcmdapi.Context{Cluster: "berth", AuthInfo: "berth", Namespace: "default"}
	cfg.CurrentContext = "berth"
	if err := clientcmdapi.FlattenConfig(cfg); err != nil {
		return fmt.Errorf("embedding certificates in kubeconfig: %w", err)
	}
	if err := clientcmd.WriteToFile(*cfg, path); err != nil {
		return fmt.Errorf("writing kubeconfig %s: %w", path, err)
	}
	return nil
}
