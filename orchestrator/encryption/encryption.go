// Package encryption owns berth's EncryptionConfiguration file, the one the API
// server encrypts resources at rest in etcd with: creating it with a fresh key,
// rotating and pruning keys, and describing them. It must not talk to the API or
// etcd: rewriting stored objects with a new key is package reencrypt's.
package encryption

import (
	"crypto/rand"
	"encoding/base64"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"slices"
	"strconv"
	"strings"
	"time"

	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	apiserverv1 "k8s.io/apiserver/pkg/apis/apiserver/v1"
	"k8s.io/apiserver/pkg/server/options/encryptionconfig"
	"sigs.k8s.io/yaml"
)

const (
	// FileName is the EncryptionConfiguration's name in its directory.
	FileName = "encryption-config.yaml"
	// reencryptedName records the key every stored object was last rewritten
	// with, which Prune requires to be the active one.
	reencryptedName = "reencrypted"
	keyPrefix       = "key-"
)

// State describes the file.
type State struct {
	// File is the EncryptionConfiguration's path.
	File string
	// Hash is how the API server names the file's content once it has loaded
	// it (the hash label of apiserver_encryption_config_controller_last_config_info).
	Hash string
	// Resources are encrypted ("resource" or "resource.group").
	Resources []string
	// Keys are the AES-GCM keys' names: the first encrypts what is written,
	// all decrypt what was.
	Keys []string
	// Reencrypted names the key every stored object was last rewritten
	// with ("" when never): when it is Keys[0], the others are unused.
	Reencrypted string
}

// Ensure returns the path of the EncryptionConfiguration in dir, creating dir
// and the file on first use: an aesgcm provider with one new key for
// resources, followed by the identity provider, so that objects stored before
// encryption was on stay readable (and are encrypted when next written).
func Ensure(dir string, resources []string) (string, error) {
	path := filepath.Join(dir, FileName)
	if _, err := os.Stat(path); err == nil {
		if _, err := load(path); err != nil {
			return "", err
		}
		return path, nil
	} else if !errors.Is(err, os.ErrNotExist) {
		return "", fmt.Errorf("checking for the encryption configuration: %w", err)
	}
	if len(resources) == 0 {
		return "", fmt.Errorf("creating %s: no resources to encrypt", path)
	}
	if err := os.MkdirAll(dir, 0o700); err != nil {
		return "", fmt.Errorf("creating the encryption key directory: %w", err)
	}
	key, err := newKey(nil, time.Now())
	if err != nil {
		return "", err
	}
	config := &apiserverv1.EncryptionConfiguration{
		TypeMeta: typeMeta(),
		Resources: []apiserverv1.ResourceConfiguration{{
			Resources: resources,
			Providers: []apiserverv1.ProviderConfiguration{
				{AESGCM: &apiserverv1.AESConfiguration{Keys: []apiserverv1.Key{key}}},
				{Identity: &apiserverv1.IdentityConfiguration{}},
			},
		}},
	}
	if err := save(path, config); err != nil {
		return "", err
	}
	return path, nil
}

// Rotate puts a new key first in dir's file: the API server encrypts with it
// once it has reloaded the file, and still decrypts with the others.
func Rotate(dir string) (string, error) {
	path := filepath.Join(dir, FileName)
	config, err := load(path)
	if err != nil {
		return "", err
	}
	aes := config.Resources[0].Providers[0].AESGCM
	key, err := newKey(aes.Keys, time.Now())
	if err != nil {
		return "", err
	}
	aes.Keys = append([]apiserverv1.Key{key}, aes.Keys...)
	return key.Name, save(path, config)
}

// Prune drops every key but the active one from dir's file and returns their
// names. It refuses while stored objects may still need them: until every
// object was rewritten with the active key (MarkReencrypted).
func Prune(dir string) ([]string, error) {
	path := filepath.Join(dir, FileName)
	config, err := load(path)
	if err != nil {
		return nil, err
	}
	aes := config.Resources[0].Providers[0].AESGCM
	if len(aes.Keys) == 1 {
		return nil, nil
	}
	active := aes.Keys[0].Name
	if done, err := reencrypted(dir); err != nil {
		return nil, err
	} else if done != active {
		return nil, fmt.Errorf("not pruning %s: objects may still be stored with an older key than the active %s; run berth secrets-encrypt reencrypt first", path, active)
	}
	var dropped []string
	for _, k := range aes.Keys[1:] {
		dropped = append(dropped, k.Name)
	}
	aes.Keys = aes.Keys[:1]
	return dropped, save(path, config)
}

