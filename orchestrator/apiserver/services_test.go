package apiserver

import (
	"net"
	"testing"
)

func TestFirstServiceIP(t *testing.T) {
	cases := []struct {
		name, cidr string
		want       string
		wantLen    int
		wantErr    string
	}{
		{name: "IPv4 /16", cidr: "10.43.0.0/16", want: "10.43.0.1", wantLen: net.IPv4len},
		{name: "IPv4 /24 not at a byte boundary of the /16", cidr: "172.16.5.0/24", want: "172.16.5.1", wantLen: net.IPv4len},
		{name: "IPv4 /30", cidr: "192.168.0.4/30", want: "192.168.0.5", wantLen: net.IPv4len},
		{name: "IPv6 /64", cidr: "fd00::/64", want: "fd00::1", wantLen: net.IPv6len},
		{name: "IPv6 /112", cidr: "fd00:10:96::/112", want: "fd00:10:96::1", wantLen: net.IPv6len},
		{name: "IPv4 /32 is too small", cidr: "10.43.0.0/32", wantErr: "service range 10.43.0.0/32 is too small"},
		{name: "IPv6 /128 is too small", cidr: "fd00::/128", wantErr: "service range fd00::/128 is too small"},
		{name: "no range", wantErr: "no service range"},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			var cidr *net.IPNet
			if c.cidr != "" {
				var err error
				if _, cidr, err = net.ParseCIDR(c.cidr); err != nil {
					t.Fatal(err)
				}
			}
			got, err := firstServiceIP(cidr)
			if c.wantErr != "" {
				if err == nil || err.Error() != c.wantErr {
					t.Fatalf("firstServiceIP(%s) = %v, %v; want error %q", c.cidr, got, err, c.wantErr)
				}
				return
			}
			if err != nil {
				t.Fatalf("firstServiceIP(%s): %v", c.cidr, err)
			}
			if got.String() != c.want || len(got) != c.wantLen {
				t.Errorf("firstServiceIP(%s) = %s (%d bytes), want %s (%d bytes)", c.cidr, got, len(got), c.want, c.wantLen)
			}
		})
	}
}
