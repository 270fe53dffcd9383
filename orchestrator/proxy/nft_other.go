//go:build !linux

package proxy

import "errors"

var errUnsupported = errors.New("the service proxy needs Linux nftables")

type table struct {
	name   string
	netns  int
	static staticConfig
}

func (*table) writeAll(*ruleset) error              { return errUnsupported }
func (*table) update(_, _ *ruleset) (change, error) { return change{}, errUnsupported }
func (*table) forget([]pickSet, *ruleset) error     { return errUnsupported }
func (*table) deleteTable() error                   { return errUnsupported }
