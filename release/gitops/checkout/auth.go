package checkout

import (
	"errors"
	"fmt"
	"net"
	"os"
	"strconv"

	"github.com/go-git/go-git/v5/plumbing/transport"
	githttp "github.com/go-git/go-git/v5/plumbing/transport/http"
	gitssh "github.com/go-git/go-git/v5/plumbing/transport/ssh"
	"github.com/skeema/knownhosts"
)

// Auth are the credentials for one repository. The zero value is anonymous.
type Auth struct {
	// Username and Password are https basic auth (a token goes in Password),
	// or for ssh the user when the URL names none and the identity's passphrase.
	Username, Password string
	// BearerToken is sent as an https Authorization: Bearer header.
	BearerToken string
	// PrivateKey is an SSH identity, PEM encoded.
	PrivateKey []byte
	// KnownHosts are the SSH server's host keys in known_hosts format. ssh URLs
	// require them: host keys are never accepted unseen.
	KnownHosts []byte
	// CA are PEM certificates trusted for https besides the system's.
	CA []byte
}

// AuthFromSecret reads the data of a Secret laid out as Flux's GitRepository
// expects: username and password; or bearerToken; or identity (with
// password as its passphrase) and known_hosts; each with an optional ca.crt.
// Other keys are ignored; a combination that cannot authenticate is an error
// naming its keys.
func AuthFromSecret(data map[string][]byte) (Auth, error) {
	a := Auth{
		Username:    string(data["username"]),
		Password:    string(data["password"]),
		BearerToken: string(data["bearerToken"]),
		PrivateKey:  data["identity"],
		KnownHosts:  data["known_hosts"],
		CA:          data["ca.crt"],
	}
	if len(a.CA) == 0 {
		// Flux's older key for the same certificates.
		a.CA = data["caFile"]
	}
	switch {
	case len(a.PrivateKey) > 0 && a.BearerToken != "":
		return Auth{}, errors.New("secret has both identity and bearerToken: keep identity for ssh URLs or bearerToken for https ones")
	case len(a.PrivateKey) > 0 && len(a.KnownHosts) == 0:
		return Auth{}, errors.New("secret has identity but no known_hosts: add known_hosts with the server's host keys (for example the output of ssh-keyscan HOST)")
	case len(a.PrivateKey) == 0 && len(a.KnownHosts) > 0:
		return Auth{}, errors.New("secret has known_hosts but no identity: add identity, the SSH private key")
	case len(a.PrivateKey) > 0:
		return a, nil
	case a.BearerToken != "" && (a.Username != "" || a.Password != ""):
		return Auth{}, errors.New("secret has bearerToken together with username or password: keep one way to authenticate")
	case a.Username != "" && a.Password == "":
		return Auth{}, errors.New("secret has username but no password: add password (or a token as password)")
	case a.Username == "" && a.Password != "":
		return Auth{}, errors.New("secret has password but no username: add username (any name the server accepts with a token)")
	}
	return a, nil
}

// method turns a into go-git's auth for ep's protocol; nil means anonymous.
func (a Auth) method(ep *transport.Endpoint) (transport.AuthMethod, error) {
	switch ep.Protocol {
	case "http", "https":
		if len(a.PrivateKey) > 0 {
			return nil, errors.New("an SSH identity cannot authenticate over " + ep.Protocol + ": use an ssh:// URL, or username and password")
		}
		if a.BearerToken != "" {
			return &githttp.TokenAuth{Token: a.BearerToken}, nil
		}
		if a.Username != "" || a.Password != "" {
			return &githttp.BasicAuth{Username: a.Username, Password: a.Password}, nil
		}
		return nil, nil
	case "ssh":
		return a.sshMethod(ep)
	}
	return nil, nil
}

func (a Auth) sshMethod(ep *transport.Endpoint) (transport.AuthMethod, error) {
	if len(a.PrivateKey) == 0 {
		return nil, errors.New("ssh URLs need an identity (an SSH private key): set one, or use an https URL")
	}
	if len(a.KnownHosts) == 0 {
		return nil, errors.New("no known_hosts for the ssh server, and host keys are not accepted unseen: set known_hosts (for example the output of ssh-keyscan HOST)")
	}
	user := ep.User
	if user == "" {
		user = a.Username
	}
	if user == "" {
		user = "git"
	}
	keys, err := gitssh.NewPublicKeys(user, a.PrivateKey, a.Password)
	if err != nil {
		return nil, fmt.Errorf("reading the SSH identity (is its passphrase right?): %w", err)
	}
	db, err := knownHostsDB(a.KnownHosts)
	if err != nil {
		return nil, err
	}
	port := ep.Port
	if port == 0 {
		port = 22
	}
	keys.HostKeyCallback = db.HostKeyCallback()
	// Offer only the key types known_hosts has for this host, or a server with
	// several host keys may present one that known_hosts lacks.
	keys.HostKeyAlgorithms = db.HostKeyAlgorithms(net.JoinHostPort(ep.Host, strconv.Itoa(port)))
	return keys, nil
}

// knownHostsDB parses known_hosts content. The parsers read only files, so it
// goes through a temporary one that is gone before this returns.
func knownHostsDB(content []byte) (*knownhosts.HostKeyDB, error) {
	f, err := os.CreateTemp("", "berth-known-hosts-")
	if err != nil {
		return nil, fmt.Errorf("writing known_hosts to a temporary file: %w", err)
	}
	defer os.Remove(f.Name())
	_, err = f.Write(content)
	if cerr := f.Close(); err == nil {
		err = cerr
	}
	if err != nil {
		return nil, fmt.Errorf("writing known_hosts to a temporary file: %w", err)
	}
	db, err := knownhosts.NewDB(f.Name())
	if err != nil {
		return nil, fmt.Errorf("parsing known_hosts: %w", err)
	}
	return db, nil
}
