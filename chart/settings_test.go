package chart

import (
	"testing"

	"github.com/google/go-cmp/cmp"
)

func TestSettingsFromEnv(t *testing.T) {
	for _, tc := range []struct {
		name string
		env  map[string]string
		want Settings
	}{
		{"home only", map[string]string{"HOME": "/home/u"}, Settings{
			RepositoryConfig: "/home/u/.config/berth/repositories.yaml",
			RepositoryCache:  "/home/u/.cache/berth/repository",
			Starters:         "/home/u/.local/share/berth/starters",
			RegistryConfig:   "/home/u/.config/berth/registry/config.json",
		}},
		{"XDG directories", map[string]string{"HOME": "/home/u", "XDG_CONFIG_HOME": "/xc", "XDG_CACHE_HOME": "/xk", "XDG_DATA_HOME": "/xd"}, Settings{
			RepositoryConfig: "/xc/berth/repositories.yaml",
			RepositoryCache:  "/xk/berth/repository",
			Starters:         "/xd/berth/starters",
			RegistryConfig:   "/xc/berth/registry/config.json",
		}},
		{"berth overrides", map[string]string{"HOME": "/home/u", EnvRepositoryConfig: "/etc/repos.yaml", EnvRepositoryCache: "/var/cache/repos", EnvRegistryConfig: "/etc/registry.json"}, Settings{
			RepositoryConfig: "/etc/repos.yaml",
			RepositoryCache:  "/var/cache/repos",
			Starters:         "/home/u/.local/share/berth/starters",
			RegistryConfig:   "/etc/registry.json",
		}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			got, err := SettingsFromEnv(func(k string) string { return tc.env[k] })
			if err != nil {
				t.Fatal(err)
			}
			if diff := cmp.Diff(tc.want, *got); diff != "" {
				t.Errorf("settings (-want +got):\n%s", diff)
			}
		})
	}
	if _, err := SettingsFromEnv(func(string) string { return "" }); err == nil {
		t.Error("settings without $HOME nor XDG directories")
	}
}
