package apiserver

import (
	"fmt"
	"math/big"
	"net"
)

// firstServiceIP is the first address of the service range, held by the kubernetes
// Service.
func firstServiceIP(cidr *net.IPNet) (net.IP, error) {
	if cidr == nil {
		return nil, fmt.Errorf("no service range")
	}
	base := new(big.Int).SetBytes(cidr.IP.To16())
	ip := make(net.IP, net.IPv6len)
	base.Add(base, big.NewInt(1)).FillBytes(ip)
	if v4 := ip.To4(); v4 != nil && cidr.IP.To4() != nil {
		ip = v4
	}
	if !cidr.Contains(ip) {
		return nil, fmt.Errorf("service range %s is too small", cidr)
	}
	return ip, nil
}
