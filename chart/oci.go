package chart

import (
	"context"
	"crypto/tls"
	"crypto/x509"
	"fmt"
	"io"
	"net"
	"net/http"
	"os"
	"path/filepath"
	"time"

	"github.com/spf13/pflag"
	"helm.sh/helm/v3/pkg/chartutil"
	"helm.sh/helm/v3/pkg/downloader"
	"helm.sh/helm/v3/pkg/pusher"
	"helm.sh/helm/v3/pkg/registry"
)

// RegistryOptions are Helm's flags for reaching an OCI registry.
type RegistryOptions struct {
	// PlainHTTP talks HTTP rather than HTTPS.
	PlainHTTP bool
	// InsecureSkipTLSVerify accepts any server certificate.
	InsecureSkipTLSVerify bool
	// CAFile verifies the registry's certificate; CertFile and KeyFile are
	// a client certificate.
	CAFile, CertFile, KeyFile string
	// Username and Password, when set, are used instead of the credentials
	// saved by `berth registry login`.
	Username, Password string
}

// AddFlags adds Helm's registry flags.
func (o *RegistryOptions) AddFlags(fs *pflag.FlagSet) {
	fs.BoolVar(&o.PlainHTTP, "plain-http", false, "use insecure HTTP connections to the chart's registry")
	fs.BoolVar(&o.InsecureSkipTLSVerify, "insecure-skip-tls-verify", false, "skip tls certificate checks of the chart's registry or repository")
	fs.StringVar(&o.CAFile, "ca-file", "", "verify certificates of HTTPS-enabled servers using this CA bundle")
	fs.StringVar(&o.CertFile, "cert-file", "", "identify HTTPS client using this SSL certificate file")
	fs.StringVar(&o.KeyFile, "key-file", "", "identify HTTPS client using this SSL key file")
	fs.StringVar(&o.Username, "username", "", "username of the chart's registry or repository")
	fs.StringVar(&o.Password, "password", "", "password of the chart's registry or repository")
}

func (o RegistryOptions) tls() bool {
	return o.CertFile != "" && o.KeyFile != "" || o.CAFile != "" || o.InsecureSkipTLSVerify
}

// tlsConfig is the client TLS configuration the options ask for.
func (o RegistryOptions) tlsConfig() (*tls.Config, error) {
	conf := &tls.Config{InsecureSkipVerify: o.InsecureSkipTLSVerify, MinVersion: tls.VersionTLS12}
	if o.CertFile != "" && o.KeyFile != "" {
		pair, err := tls.LoadX509KeyPair(o.CertFile, o.KeyFile)
		if err != nil {
			return nil, fmt.Errorf("loading the registry client certificate (--cert-file, --key-file): %w", err)
		}
		conf.Certificates = []tls.Certificate{pair}
	}
	if o.CAFile != "" {
		pem, err := os.ReadFile(o.CAFile)
		if err != nil {
			return nil, fmt.Errorf("reading --ca-file: %w", err)
		}
		conf.RootCAs = x509.NewCertPool()
		if !conf.RootCAs.AppendCertsFromPEM(pem) {
			return nil, fmt.Errorf("--ca-file %s holds no PEM certificate", o.CAFile)
		}
	}
	return conf, nil
}

// NewRegistryClient is Helm's OCI registry client with the credentials kept
// in settings.RegistryConfig, reporting what it pushes and pulls to out.
func NewRegistryClient(settings *Settings, o RegistryOptions, out io.Writer) (*registry.Client, error) {
	if out == nil {
		out = io.Discard
	}
	opts := []registry.ClientOption{
		registry.ClientOptEnableCache(true),
		registry.ClientOptWriter(out),
		registry.ClientOptCredentialsFile(settings.RegistryConfig),
		registry.ClientOptBasicAuth(o.Username, o.Password),
	}
	if o.PlainHTTP {
		opts = append(opts, registry.ClientOptPlainHTTP())
	}
	if o.tls() {
		conf, err := o.tlsConfig()
		if err != nil {
			return nil, err
		}
		opts = append(opts, registry.ClientOptHTTPClient(&http.Client{Transport: &http.Transport{
			TLSClientConfig: conf,
			Proxy:           http.ProxyFromEnvironment,
			DialContext:     (&net.Dialer{Timeout: 5 * time.Second, KeepAlive: 30 * time.Second}).DialContext,
		}}))
	}
	c, err := registry.NewClient(opts...)
	if err != nil {
		return nil, fmt.Errorf("creating the registry client: %w", err)
	}
	return c, nil
}

