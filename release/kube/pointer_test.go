package kube

import (
	"encoding/json"
	"strings"
	"testing"

	"github.com/google/go-cmp/cmp"
)

func TestParsePointer(t *testing.T) {
	for _, tt := range []struct {
		name, pointer string
		want          []string
		err           string
	}{
		{"Whole", "", nil, ""},
		{"EmptyKey", "/", []string{""}, ""},
		{"Field", "/spec/replicas", []string{"spec", "replicas"}, ""},
		{"Index", "/spec/template/spec/containers/0/image", []string{"spec", "template", "spec", "containers", "0", "image"}, ""},
		{"Slash", "/metadata/annotations/example.com~1note", []string{"metadata", "annotations", "example.com/note"}, ""},
		{"Tilde", "/a~0b", []string{"a~b"}, ""},
		// ~01 is the text ~1, not a slash.
		{"EscapedEscape", "/~01", []string{"~1"}, ""},
		{"EmptyTokens", "/a//b/", []string{"a", "", "b", ""}, ""},
		{"NoSlash", "spec/replicas", nil, "must start with /"},
		{"BadEscape", "/a~2", nil, "~ must be followed by 0"},
		{"TildeAtEnd", "/a~", nil, "~ must be followed by 0"},
		{"DoubleTilde", "/~~01", nil, "~ must be followed by 0"},
	} {
		t.Run(tt.name, func(t *testing.T) {
			got, err := ParsePointer(tt.pointer)
			if tt.err != "" {
				if err == nil || !strings.Contains(err.Error(), tt.err) || !strings.Contains(err.Error(), `"`+tt.pointer+`"`) {
					t.Fatalf("got %q, %v; want an error naming the pointer: ...%s...", got, err, tt.err)
				}
				return
			}
			if err != nil {
				t.Fatal(err)
			}
			if diff := cmp.Diff(tt.want, got); diff != "" {
				t.Errorf("tokens (-want +got):\n%s", diff)
			}
		})
	}
}

func TestRemovePointers(t *testing.T) {
	const doc = `{
		"metadata": {"name": "web", "annotations": {"example.com/note": "a"}},
		"spec": {
			"replicas": 2,
			"empty": {},
			"containers": [{"name": "a", "image": "a:1"}, {"name": "b"}, {"name": "c"}]
		}
	}`
	for _, tt := range []struct {
		name     string
		pointers []string
		want     string
	}{
		{"Field", []string{"/spec/replicas"},
			`{"metadata": {"name": "web", "annotations": {"example.com/note": "a"}}, "spec": {"empty": {}, "containers": [{"name": "a", "image": "a:1"}, {"name": "b"}, {"name": "c"}]}}`},
		{"InElement", []string{"/spec/containers/0/image"},
			`{"metadata": {"name": "web", "annotations": {"example.com/note": "a"}}, "spec": {"replicas": 2, "empty": {}, "containers": [{"name": "a"}, {"name": "b"}, {"name": "c"}]}}`},
		// Each index names an element of the array as it was.
		{"Elements", []string{"/spec/containers/0", "/spec/containers/2", "/spec/containers/10", "/spec/containers/1a"},
			`{"metadata": {"name": "web", "annotations": {"example.com/note": "a"}}, "spec": {"replicas": 2, "empty": {}, "containers": [{"name": "b"}]}}`},
		// The maps left empty on the way go, so does an empty one passed by.
		{"EmptiedMaps", []string{"/metadata/annotations/example.com~1note", "/spec/empty/none"},
			`{"metadata": {"name": "web"}, "spec": {"replicas": 2, "containers": [{"name": "a", "image": "a:1"}, {"name": "b"}, {"name": "c"}]}}`},
		{"Missing", []string{"/status/replicas", "/spec/replicas/x", "/spec/containers/3", "/spec/containers/-", "/spec/containers/01", "/spec/containers/name"}, doc},
	} {
		t.Run(tt.name, func(t *testing.T) {
			var got, want map[string]any
			if err := json.Unmarshal([]byte(doc), &got); err != nil {
				t.Fatal(err)
			}
			if err := json.Unmarshal([]byte(tt.want), &want); err != nil {
				t.Fatal(err)
			}
			var pointers [][]string
			for _, p := range tt.pointers {
				tokens, err := ParsePointer(p)
				if err != nil {
					t.Fatal(err)
				}
				pointers = append(pointers, tokens)
			}
			removePointers(got, pointers)
			if diff := cmp.Diff(want, got); diff != "" {
				t.Errorf("after removing %q (-want +got):\n%s", tt.pointers, diff)
			}
		})
	}
}
