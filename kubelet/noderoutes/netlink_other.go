//go:build !linux

package noderoutes

import (
	"errors"
	"runtime"
)

type routeHandle struct{}

func handle(int) (routeHandle, error) {
	return routeHandle{}, errors.New("routing to other nodes' pods is not supported on " + runtime.GOOS)
}

func (routeHandle) close()                 {}
func (routeHandle) list() ([]route, error) { return nil, nil }
func (routeHandle) replace(route) error    { return nil }
func (routeHandle) delete(route) error     { return nil }
