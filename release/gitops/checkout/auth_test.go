package checkout

import (
	"strings"
	"testing"

	"github.com/google/go-cmp/cmp"
)

func TestAuthFromSecret(t *testing.T) {
	key := []byte("-----BEGIN OPENSSH PRIVATE KEY-----\n...\n")
	hosts := []byte("github.com ssh-ed25519 AAAA...\n")
	ca := []byte("-----BEGIN CERTIFICATE-----\n...\n")
	for _, tc := range []struct {
		name    string
		data    map[string][]byte
		want    Auth
		wantErr string
	}{
		{name: "empty is anonymous", data: nil, want: Auth{}},
		{name: "unrelated keys are ignored", data: map[string][]byte{"identity.pub": []byte("ssh-ed25519 AAAA")}, want: Auth{}},
		{
			name: "username and password",
			data: map[string][]byte{"username": []byte("bot"), "password": []byte("tok")},
			want: Auth{Username: "bot", Password: "tok"},
		},
		{
			name: "bearer token with a CA",
			data: map[string][]byte{"bearerToken": []byte("tok"), "ca.crt": ca},
			want: Auth{BearerToken: "tok", CA: ca},
		},
		{name: "Flux's older CA key", data: map[string][]byte{"caFile": ca}, want: Auth{CA: ca}},
		{
			name: "identity and known_hosts",
			data: map[string][]byte{"identity": key, "known_hosts": hosts},
			want: Auth{PrivateKey: key, KnownHosts: hosts},
		},
		{
			name: "identity with a passphrase",
			data: map[string][]byte{"identity": key, "known_hosts": hosts, "password": []byte("phrase")},
			want: Auth{PrivateKey: key, KnownHosts: hosts, Password: "phrase"},
		},
		{name: "identity without known_hosts", data: map[string][]byte{"identity": key}, wantErr: "no known_hosts"},
		{name: "known_hosts without identity", data: map[string][]byte{"known_hosts": hosts}, wantErr: "no identity"},
		{name: "username without password", data: map[string][]byte{"username": []byte("bot")}, wantErr: "no password"},
		{name: "password without username", data: map[string][]byte{"password": []byte("tok")}, wantErr: "no username"},
		{
			name:    "bearer token and password",
			data:    map[string][]byte{"bearerToken": []byte("tok"), "username": []byte("bot"), "password": []byte("tok")},
			wantErr: "bearerToken together with username or password",
		},
		{
			name:    "identity and bearer token",
			data:    map[string][]byte{"identity": key, "known_hosts": hosts, "bearerToken": []byte("tok")},
			wantErr: "both identity and bearerToken",
		},
	} {
		t.Run(tc.name, func(t *testing.T) {
			got, err := AuthFromSecret(tc.data)
			if tc.wantErr != "" {
				if err == nil || !strings.Contains(err.Error(), tc.wantErr) {
					t.Fatalf("AuthFromSecret error = %v, want one saying %q", err, tc.wantErr)
				}
				return
			}
			if err != nil {
				t.Fatal(err)
			}
			if diff := cmp.Diff(tc.want, got); diff != "" {
				t.Errorf("AuthFromSecret (-want +got):\n%s", diff)
			}
		})
	}
}

func TestAuthSSHIdentityOverHTTPS(t *testing.T) {
	_, err := Fetch(t.Context(), Options{URL: "https://git.example.com/repo.git", Dir: t.TempDir(),
		Auth: Auth{PrivateKey: []byte("key"), KnownHosts: []byte("hosts")}})
	if err == nil || !strings.Contains(err.Error(), "use an ssh:// URL") {
		t.Errorf("Fetch error = %v, want one pointing to ssh URLs", err)
	}
}