// MarkReencrypted records that every stored object of the encrypted resources
// was rewritten with key.
func MarkReencrypted(dir, key string) error {
	path := filepath.Join(dir, reencryptedName)
	if err := writeFile(path, []byte(key+"\n")); err != nil {
		return fmt.Errorf("recording the re-encryption with %s: %w", key, err)
	}
	return nil
}

// Status reads dir's file.
func Status(dir string) (State, error) {
	path := filepath.Join(dir, FileName)
	config, err := load(path)
	if err != nil {
		return State{}, err
	}
	hash, err := encryptionconfig.GetEncryptionConfigHash(path)
	if err != nil {
		return State{}, err
	}
	done, err := reencrypted(dir)
	if err != nil {
		return State{}, err
	}
	s := State{File: path, Hash: hash, Resources: config.Resources[0].Resources, Reencrypted: done}
	for _, k := range config.Resources[0].Providers[0].AESGCM.Keys {
		s.Keys = append(s.Keys, k.Name)
	}
	return s, nil
}

func typeMeta() metav1.TypeMeta {
	return metav1.TypeMeta{APIVersion: apiserverv1.SchemeGroupVersion.String(), Kind: "EncryptionConfiguration"}
}

func reencrypted(dir string) (string, error) {
	data, err := os.ReadFile(filepath.Join(dir, reencryptedName))
	if errors.Is(err, os.ErrNotExist) {
		return "", nil
	}
	if err != nil {
		return "", fmt.Errorf("reading which key objects were re-encrypted with: %w", err)
	}
	return strings.TrimSpace(string(data)), nil
}

// newKey is a random 256-bit key named for when it was made, unlike any of keys.
func newKey(keys []apiserverv1.Key, now time.Time) (apiserverv1.Key, error) {
	secret := make([]byte, 32)
	if _, err := rand.Read(secret); err != nil {
		return apiserverv1.Key{}, fmt.Errorf("generating an encryption key: %w", err)
	}
	// Two rotations in one second get successive names.
	t := now.Unix()
	for slices.ContainsFunc(keys, func(k apiserverv1.Key) bool { return k.Name == keyPrefix+strconv.FormatInt(t, 10) }) {
		t++
	}
	return apiserverv1.Key{Name: keyPrefix + strconv.FormatInt(t, 10), Secret: base64.StdEncoding.EncodeToString(secret)}, nil
}

// load reads path, which must be as Ensure wrote it: one list of resources
// whose first provider is aesgcm with at least one key.
func load(path string) (*apiserverv1.EncryptionConfiguration, error) {
	data, err := os.ReadFile(path)
	if errors.Is(err, os.ErrNotExist) {
		return nil, fmt.Errorf("%s does not exist: berth server makes it on start unless --secrets-encryption=false; is this its data directory?", path)
	}
	if err != nil {
		return nil, fmt.Errorf("reading the encryption configuration: %w", err)
	}
	var config apiserverv1.EncryptionConfiguration
	if err := yaml.UnmarshalStrict(data, &config); err != nil {
		return nil, fmt.Errorf("reading the encryption configuration %s: %w", path, err)
	}
	if config.TypeMeta != typeMeta() {
		return nil, fmt.Errorf("reading the encryption configuration %s: kind %s/%s, want %s/%s", path, config.APIVersion, config.Kind, typeMeta().APIVersion, typeMeta().Kind)
	}
	if len(config.Resources) != 1 || len(config.Resources[0].Providers) == 0 ||
		config.Resources[0].Providers[0].AESGCM == nil || len(config.Resources[0].Providers[0].AESGCM.Keys) == 0 {
		return nil, fmt.Errorf("reading the encryption configuration %s: berth manages one list of resources whose first provider is aesgcm with at least one key; restore the file from a backup", path)
	}
	return &config, nil
}

// save replaces path in one step, so the API server, which rereads it on its
// own schedule, never sees half of it.
func save(path string, config *apiserverv1.EncryptionConfiguration) error {
	data, err := yaml.Marshal(config)
	if err != nil {
		return fmt.Errorf("encoding the encryption configuration: %w", err)
	}
	if err := writeFile(path, data); err != nil {
		return fmt.Errorf("writing the encryption configuration: %w", err)
	}
	return nil
}

// writeFile writes data to path through a temporary file in the same directory,
// readable by the owner only.
func writeFile(path string, data []byte) error {
	tmp, err := os.CreateTemp(filepath.Dir(path), "."+filepath.Base(path)+".*")
	if err != nil {
		return err
	}
	defer os.Remove(tmp.Name())
	if _, err := tmp.Write(data); err != nil {
		tmp.Close()
		return err
	}
	if err := tmp.Sync(); err != nil {
		tmp.Close()
		return err
	}
	if err := tmp.Close(); err != nil {
		return err
	}
	return os.Rename(tmp.Name(), path)
}
