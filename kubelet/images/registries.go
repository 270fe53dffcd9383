package images

import (
	"encoding/base64"
	"encoding/json"
	"fmt"
	"net"
	"net/url"
	"os"
	"strings"

	"oras.land/oras-go/v2/registry/remote/auth"
	"sigs.k8s.io/yaml"
)

// Registries says how to reach registries, in the format of k3s's
// registries.yaml:
//
//	mirrors:
//	  docker.io:
//	    endpoint: ["http://127.0.0.1:5000"]
//	configs:
//	  "127.0.0.1:5000":
//	    auth: {username: u, password: p}
//	    tls: {insecure_skip_verify: true}
//
// A mirror's endpoints are tried in order, then the registry itself; "*"
// mirrors every registry without a mirror of its own.
//
// A registry on this machine (localhost, 127.0.0.0/8, ::1, with any port) is
// reached over plain HTTP without any entry, as Docker and containerd treat
// loopback registries, so that berth's own registry (plain HTTP unless given
// TLS) serves the kubelet as 127.0.0.1:5000/app:1. A loopback registry
// serving HTTPS needs a mirror with an https:// endpoint.
type Registries struct {
	Mirrors map[string]Mirror         `json:"mirrors,omitempty"`
	Configs map[string]RegistryConfig `json:"configs,omitempty"`
}

// Mirror lists the endpoints (URLs; http:// for plain HTTP) serving a registry.
type Mirror struct {
	Endpoints []string `json:"endpoint,omitempty"`
}

// RegistryConfig is the credentials and TLS settings for one host[:port].
type RegistryConfig struct {
	Auth *RegistryAuth `json:"auth,omitempty"`
	TLS  *RegistryTLS  `json:"tls,omitempty"`
}

// RegistryAuth is a username and password, a base64 "user:password" (Auth),
// or an identity token.
type RegistryAuth struct {
	Username      string `json:"username,omitempty"`
	Password      string `json:"password,omitempty"`
	Auth          string `json:"auth,omitempty"`
	IdentityToken string `json:"identitytoken,omitempty"`
}

// RegistryTLS: only skipping verification is supported.
type RegistryTLS struct {
	InsecureSkipVerify bool `json:"insecure_skip_verify,omitempty"`
}

// LoadRegistries reads a registries.yaml file.
func LoadRegistries(path string) (Registries, error) {
	var r Registries
	b, err := os.ReadFile(path)
	if err != nil {
		return r, fmt.Errorf("reading registries config: %w", err)
	}
	if err := yaml.UnmarshalStrict(b, &r); err != nil {
		return r, fmt.Errorf("reading registries config %s: %w", path, err)
	}
	for host, m := range r.Mirrors {
		for _, e := range m.Endpoints {
			if _, err := parseEndpoint(e); err != nil {
				return r, fmt.Errorf("reading registries config %s: mirror of %s: %w", path, host, err)
			}
		}
	}
	return r, nil
}

// endpoint is one place to pull a registry's content from.
type endpoint struct {
	host      string // host[:port]
	plainHTTP bool
}

func parseEndpoint(s string) (endpoint, error) {
	if !strings.Contains(s, "://") {
		s = "https://" + s
	}
	u, err := url.Parse(s)
	if err != nil {
		return endpoint{}, fmt.Errorf("endpoint %q: %w", s, err)
	}
	if u.Scheme != "http" && u.Scheme != "https" {
		return endpoint{}, fmt.Errorf("endpoint %q: scheme must be http or https", s)
	}
	if p := strings.TrimSuffix(u.Path, "/"); p != "" && p != "/v2" {
		return endpoint{}, fmt.Errorf("endpoint %q: path prefixes are not supported", s)
	}
	return endpoint{host: u.Host, plainHTTP: u.Scheme == "http"}, nil
}

// endpoints lists where to pull domain's content from: its mirrors, then itself.
func (r Registries) endpoints(domain string) []endpoint {
	m, ok := r.Mirrors[domain]
	if !ok {
		m = r.Mirrors["*"]
	}
	var out []endpoint
	for _, e := range m.Endpoints {
		if ep, err := parseEndpoint(e); err == nil { // validated by LoadRegistries
			out = append(out, ep)
		}
	}
	host := domain
	if domain == "docker.io" {
		host = "registry-1.docker.io" // docker.io itself serves no registry API
	}
	return append(out, endpoint{host: host, plainHTTP: isLocalhost(host)})
}

// isLocalhost: plain HTTP is the default for registries on this machine.
func isLocalhost(hostport string) bool {
	h, _, err := net.SplitHostPort(hostport)
	if err != nil {
		h = hostport
	}
	if h == "localhost" {
		return true
	}
	ip := net.ParseIP(h)
	return ip != nil && ip.IsLoopback()
}

// dockerConfig is the content of a kubernetes.io/dockerconfigjson Secret
// ({"auths": {...}}) or of a legacy .dockercfg (the map alone).
type dockerConfig struct {
	Auths map[string]RegistryAuth `json:"auths"`
}

func parseDockerConfig(b []byte) (map[string]RegistryAuth, error) {
	var c dockerConfig
	if err := json.Unmarshal(b, &c); err != nil {
		return nil, fmt.Errorf("reading docker config: %w", err)
	}
	if c.Auths != nil {
		return c.Auths, nil
	}
	var legacy map[string]RegistryAuth
	if err := json.Unmarshal(b, &legacy); err != nil {
		return nil, fmt.Errorf("reading docker config: %w", err)
	}
	return legacy, nil
}

// registryKey reduces a docker config key ("https://index.docker.io/v1/") to
// the host[:port] it names, with docker hub's many names made one.
func registryKey(k string) string {
	if i := strings.Index(k, "://"); i >= 0 {
		k = k[i+3:]
	}
	k, _, _ = strings.Cut(k, "/")
	switch k {
	case "index.docker.io", "registry-1.docker.io", "docker.io":
		return "docker.io"
	}
	return k
}

func (a RegistryAuth) credential() (auth.Credential, error) {
	c := auth.Credential{Username: a.Username, Password: a.Password, RefreshToken: a.IdentityToken}
	if a.Auth != "" && c.Username == "" {
		b, err := base64.StdEncoding.DecodeString(a.Auth)
		if err != nil {
			return c, fmt.Errorf("decoding auth: %w", err)
		}
		user, pass, ok := strings.Cut(string(b), ":")
		if !ok {
			return c, fmt.Errorf("decoding auth: not user:password")
		}
		c.Username, c.Password = user, pass
	}
	return c, nil
}
