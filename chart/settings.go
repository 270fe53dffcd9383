package chart

import (
	"fmt"
	"os"
	"path/filepath"

	"helm.sh/helm/v3/pkg/getter"
)

// Environment variables that override where berth keeps its chart repositories.
const (
	EnvRepositoryConfig = "BERTH_REPOSITORY_CONFIG"
	EnvRepositoryCache  = "BERTH_REPOSITORY_CACHE"
	EnvRegistryConfig   = "BERTH_REGISTRY_CONFIG"
)

// Settings locates berth's chart repository configuration and cache, the
// counterparts of Helm's repositories.yaml and repository cache, kept in berth's
// own directories so that berth and Helm never edit each other's files.
type Settings struct {
	// RepositoryConfig is the repositories.yaml listing the repositories
	// added with `berth repo add`.
	RepositoryConfig string
	// RepositoryCache holds the repositories' index files and downloaded charts.
	RepositoryCache string
	// Starters is the directory `berth create --starter NAME` looks in.
	Starters string
	// RegistryConfig is the docker-style config.json holding the OCI
	// registry credentials of `berth registry login`.
	RegistryConfig string
}

// NewSettings returns the settings of this process's environment:
// $BERTH_REPOSITORY_CONFIG, else $XDG_CONFIG_HOME/berth/repositories.yaml;
// $BERTH_REPOSITORY_CACHE, else $XDG_CACHE_HOME/berth/repository; starters in
// $XDG_DATA_HOME/berth/starters; registry credentials in $BERTH_REGISTRY_CONFIG,
// else $XDG_CONFIG_HOME/berth/registry/config.json. The XDG variables default as the XDG base
// directory specification says ($HOME/.config, $HOME/.cache, $HOME/.local/share).
func NewSettings() (*Settings, error) {
	return SettingsFromEnv(os.Getenv)
}

// SettingsFromEnv is NewSettings reading the environment through getenv.
func SettingsFromEnv(getenv func(string) string) (*Settings, error) {
	base := func(xdg, fallback string) (string, error) {
		if dir := getenv(xdg); dir != "" {
			return dir, nil
		}
		home := getenv("HOME")
		if home == "" {
			return "", fmt.Errorf("locating berth's chart repository files: neither $%s nor $HOME is set", xdg)
		}
		return filepath.Join(home, fallback), nil
	}
	config, err := base("XDG_CONFIG_HOME", ".config")
	if err != nil {
		return nil, err
	}
	cache, err := base("XDG_CACHE_HOME", ".cache")
	if err != nil {
		return nil, err
	}
	data, err := base("XDG_DATA_HOME", filepath.Join(".local", "share"))
	if err != nil {
		return nil, err
	}
	s := &Settings{
		RepositoryConfig: filepath.Join(config, "berth", "repositories.yaml"),
		RepositoryCache:  filepath.Join(cache, "berth", "repository"),
		Starters:         filepath.Join(data, "berth", "starters"),
		RegistryConfig:   filepath.Join(config, "berth", "registry", "config.json"),
	}
	if v := getenv(EnvRepositoryConfig); v != "" {
		s.RepositoryConfig = v
	}
	if v := getenv(EnvRepositoryCache); v != "" {
		s.RepositoryCache = v
	}
	if v := getenv(EnvRegistryConfig); v != "" {
		s.RegistryConfig = v
	}
	return s, nil
}

// getters are the schemes berth fetches charts and index files over: Helm's
// built-in http(s) and oci getters, without Helm's plugins.
func getters(opts ...getter.Option) getter.Providers {
	return getter.Getters(opts...)
}
