package pki

import (
	"crypto"
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/rsa"
	"crypto/x509"
	"errors"
	"fmt"
	"os"
	"path/filepath"

	"k8s.io/client-go/util/keyutil"
)

// serviceAccountKeyBits is the size of a generated service account signing
// key, as kubeadm makes it.
const serviceAccountKeyBits = 2048

// ServiceAccountKey returns the key that signs service account tokens, kept in
// the CA's directory as sa.key, with its public half in sa.pub for verifiers
// outside the cluster (kubeadm's names). A 2048-bit RSA key is created on
// first use; an RSA or ECDSA P-256 key put there by an operator is used as it
// is. The key is the same after every restart, so tokens issued before one
// stay valid.
func (ca *CA) ServiceAccountKey() (crypto.Signer, error) {
	keyFile, pubFile := filepath.Join(ca.dir, "sa.key"), filepath.Join(ca.dir, "sa.pub")
	key, err := keyutil.PrivateKeyFromFile(keyFile)
	switch {
	case err == nil:
		signer, err := serviceAccountSigner(key)
		if err != nil {
			return nil, fmt.Errorf("service account key %s: %w", keyFile, err)
		}
		if _, err := os.Stat(pubFile); errors.Is(err, os.ErrNotExist) {
			if err := writePublicKey(pubFile, signer.Public()); err != nil {
				return nil, err
			}
		}
		return signer, nil
	case !errors.Is(err, os.ErrNotExist):
		return nil, fmt.Errorf("reading service account key: %w", err)
	}
	generated, err := rsa.GenerateKey(rand.Reader, serviceAccountKeyBits)
	if err != nil {
		return nil, fmt.Errorf("generating service account key: %w", err)
	}
	data, err := keyutil.MarshalPrivateKeyToPEM(generated)
	if err != nil {
		return nil, fmt.Errorf("encoding service account key: %w", err)
	}
	if err := keyutil.WriteKey(keyFile, data); err != nil {
		return nil, fmt.Errorf("writing service account key: %w", err)
	}
	if err := writePublicKey(pubFile, generated.Public()); err != nil {
		return nil, err
	}
	return generated, nil
}

// serviceAccountSigner accepts the keys tokens can be signed with: RSA (RS256)
// and ECDSA on P-256 (ES256).
func serviceAccountSigner(key any) (crypto.Signer, error) {
	switch k := key.(type) {
	case *rsa.PrivateKey:
		if k.N.BitLen() < serviceAccountKeyBits {
			return nil, fmt.Errorf("an RSA key of %d bits is too weak, want at least %d", k.N.BitLen(), serviceAccountKeyBits)
		}
		return k, nil
	case *ecdsa.PrivateKey:
		if k.Curve != elliptic.P256() {
			return nil, fmt.Errorf("an ECDSA key on %s cannot sign ES256 tokens, want P-256", k.Curve.Params().Name)
		}
		return k, nil
	}
	return nil, fmt.Errorf("a %T cannot sign tokens, want an RSA or ECDSA P-256 key", key)
}

func writePublicKey(path string, pub crypto.PublicKey) error {
	der, err := x509.MarshalPKIXPublicKey(pub)
	if err != nil {
		return fmt.Errorf("encoding service account public key: %w", err)
	}
	if err := os.WriteFile(path, pemBlock("PUBLIC KEY", der), 0o644); err != nil {
		return fmt.Errorf("writing service account public key: %w", err)
	}
	return nil
}
