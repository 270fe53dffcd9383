package ingress

import (
	"context"
	"crypto/tls"
	"fmt"
	"net/http"
	"strings"
	"testing"
	"time"

	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/client-go/tools/record"
)

// handshake connects to the HTTPS address with SNI name (none if empty) and
// returns the certificate served, without verifying it.
func handshake(t *testing.T, s *started, name string) (commonName string, dnsNames []string) {
	t.Helper()
	conn, err := tls.Dial("tcp", s.HTTPSAddr().String(), &tls.Config{ServerName: name, InsecureSkipVerify: true})
	if err != nil {
		t.Fatalf("TLS handshake with SNI %q: %v", name, err)
	}
	defer conn.Close()
	leaf := conn.ConnectionState().PeerCertificates[0]
	return leaf.Subject.CommonName, leaf.DNSNames
}

func TestTLS(t *testing.T) {
	ca := newCA(t)
	recorder := record.NewFakeRecorder(10)
	objs := append(serviceWith("web", newBackend(t, "web")),
		ca.secret(t, "default", "secure-tls", "secure.example.com"),
		ca.secret(t, "default", "apps-tls", "*.apps.example.com"),
		ingress("secure",
			withTLS("secure-tls", "secure.example.com"),
			withTLS("apps-tls", "*.apps.example.com"),
			withRule("secure.example.com", prefix("/", "web")),
			withRule("*.apps.example.com", prefix("/", "web"))),
		// A missing Secret breaks only its own hosts.
		ingress("broken",
			withTLS("missing-tls", "broken.example.com"),
			withRule("broken.example.com", prefix("/", "web"))),
	)
	s := start(t, func(c *Config) { c.Recorder = recorder }, objs...)

	for _, host := range []string{"secure.example.com", "one.apps.example.com"} {
		t.Run("verified "+host, func(t *testing.T) {
			c := client(t, &tls.Config{RootCAs: ca.pool, ServerName: host})
			r := s.do(t, c, http.MethodGet, "https", host, "/", "")
			if r.status != http.StatusOK || r.backend != "web" {
				t.Fatalf("status %d from %q, want 200 from web", r.status, r.backend)
			}
			if got := r.header.Get("X-Seen-Forwarded-Proto"); got != "https" {
				t.Errorf("X-Forwarded-Proto = %q, want https", got)
			}
		})
	}
	for _, name := range []string{"nobody.example.com", "broken.example.com", "a.b.apps.example.com", ""} {
		t.Run("fallback for SNI "+name, func(t *testing.T) {
			if cn, _ := handshake(t, s, name); cn != fallbackCommonName {
				t.Errorf("certificate %q served, want the fallback", cn)
			}
		})
	}
	t.Run("host with a missing Secret still served", func(t *testing.T) {
		c := client(t, &tls.Config{InsecureSkipVerify: true, ServerName: "broken.example.com"})
		if r := s.do(t, c, http.MethodGet, "https", "broken.example.com", "/", ""); r.status != http.StatusOK || r.backend != "web" {
			t.Errorf("status %d from %q, want 200 from web", r.status, r.backend)
		}
	})
	t.Run("warning event for the missing Secret", func(t *testing.T) {
		ev := waitChan(t, "an event", recorder.Events)
		if !strings.HasPrefix(ev, "Warning InvalidTLSSecret") || !strings.Contains(ev, "default/missing-tls") {
			t.Errorf("event %q, want a Warning InvalidTLSSecret naming default/missing-tls", ev)
		}
	})

	t.Run("rotated certificate served", func(t *testing.T) {
		ca2 := newCA(t)
		rotated := ca2.secret(t, "default", "secure-tls", "secure.example.com")
		if _, err := s.client.CoreV1().Secrets("default").Update(context.Background(), rotated, metav1.UpdateOptions{}); err != nil {
			t.Fatal(err)
		}
		eventually(t, "the new certificate", func() error {
			conn, err := tls.Dial("tcp", s.HTTPSAddr().String(), &tls.Config{ServerName: "secure.example.com", RootCAs: ca2.pool})
			if err != nil {
				return err
			}
			return conn.Close()
		})
	})

	t.Run("missing Secret created", func(t *testing.T) {
		created := ca.secret(t, "default", "missing-tls", "broken.example.com")
		if _, err := s.client.CoreV1().Secrets("default").Create(context.Background(), created, metav1.CreateOptions{}); err != nil {
			t.Fatal(err)
		}
		eventually(t, "the certificate of the created Secret", func() error {
			if cn, _ := handshake(t, s, "broken.example.com"); cn != "broken.example.com" {
				return fmt.Errorf("certificate %q served", cn)
			}
			return nil
		})
	})
}

func TestUnusableSecretDoesNotBreakOthers(t *testing.T) {
	ca := newCA(t)
	bad := ca.secret(t, "default", "bad-tls", "bad.example.com")
	bad.Data["tls.key"] = []byte("not a key")
	recorder := record.NewFakeRecorder(10)
	s := start(t, func(c *Config) { c.Recorder = recorder },
		ca.secret(t, "default", "good-tls", "good.example.com"),
		bad,
		// The bad Ingress is the older: it must not spoil the good one's.
		ingress("bad", withCreated(1), withTLS("bad-tls", "bad.example.com")),
		ingress("good", withCreated(2), withTLS("good-tls", "good.example.com")),
	)
	if cn, _ := handshake(t, s, "good.example.com"); cn != "good.example.com" {
		t.Errorf("good.example.com got certificate %q", cn)
	}
	if cn, _ := handshake(t, s, "bad.example.com"); cn != fallbackCommonName {
		t.Errorf("bad.example.com got certificate %q, want the fallback", cn)
	}
	ev := waitChan(t, "an event", recorder.Events)
	if !strings.HasPrefix(ev, "Warning InvalidTLSSecret") || !strings.Contains(ev, "default/bad-tls") {
		t.Errorf("event %q, want a Warning InvalidTLSSecret naming default/bad-tls", ev)
	}
}

func TestFallbackCertificate(t *testing.T) {
	cert, err := fallbackCertificate(time.Now())
	if err != nil {
		t.Fatal(err)
	}
	if cert.Leaf.Subject.CommonName != fallbackCommonName {
		t.Errorf("common name %q", cert.Leaf.Subject.CommonName)
	}
	// It must be usable by a TLS server as it is.
	l, err := tls.Listen("tcp", "127.0.0.1:0", &tls.Config{Certificates: []tls.Certificate{*cert}})
	if err != nil {
		t.Fatal(err)
	}
	defer l.Close()
	go func() {
		c, err := l.Accept()
		if err == nil {
			c.(*tls.Conn).Handshake()
			c.Close()
		}
	}()
	conn, err := tls.Dial("tcp", l.Addr().String(), &tls.Config{InsecureSkipVerify: true})
	if err != nil {
		t.Fatalf("handshake with the fallback certificate: %v", err)
	}
	conn.Close()
}
