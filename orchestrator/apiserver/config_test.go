package apiserver

import (
	"net"
	"testing"

	utilnet "k8s.io/apimachinery/pkg/util/net"
)

func TestAdvertiseAddress(t *testing.T) {
	// A host without a network advertises loopback: nothing else reaches it.
	hostIP, err := utilnet.ChooseHostInterface()
	if err != nil {
		hostIP = net.IPv4(127, 0, 0, 1)
	}
	cases := []struct {
		name string
		cfg  Config
		want net.IP
	}{
		{
			name: "explicit address wins over the bind address",
			cfg:  Config{AdvertiseAddress: net.ParseIP("192.0.2.10"), BindAddress: net.ParseIP("198.51.100.7")},
			want: net.ParseIP("192.0.2.10"),
		},
		{
			name: "explicit address with a loopback bind",
			cfg:  Config{AdvertiseAddress: net.ParseIP("192.0.2.10"), BindAddress: net.IPv4(127, 0, 0, 1)},
			want: net.ParseIP("192.0.2.10"),
		},
		{name: "non-loopback IPv4 bind", cfg: Config{BindAddress: net.ParseIP("198.51.100.7")}, want: net.ParseIP("198.51.100.7")},
		{name: "non-loopback IPv6 bind", cfg: Config{BindAddress: net.ParseIP("fd00::7")}, want: net.ParseIP("fd00::7")},
		{name: "loopback bind", cfg: Config{BindAddress: net.IPv4(127, 0, 0, 1)}, want: hostIP},
		{name: "bind to every IPv4 address", cfg: Config{BindAddress: net.IPv4zero}, want: hostIP},
		{name: "bind to every address", cfg: Config{BindAddress: net.IPv6unspecified}, want: hostIP},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			got := advertiseAddress(c.cfg)
			if !got.Equal(c.want) {
				t.Errorf("advertiseAddress = %v, want %v", got, c.want)
			}
			if got.IsUnspecified() {
				t.Errorf("advertiseAddress = %v, an address nobody can reach", got)
			}
		})
	}
}
