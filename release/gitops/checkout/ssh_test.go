package checkout

import (
	"context"
	"crypto/ed25519"
	"crypto/rand"
	"encoding/binary"
	"encoding/pem"
	"errors"
	"fmt"
	"net"
	"strings"
	"testing"

	"golang.org/x/crypto/ssh"
	"golang.org/x/crypto/ssh/knownhosts"

	"berth.dev/berth/release/gitops/checkout/gittest"
)

// gitSSH is an ssh server on the loopback that runs git-upload-pack for one
// repository, whatever path is asked for, for one client key.
type gitSSH struct {
	url  string
	addr string
	// knownHosts is a known_hosts line for the server's host key.
	knownHosts []byte
	// identity is the client's private key as PEM.
	identity []byte
}

func newSigner(t *testing.T) (ssh.Signer, ed25519.PrivateKey) {
	t.Helper()
	_, priv, err := ed25519.GenerateKey(rand.Reader)
	if err != nil {
		t.Fatal(err)
	}
	signer, err := ssh.NewSignerFromKey(priv)
	if err != nil {
		t.Fatal(err)
	}
	return signer, priv
}

func serveSSH(t *testing.T, dir string) *gitSSH {
	t.Helper()
	host, _ := newSigner(t)
	client, clientKey := newSigner(t)
	block, err := ssh.MarshalPrivateKey(clientKey, "")
	if err != nil {
		t.Fatal(err)
	}
	cfg := &ssh.ServerConfig{
		PublicKeyCallback: func(_ ssh.ConnMetadata, key ssh.PublicKey) (*ssh.Permissions, error) {
			if string(key.Marshal()) != string(client.PublicKey().Marshal()) {
				return nil, errors.New("unknown key")
			}
			return nil, nil
		},
	}
	cfg.AddHostKey(host)
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	ctx := t.Context()
	t.Cleanup(func() { l.Close() })
	go func() {
		for {
			conn, err := l.Accept()
			if err != nil {
				return
			}
			go serveSSHConn(ctx, conn, cfg, dir)
		}
	}()
	addr := l.Addr().String()
	return &gitSSH{
		url:        "ssh://git@" + addr + "/repo.git",
		addr:       addr,
		knownHosts: []byte(knownhosts.Line([]string{knownhosts.Normalize(addr)}, host.PublicKey()) + "\n"),
		identity:   pem.EncodeToMemory(block),
	}
}

func serveSSHConn(ctx context.Context, conn net.Conn, cfg *ssh.ServerConfig, dir string) {
	defer conn.Close()
	sc, chans, reqs, err := ssh.NewServerConn(conn, cfg)
	if err != nil {
		return
	}
	defer sc.Close()
	go ssh.DiscardRequests(reqs)
	for nc := range chans {
		if nc.ChannelType() != "session" {
			nc.Reject(ssh.UnknownChannelType, "sessions only")
			continue
		}
		ch, chReqs, err := nc.Accept()
		if err != nil {
			return
		}
		go func() {
			defer ch.Close()
			for req := range chReqs {
				// The payload of exec is the command as an ssh string.
				if req.Type != "exec" || len(req.Payload) < 4 ||
					!strings.HasPrefix(string(req.Payload[4:]), "git-upload-pack ") {
					req.Reply(false, nil)
					continue
				}
				req.Reply(true, nil)
				status := uint32(0)
				err := advertise(ctx, dir, false, ch)
				if err == nil {
					err = uploadPack(ctx, dir, ch, ch)
				}
				if err != nil {
					fmt.Fprintln(ch.Stderr(), err)
					status = 1
				}
				ch.SendRequest("exit-status", false, binary.BigEndian.AppendUint32(nil, status))
				return
			}
		}()
	}
}

func TestFetchSSH(t *testing.T) {
	up := gittest.New(t, "main")
	tip := up.Commit(map[string]string{"a.txt": "over ssh"})
	srv := serveSSH(t, up.Dir)

	t.Run("identity and known_hosts", func(t *testing.T) {
		dir := t.TempDir()
		res, err := Fetch(t.Context(), Options{URL: srv.url, Ref: Ref{Branch: "main"}, Dir: dir,
			Auth: Auth{PrivateKey: srv.identity, KnownHosts: srv.knownHosts}})
		if err != nil {
			t.Fatal(err)
		}
		if res.Commit != tip.String() {
			t.Errorf("Commit = %s, want %s", res.Commit, tip)
		}
		wantFiles(t, dir, map[string]string{"a.txt": "over ssh"})
	})
	t.Run("host key not in known_hosts", func(t *testing.T) {
		other, _ := newSigner(t)
		wrong := []byte(knownhosts.Line([]string{knownhosts.Normalize(srv.addr)}, other.PublicKey()) + "\n")
		_, err := Fetch(t.Context(), Options{URL: srv.url, Dir: t.TempDir(),
			Auth: Auth{PrivateKey: srv.identity, KnownHosts: wrong}})
		if err == nil || !strings.Contains(err.Error(), "not the one known_hosts has") {
			t.Errorf("Fetch error = %v, want one saying the host key differs", err)
		}
	})
	t.Run("host not in known_hosts", func(t *testing.T) {
		host, _ := newSigner(t)
		elsewhere := []byte(knownhosts.Line([]string{"git.example.com"}, host.PublicKey()) + "\n")
		_, err := Fetch(t.Context(), Options{URL: srv.url, Dir: t.TempDir(),
			Auth: Auth{PrivateKey: srv.identity, KnownHosts: elsewhere}})
		if err == nil || !strings.Contains(err.Error(), "known_hosts has no key for the server") {
			t.Errorf("Fetch error = %v, want one saying known_hosts lacks the server", err)
		}
	})
	t.Run("no known_hosts", func(t *testing.T) {
		_, err := Fetch(t.Context(), Options{URL: srv.url, Dir: t.TempDir(), Auth: Auth{PrivateKey: srv.identity}})
		if err == nil || !strings.Contains(err.Error(), "known_hosts") || !strings.Contains(err.Error(), srv.url) {
			t.Errorf("Fetch error = %v, want one naming known_hosts and %s", err, srv.url)
		}
	})
	t.Run("no identity", func(t *testing.T) {
		_, err := Fetch(t.Context(), Options{URL: srv.url, Dir: t.TempDir(), Auth: Auth{KnownHosts: srv.knownHosts}})
		if err == nil || !strings.Contains(err.Error(), "identity") {
			t.Errorf("Fetch error = %v, want one asking for an identity", err)
		}
	})
}