// Push pushes a chart archive to remote (oci://HOST/REPO) as
// HOST/REPO/NAME:VERSION, with its provenance file when there is one beside
// it, as `helm push` does; what was pushed and its digest go to out.
func Push(ctx context.Context, archive, remote string, settings *Settings, o RegistryOptions, out io.Writer) error {
	if err := ctx.Err(); err != nil {
		return err
	}
	if !registry.IsOCI(remote) {
		return fmt.Errorf("pushing %s: %q is not an oci:// reference (oci://HOST/REPO)", archive, remote)
	}
	client, err := NewRegistryClient(settings, o, out)
	if err != nil {
		return err
	}
	p, err := pusher.NewOCIPusher(pusher.WithRegistryClient(client))
	if err != nil {
		return err
	}
	if err := p.Push(archive, remote); err != nil {
		return fmt.Errorf("pushing %s to %s: %w", archive, remote, err)
	}
	return nil
}

// PullOptions say what Pull fetches and where it puts it.
type PullOptions struct {
	LoadOptions
	// Destination is the directory the archive is written to ("" is the
	// working directory).
	Destination string
	// Untar unpacks the archive into UntarDir (under Destination when
	// relative) and removes it.
	Untar    bool
	UntarDir string
	// Prov fetches the provenance file too, without verifying it (Helm's
	// --prov); LoadOptions.Verify fetches and verifies it.
	Prov bool
}

// Pull downloads a chart (oci://, REPO/CHART or a URL) into a directory,
// as `helm pull` does, and returns the archive's path (or the directory it
// was unpacked into). With Verify, what the verification proved goes to Out
// as `helm pull --verify` prints it, and a chart that fails it is not kept.
func Pull(ctx context.Context, ref string, o PullOptions) (string, error) {
	if err := ctx.Err(); err != nil {
		return "", err
	}
	dest := o.Destination
	if dest == "" {
		dest = "."
	}
	var err error
	if o.Untar {
		// The archive goes to a scratch directory, the chart to UntarDir.
		if dest, err = os.MkdirTemp("", "berth-pull-"); err != nil {
			return "", err
		}
		defer os.RemoveAll(dest)
	}
	strategy := o.verifyStrategy()
	if strategy == downloader.VerifyNever && o.Prov {
		strategy = downloader.VerifyLater
	}
	path, ver, err := download(ref, o.LoadOptions, dest, strategy)
	if err != nil {
		return "", err
	}
	if ver != nil {
		if err := ver.Write(o.out()); err != nil {
			return "", err
		}
	}
	if !o.Untar {
		return path, nil
	}
	dir := o.UntarDir
	if dir == "" {
		dir = "."
	}
	if !filepath.IsAbs(dir) && o.Destination != "" {
		dir = filepath.Join(o.Destination, dir)
	}
	if err := os.MkdirAll(dir, 0o755); err != nil {
		return "", fmt.Errorf("creating %s: %w", dir, err)
	}
	ch, err := loadPath(path)
	if err != nil {
		// The path is a scratch directory's, gone on return: name the chart.
		return "", fmt.Errorf("unpacking chart %s: %w", ref, err)
	}
	if _, err := os.Lstat(filepath.Join(dir, ch.Name())); err == nil {
		return "", fmt.Errorf("unpacking chart %s: %s already exists; remove it or pass another --untardir", ref, filepath.Join(dir, ch.Name()))
	}
	if err := chartutil.ExpandFile(dir, path); err != nil {
		return "", fmt.Errorf("unpacking chart %s: %w", ref, err)
	}
	return filepath.Join(dir, ch.Name()), nil
}

// Login saves credentials for host in settings.RegistryConfig after
// checking them against the registry, as `helm registry login` does.
func Login(ctx context.Context, host string, settings *Settings, o RegistryOptions, out io.Writer) error {
	if err := ctx.Err(); err != nil {
		return err
	}
	client, err := NewRegistryClient(settings, RegistryOptions{PlainHTTP: o.PlainHTTP}, out)
	if err != nil {
		return err
	}
	opts := []registry.LoginOption{
		registry.LoginOptBasicAuth(o.Username, o.Password),
		registry.LoginOptInsecure(o.InsecureSkipTLSVerify),
		registry.LoginOptPlainText(o.PlainHTTP),
	}
	if o.CertFile != "" || o.KeyFile != "" || o.CAFile != "" {
		opts = append(opts, registry.LoginOptTLSClientConfig(o.CertFile, o.KeyFile, o.CAFile))
	}
	if err := client.Login(host, opts...); err != nil {
		return fmt.Errorf("logging in to %s: %w", host, err)
	}
	return nil
}

// Logout removes the credentials for host from settings.RegistryConfig.
func Logout(ctx context.Context, host string, settings *Settings, out io.Writer) error {
	if err := ctx.Err(); err != nil {
		return err
	}
	client, err := NewRegistryClient(settings, RegistryOptions{}, out)
	if err != nil {
		return err
	}
	if err := client.Logout(host); err != nil {
		return fmt.Errorf("logging out of %s: %w", host, err)
	}
	return nil
}
