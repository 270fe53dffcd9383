package netns

import (
	"context"
	"errors"
	"fmt"
	"io/fs"
	"net"
	"net/netip"
	"os"
	"runtime"
	"strconv"
	"time"

	"golang.org/x/sys/unix"
)

// Dial connects to address ("host:port") on network from inside the network
// namespace at nsPath (such as /proc/PID/ns/net); an empty nsPath dials from
// the host's namespace with a plain net.Dialer. Only "tcp", "tcp4" and "tcp6"
// are supported in another namespace. An empty host means loopback, and a host
// name is resolved with the host's resolver (the namespace's own resolver
// configuration is not consulted). ctx bounds the connect; when it ends first,
// the error wraps ctx's error.
//
// Connect failures read as net.Dial's do ("dial tcp 127.0.0.1:80: connect:
// connection refused"); problems with the namespace name nsPath.
func Dial(ctx context.Context, nsPath, network, address string) (net.Conn, error) {
	if nsPath == "" {
		var d net.Dialer
		return d.DialContext(ctx, network, address)
	}
	switch network {
	case "tcp", "tcp4", "tcp6":
	default:
		return nil, fmt.Errorf("dialing %s in network namespace %s: unsupported network %q (want tcp, tcp4 or tcp6)", address, nsPath, network)
	}
	addrs, err := resolve(ctx, network, address)
	if err != nil {
		return nil, &net.OpError{Op: "dial", Net: network, Err: err}
	}
	nsFD, err := openNetNS(nsPath)
	if err != nil {
		return nil, fmt.Errorf("dialing %s in network namespace %s: %w", address, nsPath, err)
	}
	defer unix.Close(nsFD)

	var firstErr error
	for _, ap := range addrs {
		conn, err := dialAddr(ctx, nsFD, network, ap)
		if err == nil {
			return conn, nil
		}
		var nsErr *namespaceError
		if errors.As(err, &nsErr) {
			return nil, fmt.Errorf("dialing %s in network namespace %s: %w", address, nsPath, err)
		}
		if firstErr == nil {
			firstErr = err
		}
		if ctx.Err() != nil {
			break
		}
	}
	return nil, firstErr
}

// namespaceError is a failure to create a socket in the namespace, as opposed
// to a failure to connect it.
type namespaceError struct{ err error }

func (e *namespaceError) Error() string { return e.err.Error() }
func (e *namespaceError) Unwrap() error { return e.err }

// openNetNS opens nsPath and checks that it is a network namespace. O_NONBLOCK
// keeps a wrong path naming a FIFO from blocking the open.
func openNetNS(nsPath string) (int, error) {
	fd, err := unix.Open(nsPath, unix.O_RDONLY|unix.O_CLOEXEC|unix.O_NONBLOCK, 0)
	if err != nil {
		return -1, &fs.PathError{Op: "open", Path: nsPath, Err: err}
	}
	typ, err := unix.IoctlRetInt(fd, unix.NS_GET_NSTYPE)
	switch {
	case errors.Is(err, unix.ENOTTY):
		unix.Close(fd)
		return -1, fmt.Errorf("%s is not a namespace file (want a path such as /proc/PID/ns/net)", nsPath)
	case err != nil:
		unix.Close(fd)
		return -1, fmt.Errorf("reading the type of namespace %s: %w", nsPath, err)
	case typ != unix.CLONE_NEWNET:
		unix.Close(fd)
		return -1, fmt.Errorf("%s is not a network namespace (want a path such as /proc/PID/ns/net)", nsPath)
	}
	return fd, nil
}

// resolve turns address into the addresses to try, in order.
func resolve(ctx context.Context, network, address string) ([]netip.AddrPort, error) {
	host, service, err := net.SplitHostPort(address)
	if err != nil {
		return nil, err
	}
	port, err := net.DefaultResolver.LookupPort(ctx, network, service)
	if err != nil {
		return nil, err
	}
	if host == "" {
		if network == "tcp6" {
			return []netip.AddrPort{netip.AddrPortFrom(netip.IPv6Loopback(), uint16(port))}, nil
		}
		return []netip.AddrPort{netip.AddrPortFrom(netip.AddrFrom4([4]byte{127, 0, 0, 1}), uint16(port))}, nil
	}
	var ips []netip.Addr
	if ip, err := netip.ParseAddr(host); err == nil {
		ips = []netip.Addr{ip}
	} else {
		want := map[string]string{"tcp": "ip", "tcp4": "ip4", "tcp6": "ip6"}[network]
		if ips, err = net.DefaultResolver.LookupNetIP(ctx, want, host); err != nil {
			return nil, err
		}
	}
	var out []netip.AddrPort
	for _, ip := range ips {
		ip = ip.Unmap()
		if (network == "tcp4" && !ip.Is4()) || (network == "tcp6" && !ip.Is6()) {
			continue
		}
		if z := ip.Zone(); z != "" {
			if _, err := strconv.ParseUint(z, 10, 32); err != nil {
				return nil, &net.AddrError{Err: "interface names cannot be resolved in another network namespace; use the interface index as the zone", Addr: host}
			}
		}
		out = append(out, netip.AddrPortFrom(ip, uint16(port)))
	}
	if len(out) == 0 {
		return nil, &net.AddrError{Err: "no suitable address found", Addr: host}
	}
	return out, nil
}

