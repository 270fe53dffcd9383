#!/bin/sh
# A post-renderer for the golden cases: renames the release in the manifests
# it is given on standard input (hooks are not post-rendered).
exec sed 's/release-name/post-rendered/g'
