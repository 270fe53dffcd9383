package kube

import "testing"

func TestUnifiedDiff(t *testing.T) {
	for name, tc := range map[string]struct{ a, b, want string }{
		"equal": {"a\nb\n", "a\nb\n", ""},
		"change in the middle": {
			"1\n2\n3\n4\n5\n6\n7\n8\n9\n", "1\n2\n3\n4\nfive\n6\n7\n8\n9\n",
			"--- a\n+++ b\n@@ -2,7 +2,7 @@\n 2\n 3\n 4\n-5\n+five\n 6\n 7\n 8\n"},
		"two hunks": {
			"1\n2\n3\n4\n5\n6\n7\n8\n9\n10\n11\n12\n", "one\n2\n3\n4\n5\n6\n7\n8\n9\n10\n11\ntwelve\n",
			"--- a\n+++ b\n@@ -1,4 +1,4 @@\n-1\n+one\n 2\n 3\n 4\n@@ -9,4 +9,4 @@\n 9\n 10\n 11\n-12\n+twelve\n"},
		"close changes share a hunk": {
			"1\n2\n3\n4\n5\n6\n7\n", "x\n2\n3\n4\n5\n6\ny\n",
			"--- a\n+++ b\n@@ -1,7 +1,7 @@\n-1\n+x\n 2\n 3\n 4\n 5\n 6\n-7\n+y\n"},
		"insert":       {"a\nc\n", "a\nb\nc\n", "--- a\n+++ b\n@@ -1,2 +1,3 @@\n a\n+b\n c\n"},
		"from nothing": {"", "a\nb\n", "--- a\n+++ b\n@@ -0,0 +1,2 @@\n+a\n+b\n"},
		"to nothing":   {"a\n", "", "--- a\n+++ b\n@@ -1 +0,0 @@\n-a\n"},
		"interleaved": {
			"a\nb\nc\nd\n", "a\nx\nc\ny\n",
			"--- a\n+++ b\n@@ -1,4 +1,4 @@\n a\n-b\n+x\n c\n-d\n+y\n"},
	} {
		t.Run(name, func(t *testing.T) {
			if got := unifiedDiff("a", "b", tc.a, tc.b); got != tc.want {
				t.Errorf("got:\n%s\nwant:\n%s", got, tc.want)
			}
		})
	}
}