// dialAddr creates a socket in the namespace nsFD and connects it to ap.
func dialAddr(ctx context.Context, nsFD int, network string, ap netip.AddrPort) (net.Conn, error) {
	raddr := net.TCPAddrFromAddrPort(ap)
	var (
		family = unix.AF_INET
		sa     unix.Sockaddr
	)
	if ip := ap.Addr(); ip.Is4() {
		sa = &unix.SockaddrInet4{Port: int(ap.Port()), Addr: ip.As4()}
	} else {
		family = unix.AF_INET6
		zone, _ := strconv.ParseUint(ip.Zone(), 10, 32)
		sa = &unix.SockaddrInet6{Port: int(ap.Port()), Addr: ip.As16(), ZoneId: uint32(zone)}
	}
	fd, err := socketIn(nsFD, family)
	if err != nil {
		return nil, &namespaceError{err}
	}
	// A non-blocking descriptor is registered with the runtime's poller, so
	// the connect below parks the goroutine rather than a thread.
	f := os.NewFile(uintptr(fd), "tcp "+ap.String())
	defer f.Close()
	if err := connect(ctx, f, sa); err != nil {
		return nil, &net.OpError{Op: "dial", Net: network, Addr: raddr, Err: err}
	}
	conn, err := net.FileConn(f)
	if err != nil {
		return nil, &net.OpError{Op: "dial", Net: network, Addr: raddr, Err: err}
	}
	return conn, nil
}

// socketIn creates a non-blocking TCP socket of family in the namespace nsFD.
//
// The switch happens on a goroutine of its own, locked to its thread, so the
// caller's thread never changes namespace. Since Go 1.10 a locked thread never
// spawns new threads, so nothing else can inherit the namespace while it is
// switched. If the thread cannot be switched back, the goroutine exits still
// locked and the runtime ends the thread instead of reusing it.
func socketIn(nsFD, family int) (int, error) {
	type result struct {
		fd  int
		err error
	}
	done := make(chan result, 1)
	go func() {
		runtime.LockOSThread()
		fd, restored, err := socketOnThisThread(nsFD, family)
		done <- result{fd, err}
		if restored {
			runtime.UnlockOSThread()
		}
	}()
	r := <-done
	return r.fd, r.err
}

// socketOnThisThread switches the (locked) current thread into nsFD, creates
// the socket and switches back. restored reports whether the thread is in its
// original namespace on return.
func socketOnThisThread(nsFD, family int) (fd int, restored bool, err error) {
	orig, err := unix.Open("/proc/thread-self/ns/net", unix.O_RDONLY|unix.O_CLOEXEC, 0)
	if err != nil {
		return -1, true, fmt.Errorf("opening this thread's network namespace: %w", err)
	}
	defer unix.Close(orig)
	if err := unix.Setns(nsFD, unix.CLONE_NEWNET); err != nil {
		// A failed setns leaves the thread where it was.
		return -1, true, fmt.Errorf("entering the network namespace: %w", err)
	}
	fd, sockErr := unix.Socket(family, unix.SOCK_STREAM|unix.SOCK_NONBLOCK|unix.SOCK_CLOEXEC, unix.IPPROTO_TCP)
	if err := unix.Setns(orig, unix.CLONE_NEWNET); err != nil {
		if sockErr == nil {
			unix.Close(fd)
		}
		return -1, false, fmt.Errorf("returning to the original network namespace: %w", err)
	}
	if sockErr != nil {
		return -1, true, fmt.Errorf("creating a socket in the network namespace: %w", os.NewSyscallError("socket", sockErr))
	}
	return fd, true, nil
}

// connect connects the non-blocking socket f to sa, waiting in the poller
// until it completes or ctx ends.
func connect(ctx context.Context, f *os.File, sa unix.Sockaddr) error {
	rc, err := f.SyscallConn()
	if err != nil {
		return err
	}
	var connErr error
	if err := rc.Control(func(fd uintptr) { connErr = unix.Connect(int(fd), sa) }); err != nil {
		return err
	}
	switch connErr {
	case nil, unix.EISCONN:
		return nil
	case unix.EINPROGRESS, unix.EALREADY, unix.EINTR:
	default:
		return os.NewSyscallError("connect", connErr)
	}
	if err := ctx.Err(); err != nil {
		return err
	}
	// A deadline in the past wakes the wait below when ctx ends.
	stop := context.AfterFunc(ctx, func() { _ = f.SetWriteDeadline(time.Unix(1, 0)) })
	defer stop()
	// The callback runs once at once and again each time the socket turns
	// writable; SO_ERROR carries a failed connect, getpeername a finished one.
	var sockErr error
	waitErr := rc.Write(func(fd uintptr) bool {
		n, err := unix.GetsockoptInt(int(fd), unix.SOL_SOCKET, unix.SO_ERROR)
		if err != nil {
			sockErr = os.NewSyscallError("getsockopt", err)
			return true
		}
		switch e := unix.Errno(n); e {
		case unix.EINPROGRESS, unix.EALREADY, unix.EINTR:
			return false
		case 0, unix.EISCONN:
			_, err := unix.Getpeername(int(fd))
			return err == nil
		default:
			sockErr = os.NewSyscallError("connect", e)
			return true
		}
	})
	if waitErr != nil {
		if err := ctx.Err(); err != nil {
			return err
		}
		return waitErr
	}
	return sockErr
}
