package node

import (
	"strings"

	"k8s.io/apiserver/pkg/authentication/user"
)

// UserPrefix starts the user name of every node: "system:node:NAME".
const UserPrefix = "system:node:"

// Identity returns the name of the node u is, as upstream identifies nodes: a
// user named "system:node:NAME" in group "system:nodes". isNode is false for
// every other user; a node whose name is empty (user "system:node:") is a
// node that cannot be told apart from others, and callers must refuse it.
func Identity(u user.Info) (name string, isNode bool) {
	if u == nil || !strings.HasPrefix(u.GetName(), UserPrefix) {
		return "", false
	}
	for _, g := range u.GetGroups() {
		if g == user.NodesGroup {
			return strings.TrimPrefix(u.GetName(), UserPrefix), true
		}
	}
	return "", false
}
